"""What the next run of a job would fetch and cost, from the database alone: every run keeps
this estimate on its row (``notes.planned``), and ``plan`` prints it for many jobs.

A fan-out's parents are counted by the reason the run would fetch them (the same selection
the run makes); its requests are those parents times the pages a parent took on average
(records per parent over the page size, at least one). A plain job's requests are its last
successful run's. Time is requests over the instance's rate limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from trialsync_async.db.catalog import get_instance
from trialsync_async.db.estimates import history
from trialsync_async.db.parameters import FETCHED_REASONS, Selection, count_by_reason, mark_lost
from trialsync_async.db.types import Connection
from trialsync_async.inventory import JobSpec


@dataclass(frozen=True, slots=True)
class JobPlan:
    job_id: int
    name: str
    parents: int | None  # fan-outs: parent tuples in all (None: a plain job)
    reasons: dict[str, int] = field(default_factory=dict)  # parents by reason, 'fresh' skipped
    requests: int | None = None  # None: never run, unknown
    seconds: float | None = None  # at the instance's rate limit (None: unlimited or unknown)
    instance_id: int = 1  # the API instance the run would be for

    @property
    def fetched(self) -> int | None:
        return (
            sum(self.reasons.get(r, 0) for r in FETCHED_REASONS)
            if self.parents is not None
            else None
        )


async def plan_job(
    conn: Connection, job: JobSpec, *, full: bool = False, now: datetime | None = None
) -> JobPlan:
    instance = await get_instance(conn, job.source_instance_id)
    past = await history(conn, job.id, instance.id)
    page = job.page_size
    if job.parameters:
        full = full or past.open_pass_full  # a continued pass keeps its mode
        selection = Selection(past.open_pass, full, now or datetime.now(UTC))
        reasons = await _reasons(conn, job, instance.id, selection)
        fetched = sum(reasons.get(r, 0) for r in FETCHED_REASONS)
        pages_per_parent = (
            max(1, math.ceil(past.mean_records / page)) if past.parents_fetched else 1
        )
        requests: int | None = fetched * pages_per_parent
        parents: int | None = sum(reasons.values())
    else:
        reasons, parents = {}, None
        requests = past.last_requests
    rate = instance.rate_limit
    seconds = requests / rate if rate and requests is not None else None
    return JobPlan(job.id, job.name, parents, reasons, requests, seconds, instance.id)


class _ReadOnly(Exception):
    """Rolls back what counting marked (lost units): ``plan`` changes nothing."""


async def _reasons(
    conn: Connection, job: JobSpec, instance_id: int, selection: Selection
) -> dict[str, int]:
    """Parents by reason as the run would count them: its 'lost' marks made, then undone."""
    reasons: dict[str, int] = {}
    try:
        async with conn.transaction():
            await mark_lost(conn, job, instance_id)
            reasons = await count_by_reason(conn, job, instance_id, selection)
            raise _ReadOnly
    except _ReadOnly:
        pass
    return reasons
