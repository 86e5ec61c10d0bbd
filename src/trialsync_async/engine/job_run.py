"""One run of one job: lock → run row → plan → fetch → batch → commit → outcome → run log.

``JobRun.execute`` is the lifecycle; the stages (planning, fetching a unit, batching, the
commit of a batch) are the methods below it, in the order a record passes through them. A
stop (signal, fatal error) cancels the fetchers only: what was fetched is still batched and
committed with its position, so the next run continues from there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from trialsync_async.api import ApiClient, Page
from trialsync_async.api.client import Params
from trialsync_async.api.paging import probe_ids, walk
from trialsync_async.db import runs
from trialsync_async.db import units as unit_state
from trialsync_async.db.catalog import Instance, get_instance
from trialsync_async.db.resilience import DbRetry, pooled
from trialsync_async.db.run_connection import RunConnection
from trialsync_async.db.staging import StagingWriter
from trialsync_async.engine.clients import ClientRegistry
from trialsync_async.engine.failures import UnitFailures
from trialsync_async.engine.paging_choice import PagingChoice
from trialsync_async.engine.pipeline import Batch, Batcher, BoundedQueue, Chunk, UnitEnd
from trialsync_async.engine.units import (
    Unit,
    fanout_counts,
    fanout_units,
    range_count,
    range_units,
    resumed_plain_units,
)
from trialsync_async.errors import ClientRequestError, MalformedResponse, TrialSyncError
from trialsync_async.inventory import JobSpec
from trialsync_async.records import RowBuilder
from trialsync_async.settings import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_ROWS,
    DEFAULT_BATCH_UNITS,
    DEFAULT_BATCHES_IN_FLIGHT,
    DEFAULT_COMMIT_SECONDS,
    DEFAULT_CONCURRENCY,
    DEFAULT_DB_RETRY_SECONDS,
    DEFAULT_PAGE_SIZE,
    DEFAULT_PROGRESS_SECONDS,
    Settings,
)

log = structlog.get_logger(__name__)

# Pages parsed and waiting for the batcher. Independent of --concurrency, so memory is not:
# the batcher drains this queue at once unless the writer is behind, and then fetchers wait.
PAGE_QUEUE_PAGES = 16
_END: Any = object()  # closes a queue


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What one invocation asks of its runs (defaults come from Settings)."""

    concurrency: int = DEFAULT_CONCURRENCY
    page_size: int = DEFAULT_PAGE_SIZE
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_bytes: int = DEFAULT_BATCH_BYTES
    batches_in_flight: int = DEFAULT_BATCHES_IN_FLIGHT
    batch_units: int = DEFAULT_BATCH_UNITS
    commit_seconds: float = DEFAULT_COMMIT_SECONDS
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS
    db_retry_seconds: float = DEFAULT_DB_RETRY_SECONDS
    fresh: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RunOptions:
        values: dict[str, Any] = {
            "concurrency": settings.concurrency,
            "page_size": settings.page_size,
            "batch_rows": settings.batch_rows,
            "batch_bytes": settings.batch_bytes,
            "batches_in_flight": settings.batches_in_flight,
            "batch_units": settings.batch_units,
            "commit_seconds": settings.commit_seconds,
            "progress_seconds": settings.progress_seconds,
            "db_retry_seconds": settings.db_retry_seconds,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


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


class _JobFetcher:
    """The shared client of the instance, counting this job's attempts and retries."""

    def __init__(self, client: ApiClient, progress: runs.RunProgress) -> None:
        self.client = client
        self.progress = progress

    async def get_page(self, path: str, params: Params | None = None) -> Page:
        return await self.client.get_page(path, params, tally=self.progress)


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
    ) -> None:
        self.job = job
        self.pool = pool
        self.clients = clients
        self.options = options
        self.on_progress = on_progress
        self.retry = DbRetry(options.db_retry_seconds)
        self.conn = RunConnection(dsn, job_id=job.id, retry=self.retry)
        self.progress = runs.RunProgress()
        self.run_id: int | None = None
        self.pass_id = 0
        self.continues_run_id: int | None = None
        self.finished = False
        self.started = time.monotonic()
        self.page_size = min(options.page_size, job.page_size)
        self.rows = RowBuilder(job.record_key, endpoint=job.source_endpoint)
        self.paging = PagingChoice(job, self.page_size, self.progress.notes)
        self.failures = UnitFailures(self)
        self.page_queue: BoundedQueue[Any] = BoundedQueue(PAGE_QUEUE_PAGES)
        self.batch_queue: BoundedQueue[Any] = BoundedQueue(options.batches_in_flight)
        self.planned_all = False
        self._fetch_tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._fatal: BaseException | None = None
        self._sanitized_logged = False

    # --- the whole run -----------------------------------------------------------------

    async def execute(self) -> JobResult:
        await self.conn.open()  # the job lock: JobAlreadyRunning if another run holds it
        heartbeat: asyncio.Task[None] | None = None
        status, error = "failed", None
        try:
            instance = await self._begin()
            heartbeat = asyncio.create_task(self._heartbeat())
            await self._load(instance)
            status, error = self._outcome()
            if status == "success":
                await self._settle_deletions(instance)
        except TrialSyncError as exc:
            error = str(exc)
        except asyncpg.PostgresError as exc:
            error = f"database error {exc.sqlstate}: {exc}"
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

    async def _begin(self) -> Instance:
        """Close runs of this job whose process died, then open this run's row."""

        async def begin(conn: asyncpg.Connection) -> tuple[Instance, list[int], runs.RunStart]:
            instance = await get_instance(conn, self.job.source_instance_id)
            abandoned = await runs.close_abandoned(conn, self.job.id)
            start = await runs.start_run(conn, self.job.id, instance.id, fresh=self.options.fresh)
            return instance, abandoned, start

        instance, abandoned, start = await self.conn.run(begin, what="starting the run")
        if abandoned:
            log.warning("closed abandoned runs", job_id=self.job.id, runs=abandoned)
        self.run_id, self.pass_id = start.run_id, start.pass_id
        self.continues_run_id = start.continues_run_id
        structlog.contextvars.bind_contextvars(
            job_id=self.job.id, run_id=self.run_id, instance_id=instance.id
        )
        log.info(
            "run started", job=self.job.name, continues_run=self.continues_run_id,
            pass_id=self.pass_id,
        )  # fmt: skip
        return instance

    def _outcome(self) -> tuple[str, str | None]:
        p = self.progress
        if self._fatal is not None:
            return "failed", str(self._fatal)
        complete = self.planned_all and p.units_total is not None and p.units_done >= p.units_total
        if self._stopping and not complete:
            return "interrupted", "interrupted"
        return self.failures.outcome()

    async def _finish(self, status: str, error: str | None) -> None:
        """Close the run row; if the database is gone for good, the next run closes it."""
        p = self.progress
        self._note_key_casing()
        try:
            if self.run_id is not None:
                run_id = self.run_id

                async def finish(conn: asyncpg.Connection) -> None:
                    await runs.finish_run(conn, run_id, p, status=status, error=error)

                await self.conn.run(finish, what="closing the run")
        except TrialSyncError as exc:
            log.error("run row not closed", error=str(exc))
        finally:
            await self.conn.close()
        seconds = round(time.monotonic() - self.started, 1)
        level = log.info if status == "success" else log.error
        level(
            "run finished", job=self.job.name, status=status, error=error, seconds=seconds,
            fetched=p.fetched, inserted=p.inserted, updated=p.updated, unchanged=p.unchanged,
            deleted=p.deleted, requests=p.requests, retries=p.retries, sanitized=p.sanitized,
        )  # fmt: skip
        structlog.contextvars.unbind_contextvars("job_id", "run_id", "instance_id")

    def _note_key_casing(self) -> None:
        """Record keys match any casing; the run notes the casing the records used."""
        casings = self.rows.casings
        if not casings:
            return
        self.progress.notes["key_casing"] = dict(casings)
        configured = self.job.record_key.paths[0][0] if self.job.record_key.paths else None
        other = sorted(c for c in casings if c != configured)
        if other:
            warning = f"record key {configured!r} met as {', '.join(map(repr, other))}"
            self.progress.notes.setdefault("warnings", []).append(warning)
            log.warning("record key casing differs", configured=configured, met=other)

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
            page_queue_high_water=self.page_queue.high_water,
            batch_queue_high_water=self.batch_queue.high_water,
        )

    def stop(self) -> None:
        """Stop taking work: cancel the fetchers; what was fetched is still committed."""
        self._stopping = True
        for task in self._fetch_tasks:
            task.cancel()

    def _fail(self, exc: BaseException) -> None:
        """A fetcher met an error that ends the run: keep the first, drain, then raise it."""
        if self._fatal is None:
            self._fatal = exc
        self.stop()

    # --- stages ----------------------------------------------------------------------

    async def _load(self, instance: Instance) -> None:
        client = await self.clients.get(instance)
        fetcher = _JobFetcher(client, self.progress)
        units: asyncio.Queue[Unit | None] = asyncio.Queue(self.options.concurrency * 2)
        writer = StagingWriter(
            table=self.job.target_table,
            keyed_by_id=self.job.record_key.kind == "id",
            instance_id=instance.id,
            job_id=self.job.id,
            run_id=self.run_id or 0,
        )
        n_workers = self.options.concurrency
        try:
            await self._run_stages(units, instance.id, fetcher, writer, n_workers)
        except BaseExceptionGroup as group:
            raise _first_cause(group) from None
        if self._fatal is not None:
            raise self._fatal

    async def _run_stages(
        self,
        units: asyncio.Queue[Unit | None],
        instance_id: int,
        fetcher: _JobFetcher,
        writer: StagingWriter,
        n_workers: int,
    ) -> None:
        async with asyncio.TaskGroup() as tg:
            planner = tg.create_task(
                self._guard(self._plan(units, instance_id, fetcher, n_workers))
            )
            workers = [
                tg.create_task(self._guard(self._fetch_units(units, fetcher)))
                for _ in range(n_workers)
            ]
            self._fetch_tasks = [planner, *workers]
            if self._stopping:  # stopped before the tasks existed
                self.stop()
            tg.create_task(self._close_after(self._fetch_tasks))
            tg.create_task(self._batch())
            tg.create_task(self._write(writer))

    async def _guard(self, coro: Any) -> None:
        try:
            await coro
        except TrialSyncError as exc:
            self._fail(exc)

    async def _plan(
        self,
        units: asyncio.Queue[Unit | None],
        instance_id: int,
        fetcher: _JobFetcher,
        n_workers: int,
    ) -> None:
        if self.job.parameters:
            total, finished = await fanout_counts(
                self.pool, self.retry, self.job, instance_id, self.pass_id
            )
            self.progress.units_total, self.progress.units_done = total, finished
            async for unit in fanout_units(
                self.pool, self.retry, self.job, instance_id, self.pass_id
            ):
                await units.put(unit)
        else:
            for unit in await self._plain_units(instance_id, fetcher, n_workers):
                await units.put(unit)
        self.planned_all = True
        for _ in range(n_workers):
            await units.put(None)

    async def _plain_units(
        self, instance_id: int, fetcher: _JobFetcher, n_workers: int
    ) -> list[Unit]:
        """The ranges of a plain job: those its unfinished pass left, or a new plan."""
        job = self.job

        async def planned(conn: asyncpg.Connection) -> list[unit_state.PlannedUnit]:
            return await unit_state.planned_units(conn, job.id, instance_id, self.pass_id)

        previous = await pooled(self.pool, self.retry, planned, what="reading the plan")
        if previous:
            todo = resumed_plain_units(job, previous)
            self.progress.units_total = len(previous)
            self.progress.units_done = len(previous) - len(todo)
            return todo
        ranges: list[tuple[int | None, int | None]] = [(None, None)]
        if self.paging.keyset:
            try:
                probe = await probe_ids(fetcher, job.source_endpoint)
                ranges = probe.split(range_count(probe.total, self.page_size, n_workers))
            except ClientRequestError as exc:
                if exc.context.get("status") != 400 or not self.paging.refuse(str(exc)):
                    raise
            except MalformedResponse as exc:  # ids that are not integers
                self.paging.refuse(str(exc))
        plan = range_units(job.source_endpoint, ranges)
        run_id = self.run_id or 0

        async def save(conn: asyncpg.Connection) -> None:
            await unit_state.save_plan(
                conn, job_id=job.id, instance_id=instance_id, pass_id=self.pass_id,
                run_id=run_id, units=[u.update("pending") for u in plan],
            )  # fmt: skip

        await pooled(self.pool, self.retry, save, what="saving the plan")
        self.progress.units_total = len(plan)
        return plan

    async def _fetch_units(self, units: asyncio.Queue[Unit | None], fetcher: _JobFetcher) -> None:
        while (unit := await units.get()) is not None:
            await self._fetch_unit(unit, fetcher)

    async def _fetch_unit(self, unit: Unit, fetcher: _JobFetcher) -> None:
        """Every page of one unit into the page queue, then its end; failures by policy."""
        if unit.refused is not None:
            await self.failures.refused(unit)
            return
        keyless = self.job.record_key.kind == "none"
        seen: dict[str, int] = {}
        keys: list[str] | None = [] if keyless else None
        while True:
            paging = self.paging.for_unit(unit)
            emitted = 0
            try:
                async for records in walk(fetcher, unit.path, paging):
                    emitted += 1
                    position = None if keyless or paging.done else paging.position()
                    await self._emit(unit, records, position, seen=seen, keys=keys)
            except ClientRequestError as exc:
                refused = exc.context.get("status") == 400 and emitted == 0
                if refused and self.paging.refuse(str(exc)):
                    continue  # the same unit again with the next strategy
                await self.failures.failed(unit, exc)
                return
            except TrialSyncError as exc:
                await self.failures.handle(unit, exc)
                return
            break
        await self.page_queue.put(UnitEnd(unit, keys))
        self.progress.units_done += 1

    async def _emit(
        self,
        unit: Unit,
        records: list[Any],
        position: dict[str, Any] | None,
        *,
        seen: dict[str, int],
        keys: list[str] | None,
    ) -> None:
        """Parse a page's records into rows and queue them for the batcher."""
        rows = [self.rows.row(r, scope=unit.scope, seen=seen) for r in records]
        if keys is not None:
            keys.extend(row.key for row in rows if row.key is not None)
        sanitized = sum(row.sanitized for row in rows)
        if sanitized:
            self.progress.sanitized += sanitized
            if not self._sanitized_logged:
                self._sanitized_logged = True
                log.warning(
                    "NUL characters replaced by U+FFFD", job=self.job.name,
                    unit=unit.scope or unit.key, records=sanitized,
                )  # fmt: skip
        self.progress.fetched += len(rows)
        await self.page_queue.put(Chunk(unit, rows, position))

    async def _close_after(self, tasks: Sequence[asyncio.Task[None]]) -> None:
        await asyncio.wait(tasks)  # finished or cancelled, never raising here
        await self.page_queue.put(_END)

    async def _batch(self) -> None:
        batcher = Batcher(
            max_rows=self.options.batch_rows,
            max_bytes=self.options.batch_bytes,
            max_units=self.options.batch_units,
            max_age=self.options.commit_seconds,
        )
        while True:
            try:
                item = await asyncio.wait_for(self.page_queue.get(), batcher.due_in())
            except TimeoutError:  # the pending batch is old enough: commit it
                await self.batch_queue.put(batcher.take())
                continue
            if item is _END:
                break
            full = batcher.add(item) if isinstance(item, Chunk) else batcher.end_unit(item)
            if full is not None:
                await self.batch_queue.put(full)
        if batcher.pending:
            await self.batch_queue.put(batcher.take())
        await self.batch_queue.put(_END)

    async def _write(self, writer: StagingWriter) -> None:
        while (batch := await self.batch_queue.get()) is not _END:
            await self._commit(writer, batch)

    async def _commit(self, writer: StagingWriter, batch: Batch) -> None:
        """Rows, the units' state and the run's counters: one transaction, retried whole."""
        keyless = self.job.record_key.kind == "none"
        track_seen = not self.job.parameters and self.job.deletes != "keep" and not keyless
        seen_pass = self.pass_id if track_seen else None
        updates = batch.unit_updates()
        generation = -1
        p = self.progress

        async def transaction(conn: asyncpg.Connection) -> tuple[int, int, int, int]:
            nonlocal generation
            if generation != self.conn.generation:
                await writer.prepare(conn)
                generation = self.conn.generation
            deleted = 0
            async with conn.transaction():
                counts = await writer.copy_merge(conn, batch.rows, seen_pass=seen_pass)
                for end in batch.ended_units:
                    if end.keys is not None:  # keyless: the scope now holds exactly its rows
                        deleted += await writer.delete_unseen(conn, end.unit.scope, end.keys)
                await unit_state.upsert(
                    conn, job_id=self.job.id, instance_id=writer.instance_id,
                    pass_id=self.pass_id, run_id=self.run_id or 0, updates=updates,
                )  # fmt: skip
                await runs.save_progress(conn, self.run_id or 0, p)
            return counts.inserted, counts.updated, counts.unchanged, deleted

        inserted, updated, unchanged, deleted = await self.conn.run(
            transaction, what="writing a batch"
        )
        p.inserted += inserted
        p.updated += updated
        p.unchanged += unchanged
        p.deleted += deleted

    async def _settle_deletions(self, instance: Instance) -> None:
        """After a complete pass of a keyed plain job: rows it did not see, per policy."""
        job = self.job
        if job.parameters or job.record_key.kind == "none" or job.deletes == "keep":
            return

        async def settle(conn: asyncpg.Connection) -> int:
            return await unit_state.settle_unseen(
                conn, table=job.target_table, instance_id=instance.id, job_id=job.id,
                pass_id=self.pass_id, by_id=job.record_key.kind == "id", policy=job.deletes,
            )  # fmt: skip

        gone = await self.conn.run(settle, what="settling deletions")
        self.progress.deleted += gone
        if gone:
            log.info("records gone upstream", policy=job.deletes, rows=gone)

    # --- progress ------------------------------------------------------------------------

    async def _save_progress(self, conn: asyncpg.Connection) -> None:
        await runs.save_progress(conn, self.run_id or 0, self.progress)

    async def _heartbeat(self) -> None:
        """Every few seconds: the display callback, and counts + heartbeat into the run row."""
        while True:
            await asyncio.sleep(self.options.progress_seconds)
            if self.on_progress is not None:
                self.on_progress(self)
            if self.run_id is None:
                continue
            try:
                await pooled(self.pool, self.retry, self._save_progress, what="saving progress")
            except (TrialSyncError, asyncpg.PostgresError, OSError) as exc:  # best effort
                log.warning("progress not saved", error=str(exc))


def _first_cause(group: BaseExceptionGroup) -> BaseException:
    """The exception that broke a task group (nested groups unwrapped)."""
    first = group.exceptions[0]
    return _first_cause(first) if isinstance(first, BaseExceptionGroup) else first
