"""The in-memory pipeline of one job run: bounded queues between fetchers and the writer.

workers ──Chunk / UnitEnd──▶ page queue ──▶ batcher ──Batch──▶ batch queue ──▶ writer

Both queues are bounded, so a slow database stops the fetchers (back-pressure) and memory
stays bounded whatever the job's size. High-water marks are kept for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from trialsync_async.engine.plan import Unit
from trialsync_async.records import Row

T = TypeVar("T")


@dataclass(slots=True)
class Chunk:
    """Rows of one page."""

    rows: list[Row]
    size: int


@dataclass(slots=True)
class UnitEnd:
    """A unit has fetched everything; ``keys`` lists its record keys for keyless jobs."""

    unit: Unit
    keys: list[str] | None


@dataclass(slots=True)
class Batch:
    rows: list[Row] = field(default_factory=list)
    size: int = 0
    ended_units: list[UnitEnd] = field(default_factory=list)


class BoundedQueue(asyncio.Queue[T], Generic[T]):
    """An asyncio.Queue that remembers the most items it ever held."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.high_water = 0

    def _put(self, item: T) -> None:  # called by put() and put_nowait()
        super()._put(item)  # type: ignore[misc]
        self.high_water = max(self.high_water, self.qsize())


class Batcher:
    """Packs chunks into batches bounded by rows and bytes.

    Unit ends ride along with the batch that holds (or follows) the unit's last rows, so the
    writer acts on them only once those rows are merged.
    """

    def __init__(self, *, max_rows: int, max_bytes: int) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.current = Batch()

    def add(self, chunk: Chunk) -> list[Batch]:
        """Add a chunk; return the batches that are now full."""
        full: list[Batch] = []
        for row in chunk.rows:
            self.current.rows.append(row)
            self.current.size += len(row.data)
            if len(self.current.rows) >= self.max_rows or self.current.size >= self.max_bytes:
                full.append(self.take())
        return full

    def end_unit(self, end: UnitEnd) -> None:
        self.current.ended_units.append(end)

    def take(self) -> Batch:
        batch, self.current = self.current, Batch()
        return batch

    @property
    def pending(self) -> bool:
        return bool(self.current.rows or self.current.ended_units)
