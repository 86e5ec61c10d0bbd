"""Freshness and dead runs as operators meet them, on a real PostgreSQL: `jobs list` (its
freshness column, --state, --stale) and `jobs show` with --json, a run left `running` with an
old heartbeat shown dead by `runs`, `runs show` and the JSON API, and closed by `serve` within
one lease when no process holds its job's lock."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.cli_support import cli
from tests.service_support import StubView, eventually, replica, rows, service_settings
from trialsync_async.db import runs
from trialsync_async.db.connect import connect, create_pool
from trialsync_async.engine.result import RunProgress
from trialsync_async.service.http import build_app
from trialsync_async.service.metrics import ServiceMetrics
from trialsync_async.settings import Settings

pytestmark = pytest.mark.integration


async def ok(*args: str, env: dict[str, str]) -> str:
    rc, out, err = await cli(*args, env=env)
    assert rc == 0, err
    return out


async def finished(db: asyncpg.Connection, job_id: int, status: str, days_ago: int = 0) -> int:
    start = await runs.start_run(db, job_id, 1, fresh=True)
    await runs.finish_run(db, start.run_id, RunProgress(inserted=3), status=status, error=None)
    if days_ago:
        await db.execute(
            "UPDATE dw_etl_runs SET started_at = started_at - make_interval(days => $2), "
            "completed_at = completed_at - make_interval(days => $2) WHERE run_id = $1",
            start.run_id, days_ago,
        )  # fmt: skip
    return start.run_id


async def old_heartbeat(db: asyncpg.Connection, job_id: int, minutes: int = 4) -> int:
    """A run row left `running`, its heartbeat ``minutes`` old: its process is gone."""
    run_id = (await runs.start_run(db, job_id, 1, fresh=True)).run_id
    await db.execute(
        "UPDATE dw_etl_runs SET heartbeat_at = LOCALTIMESTAMP - make_interval(mins => $2) "
        "WHERE run_id = $1",
        run_id, minutes,
    )  # fmt: skip
    return run_id


async def test_jobs_list_and_show_say_how_fresh_each_job_is(db_dsn: str) -> None:
    env = {"DATABASE_URL": db_dsn}
    db = await connect(db_dsn)
    try:
        ids = [r["id"] for r in await db.fetch(
            "SELECT id FROM dw_etl_jobs WHERE is_active ORDER BY id LIMIT 4"
        )]  # fmt: skip
        fresh, stale, failing, dead = ids
        await finished(db, fresh, "success")
        await finished(db, stale, "success", days_ago=10)
        await finished(db, failing, "success", days_ago=10)
        await finished(db, failing, "failed")  # failing, and stale too
        await old_heartbeat(db, dead)  # a dead run: not running; never succeeded
        disabled = await db.fetchval("SELECT min(id) FROM dw_etl_jobs WHERE NOT is_active")
    finally:
        await db.close()

    doc = orjson.loads(await ok("jobs", "list", "--json", env=env))
    by_id = {j["id"]: j["freshness"] for j in doc["jobs"]}
    assert [by_id[i]["state"] for i in ids] == ["fresh", "stale", "failing", "never"]
    assert [by_id[i]["stale"] for i in ids] == [False, True, True, False]
    assert by_id[dead]["dead"] is True and by_id[dead]["heartbeat_age_seconds"] >= 239
    assert by_id[disabled]["state"] == "disabled"
    assert by_id[fresh]["stale_at"] > by_id[fresh]["last_success_at"]
    assert set(by_id[fresh]) == {
        "state", "stale", "stale_at", "last_success_run_id", "last_success_at",
        "last_success_age_seconds", "usual_seconds", "failed_run_id", "running_run_id",
        "heartbeat_age_seconds", "dead", "parents", "parents_overdue", "parents_overdue_ratio",
    }  # fmt: skip

    table = await ok("jobs", "list", env=env)
    assert table.splitlines()[0].split()[:3] == ["id", "name", "freshness"]
    line = next(x for x in table.splitlines() if x.split()[:1] == [str(failing)])
    assert "failing, stale" in line
    only = await ok("jobs", "list", "--state", "failing", "--state", "stale", "--json", env=env)
    assert [j["id"] for j in orjson.loads(only)["jobs"]] == [stale, failing]
    overdue = orjson.loads(await ok("jobs", "list", "--stale", "--json", env=env))
    assert [j["id"] for j in overdue["jobs"]] == [stale, failing]
    rc, _, err = await cli("jobs", "list", "--state", "sleepy", env=env)
    assert rc == 2 and "invalid choice: 'sleepy'" in err

    shown = orjson.loads(await ok("jobs", "show", str(stale), "--json", env=env))
    assert shown["freshness"]["state"] == "stale" and shown["freshness"]["stale"] is True
    text = await ok("jobs", "show", str(stale), env=env)
    assert "freshness" in text and "stale: last success 10.0 d ago: past its bound" in text
    assert "stale since" in text and "last success" in text
    text = await ok("jobs", "show", str(dead), env=env)
    assert "dead run" in text and "no heartbeat for 4 min" in text


async def test_a_dead_run_is_shown_dead_and_serve_closes_it_within_a_lease(db_dsn: str) -> None:
    env = {"DATABASE_URL": db_dsn}
    db = await connect(db_dsn)
    holder = await connect(db_dsn)  # a process still holding its job's lock: alive but stuck
    try:
        # nothing scheduled: only the run log matters here
        await db.execute("UPDATE dw_etl_jobs SET is_active = false")
        dead = await old_heartbeat(db, 3)
        stuck = await old_heartbeat(db, 2)
        beating = (await runs.start_run(db, 1, 1, fresh=True)).run_id
        for job_id in (1, 2):
            assert await runs.take_job_lock(holder, job_id)

        listed = orjson.loads(await ok("runs", "--json", env=env))["runs"]
        by_id = {r["run_id"]: r for r in listed}
        assert by_id[dead]["dead"] and by_id[stuck]["dead"] and not by_id[beating]["dead"]
        assert by_id[dead]["heartbeat_age_seconds"] >= 239
        assert by_id[beating]["heartbeat_age_seconds"] < 30
        table = await ok("runs", env=env)
        assert "running (no heartbeat for 4 min)" in table
        shown = await ok("runs", "show", str(dead), env=env)
        assert shown.splitlines()[0].endswith(", running (no heartbeat for 4 min)")
        assert "heartbeat  4 min ago (older than the lease" in shown
        detail = orjson.loads(await ok("runs", "show", str(dead), "--json", env=env))["run"]
        assert detail["dead"] is True

        pool = await create_pool(db_dsn, min_size=1, max_size=2)
        try:  # the JSON API says it too
            view = StubView(Settings.from_dsn(db_dsn), pool)
            async with TestClient(TestServer(build_app(view, ServiceMetrics(view)))) as client:
                api = {r["run_id"]: r for r in await (await client.get("/api/runs")).json()}
        finally:
            await pool.close()
        assert api[dead]["dead"] is True and api[dead]["heartbeat_age_seconds"] >= 239
        assert api[beating]["dead"] is False

        settings = service_settings(db_dsn)  # a 3 s lease
        async with replica(settings):
            ready = time.monotonic()

            async def closed() -> list[dict[str, Any]]:
                found = await rows(
                    db_dsn, "SELECT run_status, error_message FROM dw_etl_runs WHERE run_id = $1",
                    dead,
                )  # fmt: skip
                return found if found[0]["run_status"] != "running" else []

            [row] = await eventually(closed, within=settings.lease_seconds, what="the close")
            assert time.monotonic() - ready <= settings.lease_seconds
        assert row["run_status"] == "failed"  # the mechanism's word: abandoned, resumable
        assert row["error_message"].startswith("abandoned: its process stopped")
        left = await rows(
            db_dsn, "SELECT run_id FROM dw_etl_runs WHERE run_status = 'running' ORDER BY run_id"
        )
        assert [r["run_id"] for r in left] == [stuck, beating]  # their locks are held
        listed = orjson.loads(await ok("runs", "--json", env=env))["runs"]
        assert {r["run_id"]: r["dead"] for r in listed}[dead] is False
    finally:
        await holder.close()
        await db.close()
