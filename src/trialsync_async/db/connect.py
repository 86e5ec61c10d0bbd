"""Connections: which database to use, and asyncpg pools set up for JSONB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection
from trialsync_async.embedded import DATABASE as EMBEDDED_DATABASE
from trialsync_async.embedded import EmbeddedPostgres
from trialsync_async.identifiers import quote_ident

JSONB_VERSION = b"\x01"
"""jsonb's binary wire format: this version byte, then the JSON text."""


def _jsonb_encode(value: object) -> bytes:
    # orjson.Fragment (JSON text already written, as staging rows are) passes through as is
    return JSONB_VERSION + orjson.dumps(value)


def _jsonb_decode(data: bytes) -> object:
    return orjson.loads(data[1:])


async def _init_connection(conn: Connection) -> None:
    # JSONB values cross the wire in binary (so a batch's COPY can fill a jsonb column);
    # orjson on both sides.
    await conn.set_type_codec(
        "jsonb",
        encoder=_jsonb_encode,
        decoder=_jsonb_decode,
        schema="pg_catalog",
        format="binary",
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


def with_application_name(dsn: str, name: str) -> str:
    """The DSN with ``application_name`` set (asyncpg passes it on as a server setting)."""
    parts = urlsplit(dsn)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "application_name"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("application_name", name)])))


def with_timeouts(dsn: str, *, lock_seconds: float, statement_seconds: float) -> str:
    """The DSN with ``lock_timeout`` and ``statement_timeout`` (0: none) for every session
    made from it: a forgotten lock or a runaway statement ends as a clear error, not a hang."""
    parts = urlsplit(dsn)
    names = ("lock_timeout", "statement_timeout")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in names]
    values = (round(lock_seconds * 1000), round(statement_seconds * 1000))
    query += [(name, str(ms)) for name, ms in zip(names, values, strict=True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def redact_dsn(dsn: str) -> str:
    """A DSN safe to print: the password masked."""
    parts = urlsplit(dsn)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    return urlunsplit(parts)


async def recreate_database(server_dsn: str, name: str, *, template: str | None = None) -> str:
    """Drop ``name`` if it exists and create it afresh (from ``template``); return its DSN."""
    conn = await asyncpg.connect(server_dsn)
    database = quote_ident(name)
    try:
        await conn.execute(query("database_drop").format(database=database))
        if template is None:
            await conn.execute(query("database_create").format(database=database))
        else:
            create = query("database_create_from_template")
            await conn.execute(create.format(database=database, template=quote_ident(template)))
    finally:
        await conn.close()
    return with_database(server_dsn, name)


async def drop_database(server_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(query("database_drop").format(database=quote_ident(name)))
    finally:
        await conn.close()


async def database_exists(server_dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(server_dsn)
    try:
        return bool(await conn.fetchval(query("database_exists"), name))
    finally:
        await conn.close()


async def ensure_database(server_dsn: str, name: str) -> str:
    """Create ``name`` unless it exists (two processes may race: both win); return its DSN."""
    if not await database_exists(server_dsn, name):
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(query("database_create").format(database=quote_ident(name)))
        except asyncpg.DuplicateDatabaseError:
            pass  # another process created it first
        finally:
            await conn.close()
    return with_database(server_dsn, name)


@asynccontextmanager
async def database_url(configured: str | None, embedded_dir: Path) -> AsyncIterator[str]:
    """``configured`` (``DATABASE_URL``) when set; else the database ``embedded.DATABASE``
    (created when missing) of an embedded PostgreSQL kept in ``embedded_dir``."""
    if configured:
        yield configured
        return
    with EmbeddedPostgres(embedded_dir, cleanup="stop") as pg:
        yield await ensure_database(pg.dsn(), EMBEDDED_DATABASE)
