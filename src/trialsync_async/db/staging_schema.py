"""DDL of the staging tables: the design doc's standard structure, one table per target."""

from __future__ import annotations

from collections.abc import Iterable

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection
from trialsync_async.identifiers import quote_ident, staging_index_name, validate_staging_table

STANDARD_COLUMNS = (
    "id", "data", "source_id", "source_instance_id", "etl_job_id", "etl_run_id",
    "loaded_at", "created_at", "updated_at",
)  # fmt: skip
KEY_COLUMNS = ("record_key", "scope_key", "deleted_at")
INDEXES = {  # index name suffix -> its statement
    "instance_entity": "staging_index_instance_entity",
    "record_key": "staging_index_record_key",
    "scope": "staging_index_scope",
    "source_id": "staging_index_source_id",
    "data_gin": "staging_index_data_gin",
}


def staging_table_ddl(table: str) -> list[str]:
    """Statements creating ``table`` and its indexes; all idempotent."""
    quoted = quote_ident(validate_staging_table(table))
    statements = [
        query("staging_table_create").format(table=quoted),
        query("staging_table_add_key_columns").format(table=quoted),
    ]
    for suffix, statement in INDEXES.items():
        index = quote_ident(staging_index_name(table, suffix))
        statements.append(query(statement).format(table=quoted, index=index))
    return statements


async def ensure_staging_tables(conn: Connection, tables: Iterable[str]) -> list[str]:
    """Create every staging table that is missing (in one transaction); return the names."""
    names = sorted({validate_staging_table(t) for t in tables})
    async with conn.transaction():
        for table in names:
            for statement in staging_table_ddl(table):
                await conn.execute(statement)
    return names
