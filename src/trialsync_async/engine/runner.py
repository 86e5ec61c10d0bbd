"""Running many jobs: dependency order, shared per-instance limits, failure propagation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import structlog

from trialsync_async.db import runs
from trialsync_async.db.catalog import get_job, job_from_row, list_jobs
from trialsync_async.engine.clients import ClientRegistry
from trialsync_async.engine.dag import check_acyclic, dependencies
from trialsync_async.engine.job_run import JobResult, JobRun, ProgressCallback, RunOptions
from trialsync_async.errors import InactiveJobError
from trialsync_async.inventory import JobSpec

log = structlog.get_logger(__name__)

DEFAULT_PARALLEL_JOBS = 4


class Runner:
    """Runs jobs once each, every job after the jobs its parameters come from.

    Independent jobs run side by side (at most ``parallel_jobs`` at a time); all of them
    share one client, and so one rate limiter, per API instance. A job whose upstream did
    not succeed is skipped, and its run row says which upstream and why.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        options: RunOptions,
        clients: ClientRegistry,
        parallel_jobs: int = DEFAULT_PARALLEL_JOBS,
        on_progress: ProgressCallback | None = None,
        on_start: ProgressCallback | None = None,
    ) -> None:
        self.pool = pool
        self.options = options
        self.clients = clients
        self.parallel_jobs = parallel_jobs
        self.on_progress = on_progress
        self.on_start = on_start

    async def select(self, job_ids: Sequence[int] | None) -> list[JobSpec]:
        """The jobs to run: the given ids (each must exist and be active) or every active job."""
        async with self.pool.acquire() as conn:
            if job_ids is None:
                return [job_from_row(r) for r in await list_jobs(conn) if r["is_active"]]
            jobs = [await get_job(conn, job_id) for job_id in dict.fromkeys(job_ids)]
        for job in jobs:
            if not job.is_active:
                raise InactiveJobError(job_id=job.id, name=job.name, reason=job.disabled_reason)
        return jobs

    async def run(self, job_ids: Sequence[int] | None = None) -> list[JobResult]:
        jobs = await self.select(job_ids)
        by_id = {job.id: job for job in jobs}
        deps = dependencies(jobs)
        order = check_acyclic(deps)
        results: dict[int, JobResult] = {}
        done: dict[int, asyncio.Event] = {job_id: asyncio.Event() for job_id in by_id}
        slots = asyncio.Semaphore(self.parallel_jobs)

        async def run_one(job: JobSpec) -> None:
            try:
                for upstream in sorted(deps[job.id]):
                    await done[upstream].wait()
                blocked = [results[u] for u in sorted(deps[job.id]) if not results[u].ok]
                if blocked:
                    results[job.id] = await self._skip(job, blocked[0])
                    return
                async with slots:
                    run = JobRun(
                        job,
                        pool=self.pool,
                        clients=self.clients,
                        options=self.options,
                        on_progress=self.on_progress,
                    )
                    if self.on_start is not None:
                        self.on_start(run)
                    results[job.id] = await run.execute()
            finally:
                done[job.id].set()

        async with asyncio.TaskGroup() as tg:
            for job_id in order:
                tg.create_task(run_one(by_id[job_id]))
        return [results[job_id] for job_id in order]

    async def _skip(self, job: JobSpec, upstream: JobResult) -> JobResult:
        reason = f"skipped: upstream job {upstream.job_id} ({upstream.name}) {upstream.status}" + (
            f" (run {upstream.run_id})" if upstream.run_id else ""
        )
        async with self.pool.acquire() as conn:
            run_id = await runs.skip_run(conn, job.id, job.source_instance_id, reason)
        log.warning("job skipped", job_id=job.id, upstream=upstream.job_id)
        return JobResult(
            job_id=job.id, name=job.name, status="skipped", run_id=run_id, error=reason
        )
