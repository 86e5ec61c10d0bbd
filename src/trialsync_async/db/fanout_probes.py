"""The database side of global-list probes: parent samples, the last per-parent total, and
the probe results that gate ``fanout = global``."""

from __future__ import annotations

from typing import Any

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection
from trialsync_async.identifiers import quote_ident
from trialsync_async.inventory import JobSpec


async def sample(conn: Connection, job: JobSpec, instance_id: int, n: int) -> list[str]:
    """Up to ``n`` parent values of a one-parameter fan-out, spread over the parent table."""
    assert job.parameter_source_table is not None
    [param] = job.parameters
    sql = query("fanout_probe_sample").format(
        table=quote_ident(job.parameter_source_table), column=f"({param.sql_expr})"
    )
    return [str(r["v"]) for r in await conn.fetch(sql, instance_id, n)]


async def last_records(conn: Connection, job_id: int, instance_id: int) -> int:
    return int(await conn.fetchval(query("fanout_last_records"), job_id, instance_id))


async def record(
    conn: Connection, job_id: int, instance_id: int, passed: bool, report: dict[str, Any]
) -> None:
    await conn.execute(
        query("fanout_probe_insert"), job_id, instance_id, passed,
        int(report["parents_sampled"]), report,
    )  # fmt: skip
