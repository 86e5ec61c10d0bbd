"""The facts a job's freshness is decided from (freshness.py holds the rules), per (job,
instance) the job runs for (a run is one (job, instance): README "Several API instances"): its
running run and that run's heartbeat age, its latest success, whether its latest decisive run
failed, its usual duration; per per-parent fan-out its parents and how many are past the job's
``max_refresh``. Read-only; two statements for every pair at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from trialsync_async.db.planning import hash_joins
from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection


@dataclass(frozen=True, slots=True)
class JobFacts:
    job_id: int
    job_name: str
    active: bool
    schedule_cron: str | None  # the job's own cron (None: the default schedule applies)
    per_parent: bool  # a fan-out calling its endpoint per parent (its parents can be counted)
    running_run_id: int | None  # the newest run marked running
    heartbeat_age_seconds: float | None  # of that run
    last_success_run_id: int | None
    last_success_at: datetime | None
    last_decided_run_id: int | None  # the latest run that ended success or failed
    failing: bool  # ... and it failed
    usual_seconds: float | None  # median duration of the last 10 successes
    checked_at: datetime  # the database's now: ages are measured against it
    parents: int | None = None  # per-parent fan-outs with unit state only
    parents_overdue: int | None = None
    instance_id: int = 1  # the API instance (dw_etl_runs.credential_id)


@dataclass(frozen=True, slots=True)
class ParentsOverdue:
    parents: int
    overdue: int


async def parents_overdue(conn: Connection) -> dict[tuple[int, int], ParentsOverdue]:
    """(per-parent fan-out, instance) → its parents and those last fetched longer than
    ``max_refresh`` ago (one aggregate, hash joins: linear in the unit state)."""
    async with hash_joins(conn):
        rows = await conn.fetch(query("freshness_parents_overdue"))
    return {
        (int(r["job_id"]), int(r["instance_id"])): ParentsOverdue(
            int(r["parents"]), int(r["overdue"])
        )
        for r in rows
    }


async def job_facts(
    conn: Connection, overdue: Mapping[tuple[int, int], ParentsOverdue] | None = None
) -> list[JobFacts]:
    """The facts of every (job, instance) the job runs for, by job id, then instance.
    ``overdue``: the parents-overdue aggregate as already read (the service keeps one, read in
    the background: it reads the whole unit state); None: read it now."""
    if overdue is None:
        overdue = await parents_overdue(conn)
    found: list[JobFacts] = []
    for r in await conn.fetch(query("freshness_jobs")):
        parents = overdue.get((r["job_id"], r["instance_id"]))
        found.append(
            JobFacts(
                **dict(r),
                parents=parents.parents if parents else None,
                parents_overdue=parents.overdue if parents else None,
            )
        )
    return found
