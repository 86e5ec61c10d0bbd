"""RestartablePostgres: a private server a test can restart under a running loader."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import asyncpg
import pytest

from tests.pg_support import RestartablePostgres, RestartablePostgresError
from trialsync_async.db.connect import connect

pytestmark = pytest.mark.integration

# What a connection opened before a restart may raise once the server went away.
CONNECTION_LOST = (
    asyncpg.InterfaceError,  # ConnectionDoesNotExistError: "connection was closed"
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # AdminShutdownError (57P01)
    ConnectionError,
    OSError,
)


async def test_server_is_private_and_listens_on_tcp(restartable_pg: RestartablePostgres) -> None:
    dsn = restartable_pg.dsn()
    assert dsn == f"postgresql://postgres@127.0.0.1:{restartable_pg.port}/postgres"
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SHOW fsync") == "off"
        assert await conn.fetchval("SHOW data_directory") == str(restartable_pg.data_dir)
        assert await conn.fetchval("SELECT inet_server_addr()::text") == "127.0.0.1/32"
    finally:
        await conn.close()
    if os.geteuid() == 0:  # PostgreSQL refuses root: it must run as another account
        assert restartable_pg.data_dir.stat().st_uid != 0


async def test_connection_from_before_a_restart_fails_after_it(
    restartable_pg: RestartablePostgres,
) -> None:
    old = await asyncpg.connect(restartable_pg.dsn())
    try:
        assert await old.fetchval("SELECT 1") == 1
        pid_before = restartable_pg.pid()
        await restartable_pg.restart_async()
        assert restartable_pg.pid() not in (None, pid_before)
        with pytest.raises(CONNECTION_LOST):
            await old.fetchval("SELECT 1")
    finally:
        await old.close()

    new = await asyncpg.connect(restartable_pg.dsn())  # same DSN, new server process
    try:
        assert await new.fetchval("SELECT 2") == 2
    finally:
        await new.close()


async def test_committed_data_survives_restart_and_uncommitted_does_not(
    restartable_pg: RestartablePostgres, restartable_db_dsn: str
) -> None:
    conn = await connect(restartable_db_dsn)
    await conn.execute("CREATE TABLE survivor (id int PRIMARY KEY, note text)")
    await conn.execute("INSERT INTO survivor VALUES (1, 'committed'), (2, 'too')")
    tx = conn.transaction()
    await tx.start()
    await conn.execute("INSERT INTO survivor VALUES (3, 'never committed')")
    jobs_before = await conn.fetchval("SELECT count(*) FROM dw_etl_jobs")

    await restartable_pg.restart_async(down_seconds=0.1)
    with pytest.raises(CONNECTION_LOST):
        await conn.execute("COMMIT")
    await conn.close()

    conn = await connect(restartable_db_dsn)
    try:
        rows = await conn.fetch("SELECT id, note FROM survivor ORDER BY id")
        assert [tuple(r) for r in rows] == [(1, "committed"), (2, "too")]
        assert await conn.fetchval("SELECT count(*) FROM dw_etl_jobs") == jobs_before > 0
    finally:
        await conn.close()


async def test_restart_async_keeps_the_event_loop_running(
    restartable_pg: RestartablePostgres,
) -> None:
    """While pg_ctl stops and starts the server, other tasks keep running: a ticker never
    stalls, and a worker that reconnects on failure sees the outage and the recovery."""
    ticks: list[float] = []
    outcomes: list[str] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def worker() -> None:
        conn: asyncpg.Connection | None = None
        while not stop.is_set():
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(restartable_pg.dsn(), timeout=2)
                await conn.fetchval("SELECT 1")
                outcomes.append("ok")
            except (*CONNECTION_LOST, asyncpg.InternalClientError):
                # InternalClientError: asyncpg's protocol state after a drop mid-query
                outcomes.append("error")
                if conn is not None:
                    conn.terminate()
                conn = None
            await asyncio.sleep(0.02)
        if conn is not None:
            await conn.close()

    tasks = [asyncio.create_task(ticker()), asyncio.create_task(worker())]
    await asyncio.sleep(0.1)
    began = time.monotonic()
    await restartable_pg.restart_async(down_seconds=0.3)
    ended = time.monotonic()
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks)

    assert ended - began >= 0.3
    during = [t for t in ticks if began <= t <= ended]
    assert len(during) >= 10, f"{len(during)} ticks in {ended - began:.2f}s of restart"
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.2f}s"
    assert "error" in outcomes  # the worker did see the server down
    assert outcomes[0] == "ok" and outcomes[-1] == "ok"  # ... and back


def test_blocking_restart_and_stop_start(restartable_pg: RestartablePostgres) -> None:
    port = restartable_pg.port
    restartable_pg.restart(down_seconds=0.05, mode="immediate")  # a crash, then recovery
    assert restartable_pg.is_running() and restartable_pg.port == port
    restartable_pg.stop()
    assert not restartable_pg.is_running() and restartable_pg.pid() is None
    restartable_pg.stop()  # idempotent
    restartable_pg.start()
    restartable_pg.start()  # idempotent
    assert restartable_pg.is_running()
    with pytest.raises(ValueError):
        restartable_pg.stop("violent")  # type: ignore[arg-type]


def test_failed_start_shows_the_server_log(restartable_pg: RestartablePostgres) -> None:
    restartable_pg.stop()
    with (restartable_pg.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\nno_such_setting_xyz = 1\n")
    with pytest.raises(RestartablePostgresError, match="no_such_setting_xyz") as info:
        restartable_pg.start()
    assert "pg_ctl start failed" in str(info.value)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left for a container's init to reap does not)."""
    stat_file = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat_file.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_exit_stops_the_server_and_deletes_the_directory(tmp_path: Path) -> None:
    base = tmp_path / "pg"
    with RestartablePostgres(base) as pg:
        assert pg.is_running()
        pid = pg.pid()
        assert pid is not None and _alive(pid)
        assert (base / "cluster" / "data" / "PG_VERSION").exists()
    assert not base.exists() and not pg.cluster_dir.exists()
    assert not _alive(pid)


def test_restart_survives_a_locked_temp_root(tmp_path: Path) -> None:
    """pytest strips group/other access from its temp root whenever another session starts
    (e.g. a colleague's run); a restart must not depend on reaching ``tmp_path`` then."""
    locked = tmp_path / "locked"
    with RestartablePostgres(locked / "pg") as pg:
        locked.chmod(0o700)
        try:
            pg.restart()
            assert pg.is_running()
        finally:
            locked.chmod(0o755)
