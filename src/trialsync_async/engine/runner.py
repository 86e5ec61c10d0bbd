"""Running many jobs: dependency order, shared per-instance limits, failure propagation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg
import structlog

from trialsync_async.db import runs
from trialsync_async.db.catalog import get_instance, get_job, job_instances, list_jobs
from trialsync_async.db.parameters import has_parents
from trialsync_async.db.resilience import DbRetry, pooled
from trialsync_async.db.types import Connection
from trialsync_async.engine.clients import ClientRegistry
from trialsync_async.engine.job_run import JobRun, ProgressCallback
from trialsync_async.engine.result import JobResult
from trialsync_async.errors import ConfigError, InactiveJobError, JobAlreadyRunning
from trialsync_async.inventory import JobSpec
from trialsync_async.jobgraph import check_acyclic, dependencies, loaders, upstream
from trialsync_async.settings import Settings

log = structlog.get_logger(__name__)

RunKey = tuple[int, int]
"""A run's unit of work: (job id, instance id)."""


class Runner:
    """Runs jobs once each, every job after the jobs its parameters come from.

    Independent jobs run side by side (at most ``parallel_jobs`` at a time); all of them
    share one client, and so one rate limiter, per API instance. A job whose upstream did
    not succeed is skipped, and its run row says which upstream and why. ``stop()`` lets the
    running jobs commit what they fetched and starts no more.

    Each job runs once per instance it is asked for (``JobSpec.source_instance_id`` of the
    specs ``select_jobs`` gives, one per (job, instance)); dependencies hold within an
    instance: instance 2's fan-out waits for instance 2's parent job only.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        dsn: str,
        settings: Settings,
        clients: ClientRegistry,
        fresh: bool = False,
        full: bool = False,
        retry_of: int | None = None,
        allow_deletes: bool = False,
        on_progress: ProgressCallback | None = None,
        on_start: ProgressCallback | None = None,
        on_finish: Callable[[JobResult], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.pool = pool
        self.dsn = dsn
        self.clock = clock
        self.options = settings.run_options(
            fresh=fresh, full=full, retry_of=retry_of, allow_deletes=allow_deletes
        )
        self.clients = clients
        self.parallel_jobs = settings.parallel_jobs
        self.on_progress = on_progress
        self.on_start = on_start
        self.on_finish = on_finish  # every job's result as it ends (the live display)
        self.retry = DbRetry(self.options.db_retry_seconds)
        self.running: dict[RunKey, JobRun] = {}
        self.stopping = False
        self._active: list[JobSpec] = []  # every active job: who loads a parent table

    def stop(self) -> None:
        self.stopping = True
        for run in list(self.running.values()):
            run.stop()

    async def select(
        self,
        job_ids: Sequence[int] | None,
        *,
        with_upstream: bool = False,
        instance_ids: Sequence[int] | None = None,
    ) -> list[JobSpec]:
        async with self.pool.acquire() as conn:
            return await select_jobs(
                conn, job_ids, with_upstream=with_upstream, instance_ids=instance_ids
            )

    async def run(
        self,
        job_ids: Sequence[int] | None = None,
        *,
        with_upstream: bool = False,
        instance_ids: Sequence[int] | None = None,
    ) -> list[JobResult]:
        """Run the jobs (``None``: every active job); ``with_upstream``: and, first, the
        active jobs they depend on, transitively. Each for ``instance_ids`` (``None``: every
        instance it runs for; see ``select_jobs``)."""
        jobs = await self.select(job_ids, with_upstream=with_upstream, instance_ids=instance_ids)
        self._active = await self._active_jobs() if any(j.parameters for j in jobs) else []
        closed = await pooled(self.pool, self.retry, runs.close_all_abandoned, what="startup")
        if closed:
            log.warning("closed runs whose process had died", runs=closed)
        by_key = {(job.id, job.source_instance_id): job for job in jobs}
        deps: dict[RunKey, set[RunKey]] = {}
        order: list[RunKey] = []
        for instance_id in sorted({job.source_instance_id for job in jobs}):
            graph = dependencies(j for j in jobs if j.source_instance_id == instance_id)
            for job_id in check_acyclic(graph):
                order.append((job_id, instance_id))
                deps[(job_id, instance_id)] = {(u, instance_id) for u in graph[job_id]}
        results: dict[RunKey, JobResult] = {}
        done: dict[RunKey, asyncio.Event] = {key: asyncio.Event() for key in by_key}
        slots = asyncio.Semaphore(self.parallel_jobs)

        async def run_one(key: RunKey) -> None:
            job = by_key[key]
            try:
                for upstream in sorted(deps[key]):
                    await done[upstream].wait()
                blocked = [results[u] for u in sorted(deps[key]) if not results[u].ok]
                if self.stopping:
                    results[key] = _not_started(job)
                elif blocked:
                    results[key] = await self._skip(job, blocked[0])
                else:
                    async with slots:
                        results[key] = await self._run_job(job)
                if self.on_finish is not None:
                    self.on_finish(results[key])
            finally:
                done[key].set()

        async with asyncio.TaskGroup() as tg:
            for key in order:
                tg.create_task(run_one(key))
        return [results[key] for key in order]

    async def _run_job(self, job: JobSpec) -> JobResult:
        if self.stopping:
            return _not_started(job)
        warning = await self._empty_parents(job) if job.parameters else None
        run = JobRun(
            job,
            dsn=self.dsn,
            pool=self.pool,
            clients=self.clients,
            options=self.options,
            on_progress=self.on_progress,
            clock=self.clock,
        )
        if warning is not None:  # saved with the run row's notes, shown in the summary
            run.progress.notes.setdefault("warnings", []).append(warning)
        key = (job.id, job.source_instance_id)
        self.running[key] = run
        if self.on_start is not None:
            self.on_start(run)
        try:
            return await run.execute()
        except JobAlreadyRunning as exc:
            log.error("job not started", job_id=job.id, error=str(exc))
            return JobResult(
                job.id, job.name, "failed", error=str(exc), instance_id=job.source_instance_id
            )
        finally:
            self.running.pop(key, None)

    async def _active_jobs(self) -> list[JobSpec]:
        async def active(conn: Connection) -> list[JobSpec]:
            return [row.spec for row in await list_jobs(conn) if row.spec.is_active]

        return await pooled(self.pool, self.retry, active, what="reading the job inventory")

    async def _empty_parents(self, job: JobSpec) -> str | None:
        """A fan-out about to run with no parent to fan out over: the warning naming the
        job that fills its parent table (checked when its upstreams of this run are done)."""
        assert job.parameter_source_table is not None
        table = job.parameter_source_table

        async def check(conn: Connection) -> bool:
            return await has_parents(conn, job, job.source_instance_id)

        if await pooled(self.pool, self.retry, check, what="looking for parent rows"):
            return None
        fillers = [j for j in loaders(self._active, table) if j.id != job.id]
        advice = (
            "run " + " or ".join(f"job {j.id} ({j.name})" for j in fillers)
            + " first, or add --with-upstream"
            if fillers
            else "no active job loads it"
        )  # fmt: skip
        warning = (
            f"job {job.id} ({job.name}): its parent table {table} holds no rows of instance "
            f"{job.source_instance_id}, so nothing was fetched: {advice}"
        )
        log.warning(
            "fan-out has no parents", job_id=job.id, parent_table=table,
            loaded_by=[j.id for j in fillers], detail=warning,
        )  # fmt: skip
        return warning

    async def _skip(self, job: JobSpec, upstream: JobResult) -> JobResult:
        reason = f"skipped: upstream job {upstream.job_id} ({upstream.name}) {upstream.status}" + (
            f" (run {upstream.run_id})" if upstream.run_id else ""
        )

        async def skip(conn: Connection) -> int:
            return await runs.skip_run(conn, job.id, job.source_instance_id, reason)

        run_id = await pooled(self.pool, self.retry, skip, what="recording a skipped job")
        log.warning("job skipped", job_id=job.id, upstream=upstream.job_id)
        return JobResult(
            job_id=job.id, name=job.name, status="skipped", run_id=run_id, error=reason,
            instance_id=job.source_instance_id,
        )  # fmt: skip


def _not_started(job: JobSpec) -> JobResult:
    return JobResult(job.id, job.name, "not started", instance_id=job.source_instance_id)


async def select_jobs(
    conn: Connection,
    job_ids: Sequence[int] | None,
    *,
    with_upstream: bool = False,
    instance_ids: Sequence[int] | None = None,
) -> list[JobSpec]:
    """The given jobs (each must exist and be active) or every active job; ``with_upstream``
    adds the active jobs the given ones depend on, transitively (see jobgraph.py).

    One spec per (job, instance), its ``source_instance_id`` the instance the run is for:
    ``instance_ids`` (``None``: every instance the job runs for, catalog.job_instances). A job
    asked for by id that runs for none of ``instance_ids`` is a ``ConfigError``; under
    ``--all`` and ``with_upstream`` such jobs are left out."""
    if job_ids is None:
        active = [row.spec for row in await list_jobs(conn) if row.spec.is_active]
        return await _per_instance(conn, active, instance_ids, asked=())
    jobs = [await get_job(conn, job_id) for job_id in dict.fromkeys(job_ids)]
    for job in jobs:
        if not job.is_active:
            raise InactiveJobError(job_id=job.id, name=job.name, reason=job.disabled_reason)
    asked = [job.id for job in jobs]
    if with_upstream:
        active = [row.spec for row in await list_jobs(conn) if row.spec.is_active]
        needed = upstream(active, [job.id for job in jobs])
        jobs += [job for job in active if job.id in needed]
    return await _per_instance(conn, jobs, instance_ids, asked=asked)


async def _per_instance(
    conn: Connection,
    jobs: list[JobSpec],
    instance_ids: Sequence[int] | None,
    *,
    asked: Sequence[int],
) -> list[JobSpec]:
    """Each job once per instance it runs for (of ``instance_ids``, when given)."""
    runs_for = await job_instances(conn)
    wanted = None if instance_ids is None else list(dict.fromkeys(instance_ids))
    for instance_id in wanted or ():
        await get_instance(conn, instance_id)  # UnknownInstanceError for a typo
    out: list[JobSpec] = []
    for job in jobs:
        mine = runs_for.get(job.id, [job.source_instance_id])
        chosen = mine if wanted is None else [i for i in wanted if i in mine]
        if not chosen and job.id in asked:
            assert wanted is not None
            raise ConfigError(
                detail=f"job {job.id} ({job.name}) does not run for instance "
                f"{', '.join(map(str, wanted))}: it runs for {', '.join(map(str, mine))} (an "
                "inactive instance runs no job but its own; instance_scope 'own' keeps a job "
                f"to its source_instance_id: `jobs set {job.id} --instance-scope all`)"
            )
        out += [dataclasses.replace(job, source_instance_id=i) for i in chosen]
    return out
