"""Helpers for service tests: fast settings, an in-process replica, a replica in a child
process, and waiting for the database to say something."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from ccsim import SimulatorServer
from tests.engine_support import FAST_HTTP, fetch
from trialsync_async.api import ApiClient
from trialsync_async.db.connect import connect
from trialsync_async.db.freshness import ParentsOverdue
from trialsync_async.service.daemon import Service
from trialsync_async.settings import Settings

FAST_SERVICE: dict[str, Any] = {
    **FAST_HTTP,
    "listen": "127.0.0.1:0",
    "poll_seconds": 0.2,
    "lease_seconds": 3.0,
    "stop_grace_seconds": 3.0,
    "progress_seconds": 0.5,
    "commit_seconds": 0.5,
}


def service_settings(db_dsn: str, **overrides: Any) -> Settings:
    return Settings.from_dsn(db_dsn, **{**FAST_SERVICE, **overrides})


def service_env(db_dsn: str, **overrides: Any) -> dict[str, str]:
    """The environment of a ``serve`` child process with the same settings."""
    values = {**FAST_SERVICE, **overrides}
    env = {**os.environ, "DATABASE_URL": db_dsn}
    env.update({Settings.ENV[k]: str(v) for k, v in values.items()})
    return env


async def prepare(
    db_dsn: str, sim: SimulatorServer, schedules: Mapping[int, str], *, rate: float = 5000
) -> None:
    """Instance 1 → the simulator; only the given jobs active, each with its schedule."""
    conn = await connect(db_dsn)
    try:
        await conn.execute(
            "UPDATE dw_api_credentials SET base_url = $1, api_key = $2, auth_header = $3, "
            "rate_limit_per_second = $4 WHERE id = 1",
            sim.base_url, sim.api_key, sim.options.api_key_header, rate,
        )  # fmt: skip
        await conn.execute(
            "UPDATE dw_etl_jobs SET is_active = (id = ANY($1::int[])), schedule_cron = NULL",
            list(schedules),
        )
        for job_id, cron in schedules.items():
            await conn.execute("UPDATE dw_etl_jobs SET schedule_cron = $2 WHERE id = $1",
                               job_id, cron)  # fmt: skip
    finally:
        await conn.close()


@asynccontextmanager
async def replica(settings: Settings, **kwargs: Any) -> AsyncIterator[Service]:
    """A replica running in this process until the block ends (then stopped gracefully)."""
    service = Service(settings, **kwargs)
    task = asyncio.create_task(service.run())
    ready = asyncio.create_task(service.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=20, return_when="FIRST_COMPLETED")
    if task in done:
        ready.cancel()
        task.result()  # raises what stopped it
    assert ready in done, "the replica did not become ready"
    try:
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 30)


async def child_replica(db_dsn: str, **overrides: Any) -> asyncio.subprocess.Process:
    """``python -m trialsync_async serve`` in a child process."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trialsync_async", "serve",
        env=service_env(db_dsn, **overrides),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 30, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy; return that."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def rows(db_dsn: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await fetch(db_dsn, sql, *args)]


@dataclass
class StubView:
    """The ServiceView protocol without a daemon: a pool (real, or a fake) and whatever a test
    sets."""

    settings: Settings = field(default_factory=Settings)
    pool: Any = None
    replica_id: str = "replica-under-test"
    lag: float = 0.0
    replicas: int = 1
    runs: list[Any] = field(default_factory=list)
    api_clients: list[ApiClient] = field(default_factory=list)

    def loop_lag(self) -> float:
        return self.lag

    def live_replicas(self) -> int:
        return self.replicas

    def running(self) -> list[Any]:
        return self.runs

    def clients(self) -> list[ApiClient]:
        return self.api_clients

    def parents_overdue(self) -> Mapping[tuple[int, int], ParentsOverdue] | None:
        return None  # read on each request, as the CLI does
