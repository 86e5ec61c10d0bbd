"""The in-memory pipeline of one job run: bounded queues between fetchers and the writer.

workers ──Chunk / UnitEnd──▶ page queue ──▶ batcher ──Batch──▶ batch queue ──▶ writer

Both queues are bounded, so a slow database stops the fetchers (back-pressure) and memory
stays bounded whatever the job's size. A chunk (one page) is never split between batches, so
a batch knows, for every unit it touches, the position after its last page in the batch: the
writer commits those positions (and the units that ended) with the rows.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from trialsync_async.api.paging import Evidence
from trialsync_async.db.units import UnitUpdate
from trialsync_async.engine.units import Unit
from trialsync_async.records import Row

T = TypeVar("T")


@dataclass(slots=True)
class Chunk:
    """Rows of one page of ``unit``, and where the unit goes on after it (None: unknown)."""

    unit: Unit
    rows: list[Row]
    position: dict[str, Any] | None


@dataclass(slots=True)
class UnitEnd:
    """A unit has fetched everything; ``keys`` lists its record keys for keyless jobs;
    ``evidence`` what the API claimed and gave (a shortfall: its rows are merged, but nothing
    is deleted on its word)."""

    unit: Unit
    keys: list[str] | None
    evidence: Evidence = field(default_factory=Evidence)

    @property
    def proven(self) -> bool:
        return self.evidence.shortfall == 0


@dataclass(slots=True)
class _Touched:
    unit: Unit
    position: dict[str, Any] | None = None
    records: int = 0


@dataclass(slots=True)
class Batch:
    rows: list[Row] = field(default_factory=list)
    nbytes: int = 0
    touched: dict[str, _Touched] = field(default_factory=dict)
    ended_units: list[UnitEnd] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def unit_updates(self) -> list[UnitUpdate]:
        """Unit state to commit with this batch: ended units done, the others partial."""
        ended = {end.unit.key for end in self.ended_units}
        updates = [
            t.unit.update("partial", position=t.position, records=t.records)
            for key, t in self.touched.items()
            if key not in ended
        ]
        for end in self.ended_units:
            touched = self.touched.get(end.unit.key)
            updates.append(
                end.unit.update(
                    "done", records=touched.records if touched else 0,
                    reported=end.evidence.reported, shortfall=end.evidence.shortfall,
                )
            )  # fmt: skip
        return updates


class TrackedQueue(Generic[T]):
    """A bounded asyncio.Queue that remembers the most items it ever held (for the run's
    result: evidence that memory stayed bounded)."""

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self.high_water = 0

    async def put(self, item: T) -> None:
        await self._queue.put(item)
        self.high_water = max(self.high_water, self._queue.qsize())

    async def get(self) -> T:
        return await self._queue.get()

    def qsize(self) -> int:
        return self._queue.qsize()


class Batcher:
    """Packs chunks into batches bounded by rows, bytes, ended units and age.

    Unit ends ride along with the batch that holds (or follows) the unit's last rows, so the
    writer marks a unit done only once those rows are merged. ``max_units`` and ``max_age``
    make a fan-out of many small or empty parents commit its progress often.
    """

    def __init__(
        self, *, max_rows: int, max_bytes: int, max_units: int = 500, max_age: float = 2.0
    ) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.max_units = max_units
        self.max_age = max_age
        self.current = Batch()

    def add(self, chunk: Chunk) -> Batch | None:
        """Add a chunk; return the batch if it is now full."""
        batch = self._current()
        batch.rows.extend(chunk.rows)
        batch.nbytes += sum(len(r.data) for r in chunk.rows)
        touched = batch.touched.setdefault(chunk.unit.key, _Touched(chunk.unit))
        touched.position = chunk.position
        touched.records += len(chunk.rows)
        return self.take() if self._full() else None

    def end_unit(self, end: UnitEnd) -> Batch | None:
        self._current().ended_units.append(end)
        return self.take() if self._full() else None

    def _current(self) -> Batch:
        if not self.pending:
            self.current.started = time.monotonic()
        return self.current

    def _full(self) -> bool:
        b = self.current
        return (
            len(b.rows) >= self.max_rows
            or b.nbytes >= self.max_bytes
            or len(b.ended_units) >= self.max_units
        )

    def due_in(self) -> float | None:
        """Seconds until the pending batch is old enough to commit (None: nothing pending)."""
        if not self.pending:
            return None
        return max(0.0, self.current.started + self.max_age - time.monotonic())

    def take(self) -> Batch:
        batch, self.current = self.current, Batch()
        return batch

    @property
    def pending(self) -> bool:
        return bool(self.current.rows or self.current.ended_units or self.current.touched)
