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
from datetime import datetime

import asyncpg
import structlog

from trialsync_async.api import ApiClient
from trialsync_async.db import parameters, runs
from trialsync_async.db.catalog import Instance, get_instance
from trialsync_async.db.resilience import DbRetry
from trialsync_async.db.run_connection import RunConnection
from trialsync_async.db.types import Connection
from trialsync_async.engine.clients import ClientRegistry
from trialsync_async.engine.committer import Committer
from trialsync_async.engine.context import RunContext
from trialsync_async.engine.deletions import DeletionGuard, settle
from trialsync_async.engine.estimate import JobPlan, plan_job
from trialsync_async.engine.failures import UnitFailures
from trialsync_async.engine.fetcher import JobClient, UnitFetcher
from trialsync_async.engine.paging_choice import PagingChoice
from trialsync_async.engine.planner import Planner
from trialsync_async.engine.result import JobResult, RunProgress
from trialsync_async.engine.schema_drift import note_drift
from trialsync_async.engine.stages import Stages
from trialsync_async.errors import LockTimeout, StatementTimeout, TrialSyncError
from trialsync_async.inventory import JobSpec
from trialsync_async.records import RowBuilder
from trialsync_async.schema_drift import sampler_for
from trialsync_async.settings import RunOptions

log = structlog.get_logger(__name__)


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
            conn=RunConnection(
                dsn, job_id=job.id, retry=retry, instance_id=job.source_instance_id
            ),
        )  # fmt: skip
        if clock is not None:  # tests: revisits counted on a fake clock
            self.ctx.clock = clock
        self.job = job
        self.clients = clients
        self.on_progress = on_progress
        self.rows = RowBuilder(job.record_key, endpoint=job.source_endpoint)
        self.drift = sampler_for(job)  # None: the swagger declares no record model
        if self.drift is not None:
            self.rows.observe = self.drift.observe
        self.paging = PagingChoice(job, self.ctx.page_size, self.progress.notes)
        self.failures = UnitFailures(self.ctx)
        self.guard = DeletionGuard(self.ctx)
        self.stages: Stages | None = None
        self._writer_conns: list[RunConnection] = []  # further writers of a plain job
        self.api: ApiClient | None = None  # the instance's shared client, once started
        self._decreases_before = 0
        self.continues_run_id: int | None = None
        self.started = time.monotonic()
        self.finished = False
        self._stop_requested = False

    @property
    def progress(self) -> RunProgress:
        return self.ctx.progress

    @property
    def run_id(self) -> int | None:
        return self.ctx.run_id or None

    async def execute(self) -> JobResult:
        """Run the job; whatever is raised inside ends the run ``failed`` with ``type:
        message`` (a cancellation: ``interrupted``), never a run row left ``running``."""
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
                await settle(self.ctx, self.guard, seen_pass=stages.committer.seen_pass)
        except TrialSyncError as exc:
            status, error = "failed", str(exc)
        except asyncpg.LockNotAvailableError:  # SQLSTATE 55P03: lock_timeout passed
            status, error = "failed", str(self._lock_timeout())
        except asyncpg.QueryCanceledError:  # 57014: statement_timeout (or a cancel)
            what = self.ctx.phase or "writing"
            status, error = (
                "failed",
                str(StatementTimeout(seconds=self.ctx.options.db_statement_timeout, what=what)),
            )
        except asyncpg.PostgresError as exc:
            status, error = "failed", f"database error {exc.sqlstate}: {exc}"
        except asyncio.CancelledError:
            status, error = "interrupted", "interrupted"
            raise
        except Exception as exc:  # a bug or a surprise: the run ends with its name and text
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            log.error("run failed unexpectedly", error=error, exc_info=True)
        finally:
            self.finished = True
            if heartbeat is not None:
                heartbeat.cancel()
                await asyncio.gather(heartbeat, return_exceptions=True)
            for conn in self._writer_conns:
                await asyncio.shield(conn.close())
            status, error = await asyncio.shield(self._finish(status, error))
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
            conn: Connection,
        ) -> tuple[Instance, list[int], JobPlan, runs.RunStart]:
            instance = await get_instance(conn, ctx.job.source_instance_id)
            abandoned = await runs.close_abandoned(conn, ctx.job.id, instance.id)
            await parameters.drop_orphan_selections(conn)  # of runs whose process died
            planned = await plan_job(conn, ctx.job, full=ctx.options.full, now=ctx.clock())
            start = await runs.start_run(
                conn, ctx.job.id, instance.id, fresh=ctx.options.fresh, full=ctx.options.full
            )
            return instance, abandoned, planned, start

        instance, abandoned, planned, start = await ctx.conn.run(begin, what="starting the run")
        # What `plan` would have said, kept on the run row to compare with what it did.
        self.progress.notes["planned"] = {"requests": planned.requests, "parents": planned.fetched}
        ctx.full = start.full  # --full, or the pass it continues was full: it stays so
        if ctx.full:
            self.progress.notes["full"] = True
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
        self.api = await self.clients.get(instance)
        self._decreases_before = self.api.limiter.decreases
        client = JobClient(self.api, self.ctx)
        self.stages = Stages(
            self.ctx,
            Planner(self.ctx, client, self.paging),
            UnitFetcher(self.ctx, client, self.paging, self.rows, self.failures),
            Committer(self.ctx, self.guard),
            writers=[Committer(self.ctx, self.guard, conn=c) for c in await self._writers()],
        )
        if self._stop_requested:
            self.stages.stop()
        return self.stages

    async def _writers(self) -> list[RunConnection]:
        """Further connections a plain keyed job commits on (TRIALSYNC_PLAIN_WRITERS): its
        units are disjoint id ranges, so each writer merges keys no other one does, and the
        database merges on several backends. Fan-outs (latency-bound, and their children may
        share keys) and keyless jobs (a scope's rows replaced whole) keep the one."""
        ctx = self.ctx
        if ctx.job.parameters or ctx.keyless or ctx.options.retry_of is not None:
            return []
        for _ in range(ctx.options.plain_writers - 1):
            conn = RunConnection(
                ctx.conn.dsn, job_id=ctx.job.id, retry=ctx.retry, instance_id=ctx.instance_id
            )
            self._writer_conns.append(conn)
            await conn.open(lock=False)
        if self._writer_conns:
            ctx.progress.notes["writers"] = 1 + len(self._writer_conns)
        return self._writer_conns

    def _outcome(self, stages: Stages) -> tuple[str, str | None]:
        if stages.fatal is not None:
            return "failed", str(stages.fatal)
        if stages.stopping and not stages.complete:
            return "interrupted", "interrupted"
        return self.failures.outcome()

    async def _finish(self, status: str, error: str | None) -> tuple[str, str | None]:
        """Close the run row; if that fails, once more with the bare status (the run then
        failed: its counts were not recorded); if the database is gone for good, the next run
        closes it (as abandoned). Returns the status and error the run ended with."""
        ctx, p = self.ctx, self.ctx.progress
        try:
            self._note_key_casing()
            self._note_pressure()
            await note_drift(ctx, self.drift)
            p.notes.pop("phase", None)
            if ctx.run_id:

                async def finish(conn: Connection) -> None:
                    if ctx.job.parameters:  # its work list, if it selected parents
                        await parameters.drop_selection(conn, ctx.run_id)
                    await runs.finish_run(conn, ctx.run_id, p, status=status, error=error)

                await ctx.conn.run(finish, what="closing the run")
        except TrialSyncError as exc:  # the database is gone: the next run closes it
            log.error("run row not closed", error=str(exc))
        except Exception as exc:  # the counts or notes could not be written: close it bare
            closing_error = f"{type(exc).__name__}: {exc}"
            log.error("run row not closed", error=closing_error, exc_info=True)
            status, error = "failed", error or f"closing the run: {closing_error}"
            await self._close_bare(status, error)
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
        return status, error

    async def _close_bare(self, status: str, error: str) -> None:
        ctx = self.ctx
        if not ctx.run_id:
            return

        async def close(conn: Connection) -> None:
            await runs.close_run(conn, ctx.run_id, status=status, error=error)

        try:
            await ctx.conn.run(close, what="closing the run")
        except Exception as exc:  # the database is gone: the next run closes it
            log.error("run row not closed", error=f"{type(exc).__name__}: {exc}")

    def _lock_timeout(self) -> LockTimeout:
        ctx = self.ctx
        doing = ctx.resumed_phase if ctx.waiting_on else ctx.phase
        return LockTimeout(
            seconds=ctx.options.db_lock_timeout,
            table=ctx.waiting_on or ctx.job.target_table,
            what=doing or "writing a batch",
        )

    def _note_key_casing(self) -> None:
        casings, warning = self.rows.casing_report()
        if casings:
            self.progress.notes["key_casing"] = casings
        if warning:
            self.progress.notes.setdefault("warnings", []).append(warning)
            log.warning("record key casing differs", detail=warning)
        if (mixed := self.rows.id_kind_report()) is not None:
            self.progress.notes.setdefault("warnings", []).append(mixed)
            log.warning("ids changed kind", detail=mixed)

    def _note_pressure(self) -> None:
        """The instance's adaptive limits as this run leaves them (``notes["pressure"]``):
        the rate and its ceiling (None: not limited / none configured), how often a 429 or
        503 lowered the rate while it ran, the 429/503 answers it met, the in-flight limit."""
        api = self.api
        if api is None:
            return
        limiter = api.limiter
        self.progress.notes["pressure"] = {
            "rate": None if limiter.rate is None else round(limiter.rate, 2),
            "ceiling": limiter.ceiling,
            "decreases": limiter.decreases - self._decreases_before,
            "throttled": self.progress.throttled,
            "in_flight_limit": int(api.slots.limit.limit),
        }

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
            page_queue_high_water=self.stages.page_high_water() if self.stages else 0,
            batch_queue_high_water=self.stages.batch_high_water() if self.stages else 0,
            instance_id=self.job.source_instance_id,
        )

    async def _heartbeat(self) -> None:
        """Every few seconds: counts + heartbeat into the run row, whether the run's
        connection waits for a lock (shown as its phase), and the display callback."""
        ctx = self.ctx

        async def save(conn: Connection) -> str | None:
            self._note_pressure()
            if ctx.phase:  # on the run row too: what a run that stopped fetching is doing
                ctx.progress.notes["phase"] = ctx.phase
            else:
                ctx.progress.notes.pop("phase", None)
            await runs.save_progress(conn, ctx.run_id, ctx.progress)
            pid = ctx.conn.backend_pid
            return await runs.lock_waited_on(conn, pid) if pid is not None else None

        while True:
            await asyncio.sleep(ctx.options.progress_seconds)
            try:
                waiting = await ctx.pooled(save, what="saving progress")
            except (TrialSyncError, asyncpg.PostgresError, OSError) as exc:  # best effort
                log.warning("progress not saved", error=str(exc))
            else:
                self._waiting(waiting)
            if self.on_progress is not None:
                self.on_progress(self)

    def _waiting(self, table: str | None) -> None:
        """The run's connection waits for a lock on ``table`` (None: it does not)."""
        ctx = self.ctx
        if table is not None and ctx.waiting_on is None:
            ctx.waiting_on = table
            ctx.resumed_phase = ctx.phase
            ctx.enter_phase(f"waiting for a lock on {table}")
            log.warning("waiting for a lock", table=table)
        elif table is None and ctx.waiting_on is not None:
            ctx.waiting_on = None
            ctx.enter_phase(ctx.resumed_phase)
