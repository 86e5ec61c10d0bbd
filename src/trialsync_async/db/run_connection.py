"""The connection one run writes through and holds its job lock on.

Not taken from the pool: a run owns it for its whole life (the session-level job lock and the
batch temp table live on it), so the pool only serves short side tasks and no combination of
parallel jobs and workers can starve it. After a lost connection it reconnects, takes the job
lock again (failing with JobLockLost if another process took it meanwhile) and retries the
operation, which is always one whole transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog

from trialsync_async.db import runs
from trialsync_async.db.connect import connect
from trialsync_async.db.resilience import DbRetry
from trialsync_async.db.types import Connection
from trialsync_async.errors import JobLockLost

log = structlog.get_logger(__name__)

T = TypeVar("T")


class RunConnection:
    def __init__(self, dsn: str, *, job_id: int, retry: DbRetry, instance_id: int = 1) -> None:
        self.dsn = dsn
        self.job_id = job_id
        self.instance_id = instance_id  # the lock is the (job, instance)'s
        self.retry = retry
        self.generation = 0  # bumped on every (re)connect: session state must be rebuilt
        self._conn: Connection | None = None
        self._locked = False

    @property
    def backend_pid(self) -> int | None:
        """The server process of the current connection (to see what it waits for)."""
        if self._conn is None or self._conn.is_closed():
            return None
        return int(self._conn.get_server_pid())

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("RunConnection is not open")
        return self._conn

    async def open(self, *, lock: bool = True) -> None:
        """Connect and take the job's lock; JobAlreadyRunning when another run holds it.
        ``lock=False``: a further writer of a run whose own connection holds the lock."""

        async def attempt() -> None:
            await self._connect()

        await self.retry.run(attempt, what="connect")
        if not lock:
            return
        if not await runs.take_job_lock(self.conn, self.job_id, self.instance_id):
            error = await runs.already_running(self.conn, self.job_id, self.instance_id)
            await self.close()
            raise error
        self._locked = True

    async def _connect(self) -> None:
        await self._drop()
        self._conn = await connect(self.dsn)
        self.generation += 1

    async def _drop(self) -> None:
        """Forget the current connection (lost, or in an unknown state)."""
        old, self._conn = self._conn, None
        if old is not None and not old.is_closed():
            old.terminate()

    async def _reconnect(self) -> None:
        await self._connect()
        if self._locked and not await runs.take_job_lock(self.conn, self.job_id, self.instance_id):
            raise JobLockLost(job_id=self.job_id)
        log.info("database connection re-established", job_id=self.job_id)

    async def run(self, fn: Callable[[Connection], Awaitable[T]], *, what: str) -> T:
        """``fn(conn)``, again on a new connection if the old one was lost."""

        async def attempt() -> T:
            if self._conn is None or self._conn.is_closed():
                await self._reconnect()  # a connection error here is retried too
            conn = self.conn
            try:
                return await fn(conn)
            except asyncpg.InternalClientError as exc:  # protocol state unknown after a loss
                await self._drop()
                raise ConnectionResetError(str(exc)) from exc

        return await self.retry.run(
            attempt,
            what=what,
            on_lost=self._drop,
            is_closed=lambda: self._conn is None or self._conn.is_closed(),
        )

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            if self._locked and not conn.is_closed():
                await runs.release_job_lock(conn, self.job_id, self.instance_id)
        self._locked = False
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            await conn.close(timeout=5)
        if not conn.is_closed():
            conn.terminate()
