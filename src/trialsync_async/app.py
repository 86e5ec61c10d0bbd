"""The library's front door: one object that the CLI, the daemon, the demo and tests share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType

import asyncpg

from trialsync_async.api import RetryPolicy
from trialsync_async.db import catalog
from trialsync_async.db.connect import create_pool, database_url, redact_dsn
from trialsync_async.db.migrations import MigrationReport, migrate, sync_inventory
from trialsync_async.engine.clients import ClientRegistry
from trialsync_async.engine.job_run import JobResult, ProgressCallback, RunOptions
from trialsync_async.engine.runner import Runner
from trialsync_async.errors import DatabaseError
from trialsync_async.inventory import JobSpec, load_inventory
from trialsync_async.settings import Settings


class TrialSync:
    """Holds the settings and the database pool.

    ``async with TrialSync(settings) as ts:`` resolves the database (``DATABASE_URL`` or the
    embedded PostgreSQL) and opens a pool; every operation is a method.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dsn: str | None = None
        self._pool: asyncpg.Pool | None = None
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> TrialSync:
        self.dsn = await self._stack.enter_async_context(database_url(self.settings))
        try:
            # min_size 0: no background "pool floor" reconnects (and their tracebacks) while the
            # database is away; connections are made on demand and retried by db/resilience.py.
            self._pool = await create_pool(self.dsn, min_size=0, max_size=self.settings.pool_size)
            async with self._pool.acquire():  # reachable now, or a clear error now
                pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self._stack.aclose()
            raise DatabaseError(detail=f"cannot connect to {redact_dsn(self.dsn)}: {exc}") from exc
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
                migrations_dir=self.settings.migrations_dir,
                jobs=jobs,
                default_instance_url=self.settings.default_instance_url,
            )

    async def sync_jobs(self) -> MigrationReport:
        jobs = self.inventory()
        async with self.pool.acquire() as conn:
            return await sync_inventory(conn, jobs)

    async def list_jobs(self) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await catalog.list_jobs(conn)

    async def list_instances(self) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await catalog.list_instances(conn)

    async def set_instance(self, instance_id: int, **fields: object) -> int:
        async with self.pool.acquire() as conn:
            return await catalog.set_instance(conn, instance_id, **fields)  # type: ignore[arg-type]

    async def run_jobs(
        self,
        job_ids: Sequence[int] | None = None,
        *,
        options: RunOptions | None = None,
        on_start: ProgressCallback | None = None,
        on_progress: ProgressCallback | None = None,
        on_runner: Callable[[Runner], None] | None = None,
    ) -> list[JobResult]:
        """Run the given jobs (``None``: every active job) once, in dependency order.

        ``on_runner`` receives the runner before it starts (a caller's handle to ``stop()``).
        """
        s = self.settings
        clients = ClientRegistry(
            timeout=s.http_timeout,
            retry=RetryPolicy(
                max_attempts=s.http_max_attempts,
                base_delay=s.http_backoff_base,
                max_delay=s.http_backoff_max,
            ),
            max_connections=max(s.concurrency, 4) * 2,
            breaker_failures=s.breaker_failures,
            breaker_seconds=s.breaker_seconds,
        )
        runner = Runner(
            self.pool,
            dsn=self.dsn or "",
            options=options or RunOptions.from_settings(self.settings),
            clients=clients,
            parallel_jobs=s.parallel_jobs,
            on_start=on_start,
            on_progress=on_progress,
        )
        if on_runner is not None:
            on_runner(runner)
        try:
            return await runner.run(job_ids)
        finally:
            await clients.aclose()
