"""What a timestamp-incremental job reads from the database: the watermark of its staged rows
and when it last completed a full pass."""

from __future__ import annotations

from datetime import datetime

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection
from trialsync_async.identifiers import parse_json_path, quote_ident, validate_staging_table


async def watermark(conn: Connection, table: str, instance_id: int, field: str) -> str | None:
    """The newest staged value of ``field`` (a JSON path), as the API wrote it."""
    sql = query("incremental_watermark").format(table=quote_ident(validate_staging_table(table)))
    value = await conn.fetchval(sql, instance_id, list(parse_json_path(field, what="field")))
    return None if value is None else str(value)


async def last_full_pass(conn: Connection, job_id: int, instance_id: int) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        query("incremental_last_full"), job_id, instance_id
    )
    return value
