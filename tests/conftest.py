"""Fixtures shared by the whole suite: a real PostgreSQL, per-test databases, the simulator.

Simulator fixtures (pytest-asyncio, on the session's event loop):

``sim``
    An in-process Clinical Conductor API simulator (``ccsim.SimulatorServer``) started with
    ``sim_options()`` defaults, one per test module (module scope), so whatever one module
    does to it never reaches another module.
``http``
    An aiohttp session to ``sim`` sending its API key (``client_session``), one per module.

A module that needs other simulator options, or a simulator of each test's own (because its
tests reconfigure it, reset its stats, count its requests...), overrides ``sim`` with one
module-level line, no fixture pasted::

    from tests.sim_support import sim_fixture

    sim = sim_fixture(page_overlap=0.5)  # sim_options(page_overlap=0.5), one per module
    sim = sim_fixture(scope="function")  # sim_options() defaults, one per test

(``http`` is module scoped, so it cannot be used with a ``scope="function"`` ``sim``; such a
module opens ``client_session(sim)`` in its tests.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import pytest_asyncio

from ccsim import SimulatorServer
from tests.pg_support import (
    RestartablePostgres,
    create_template,
    migrate_database,
    postgres_server,
    unique_name,
)
from tests.sim_support import client_session, sim_fixture
from trialsync_async.db.connect import connect, drop_database, recreate_database
from trialsync_async.settings import Settings


@pytest.fixture(scope="session")
def pg_server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_server(tmp_path_factory.mktemp("pgdata")) as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def template_db(pg_server_dsn: str) -> AsyncIterator[str]:
    name = await create_template(pg_server_dsn)
    yield name
    await drop_database(pg_server_dsn, name)


@pytest.fixture
async def db_dsn(pg_server_dsn: str, template_db: str) -> AsyncIterator[str]:
    """DSN of a fresh, migrated database of this test's own."""
    name = unique_name("t")
    dsn = await recreate_database(pg_server_dsn, name, template=template_db)
    yield dsn
    await drop_database(pg_server_dsn, name)


@pytest.fixture
async def empty_db_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    """DSN of a fresh database with nothing in it."""
    name = unique_name("e")
    dsn = await recreate_database(pg_server_dsn, name)
    yield dsn
    await drop_database(pg_server_dsn, name)


@pytest.fixture
async def db(db_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(db_dsn)
    yield conn
    await conn.close()


@pytest.fixture
def settings(db_dsn: str) -> Settings:
    return Settings.from_dsn(db_dsn, log_format="json")


@pytest.fixture
def restartable_pg(tmp_path: Path) -> Iterator[RestartablePostgres]:
    """A started PostgreSQL of this test's own, which it may stop/restart at will
    (``restart``, ``restart_async``); stopped and deleted afterwards."""
    with RestartablePostgres(tmp_path / "restartable_pg") as pg:
        yield pg


@pytest.fixture
async def restartable_db_dsn(restartable_pg: RestartablePostgres) -> AsyncIterator[str]:
    """DSN of a fresh, migrated database on ``restartable_pg`` (valid across restarts)."""
    dsn = await recreate_database(restartable_pg.dsn(), unique_name("r"))
    await migrate_database(dsn)
    yield dsn  # the whole cluster is deleted by restartable_pg


sim = sim_fixture()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http(sim: SimulatorServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with client_session(sim) as session:
        yield session
