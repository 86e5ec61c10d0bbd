"""One run of one job, end to end: plan → fetch → parse → batch → COPY → merge → run log.

Read ``JobRun.execute`` top to bottom for a record's whole path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from trialsync_async.api import ApiClient, Page, iter_pages
from trialsync_async.api.client import Params
from trialsync_async.db import runs
from trialsync_async.db.catalog import Instance, get_instance
from trialsync_async.db.staging import StagingWriter
from trialsync_async.engine.clients import ClientRegistry
from trialsync_async.engine.pipeline import Batch, Batcher, BoundedQueue, Chunk, UnitEnd
from trialsync_async.engine.plan import Unit, count_units, iter_units, page_units
from trialsync_async.errors import ApiError, AuthError, EndpointNotFound, TrialSyncError
from trialsync_async.inventory import JobSpec
from trialsync_async.records import RowBuilder
from trialsync_async.settings import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_ROWS,
    DEFAULT_BATCHES_IN_FLIGHT,
    DEFAULT_CONCURRENCY,
    Settings,
)

log = structlog.get_logger(__name__)

DEFAULT_PROGRESS_SECONDS = 2.0
FAILURES_IN_SUMMARY = 3
# A parameterized endpoint that answers 404 for this many values and serves none is dead.
DEAD_ENDPOINT_UNITS = 20
# Pages parsed and waiting for the batcher. Independent of --concurrency, so memory is not:
# the batcher drains this queue at once unless the writer is behind, and then fetchers wait.
PAGE_QUEUE_PAGES = 16
_END: Any = object()  # closes a queue


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    concurrency: int = DEFAULT_CONCURRENCY
    page_size: int | None = None  # None: the job's own page_size
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_bytes: int = DEFAULT_BATCH_BYTES
    batches_in_flight: int = DEFAULT_BATCHES_IN_FLIGHT
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RunOptions:
        values = {
            "concurrency": settings.concurrency,
            "page_size": settings.page_size,
            "batch_rows": settings.batch_rows,
            "batch_bytes": settings.batch_bytes,
            "batches_in_flight": settings.batches_in_flight,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(slots=True)
class JobResult:
    job_id: int
    name: str
    status: str  # success | failed | skipped
    run_id: int | None = None
    error: str | None = None
    progress: runs.RunProgress = field(default_factory=runs.RunProgress)
    seconds: float = 0.0
    page_queue_high_water: int = 0
    batch_queue_high_water: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "success"


ProgressCallback = Callable[["JobRun"], None]


class _CountingFetcher:
    """Counts this job's requests on the instance's shared client."""

    def __init__(self, client: ApiClient, progress: runs.RunProgress) -> None:
        self.client = client
        self.progress = progress

    async def get_page(self, path: str, params: Params | None = None) -> Page:
        self.progress.requests += 1
        return await self.client.get_page(path, params)


class JobRun:
    """Runs one job once. Construct it, then ``await execute()``."""

    def __init__(
        self,
        job: JobSpec,
        *,
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
        self.progress = runs.RunProgress()
        self.run_id: int | None = None
        self.finished = False
        self.started = time.monotonic()
        self.page_size = min(options.page_size or job.page_size, job.page_size)
        self.rows = RowBuilder(job.record_key, endpoint=job.source_endpoint)
        self.failures: list[str] = []
        self.page_queue: BoundedQueue[Any] = BoundedQueue(PAGE_QUEUE_PAGES)
        self.batch_queue: BoundedQueue[Any] = BoundedQueue(options.batches_in_flight)

    # --- the whole run -----------------------------------------------------------------

    async def execute(self) -> JobResult:
        job = self.job
        async with self.pool.acquire() as conn:
            instance = await get_instance(conn, job.source_instance_id)
            self.run_id = await runs.start_run(conn, job.id, instance.id)
        log.info("run started", job_id=job.id, job=job.name, run_id=self.run_id)
        reporter = asyncio.create_task(self._report_progress())
        status, error = "failed", None
        try:
            await self._load(instance)
            status, error = self._outcome()
        except TrialSyncError as exc:
            error = str(exc)
        except asyncpg.PostgresError as exc:
            error = f"database error {exc.sqlstate}: {exc}"
        except asyncio.CancelledError:
            error = "interrupted"
            raise
        except Exception as exc:
            error = f"internal error: {exc!r}"
            raise
        finally:
            self.finished = True
            reporter.cancel()
            async with self.pool.acquire() as conn:
                await runs.finish_run(conn, self.run_id, self.progress, status=status, error=error)
            log.info(
                "run finished", job_id=job.id, run_id=self.run_id, status=status, error=error,
                inserted=self.progress.inserted, updated=self.progress.updated,
                unchanged=self.progress.unchanged, requests=self.progress.requests,
            )  # fmt: skip
        return JobResult(
            job_id=job.id,
            name=job.name,
            status=status,
            run_id=self.run_id,
            error=error,
            progress=self.progress,
            seconds=time.monotonic() - self.started,
            page_queue_high_water=self.page_queue.high_water,
            batch_queue_high_water=self.batch_queue.high_water,
        )

    async def _load(self, instance: Instance) -> None:
        client = await self.clients.get(instance)
        self.progress.units_total = await count_units(self.pool, self.job, instance.id)
        units: asyncio.Queue[Unit | None] = asyncio.Queue(self.options.concurrency * 2)
        n_workers = self.options.concurrency
        if not self._pages_in_parallel():
            n_workers = max(1, min(n_workers, self.progress.units_total))
        fetcher = _CountingFetcher(client, self.progress)
        async with (
            self.pool.acquire() as conn,
            runs.job_lock(conn, self.job.id, self.run_id or 0) as abandoned,
        ):
            if abandoned:
                log.warning("closed abandoned runs", job_id=self.job.id, runs=abandoned)
            writer = StagingWriter(
                conn,
                table=self.job.target_table,
                keyed_by_id=self.job.record_key.kind == "id",
                instance_id=instance.id,
                job_id=self.job.id,
                run_id=self.run_id or 0,
            )
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._plan(units, instance.id, n_workers, fetcher))
                    workers = [
                        tg.create_task(self._fetch_units(units, fetcher)) for _ in range(n_workers)
                    ]
                    tg.create_task(self._close_after(workers))
                    tg.create_task(self._batch())
                    tg.create_task(self._write(writer))
            except BaseExceptionGroup as group:
                raise _first_cause(group) from None

    def _outcome(self) -> tuple[str, str | None]:
        p = self.progress
        if p.units_missing and p.units_ok == 0 and not p.units_failed:
            return "failed", f"every parameter value answered 404 on {self.job.source_endpoint}"
        failed = p.units_failed
        if not failed:
            return "success", None
        first = "; ".join(self.failures[:FAILURES_IN_SUMMARY])
        return "failed", f"{failed} of {self.progress.units_total} units failed; first: {first}"

    # --- stages ----------------------------------------------------------------------

    def _pages_in_parallel(self) -> bool:
        # Keyless jobs need one scope's records in one unit (see records.RowBuilder).
        return not self.job.parameters and self.job.paged and self.job.record_key.kind != "none"

    async def _plan(
        self,
        units: asyncio.Queue[Unit | None],
        instance_id: int,
        n: int,
        fetcher: _CountingFetcher,
    ) -> None:
        if self._pages_in_parallel():
            for unit in await self._first_page(fetcher):
                await units.put(unit)
        else:
            async for unit in iter_units(self.pool, self.job, instance_id):
                await units.put(unit)
        for _ in range(n):
            await units.put(None)

    async def _first_page(self, fetcher: _CountingFetcher) -> list[Unit]:
        """Fetch page one with ``$count``; return units for the rest of the pages."""
        path = self.job.source_endpoint
        page = await fetcher.get_page(path, {"$top": self.page_size, "$skip": 0, "$count": "true"})
        await self._emit(Unit(path, {}), page.records, seen={}, keys=None)
        total = page.total if page.total is not None else len(page.records) + self.page_size
        rest = page_units(path, first_page=len(page.records), total=total, page_size=self.page_size)
        self.progress.units_total = 1 + len(rest)
        self.progress.units_done += 1
        return rest

    async def _fetch_units(
        self, units: asyncio.Queue[Unit | None], fetcher: _CountingFetcher
    ) -> None:
        while (unit := await units.get()) is not None:
            await self._fetch_unit(unit, fetcher)

    async def _pages(self, unit: Unit, fetcher: _CountingFetcher) -> AsyncIterator[list[Any]]:
        if not unit.open_ended:  # one page of a plain job fetched in parallel
            page = await fetcher.get_page(unit.path, {"$top": self.page_size, "$skip": unit.skip})
            yield page.records
            return
        async for records in iter_pages(
            fetcher, unit.path, page_size=self.page_size, paged=self.job.paged, start=unit.skip
        ):
            yield records

    async def _emit(
        self, unit: Unit, records: list[Any], *, seen: dict[str, int], keys: list[str] | None
    ) -> None:
        """Parse a page's records into rows and queue them for the batcher."""
        rows = [self.rows.row(r, scope=unit.scope, seen=seen) for r in records]
        if keys is not None:
            keys.extend(row.key for row in rows if row.key is not None)
        self.progress.fetched += len(rows)
        await self.page_queue.put(Chunk(rows, sum(len(r.data) for r in rows)))

    async def _fetch_unit(self, unit: Unit, fetcher: _CountingFetcher) -> None:
        keyless = self.job.record_key.kind == "none"
        seen: dict[str, int] = {}
        keys: list[str] | None = [] if keyless else None
        try:
            async for records in self._pages(unit, fetcher):
                await self._emit(unit, records, seen=seen, keys=keys)
        except AuthError:
            raise
        except EndpointNotFound as exc:
            if not self.job.parameters or exc.context.get("status") != 404:
                raise  # a plain job's endpoint, or 501 (the whole endpoint), is fatal
            await self._unit_missing(unit, exc)
            return
        except ApiError as exc:
            if not self.job.parameters:
                raise
            await self._unit_failed(unit, exc)
            return
        await self.page_queue.put(UnitEnd(unit, keys))
        self.progress.units_done += 1

    async def _unit_failed(self, unit: Unit, exc: ApiError) -> None:
        self.progress.units_failed += 1
        self.progress.units_done += 1
        self.failures.append(f"{unit.scope}: {exc}")
        log.warning("unit failed", job_id=self.job.id, parameters=unit.scope, error=str(exc))
        async with self.pool.acquire() as conn:
            await runs.record_failure(conn, self.run_id or 0, unit.parameters, str(exc))

    async def _unit_missing(self, unit: Unit, exc: EndpointNotFound) -> None:
        """404 for one parameter value: its parent is gone upstream; the run goes on.

        Recorded like a failure (value and reason) but the run does not fail for it, or every
        parent deleted in the API would fail its child jobs for good. An endpoint that
        answers 404 to the first values and serves none is dead: that fails the run.
        """
        p = self.progress
        p.units_missing += 1
        p.units_done += 1
        log.warning("parameter value not found", job_id=self.job.id, parameters=unit.scope)
        async with self.pool.acquire() as conn:
            await runs.record_failure(conn, self.run_id or 0, unit.parameters, f"missing: {exc}")
        if p.units_ok == 0 and p.units_missing >= DEAD_ENDPOINT_UNITS:
            raise EndpointNotFound(
                status=404,
                endpoint=f"{self.job.source_endpoint} (all of the first {p.units_missing} values)",
            )

    async def _close_after(self, workers: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*workers)
        await self.page_queue.put(_END)

    async def _batch(self) -> None:
        batcher = Batcher(max_rows=self.options.batch_rows, max_bytes=self.options.batch_bytes)
        while (item := await self.page_queue.get()) is not _END:
            if isinstance(item, Chunk):
                for batch in batcher.add(item):
                    await self.batch_queue.put(batch)
            else:
                batcher.end_unit(item)
        if batcher.pending:
            await self.batch_queue.put(batcher.take())
        await self.batch_queue.put(_END)

    async def _write(self, writer: StagingWriter) -> None:
        while (batch := await self.batch_queue.get()) is not _END:
            await self._write_batch(writer, batch)

    async def _write_batch(self, writer: StagingWriter, batch: Batch) -> None:
        counts = await writer.write(batch.rows)
        self.progress.inserted += counts.inserted
        self.progress.updated += counts.updated
        self.progress.unchanged += counts.unchanged
        for end in batch.ended_units:
            if end.keys is not None:  # keyless: the unit's scope now holds exactly its rows
                self.progress.deleted += await writer.delete_unseen(end.unit.scope, end.keys)

    # --- progress ------------------------------------------------------------------------

    async def _report_progress(self) -> None:
        """Every few seconds: the display callback, and counts + heartbeat into the run row."""
        while True:
            await asyncio.sleep(self.options.progress_seconds)
            try:
                if self.on_progress is not None:
                    self.on_progress(self)
                if self.run_id is not None:
                    async with self.pool.acquire() as conn:
                        await runs.save_progress(conn, self.run_id, self.progress)
            except (asyncpg.PostgresError, OSError) as exc:  # progress is best effort
                log.warning("progress not saved", job_id=self.job.id, error=str(exc))


def _first_cause(group: BaseExceptionGroup) -> BaseException:
    """The exception that broke a task group (nested groups unwrapped)."""
    first = group.exceptions[0]
    return _first_cause(first) if isinstance(first, BaseExceptionGroup) else first
