"""Riding out a lost connection or a restarting PostgreSQL.

Errors are told apart by SQLSTATE class, not by text: class 08 (connection exception) and
57P01-57P03 (admin shutdown, crash shutdown, cannot connect now) mean "the server went away or
is not back yet"; so do socket errors and an asyncpg connection that is already closed. Every
statement the loader runs is one transaction or idempotent, so such a failure is retried on a
new connection with backoff until the server is back or ``window`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog

from trialsync_async.db.types import Connection
from trialsync_async.errors import DatabaseUnavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")

_SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})
_BACKOFF_FIRST = 0.2
_BACKOFF_MAX = 5.0


def is_connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the server is gone or not yet back (so retrying may succeed)."""
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        return state.startswith("08") or state in _SHUTDOWN_STATES
    # A bare InterfaceError ("connection is closed") carries no SQLSTATE: the caller's
    # connection state decides (DbRetry.run's ``is_closed``).
    return isinstance(exc, (OSError, ConnectionError, TimeoutError))


class DbRetry:
    """Retries an operation while the database is unreachable, within a time window."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.waiting = 0
        """Operations retrying a lost connection right now (waiting for the database)."""
        self.waited_until = 0.0
        """``time.monotonic()`` when the last such wait ended (the op succeeded or gave up)."""

    async def run(
        self,
        op: Callable[[], Awaitable[T]],
        *,
        what: str,
        on_lost: Callable[[], Awaitable[None]] | None = None,
        is_closed: Callable[[], bool] | None = None,
    ) -> T:
        """``await op()``; on a lost connection call ``on_lost`` (reconnect) and retry."""
        started: float | None = None
        delay = _BACKOFF_FIRST
        try:
            while True:
                try:
                    return await op()
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                    lost = is_connection_lost(exc) or (
                        isinstance(exc, asyncpg.InterfaceError)
                        and is_closed is not None
                        and is_closed()
                    )
                    if not lost:
                        raise
                    now = time.monotonic()
                    if started is None:
                        started = now
                        self.waiting += 1
                    if now - started >= self.window:
                        raise DatabaseUnavailable(
                            detail=f"{what}: {type(exc).__name__}: {exc} "
                            f"(not back within {self.window:g} s)"
                        ) from exc
                    log.warning(
                        "database connection lost; retrying", what=what, error=type(exc).__name__
                    )
                    await asyncio.sleep(random.uniform(delay / 2, delay))
                    delay = min(delay * 2, _BACKOFF_MAX)
                    if on_lost is not None:
                        try:
                            await on_lost()
                        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as again:
                            if not is_connection_lost(again):
                                raise
                            # still down: the next op() fails fast and we wait again
        finally:
            if started is not None:
                self.waiting -= 1
                self.waited_until = time.monotonic()


async def pooled(
    pool: asyncpg.Pool,
    retry: DbRetry,
    fn: Callable[[Connection], Awaitable[T]],
    *,
    what: str,
) -> T:
    """Run ``fn`` on a pool connection, on a fresh one after a lost connection.

    A server that goes away mid-statement can leave asyncpg's protocol in an unknown state
    (``InternalClientError``: "cannot switch to state …", in ``fn`` or in the pool's reset of
    the connection on release, which then terminates it) or the connection closed under a
    bare ``InterfaceError``: both are a lost connection here (as in run_connection.py), so the
    work is retried on another connection instead of the error escaping to the caller."""

    async def attempt() -> T:
        try:
            async with pool.acquire() as conn:
                try:
                    return await fn(conn)
                except asyncpg.InterfaceError as exc:
                    if not _closed(conn):
                        raise
                    raise ConnectionResetError(str(exc)) from exc
        except asyncpg.InternalClientError as exc:
            raise ConnectionResetError(str(exc)) from exc

    return await retry.run(attempt, what=what)


def _closed(conn: Connection) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # a lost connection's proxy is already back in the pool
        return True
