"""DbRetry and pooled with fake connections: what counts as a lost connection, and the waiting
state the service's liveness reads (``Service.loop_lag``). No database, but asyncpg's errors,
hence not under tests/unit (tests/unit/test_suite_rules.py); the real outage is in
test_service_probes.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from trialsync_async.db import resilience
from trialsync_async.db.resilience import DbRetry, pooled
from trialsync_async.errors import DatabaseUnavailable
from trialsync_async.service.daemon import Service
from trialsync_async.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resilience, "_BACKOFF_FIRST", 0.001)
    monkeypatch.setattr(resilience, "_BACKOFF_MAX", 0.001)


class FakeConn:
    def __init__(self, closed: bool = False) -> None:
        self.closed = closed

    def is_closed(self) -> bool:
        return self.closed


class ReleasedProxy:
    """A pool connection proxy whose connection was lost and taken back by the pool."""

    def is_closed(self) -> bool:
        raise asyncpg.InterfaceError("cannot call Connection.is_closed(): connection has been "
                                     "released back to the pool")  # fmt: skip


class FakePool:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.acquired = 0

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        self.acquired += 1
        yield self.conn


async def test_waiting_counts_an_operation_only_while_it_retries_a_lost_connection() -> None:
    retry = DbRetry(window=5)
    seen: list[int] = []
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        seen.append(retry.waiting)
        if attempts < 3:
            raise ConnectionRefusedError("down")
        return "ok"

    before = time.monotonic()
    assert await retry.run(flaky, what="test") == "ok"
    assert seen == [0, 1, 1]  # the first attempt is not a wait; the retries are
    assert retry.waiting == 0 and retry.waited_until >= before

    async def fine() -> str:
        return "fine"

    ended = retry.waited_until
    assert await retry.run(fine, what="test") == "fine"
    assert retry.waited_until == ended  # no wait, nothing recorded


async def test_waiting_ends_when_the_window_is_spent() -> None:
    retry = DbRetry(window=0.01)

    async def down() -> None:
        raise ConnectionRefusedError("down")

    with pytest.raises(DatabaseUnavailable):
        await retry.run(down, what="test")
    assert retry.waiting == 0 and retry.waited_until > 0


@pytest.mark.parametrize(
    ("conn", "error"),
    [
        pytest.param(FakeConn(), asyncpg.InternalClientError("cannot switch to state 15"),
                     id="protocol-state-unknown"),
        pytest.param(FakeConn(closed=True), asyncpg.InterfaceError("connection is closed"),
                     id="interface-error-on-a-closed-connection"),
        pytest.param(ReleasedProxy(), asyncpg.InterfaceError("the underlying connection is "
                     "closed"), id="interface-error-on-a-released-proxy"),
    ],
)  # fmt: skip
async def test_pooled_retries_what_a_server_going_away_mid_statement_raises(
    conn: Any, error: Exception
) -> None:
    pool = FakePool(conn)
    calls = 0

    async def work(c: Any) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise error
        return "done"

    assert await pooled(pool, DbRetry(5), work, what="test") == "done"  # type: ignore[arg-type]
    assert pool.acquired == 2


async def test_pooled_does_not_retry_an_interface_error_on_an_open_connection() -> None:
    async def misuse(c: Any) -> None:
        raise asyncpg.InterfaceError("another operation is in progress")

    with pytest.raises(asyncpg.InterfaceError):
        await pooled(FakePool(FakeConn()), DbRetry(5), misuse, what="test")  # type: ignore[arg-type]


def test_loop_lag_does_not_count_the_schedulers_waits_for_the_database() -> None:
    service = Service(Settings(), replica_id="unit")
    service._last_turn = time.monotonic() - 100  # the last turn ended long ago...
    service.scheduler_retry.waiting = 1  # ... because the scheduler waits for the database
    assert service.loop_lag() == 0.0
    service.scheduler_retry.waiting = 0
    service.scheduler_retry.waited_until = time.monotonic() - 1  # it just gave up or got through
    assert 1 <= service.loop_lag() < 5
    service.scheduler_retry.waited_until = 0.0
    assert service.loop_lag() >= 100  # neither: stuck
    service.retry.waiting = 1  # the heartbeat's waits are not the scheduler's
    assert service.loop_lag() >= 100
