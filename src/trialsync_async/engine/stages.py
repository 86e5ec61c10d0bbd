"""The stages of one run wired together, and how a stop drains them.

    planner ──Unit──▶ unit queue ──▶ N workers (UnitFetcher)
        ──Chunk / UnitEnd──▶ page queue ──▶ batcher ──Batch──▶ batch queue ──▶ committer

A plain keyed job may have more than one writer (``writers=[…]``): page queue, batcher, batch
queue and committer then form one *lane* per writer, and each unit (an id range) goes down one
lane, so its pages still commit in order with its position, the lanes' keys never meet
(disjoint ranges), a full lane holds up only the walkers feeding it, and PostgreSQL merges on
as many backends as there are lanes.

The planner and the workers are the *fetchers*. ``stop()`` cancels only them: what they
fetched is still batched and committed with its position, so a later run continues from
there. A fetcher that meets an error that ends the run (``fail``) keeps the first such error,
stops the fetchers, lets the rest drain, and ``run`` raises it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
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


@dataclass(slots=True)
class Lane:
    """One writer's way: pages → batcher → batches → its committer."""

    committer: Committer
    pages: TrackedQueue[Chunk | UnitEnd | None]
    batches: TrackedQueue[Batch | None]


class Stages:
    def __init__(
        self,
        ctx: RunContext,
        planner: Planner,
        fetcher: UnitFetcher,
        committer: Committer,
        *,
        writers: Sequence[Committer] = (),
    ) -> None:
        self.ctx = ctx
        self.planner = planner
        self.fetcher = fetcher
        self.committer = committer
        # The queues' bounds are the run's, shared out between the lanes (memory stays flat).
        n = 1 + len(writers)
        pages, batches = max(4, PAGE_QUEUE_PAGES // n), max(1, ctx.options.batches_in_flight // n)
        self.lanes = [
            Lane(c, TrackedQueue(pages), TrackedQueue(batches)) for c in (committer, *writers)
        ]
        self._lane_of: dict[str, Lane] = {}  # unit key → its lane
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
                for lane in self.lanes:
                    tg.create_task(self._batch(lane))
                    tg.create_task(self._commit(lane))
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

    def pages_waiting(self) -> int:
        return sum(lane.pages.qsize() for lane in self.lanes)

    def batches_waiting(self) -> int:
        return sum(lane.batches.qsize() for lane in self.lanes)

    def page_high_water(self) -> int:
        return max(lane.pages.high_water for lane in self.lanes)

    def batch_high_water(self) -> int:
        return max(lane.batches.high_water for lane in self.lanes)

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
            await self.fetcher.fetch(unit, self._lane(unit.key).pages)

    def _lane(self, unit_key: str) -> Lane:
        """A unit's lane: the first unit's the first, and so on, round. With one lane nothing
        is remembered (a fan-out's units are its parents: millions)."""
        if len(self.lanes) == 1:
            return self.lanes[0]
        lane = self._lane_of.get(unit_key)
        if lane is None:
            lane = self.lanes[len(self._lane_of) % len(self.lanes)]
            self._lane_of[unit_key] = lane
        return lane

    async def _close_after(self, tasks: Sequence[asyncio.Task[None]]) -> None:
        await asyncio.wait(tasks)  # finished or cancelled, never raising here
        for lane in self.lanes:
            await lane.pages.put(None)

    async def _batch(self, lane: Lane) -> None:
        o = self.ctx.options
        batcher = Batcher(
            max_rows=o.batch_rows, max_bytes=o.batch_bytes, max_units=o.batch_units,
            max_age=o.commit_seconds,
        )  # fmt: skip
        while True:
            try:
                item = await asyncio.wait_for(lane.pages.get(), batcher.due_in())
            except TimeoutError:  # the pending batch is old enough: commit it
                await lane.batches.put(batcher.take())
                continue
            if item is None:
                break
            full = batcher.add(item) if isinstance(item, Chunk) else batcher.end_unit(item)
            if full is not None:
                await lane.batches.put(full)
        if batcher.pending:
            await lane.batches.put(batcher.take())
        await lane.batches.put(None)

    async def _commit(self, lane: Lane) -> None:
        while (batch := await lane.batches.get()) is not None:
            await lane.committer.commit(batch)


def _first_cause(group: BaseExceptionGroup[Any]) -> BaseException:
    """The exception that broke a task group (nested groups unwrapped)."""
    first = group.exceptions[0]
    return _first_cause(first) if isinstance(first, BaseExceptionGroup) else first
