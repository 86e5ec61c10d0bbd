"""One run of one job, start to finish.

A record's path: the planner (engine/planner.py) yields units; a worker (engine/fetcher.py)
fetches a unit's pages and parses them into rows; the batcher (engine/stages.py) packs rows
into batches; the committer (engine/committer.py) COPYs and merges each batch with its units'
state and the run's counters; ``JobRun`` opens and closes the run row around all of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import structlog

from trialsync_async.db import runs
from trialsync_async.db.catalog import Instance, get_instance
from trialsync_async.db.resilience import DbRetry
from trialsync_async.db.run_connection import RunConnection
from trialsync_async.engine.clients import ClientRegistry
from trialsync_async.engine.committer import Committer
from trialsync_async.engine.context import RunContext
from trialsync_async.engine.failures import UnitFailures
from trialsync_async.engine.fetcher import JobClient, UnitFetcher
from trialsync_async.engine.paging_choice import PagingChoice
from trialsync_async.engine.plan import JobPlan, plan_job
from trialsync_async.engine.planner import Planner
from trialsync_async.engine.stages import Stages
from trialsync_async.errors import TrialSyncError
from trialsync_async.inventory import JobSpec
from trialsync_async.records import RowBuilder
from trialsync_async.settings import RunOptions

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class JobResult:
    job_id: int
    name: str
    status: str  # success | failed | interrupted | skipped | not started
    run_id: int | None = None
    error: str | None = None
    progress: runs.RunProgress = field(default_factory=runs.RunProgress)
    seconds: float = 0.0
    continues_run_id: int | None = None
    page_queue_high_water: int = 0
    batch_queue_high_water: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "success"


ProgressCallback = Callable[["JobRun"], None]


class JobRun:
    """Runs one job once. Construct it, then ``await execute()``; ``stop()`` ends it early."""

    def __init__(
        self,
        job: JobSpec,
        *,
        dsn: str,
        pool: asyncpg.Pool,
        clients: ClientRegistry,
        options: RunOptions,
        on_progress: ProgressCallback | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        retry = DbRetry(options.db_retry_seconds)
        self.ctx = RunContext(
            job=job, options=options, pool=pool, retry=retry,
            conn=RunConnection(dsn, job_id=job.id, retry=retry),
        )  # fmt: skip
        if clock is not None:  # tests: revisits counted on a fake clock
            self.ctx.clock = clock
        self.job = job
        self.clients = clients
        self.on_progress = on_progress
        self.rows = RowBuilder(job.record_key, endpoint=job.source_endpoint)
        self.paging = PagingChoice(job, self.ctx.page_size, self.progress.notes)
        self.failures = UnitFailures(self.ctx)
        self.stages: Stages | None = None
        self.continues_run_id: int | None = None
        self.started = time.monotonic()
        self.finished = False
        self._stop_requested = False

    @property
    def progress(self) -> runs.RunProgress:
        return self.ctx.progress

    @property
    def run_id(self) -> int | None:
        return self.ctx.run_id or None

    async def execute(self) -> JobResult:
        await self.ctx.conn.open()  # the job lock: JobAlreadyRunning if another run holds it
        heartbeat: asyncio.Task[None] | None = None
        status, error = "failed", None
        try:
            instance = await self._begin()
            heartbeat = asyncio.create_task(self._heartbeat())
            stages = await self._stages(instance)
            await stages.run()
            status, error = self._outcome(stages)
            if status == "success":
                await stages.committer.settle_deletions()
        except TrialSyncError as exc:
            status, error = "failed", str(exc)
        except asyncpg.PostgresError as exc:
            status, error = "failed", f"database error {exc.sqlstate}: {exc}"
        except asyncio.CancelledError:
            status, error = "interrupted", "interrupted"
            raise
        finally:
            self.finished = True
            if heartbeat is not None:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            await asyncio.shield(self._finish(status, error))
        return self._result(status, error)

    def stop(self) -> None:
        """Stop taking work; what was fetched is still committed (see engine/stages.py)."""
        self._stop_requested = True
        if self.stages is not None:
            self.stages.stop()

    async def _begin(self) -> Instance:
        """Close runs of this job whose process died, then open this run's row."""
        ctx = self.ctx

        async def begin(
            conn: asyncpg.Connection,
        ) -> tuple[Instance, list[int], JobPlan, runs.RunStart]:
            instance = await get_instance(conn, ctx.job.source_instance_id)
            abandoned = await runs.close_abandoned(conn, ctx.job.id)
            planned = await plan_job(conn, ctx.job, full=ctx.options.full, now=ctx.clock())
            start = await runs.start_run(conn, ctx.job.id, instance.id, fresh=ctx.options.fresh)
            return instance, abandoned, planned, start

        instance, abandoned, planned, start = await ctx.conn.run(begin, what="starting the run")
        # What `plan` would have said, kept on the run row to compare with what it did.
        self.progress.notes["planned"] = {"requests": planned.requests, "parents": planned.fetched}
        if abandoned:
            log.warning("closed abandoned runs", job_id=ctx.job.id, runs=abandoned)
        ctx.instance_id, ctx.run_id, ctx.pass_id = instance.id, start.run_id, start.pass_id
        self.continues_run_id = start.continues_run_id
        structlog.contextvars.bind_contextvars(
            job_id=ctx.job.id, run_id=ctx.run_id, instance_id=instance.id
        )
        log.info(
            "run started", job=ctx.job.name, continues_run=self.continues_run_id,
            pass_id=ctx.pass_id, planned_requests=planned.requests,
        )  # fmt: skip
        return instance

    async def _stages(self, instance: Instance) -> Stages:
        client = JobClient(await self.clients.get(instance), self.ctx)
        self.stages = Stages(
            self.ctx,
            Planner(self.ctx, client, self.paging),
            UnitFetcher(self.ctx, client, self.paging, self.rows, self.failures),
            Committer(self.ctx),
        )
        if self._stop_requested:
            self.stages.stop()
        return self.stages

    def _outcome(self, stages: Stages) -> tuple[str, str | None]:
        if stages.fatal is not None:
            return "failed", str(stages.fatal)
        if stages.stopping and not stages.complete:
            return "interrupted", "interrupted"
        return self.failures.outcome()

    async def _finish(self, status: str, error: str | None) -> None:
        """Close the run row; if the database is gone for good, the next run closes it."""
        ctx, p = self.ctx, self.ctx.progress
        self._note_key_casing()
        try:
            if ctx.run_id:

                async def finish(conn: asyncpg.Connection) -> None:
                    await runs.finish_run(conn, ctx.run_id, p, status=status, error=error)

                await ctx.conn.run(finish, what="closing the run")
        except TrialSyncError as exc:
            log.error("run row not closed", error=str(exc))
        finally:
            await ctx.conn.close()
        seconds = round(time.monotonic() - self.started, 1)
        level = log.info if status == "success" else log.error
        level(
            "run finished", job=self.job.name, status=status, error=error, seconds=seconds,
            fetched=p.fetched, inserted=p.inserted, updated=p.updated, unchanged=p.unchanged,
            deleted=p.deleted, requests=p.requests, retries=p.retries, sanitized=p.sanitized,
        )  # fmt: skip
        structlog.contextvars.unbind_contextvars("job_id", "run_id", "instance_id")

    def _note_key_casing(self) -> None:
        casings, warning = self.rows.casing_report()
        if casings:
            self.progress.notes["key_casing"] = casings
        if warning:
            self.progress.notes.setdefault("warnings", []).append(warning)
            log.warning("record key casing differs", detail=warning)

    def _result(self, status: str, error: str | None) -> JobResult:
        return JobResult(
            job_id=self.job.id,
            name=self.job.name,
            status=status,
            run_id=self.run_id,
            error=error,
            progress=self.progress,
            seconds=time.monotonic() - self.started,
            continues_run_id=self.continues_run_id,
            page_queue_high_water=self.stages.pages.high_water if self.stages else 0,
            batch_queue_high_water=self.stages.batches.high_water if self.stages else 0,
        )

    async def _heartbeat(self) -> None:
        """Every few seconds: the display callback, and counts + heartbeat into the run row."""
        ctx = self.ctx

        async def save(conn: asyncpg.Connection) -> None:
            await runs.save_progress(conn, ctx.run_id, ctx.progress)

        while True:
            await asyncio.sleep(ctx.options.progress_seconds)
            if self.on_progress is not None:
                self.on_progress(self)
            try:
                await ctx.pooled(save, what="saving progress")
            except (TrialSyncError, asyncpg.PostgresError, OSError) as exc:  # best effort
                log.warning("progress not saved", error=str(exc))
