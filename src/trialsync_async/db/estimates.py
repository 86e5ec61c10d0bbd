"""What past runs say about the next one: records per parent, the last run's size, the pass
a run would continue (for ``plan``; no API request)."""

from __future__ import annotations

from dataclasses import dataclass

from trialsync_async.db import runs
from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection


@dataclass(frozen=True, slots=True)
class History:
    parents_fetched: int  # fan-outs: parents fetched at least once
    mean_records: float  # fan-outs: records a parent returned, on average
    last_records: int | None  # the last successful run's records fetched
    last_requests: int | None  # … and its HTTP attempts
    open_pass: int  # the unfinished pass a run would continue (0: a new pass)
    open_pass_full: bool  # ... and whether it is a full one (the run would stay full)


async def history(conn: Connection, job_id: int, instance_id: int) -> History:
    units = await conn.fetchrow(query("plan_unit_records"), job_id, instance_id)
    last = await conn.fetchrow(query("plan_last_run"), job_id, instance_id)
    previous = await conn.fetchrow(query("run_previous"), job_id, instance_id, 0)
    resumable = previous is not None and previous["run_status"] in runs.RESUMABLE
    open_pass = int(previous["pass_id"]) if resumable and previous else 0
    assert units is not None
    return History(
        parents_fetched=int(units["fetched"]),
        mean_records=float(units["mean_records"]),
        last_records=int(last["records_fetched"]) if last else None,
        last_requests=int(last["requests_made"]) if last else None,
        open_pass=open_pass,
        open_pass_full=bool(open_pass) and await runs.pass_is_full(conn, open_pass),
    )
