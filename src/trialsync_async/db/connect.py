"""Connections: which database to use, and asyncpg pools set up for JSONB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from trialsync_async.embedded import EmbeddedPostgres
from trialsync_async.settings import Settings


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSONB values cross the wire as text; orjson on both sides.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection
    )
    assert pool is not None
    return pool


def with_database(dsn: str, database: str) -> str:
    """The same server DSN pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def redact_dsn(dsn: str) -> str:
    """A DSN safe to print: the password is masked."""
    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


@asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """``DATABASE_URL`` when set; else an embedded PostgreSQL kept in ``embedded_dir``."""
    if settings.database_url:
        yield settings.database_url
        return
    with EmbeddedPostgres(settings.embedded_dir.resolve(), cleanup="stop") as pg:
        yield pg.dsn()
