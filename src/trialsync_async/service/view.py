"""What the HTTP surface and the metrics may see of a running service (the daemon implements
it; tests may stub it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import asyncpg

from trialsync_async.api import ApiClient
from trialsync_async.db.freshness import ParentsOverdue
from trialsync_async.engine.job_run import JobRun
from trialsync_async.settings import Settings


class ServiceView(Protocol):
    @property
    def replica_id(self) -> str: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def pool(self) -> asyncpg.Pool: ...

    def loop_lag(self) -> float:
        """Seconds the scheduler loop has shown no sign of life: since its last turn, or since
        it last waited for an unreachable database (0 while it waits). A stuck loop grows it."""
        ...

    def live_replicas(self) -> int:
        """Live replicas on the database as this one last saw them (itself included)."""
        ...

    def running(self) -> list[JobRun]:
        """The runs this replica is executing now."""
        ...

    def clients(self) -> list[ApiClient]:
        """This replica's API clients (one per instance), for request counters."""
        ...

    def parents_overdue(self) -> Mapping[tuple[int, int], ParentsOverdue] | None:
        """The parents-overdue aggregate as the replica last read it in the background (empty
        until its first read); None: the caller reads it itself."""
        ...
