"""``plan``: what the next run of each job would fetch and cost (engine/estimate.py), from
the database alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from trialsync_async.engine.estimate import JobPlan, plan_job
from trialsync_async.inventory import JobSpec


async def plan_jobs(
    pool: asyncpg.Pool, jobs: Sequence[JobSpec], *, full: bool = False, now: datetime | None = None
) -> list[JobPlan]:
    async with pool.acquire() as conn:
        return [await plan_job(conn, job, full=full, now=now) for job in jobs]
