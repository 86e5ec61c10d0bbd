"""What every stage of one job run shares: the job, its run row's ids, counters, connections."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg

from trialsync_async.db.resilience import DbRetry, pooled
from trialsync_async.db.run_connection import RunConnection
from trialsync_async.db.types import Connection
from trialsync_async.db.units import Revisit
from trialsync_async.engine.result import RunProgress
from trialsync_async.inventory import JobSpec
from trialsync_async.settings import RunOptions

T = TypeVar("T")


@dataclass(slots=True, kw_only=True)
class RunContext:
    """One run's shared state. ``run_id``/``pass_id`` are set once the run row exists.

    ``conn`` is the run's own connection (it holds the job lock; batches commit on it);
    ``pool`` serves the side tasks (parameter pages, failed units, progress).
    """

    job: JobSpec
    options: RunOptions
    pool: asyncpg.Pool
    retry: DbRetry
    conn: RunConnection
    progress: RunProgress = field(default_factory=RunProgress)
    instance_id: int = 0
    run_id: int = 0
    pass_id: int = 0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    initial_load: bool = False  # fan-outs: no parent of the job was fetched before this pass
    incremental_since: str | None = None  # plain jobs: this pass asks only since then
    full: bool = False  # fan-outs: this run fetches every parent (--full, or a full pass goes on)
    phase: str | None = None  # after fetching: what the run is doing (settling, waiting)
    phase_since: float = 0.0  # time.monotonic() when the phase began
    waiting_on: str | None = None  # a table whose lock the run's connection waits for
    resumed_phase: str | None = None  # the phase a lock wait interrupted

    def revisit(self) -> Revisit | None:
        """Fan-outs: the refresh bounds finished units get their next revisit from."""
        if not self.job.parameters:
            return None
        return Revisit(
            self.job.min_refresh, self.job.max_refresh, self.clock(), initial=self.initial_load
        )

    @property
    def page_size(self) -> int:
        return min(self.options.page_size, self.job.page_size)

    @property
    def keyless(self) -> bool:
        return self.job.record_key.kind == "none"

    def enter_phase(self, phase: str | None) -> None:
        """What the run does after fetching (``settling deletions``), shown with its time."""
        self.phase = phase
        self.phase_since = time.monotonic()

    async def pooled(self, work: Callable[[Connection], Awaitable[T]], what: str) -> T:
        """``work`` on a pooled connection, retried while the database is briefly away."""
        return await pooled(self.pool, self.retry, work, what=what)
