"""The stages of one run wired together, and how a stop drains them.

    planner ──Unit──▶ unit queue ──▶ N workers (UnitFetcher)
        ──Chunk / UnitEnd──▶ page queue ──▶ batcher ──Batch──▶ batch queue ──▶ committer

The planner and the workers are the *fetchers*. ``stop()`` cancels only them: what they
fetched is still batched and committed with its position, so a later run continues from
there. A fetcher that meets an error that ends the run (``fail``) keeps the first such error,
stops the fetchers, lets the rest drain, and ``run`` raises it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from trialsync_async.engine.committer import Committer
from trialsync_async.engine.context import RunContext
from trialsync_async.engine.fetcher import UnitFetcher
from trialsync_async.engine.pipeline import Batch, Batcher, Chunk, TrackedQueue, UnitEnd
from trialsync_async.engine.planner import Planner
from trialsync_async.engine.units import Unit
from trialsync_async.errors import TrialSyncError

PAGE_QUEUE_PAGES = 16
"""Pages parsed and waiting for the batcher. Independent of the concurrency, so memory is
not: the batcher drains this queue at once unless the committer is behind."""
PLAIN_WALKERS = 4
"""Id ranges a plain job walks at once. Its pages are full, so the writer bounds it (15–30
pages a second here); four walkers keep the writer fed up to 130 ms and more of latency per
page, while more would only hold more pages in memory and take the event loop's turns from
the writer (measured: 32 walkers took 25 s and 210 MiB where one took 17 s and 103 MiB)."""


class Stages:
    def __init__(
        self, ctx: RunContext, planner: Planner, fetcher: UnitFetcher, committer: Committer
    ) -> None:
        self.ctx = ctx
        self.planner = planner
        self.fetcher = fetcher
        self.committer = committer
        self.pages: TrackedQueue[Chunk | UnitEnd | None] = TrackedQueue(PAGE_QUEUE_PAGES)
        self.batches: TrackedQueue[Batch | None] = TrackedQueue(ctx.options.batches_in_flight)
        self.planned_all = False
        self.stopping = False
        self.fatal: BaseException | None = None
        self._fetch_tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        """Run every stage to its end; raise the error that ended the run, if any."""
        job = self.ctx.job
        workers = self.ctx.options.concurrency
        if not job.parameters or job.fanout == "global":  # one list, walked in id ranges
            workers = min(workers, PLAIN_WALKERS)
        units: asyncio.Queue[Unit | None] = asyncio.Queue(workers * 2)
        try:
            async with asyncio.TaskGroup() as tg:
                self._fetch_tasks = [
                    tg.create_task(self._guard(self._plan, units, workers)),
                    *(tg.create_task(self._guard(self._work, units)) for _ in range(workers)),
                ]
                if self.stopping:  # stopped before the tasks existed
                    self.stop()
                tg.create_task(self._close_after(self._fetch_tasks))
                tg.create_task(self._batch())
                tg.create_task(self._commit())
        except BaseExceptionGroup as group:
            raise _first_cause(group) from None
        if self.fatal is not None:
            raise self.fatal

    def stop(self) -> None:
        """Stop taking work: cancel the fetchers; what was fetched is still committed."""
        self.stopping = True
        for task in self._fetch_tasks:
            task.cancel()

    def fail(self, exc: BaseException) -> None:
        if self.fatal is None:
            self.fatal = exc
        self.stop()

    @property
    def complete(self) -> bool:
        """Every unit of the plan was planned and finished."""
        p = self.ctx.progress
        return self.planned_all and p.units_total is not None and p.units_done >= p.units_total

    async def _guard(self, stage: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        """Run ``stage(*args)``; a TrialSyncError fails the run. The coroutine is made here, so
        a task cancelled before its first step (a stop at once) leaves none un-awaited."""
        try:
            await stage(*args)
        except TrialSyncError as exc:
            self.fail(exc)

    async def _plan(self, units: asyncio.Queue[Unit | None], workers: int) -> None:
        async for unit in self.planner.units(workers):
            await units.put(unit)
        self.planned_all = True
        for _ in range(workers):
            await units.put(None)

    async def _work(self, units: asyncio.Queue[Unit | None]) -> None:
        while (unit := await units.get()) is not None:
            await self.fetcher.fetch(unit, self.pages)

    async def _close_after(self, tasks: Sequence[asyncio.Task[None]]) -> None:
        await asyncio.wait(tasks)  # finished or cancelled, never raising here
        await self.pages.put(None)

    async def _batch(self) -> None:
        o = self.ctx.options
        batcher = Batcher(
            max_rows=o.batch_rows, max_bytes=o.batch_bytes, max_units=o.batch_units,
            max_age=o.commit_seconds,
        )  # fmt: skip
        while True:
            try:
                item = await asyncio.wait_for(self.pages.get(), batcher.due_in())
            except TimeoutError:  # the pending batch is old enough: commit it
                await self.batches.put(batcher.take())
                continue
            if item is None:
                break
            full = batcher.add(item) if isinstance(item, Chunk) else batcher.end_unit(item)
            if full is not None:
                await self.batches.put(full)
        if batcher.pending:
            await self.batches.put(batcher.take())
        await self.batches.put(None)

    async def _commit(self) -> None:
        while (batch := await self.batches.get()) is not None:
            await self.committer.commit(batch)


def _first_cause(group: BaseExceptionGroup[Any]) -> BaseException:
    """The exception that broke a task group (nested groups unwrapped)."""
    first = group.exceptions[0]
    return _first_cause(first) if isinstance(first, BaseExceptionGroup) else first
