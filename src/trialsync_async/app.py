"""The library's front door: one object that the CLI, the demo, the benchmarks and the tests
share (and the daemon will)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from datetime import datetime
from types import TracebackType
from typing import Any, Unpack

import asyncpg

from trialsync_async.db import catalog
from trialsync_async.db.catalog import InstanceChanges, InstanceRow, JobRow
from trialsync_async.db.connect import (
    create_pool,
    database_url,
    redact_dsn,
    with_application_name,
)
from trialsync_async.db.migrator import MigrationReport, migrate, sync_inventory
from trialsync_async.engine.clients import ClientRegistry
from trialsync_async.engine.job_run import JobResult, ProgressCallback
from trialsync_async.engine.plan import JobPlan, plan_jobs
from trialsync_async.engine.runner import Runner, select_jobs
from trialsync_async.errors import DatabaseError
from trialsync_async.inventory import JobSpec, load_inventory
from trialsync_async.settings import RUN_OPTION_FIELDS, Settings


class TrialSync:
    """Holds the settings and the database pool.

    ``async with TrialSync(settings) as ts:`` resolves the database (``DATABASE_URL`` or the
    embedded PostgreSQL) and opens a pool; every operation is a method.
    """

    def __init__(self, settings: Settings, *, application_name: str | None = None) -> None:
        self.settings = settings
        self.application_name = application_name  # names this process's sessions in PostgreSQL
        self.dsn: str | None = None
        self._pool: asyncpg.Pool | None = None
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> TrialSync:
        self.dsn = await self._stack.enter_async_context(
            database_url(self.settings.database_url, self.settings.embedded_dir)
        )
        shown = redact_dsn(self.dsn)
        if self.application_name:
            self.dsn = with_application_name(self.dsn, self.application_name)
        try:
            # min_size 0: no background "pool floor" reconnects (and their tracebacks) while the
            # database is away; connections are made on demand and retried by db/resilience.py.
            self._pool = await create_pool(self.dsn, min_size=0, max_size=self.settings.pool_size)
            async with self._pool.acquire():  # reachable now, or a clear error now
                pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self._stack.aclose()
            raise DatabaseError(detail=f"cannot connect to {shown}: {exc}") from exc
        self._stack.push_async_callback(self._pool.close)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("TrialSync is not open: use 'async with TrialSync(settings)'")
        return self._pool

    def inventory(self) -> list[JobSpec]:
        return load_inventory(self.settings.jobs_file)

    async def migrate(self) -> MigrationReport:
        jobs = self.inventory()  # validated before anything touches the database
        async with self.pool.acquire() as conn:
            return await migrate(
                conn,
                jobs=jobs,
                migrations_dir=self.settings.migrations_dir,
                default_instance_url=self.settings.default_instance_url,
            )

    async def sync_jobs(self) -> MigrationReport:
        jobs = self.inventory()
        async with self.pool.acquire() as conn:
            return await sync_inventory(conn, jobs)

    async def list_jobs(self) -> list[JobRow]:
        async with self.pool.acquire() as conn:
            return await catalog.list_jobs(conn)

    async def list_instances(self) -> list[InstanceRow]:
        async with self.pool.acquire() as conn:
            return await catalog.list_instances(conn)

    async def set_instance(self, instance_id: int, **changes: Unpack[InstanceChanges]) -> int:
        async with self.pool.acquire() as conn:
            return await catalog.set_instance(conn, instance_id, **changes)

    async def plan(
        self,
        job_ids: Sequence[int] | None = None,
        *,
        full: bool = False,
        now: datetime | None = None,
    ) -> list[JobPlan]:
        """What the next run of the jobs (``None``: every active job) would fetch and cost,
        were it to run at ``now`` (default: now)."""
        async with self.pool.acquire() as conn:
            jobs = await select_jobs(conn, job_ids)
        return await plan_jobs(self.pool, jobs, full=full, now=now)

    async def run_jobs(
        self,
        job_ids: Sequence[int] | None = None,
        *,
        fresh: bool = False,
        full: bool = False,
        clock: Callable[[], datetime] | None = None,
        on_start: ProgressCallback | None = None,
        on_progress: ProgressCallback | None = None,
        on_runner: Callable[[Runner], None] | None = None,
        clients: ClientRegistry | None = None,
        **overrides: Any,
    ) -> list[JobResult]:
        """Run the given jobs (``None``: every active job) once, in dependency order.

        ``overrides`` change run settings for this call only (``page_size=100``); ``fresh``
        starts new passes instead of continuing unfinished ones; ``full`` makes fan-outs fetch
        every parent, not only new, changed, failed and due ones; ``clock`` (tests) is what
        revisits are counted on. ``on_runner`` receives the runner before it starts (a caller's
        handle to ``stop()``). ``clients``: a registry shared between calls (the service's:
        every run of the process then shares one limiter per instance); by default each call
        opens and closes its own.
        """
        refused = set(overrides) - RUN_OPTION_FIELDS
        if refused:
            raise TypeError(f"not run settings: {', '.join(sorted(refused))}")
        settings = self.settings.with_overrides(**overrides)
        own_clients = clients is None
        clients = clients or ClientRegistry(settings)
        runner = Runner(
            self.pool,
            dsn=self.dsn or "",
            settings=settings,
            fresh=fresh,
            full=full,
            clock=clock,
            clients=clients,
            on_start=on_start,
            on_progress=on_progress,
        )
        if on_runner is not None:
            on_runner(runner)
        try:
            return await runner.run(job_ids)
        finally:
            if own_clients:
                await clients.aclose()
