"""Helpers for engine tests: a loader pointed at an in-process simulator, truth checks, a fake
clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ccsim import SimulatorServer
from trialsync_async.app import TrialSync
from trialsync_async.db.connect import connect
from trialsync_async.identifiers import quote_ident
from trialsync_async.settings import Settings

FAST_HTTP = {
    "http_timeout": 2.0,
    "http_max_attempts": 10,
    "http_backoff_base": 0.01,
    "http_backoff_max": 0.05,
    "log_format": "json",
}


@asynccontextmanager
async def loader(
    db_dsn: str, sim: SimulatorServer, *, rate_limit: float = 5000, **overrides: Any
) -> AsyncIterator[TrialSync]:
    """A TrialSync on the test database with instance 1 pointed at ``sim``."""
    settings = Settings.from_dsn(db_dsn, **{**FAST_HTTP, **overrides})
    async with TrialSync(settings) as ts:
        await ts.set_instance(
            1,
            base_url=sim.base_url,
            api_key=sim.api_key,
            auth_header=sim.options.api_key_header,
            rate_limit=rate_limit,
        )
        yield ts


async def staged(db_dsn: str, table: str, key: str = "id") -> tuple[int, int, int]:
    """(rows, sum of integer keys, distinct keys) of instance 1 in ``table``."""
    conn = await connect(db_dsn)
    try:
        row = await conn.fetchrow(
            f"SELECT count(*) AS n, COALESCE(sum((data->>'{key}')::bigint), 0) AS s, "
            f"count(DISTINCT data->>'{key}') AS d FROM {quote_ident(table)} "
            "WHERE source_instance_id = 1"
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row["n"]), int(row["s"]), int(row["d"])


async def fetch(db_dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await connect(db_dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


DAY = 86_400  # seconds


class Clock:
    """A fake clock the runs count revisits on."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
