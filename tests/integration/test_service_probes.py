"""Liveness and readiness of a running replica while its PostgreSQL goes away and comes back.

A real replica (``Service``, in process, as tests/service_support.py runs it) on a private
PostgreSQL that the test stops and starts (``restartable_pg``, as test_db_restart.py does),
probed over real HTTP. /healthz is about the process: waiting for a database that is away is
not being stuck, so it stays 200 for longer than its stuck limit. /readyz is about the work:
503 with a reason within seconds of the stop, 200 again once the server is back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.pg_support import RestartablePostgres
from tests.service_support import eventually, replica, service_settings

pytestmark = pytest.mark.integration

POLL = 0.2
STUCK_LIMIT = 3 * POLL + 10  # http.py's /healthz limit for this poll interval
OK = (200, {"status": "ok"})


class Probes:
    """GET /healthz and /readyz of one replica; the last /readyz answer is kept for messages."""

    def __init__(self, http: aiohttp.ClientSession, port: int | None) -> None:
        self.http = http
        self.base = f"http://127.0.0.1:{port}"
        self.last_readyz: tuple[int, dict[str, Any]] | None = None

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        timeout = aiohttp.ClientTimeout(total=5)
        async with self.http.get(self.base + path, timeout=timeout) as resp:
            return resp.status, await resp.json()

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        return await self.get("/healthz")

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        self.last_readyz = await self.get("/readyz")
        return self.last_readyz

    async def readyz_is(self, status: int) -> dict[str, Any] | None:
        got, body = await self.readyz()
        return body if got == status else None


@pytest.mark.parametrize(
    "db_retry_seconds",
    [
        pytest.param(60.0, id="the-scheduler-retries-the-whole-outage"),
        pytest.param(1.0, id="the-scheduler-gives-up-each-turn"),
    ],
)
async def test_database_away_healthz_stays_200_and_readyz_follows_the_database(
    restartable_pg: RestartablePostgres, restartable_db_dsn: str, db_retry_seconds: float
) -> None:
    settings = service_settings(
        restartable_db_dsn, poll_seconds=POLL, db_retry_seconds=db_retry_seconds
    )
    async with replica(settings) as service, aiohttp.ClientSession() as http:
        probe = Probes(http, service.port)
        ready = await eventually(lambda: probe.readyz_is(200), within=10, what="ready")
        assert ready == {"status": "ready"}
        assert await probe.healthz() == OK

        await asyncio.to_thread(restartable_pg.stop)
        try:
            stopped = time.monotonic()
            body = await eventually(lambda: probe.readyz_is(503), within=5, what="503")
            assert time.monotonic() - stopped < 5
            assert body["status"] == "not ready"
            assert body["reason"].startswith(
                ("database unavailable", "the database did not answer")
            ), body

            # Well past the stuck limit (the scheduler blocked on the database the whole
            # time, or failing turn after turn): the process is alive, and liveness says so.
            healthz: list[tuple[int, dict[str, Any]]] = []
            while time.monotonic() - stopped < STUCK_LIMIT + 4:
                healthz.append(await probe.healthz())
                await asyncio.sleep(0.5)
            assert len(healthz) > 20
            assert [h for h in healthz if h != OK] == []
            status, body = await probe.readyz()  # still down: still not ready
            assert status == 503 and body["status"] == "not ready"
        finally:
            await asyncio.to_thread(restartable_pg.start)

        try:
            await eventually(lambda: probe.readyz_is(200), within=30, what="ready again")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last /readyz: {probe.last_readyz}") from None
        assert await probe.healthz() == OK
        # ... and the scheduler turns again: its lag is back to about one poll interval.
        await eventually(lambda: _true(service.loop_lag() < 2), within=2 * db_retry_seconds)


async def _true(value: bool) -> bool:
    return value
