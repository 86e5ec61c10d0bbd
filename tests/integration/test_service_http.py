"""The serve daemon's HTTP surface over a real PostgreSQL: probes, /metrics, the status page,
the JSON API and its admin token, and the page in a headless browser.

The service itself is a stub of ServiceView over a real pool; the app runs on a real
aiohttp server (port 0) reached over real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from markupsafe import escape
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests.browser_support import browser, require_browser
from tests.pg_support import free_tcp_port
from tests.service_support import StubView
from trialsync_async.db import replicas, runs, ticks
from trialsync_async.db.connect import create_pool
from trialsync_async.db.status import RunStatus
from trialsync_async.engine.clients import make_client
from trialsync_async.engine.result import JobResult, RunProgress
from trialsync_async.service.http import build_app
from trialsync_async.service.metrics import ServiceMetrics
from trialsync_async.settings import Settings

pytestmark = pytest.mark.integration

TOKEN = "s3cret-admin-token"


@pytest.fixture
async def pool(db_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def view(db_dsn: str, pool: asyncpg.Pool) -> StubView:
    return StubView(Settings.from_dsn(db_dsn, admin_token=TOKEN, poll_seconds=1.0), pool)


@asynccontextmanager
async def serve(view: StubView, metrics: ServiceMetrics | None = None) -> AsyncIterator[TestClient]:
    app = build_app(view, metrics or ServiceMetrics(view))
    async with TestClient(TestServer(app, port=0)) as client:
        yield client


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def a_job(db: asyncpg.Connection, *, active: bool = True) -> tuple[int, str]:
    row = await db.fetchrow(
        "SELECT id, name FROM dw_etl_jobs WHERE is_active = $1 ORDER BY id LIMIT 1", active
    )
    assert row is not None
    return row["id"], row["name"]


async def finished_run(
    db: asyncpg.Connection, job_id: int, status: str, error: str | None = None
) -> int:
    start = await runs.start_run(db, job_id, 1, fresh=True)
    await runs.finish_run(db, start.run_id, RunProgress(inserted=3), status=status, error=error)
    return start.run_id


# --- probes -------------------------------------------------------------------------------


async def test_healthz_follows_the_loop_lag(view: StubView) -> None:
    async with serve(view) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200 and await resp.json() == {"status": "ok"}
        view.lag = 3 * 1.0 + 10  # 3 × poll_seconds + 10 s: the loop is stuck
        resp = await client.get("/healthz")
        assert resp.status == 503
        assert (await resp.json())["status"] == "stuck"


async def test_readyz_needs_the_database_and_current_migrations(
    view: StubView, db: asyncpg.Connection
) -> None:
    await replicas.register(db, view.replica_id, "host", 1, 60)
    async with serve(view) as client:
        resp = await client.get("/readyz")
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"status": "ready"}

        await db.execute(
            "DELETE FROM trialsync_schema_migrations WHERE version = '0003_service.sql'"
        )
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 503
        assert body["pending"] == ["0003_service.sql"]
        assert "migrations pending: 0003_service.sql" in body["reason"]


async def test_readyz_needs_a_live_lease_as_a_replica(
    view: StubView, db: asyncpg.Connection
) -> None:
    async with serve(view) as client:
        resp = await client.get("/readyz")  # listening, not registered yet
        body = await resp.json()
        assert resp.status == 503 and body["status"] == "not ready"
        assert f"replica {view.replica_id} holds no live lease" in body["reason"]

        await replicas.register(db, view.replica_id, "host", 1, 60)
        resp = await client.get("/readyz")
        assert resp.status == 200, await resp.text()

        await db.execute(  # its lease ran out (e.g. the database was away longer than it)
            "UPDATE dw_etl_replicas SET lease_until = now() - interval '1 second' "
            "WHERE replica_id = $1",
            view.replica_id,
        )
        resp = await client.get("/readyz")
        assert resp.status == 503 and "no live lease" in (await resp.json())["reason"]
        resp = await client.get("/healthz")  # liveness is not about the database
        assert resp.status == 200


async def test_readyz_when_the_database_is_away(view: StubView) -> None:
    dead = await create_pool(f"postgresql://postgres@127.0.0.1:{free_tcp_port()}/x", min_size=0)
    try:
        async with serve(replace(view, pool=dead)) as client:
            started = time.monotonic()
            resp = await client.get("/readyz")
            body = await resp.json()
            assert resp.status == 503
            assert body["reason"].startswith("database unavailable"), body
            assert time.monotonic() - started < 5
            resp = await client.get("/api/jobs")  # the API says so too, as JSON
            assert resp.status == 503 and "database unavailable" in (await resp.json())["error"]
            resp = await client.get("/metrics")  # in-memory metrics are still served
            assert resp.status == 200
    finally:
        await dead.close()


# --- /metrics ------------------------------------------------------------------------------


async def test_metrics_exposition(view: StubView, db: asyncpg.Connection) -> None:
    job_id, name = await a_job(db)
    await finished_run(db, job_id, "success")  # another replica's success, in the run log
    metrics = ServiceMetrics(view)
    metrics.run_started(job_id, name)
    metrics.run_finished(JobResult(job_id, name, "failed", run_id=99, seconds=2.0))
    view.replicas = 2
    async with serve(view, metrics) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    labels = {"job_id": str(job_id), "job_name": name}

    def one(family: str, sample: str, **want: str) -> float:
        found = [s.value for s in families[family].samples if s.name == sample and s.labels == want]
        assert len(found) == 1, (sample, want, families[family].samples)
        return float(found[0])

    at = one("trialsync_last_success_timestamp_seconds",
             "trialsync_last_success_timestamp_seconds", **labels, api_instance="1")  # fmt: skip
    assert abs(at - time.time()) < 60  # the run log's TIMESTAMP read in the right time zone
    assert one("trialsync_runs_finished", "trialsync_runs_finished_total",
               **labels, status="failed") == 1  # fmt: skip
    assert one("trialsync_replicas_live", "trialsync_replicas_live") == 2
    in_use = one("trialsync_db_pool_connections_in_use", "trialsync_db_pool_connections_in_use")
    assert 0 <= in_use <= one("trialsync_db_pool_connections", "trialsync_db_pool_connections")
    assert TOKEN not in text


async def test_freshness_metrics(view: StubView, db: asyncpg.Connection) -> None:
    fresh, stale, running = [r["id"] for r in await db.fetch(
        "SELECT id FROM dw_etl_jobs WHERE is_active AND NOT requires_parameters ORDER BY id "
        "LIMIT 3"
    )]  # fmt: skip
    await finished_run(db, fresh, "success")
    old = await finished_run(db, stale, "success")
    await db.execute(
        "UPDATE dw_etl_runs SET completed_at = completed_at - interval '10 days' WHERE run_id = $1",
        old,
    )
    beating = await runs.start_run(db, running, 1, fresh=True)
    await db.execute(
        "UPDATE dw_etl_runs SET heartbeat_at = LOCALTIMESTAMP - interval '20 seconds' "
        "WHERE run_id = $1",
        beating.run_id,
    )
    # a per-parent fan-out: four parents, two last fetched longer than max_refresh ago; a
    # range unit and another instance's unit do not count
    fanout = await db.fetchval(
        "SELECT id FROM dw_etl_jobs WHERE is_active AND requires_parameters AND fanout = 'parent' "
        "ORDER BY id LIMIT 1"
    )
    await db.execute(
        "INSERT INTO dw_etl_unit_state (job_id, instance_id, unit_key, pass_id, run_id, status, "
        "parameters, fetched_at) SELECT $1, i, k, 1, 1, 'done', p::jsonb, "
        "LOCALTIMESTAMP - make_interval(days => d) FROM (VALUES "
        "(1, 'a=1', '{\"a\": \"1\"}', 1), (1, 'a=2', '{\"a\": \"2\"}', 1), "
        "(1, 'a=3', '{\"a\": \"3\"}', 40), (1, 'a=4', '{\"a\": \"4\"}', 40), "
        "(1, 'all', '{}', 90), (2, 'a=5', '{\"a\": \"5\"}', 90)) AS v(i, k, p, d)",
        fanout,
    )
    # inactive: no job runs for it, so its unit is no job's (test_instances_many: several)
    await db.execute("INSERT INTO dw_api_credentials (id, name, base_url, is_active) "
                     "VALUES (2, 'other', 'http://other/CCSWEB', false)")  # fmt: skip
    async with serve(view) as client:
        text = await (await client.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    jobs = {r["id"]: r for r in await db.fetch("SELECT id, name, is_active FROM dw_etl_jobs")}

    def by_job(family: str) -> dict[int, Any]:
        return {int(s.labels["job_id"]): s for s in families[family].samples}

    stale_gauge = by_job("trialsync_job_stale")
    assert set(stale_gauge) == set(jobs)
    assert {j for j, s in stale_gauge.items() if s.value == 1} == {stale}
    assert all(s.labels["job_name"] == jobs[j]["name"] for j, s in stale_gauge.items())
    states = families["trialsync_job_freshness_state"].samples
    assert sorted(int(s.labels["job_id"]) for s in states) == sorted(jobs)  # one each
    assert all(s.value == 1 for s in states)
    state_of = {int(s.labels["job_id"]): s.labels["state"] for s in states}
    assert (state_of[fresh], state_of[stale], state_of[running]) == ("fresh", "stale", "running")
    assert all(state_of[j] == "disabled" for j, r in jobs.items() if not r["is_active"])
    overdue = by_job("trialsync_job_parents_overdue_ratio")
    assert set(overdue) == {fanout} and overdue[fanout].value == 0.5
    age = by_job("trialsync_run_heartbeat_age_seconds")
    assert set(age) == {running} and 19 <= age[running].value < 29  # the lease: 30 s
    await db.execute("UPDATE dw_etl_runs SET run_status = 'interrupted' WHERE run_id = $1",
                     beating.run_id)  # fmt: skip
    metrics = ServiceMetrics(view)  # a new scrape reads the database again
    async with serve(view, metrics) as client:
        text = await (await client.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["trialsync_run_heartbeat_age_seconds"].samples == []  # none running


# --- the page --------------------------------------------------------------------------------


async def test_page_shows_jobs_runs_ticks_and_failures_escaped(
    view: StubView, db: asyncpg.Connection
) -> None:
    job_id, _ = await a_job(db)
    hostile = '<script>alert("x")</script> & co'
    await db.execute("UPDATE dw_etl_jobs SET name = $2 WHERE id = $1", job_id, hostile)
    await db.execute("UPDATE dw_etl_jobs SET schedule_cron = '*/5 * * * *' WHERE id = $1", job_id)
    names = [r["name"] for r in await db.fetch("SELECT name FROM dw_etl_jobs ORDER BY id")]
    active = await db.fetchval("SELECT count(*) FROM dw_etl_jobs WHERE is_active")

    running = await runs.start_run(db, job_id, 1, fresh=True)
    await runs.save_progress(
        db, running.run_id,
        RunProgress(units_total=10, units_done=4, fetched=12345, requests=56),
    )  # fmt: skip
    tick_id = await ticks.insert(db, job_id, 1, datetime.now(UTC), "schedule")
    failed = await runs.start_run(db, job_id, 1, fresh=True)
    for i in range(7):
        await runs.record_failure(db, failed.run_id, {"studyId": f"<b>{i}</b>"}, f"HTTP 500 #{i}")
    await runs.finish_run(
        db, failed.run_id, RunProgress(), status="failed", error="7 of 9 units <failed>"
    )

    async with serve(view) as client:
        resp = await client.get("/")
        page = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert 'name="viewport"' in page
    assert "nonce-" in resp.headers["Content-Security-Policy"]
    for name in names:
        shown = str(escape(name))  # markupsafe, as the template escapes
        assert f"{shown}</td>" in page or f"{shown}<div" in page, name
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)" in page
    assert page.count('action="/api/jobs/') == active  # run now: active jobs only
    assert "<code>*/5 * * * *</code>" in page and "<code>0 2 * * *</code>" in page

    assert f'id="run-{running.run_id}"' in page
    assert "4/10" in page and "12,345" in page  # units done/total, records fetched
    assert f'action="/api/runs/{running.run_id}/cancel"' in page
    assert f'id="tick-{tick_id}"' in page
    article = page.split(f'id="failed-{failed.run_id}"')[1]
    article = article.split("</article>")[0]
    assert "7 of 9 units &lt;failed&gt;" in article
    assert article.count("<li>") == 5 and "and 2 more failed units" in article
    assert "studyId=&lt;b&gt;0&lt;/b&gt;" in article
    assert TOKEN not in page
    assert "disabled: set TRIALSYNC_ADMIN_TOKEN" not in page


async def test_without_a_token_nothing_can_be_posted(
    view: StubView, db: asyncpg.Connection
) -> None:
    view.settings = replace(view.settings, admin_token=None)
    job_id, _ = await a_job(db)
    run_id = (await runs.start_run(db, job_id, 1)).run_id
    async with serve(view) as client:
        page = await (await client.get("/")).text()
        assert "run now and cancel are disabled: set TRIALSYNC_ADMIN_TOKEN" in page
        assert "<form" not in page
        for path in (f"/api/jobs/{job_id}/run", f"/api/runs/{run_id}/cancel"):
            resp = await client.post(path, headers=auth())
            assert resp.status == 403
            assert await resp.json() == {"error": "disabled: set TRIALSYNC_ADMIN_TOKEN"}
    assert await db.fetchval("SELECT count(*) FROM dw_etl_ticks") == 0


# --- run now and cancel ---------------------------------------------------------------------


async def test_run_now(view: StubView, db: asyncpg.Connection) -> None:
    job_id, _ = await a_job(db)
    disabled_id, _ = await a_job(db, active=False)
    async with serve(view) as client:
        resp = await client.post(f"/api/jobs/{job_id}/run")
        assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
        resp = await client.post(f"/api/jobs/{job_id}/run", headers=auth("wrong"))
        assert resp.status == 401 and TOKEN not in await resp.text()
        resp = await client.post(f"/api/jobs/{job_id}/run", headers={"Authorization": TOKEN})
        assert resp.status == 401  # not a Bearer credential
        assert await db.fetchval("SELECT count(*) FROM dw_etl_ticks") == 0

        resp = await client.post(f"/api/jobs/{job_id}/run", headers=auth())
        assert resp.status == 202
        body = await resp.json()
        assert set(body) == {"tick_id", "job_id", "tick_ids", "instance_ids"}
        assert body["job_id"] == job_id and body["instance_ids"] == [1]
        assert body["tick_ids"] == [body["tick_id"]]
        tick = await db.fetchrow("SELECT * FROM dw_etl_ticks WHERE tick_id = $1", body["tick_id"])
        assert tick is not None
        assert (tick["job_id"], tick["source"], tick["status"]) == (job_id, "manual", "pending")

        resp = await client.post("/api/jobs/999999/run", headers=auth())
        assert resp.status == 404 and "error" in await resp.json()
        resp = await client.post("/api/jobs/99999999999/run", headers=auth())
        assert resp.status == 404
        resp = await client.post(f"/api/jobs/{disabled_id}/run", headers=auth())
        assert resp.status == 409 and "disabled" in (await resp.json())["error"]
        resp = await client.post("/api/jobs/abc/run", headers=auth())
        assert resp.status == 404

        resp = await client.post(f"/api/jobs/{job_id}/run", headers=auth())
        assert resp.status == 409 and "queued or running already" in (await resp.json())["error"]
        await db.execute("UPDATE dw_etl_ticks SET status = 'success'")  # a replica ran it

        # the page's form: the token as a form field, answered with a redirect home
        resp = await client.post(
            f"/api/jobs/{job_id}/run", data={"token": TOKEN}, allow_redirects=False
        )
        assert resp.status == 303 and resp.headers["Location"].startswith("/?queued=")
        resp = await client.post(
            f"/api/jobs/{job_id}/run", data={"token": "nope"}, allow_redirects=False
        )
        assert resp.status == 401 and resp.content_type == "text/html"
        assert "wrong or missing admin token" in await resp.text()
        resp = await client.post(f"/api/jobs/{disabled_id}/run", data={"token": TOKEN})
        assert resp.status == 409 and resp.content_type == "text/html"

        # A second API instance: run now queues a tick per instance the job runs for, or for
        # the one asked; instance 1's is queued already (the form's), so only 2's is added.
        await db.execute(
            "INSERT INTO dw_api_credentials (id, name, base_url) VALUES (2, 'b', 'http://b')"
        )
        resp = await client.post(f"/api/jobs/{job_id}/run?instance=2", headers=auth())
        assert resp.status == 202 and (await resp.json())["instance_ids"] == [2]
        resp = await client.post(f"/api/jobs/{job_id}/run", headers=auth())
        assert resp.status == 409  # both instances have one queued
        await db.execute("UPDATE dw_etl_ticks SET status = 'success'")
        resp = await client.post(f"/api/jobs/{job_id}/run", headers=auth())
        assert resp.status == 202 and (await resp.json())["instance_ids"] == [1, 2]
        resp = await client.post(f"/api/jobs/{job_id}/run?instance=3", headers=auth())
        assert resp.status == 409 and "does not run for instance 3" in (await resp.json())["error"]
        for bad in ("abc", "0", "1&instance=2"):
            resp = await client.post(f"/api/jobs/{job_id}/run?instance={bad}", headers=auth())
            assert resp.status == 400, bad
    manual = await db.fetch(
        "SELECT instance_id, count(*) FROM dw_etl_ticks WHERE source = 'manual' GROUP BY 1"
    )
    assert sorted(map(tuple, manual)) == [(1, 3), (2, 2)]


async def test_cancel(view: StubView, db: asyncpg.Connection) -> None:
    job_id, _ = await a_job(db)
    running = (await runs.start_run(db, job_id, 1)).run_id
    done = await finished_run(db, job_id, "success")
    async with serve(view) as client:
        resp = await client.post(f"/api/runs/{running}/cancel", headers=auth("bad"))
        assert resp.status == 401
        resp = await client.post(f"/api/runs/{running}/cancel", headers=auth())
        assert resp.status == 202 and (await resp.json())["run_id"] == running
        assert await db.fetchval(
            "SELECT cancel_requested_at IS NOT NULL FROM dw_etl_runs WHERE run_id = $1", running
        )
        assert "cancel requested" in await (await client.get("/")).text()
        resp = await client.post(f"/api/runs/{done}/cancel", headers=auth())
        assert resp.status == 409 and "not running (success)" in (await resp.json())["error"]
        resp = await client.post("/api/runs/424242/cancel", headers=auth())
        assert resp.status == 404
        resp = await client.post(
            f"/api/runs/{running}/cancel", data={"token": TOKEN}, allow_redirects=False
        )
        assert resp.status == 303 and resp.headers["Location"] == f"/?cancelled={running}"


# --- the JSON API ----------------------------------------------------------------------------

JOB_KEYS = {
    "id", "name", "active", "disabled_reason", "source_endpoint", "target_table",
    "parent_job_id", "schedule", "schedule_is_default", "next_run_at", "schedule_error",
    "running_run_id", "last_run_id", "last_run_status", "last_run_records",
    "last_run_started_at", "last_run_completed_at", "last_run_seconds", "last_run_fetched",
    "freshness",
}  # fmt: skip


async def test_api_jobs(view: StubView, db: asyncpg.Connection) -> None:
    job_id, name = await a_job(db)
    disabled_id, _ = await a_job(db, active=False)
    other = await db.fetchval(
        "SELECT id FROM dw_etl_jobs WHERE is_active AND id > $1 ORDER BY id LIMIT 1", job_id
    )
    await db.execute("UPDATE dw_etl_jobs SET schedule_cron = '*/10 * * * *' WHERE id = $1", job_id)
    await db.execute("UPDATE dw_etl_jobs SET schedule_cron = 'every day' WHERE id = $1", other)
    run_id = await finished_run(db, job_id, "success")
    async with serve(view) as client:
        resp = await client.get("/api/jobs")
        jobs = await resp.json()
    assert resp.status == 200 and isinstance(jobs, list)
    assert len(jobs) == await db.fetchval("SELECT count(*) FROM dw_etl_jobs")
    assert all(set(j) == JOB_KEYS for j in jobs)
    by_id = {j["id"]: j for j in jobs}
    mine = by_id[job_id]
    assert (mine["name"], mine["schedule"], mine["schedule_is_default"]) == (
        name, "*/10 * * * *", False,
    )  # fmt: skip
    next_run = datetime.fromisoformat(mine["next_run_at"])
    assert next_run > datetime.now(UTC) and next_run.minute % 10 == 0
    assert (mine["last_run_id"], mine["last_run_status"], mine["last_run_records"]) == (
        run_id, "success", 3,
    )  # fmt: skip
    assert mine["last_run_seconds"] >= 0
    assert by_id[other]["next_run_at"] is None and "every day" in by_id[other]["schedule_error"]
    off = by_id[disabled_id]
    assert not off["active"] and off["next_run_at"] is None and off["schedule"] is None
    defaults = [j for j in jobs if j["active"] and j["id"] not in (job_id, other)]
    assert defaults and all(
        j["schedule"] == view.settings.default_schedule and j["schedule_is_default"]
        for j in defaults
    )


async def test_api_runs(view: StubView, db: asyncpg.Connection) -> None:
    job_a, _ = await a_job(db)
    job_b = await db.fetchval(
        "SELECT id FROM dw_etl_jobs WHERE is_active AND id > $1 ORDER BY id LIMIT 1", job_a
    )
    first = await finished_run(db, job_a, "success")
    second = await finished_run(db, job_b, "failed", "boom")
    third = (await runs.start_run(db, job_a, 1)).run_id
    async with serve(view) as client:

        async def get(query: str) -> Any:
            resp = await client.get(f"/api/runs{query}")
            assert resp.status == 200, await resp.text()
            return await resp.json()

        everything = await get("")
        assert [r["run_id"] for r in everything] == [third, second, first]  # newest first
        assert all(set(r) == {f.name for f in fields(RunStatus)} for r in everything)
        assert everything[1]["error"] == "boom" and everything[0]["status"] == "running"
        assert everything[0]["heartbeat_age_seconds"] < 60
        assert [r["run_id"] for r in await get(f"?job={job_a}")] == [third, first]
        assert [r["run_id"] for r in await get("?status=failed")] == [second]
        assert [r["run_id"] for r in await get(f"?job={job_a}&status=success")] == [first]
        assert [r["run_id"] for r in await get("?limit=1")] == [third]
        assert len(await get("?job=&status=&limit=")) == 3  # empty: not given

        for bad in ("?job=abc", "?job=0", "?job=-1", "?status=bogus", "?limit=0",
                    "?limit=501", "?limit=1.5", "?jobs=1", "?job=1&job=2",
                    "?job=99999999999"):  # fmt: skip
            resp = await client.get(f"/api/runs{bad}")
            assert resp.status == 400, bad
            assert (await resp.json())["error"].startswith("Bad request: "), bad


# --- in a browser ----------------------------------------------------------------------------


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
async def test_page_in_a_browser(view: StubView, db: asyncpg.Connection, javascript: bool) -> None:
    require_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    job_id, name = await a_job(db)
    other_id = await db.fetchval(
        "SELECT id FROM dw_etl_jobs WHERE is_active AND id > $1 ORDER BY id LIMIT 1", job_id
    )
    jobs = await db.fetch("SELECT name, is_active FROM dw_etl_jobs ORDER BY id")
    names = [r["name"] for r in jobs if r["is_active"]]
    folded = [r["name"] for r in jobs if not r["is_active"]]

    def scenario(base: str) -> list[str]:
        driver = browser(javascript)
        try:
            driver.get(base + "/")
            jobs_text = driver.find_element(By.ID, "jobs").text
            assert all(n in jobs_text for n in names)
            details = driver.find_element(By.ID, "disabled-jobs")  # folded away: not shown
            assert details.get_attribute("open") is None and folded[0] not in jobs_text
            assert all(n in (details.get_attribute("textContent") or "") for n in folded)
            assert "No tick is waiting." in driver.find_element(By.ID, "queued").text

            form = driver.find_element(By.CSS_SELECTOR, f'form[action="/api/jobs/{job_id}/run"]')
            form.find_element(By.NAME, "token").send_keys(TOKEN)
            if javascript:  # typed once, every token field has it
                other = driver.find_element(
                    By.CSS_SELECTOR, f'form[action="/api/jobs/{other_id}/run"] input'
                )
                assert other.get_attribute("value") == TOKEN
            form.find_element(By.TAG_NAME, "button").click()
            WebDriverWait(driver, 10).until(lambda d: "queued=" in d.current_url)
            assert driver.current_url.startswith(base + "/?")  # 303 back to the page
            queued = driver.find_element(By.ID, "queued").text
            assert name in queued and "manual" in queued
            assert "queued" in driver.find_element(By.ID, "notice").text

            form = driver.find_element(By.CSS_SELECTOR, f'form[action="/api/jobs/{job_id}/run"]')
            form.find_element(By.NAME, "token").send_keys("not-the-token")
            form.find_element(By.TAG_NAME, "button").click()
            WebDriverWait(driver, 10).until(lambda d: d.title.startswith("401"))
            assert "wrong or missing admin token" in driver.find_element(By.ID, "error").text
            assert TOKEN not in driver.page_source
            return [entry["message"] for entry in driver.get_log("browser")]
        finally:
            driver.quit()

    async with serve(view) as client:
        # selenium blocks: it runs in a thread while the server keeps serving on this loop
        console = await asyncio.to_thread(scenario, str(client.make_url("")).rstrip("/"))
    assert not [m for m in console if "Content Security Policy" in m], console
    manual = await db.fetch("SELECT job_id FROM dw_etl_ticks WHERE source = 'manual'")
    assert [r["job_id"] for r in manual] == [job_id]  # the wrong token queued nothing


# --- the page at a glance: counts, order, no sideways scrolling ------------------------------

SCREENS = Path("/tmp/trialsync-screens")
VIEWPORTS = {"desktop": (1280, 900, False), "phone": (390, 844, True)}
EXPECTED_STATES = """
WITH running AS (
    SELECT DISTINCT job_id FROM dw_etl_runs
    WHERE run_status = 'running' AND heartbeat_at > LOCALTIMESTAMP - interval '30 seconds'
), decided AS (
    SELECT DISTINCT ON (job_id) job_id, run_status FROM dw_etl_runs
    WHERE run_status IN ('success', 'failed') ORDER BY job_id, run_id DESC
), ok AS (
    SELECT job_id, max(completed_at) AS at FROM dw_etl_runs WHERE run_status = 'success'
    GROUP BY job_id
)
SELECT CASE WHEN NOT j.is_active THEN 'disabled'
            WHEN r.job_id IS NOT NULL THEN 'running'
            WHEN d.run_status = 'failed' THEN 'failing'
            WHEN ok.at < LOCALTIMESTAMP - interval '3 days' THEN 'stale'
            WHEN ok.at IS NULL THEN 'never'
            ELSE 'fresh' END AS state,
       count(*) AS n
FROM dw_etl_jobs j
LEFT JOIN running r ON r.job_id = j.id
LEFT JOIN decided d ON d.job_id = j.id
LEFT JOIN ok ON ok.job_id = j.id
GROUP BY 1
"""
"""Each job's state by the rules of freshness.py, written out for this scenario: every job on
the nightly default schedule, its successes either just now or ten days ago (stale: past two
days + its usual duration), the lease the default 30 s."""


async def test_page_at_a_glance_on_a_desktop_and_a_phone(
    view: StubView, db: asyncpg.Connection, tmp_path: Path
) -> None:
    require_browser()
    from selenium.webdriver.common.by import By

    ids = [r["id"] for r in await db.fetch(
        "SELECT id FROM dw_etl_jobs WHERE is_active ORDER BY id LIMIT 6"
    )]  # fmt: skip
    stale, failing, running, fresh, dead, resolved = ids
    old = await finished_run(db, stale, "success")
    await db.execute(
        "UPDATE dw_etl_runs SET started_at = started_at - interval '10 days', "
        "completed_at = completed_at - interval '10 days' WHERE run_id = $1",
        old,
    )
    await finished_run(db, failing, "failed", "HTTP 500 from /api/v1/studies/odata")
    live = await runs.start_run(db, running, 1, fresh=True)
    await runs.save_progress(db, live.run_id, RunProgress(
        units_total=40, units_done=10, fetched=12_345, inserted=12_000, requests=56,
        notes={"planned": {"requests": 224}},
    ))  # fmt: skip
    await db.execute(
        "UPDATE dw_etl_runs SET started_at = LOCALTIMESTAMP - interval '2 minutes' "
        "WHERE run_id = $1",
        live.run_id,
    )
    await finished_run(db, fresh, "success")
    long_name = "PatientVisitProceduresAndAssessmentsOfEveryKindForEverySiteAndStudyInTheWorld"
    await db.execute("UPDATE dw_etl_jobs SET name = $2 WHERE id = $1", fresh, long_name)
    gone = await runs.start_run(db, dead, 1, fresh=True)
    await db.execute(
        "UPDATE dw_etl_runs SET heartbeat_at = LOCALTIMESTAMP - interval '4 minutes' "
        "WHERE run_id = $1",
        gone.run_id,
    )
    first = await finished_run(db, resolved, "failed", "connection refused")
    fixed = await finished_run(db, resolved, "success")
    await db.execute(  # inactive: the jobs run for instance 1 only (one row per job)
        "INSERT INTO dw_api_credentials (id, name, base_url, is_active) "
        "VALUES (2, 'backup', 'http://10.9.9.9:8443/CCSWEB', false)"
    )
    up, down = (
        make_client(view.settings, instance_id=i, base_url=url, api_key="k",
                    auth_header="CCAPIKey", rate_limit=10)
        for i, url in ((1, "http://127.0.0.1:9/CCSWEB"), (2, "http://10.9.9.9:8443/CCSWEB"))
    )  # fmt: skip
    up.stats.outcomes.update({"ok": 118, "http_503": 2})
    down.stats.outcomes.update({"connection": 6})
    down.breaker.open_reason = "6 connection failures in a row, last: connection refused"
    view.api_clients = [up, down]
    expected = {r["state"]: r["n"] for r in await db.fetch(EXPECTED_STATES)}
    assert {s: expected.get(s, 0) for s in ("stale", "failing", "running")} == {
        "stale": 1, "failing": 1, "running": 1,
    }  # fmt: skip

    def scenario(base: str) -> dict[str, Any]:
        SCREENS.mkdir(exist_ok=True)
        driver = browser(True)
        seen: dict[str, Any] = {}
        try:
            for device, (width, height, mobile) in VIEWPORTS.items():
                driver.execute_cdp_cmd(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                )
                driver.get(base + "/")
                inner = driver.execute_script("return window.innerWidth")
                assert inner == width, (device, inner)
                for opened in (False, True):
                    if opened:  # the disabled jobs, unfolded
                        driver.find_element(By.CSS_SELECTOR, "#disabled-jobs > summary").click()
                    scroll = driver.execute_script("return document.documentElement.scrollWidth")
                    assert scroll <= inner, (device, opened, scroll, inner)
                    tables = driver.execute_script(
                        "return [...document.querySelectorAll('table')]"
                        ".map(t => t.getBoundingClientRect())"
                        ".filter(r => r.width > 0).map(r => [r.left, r.right])"
                    )
                    assert tables and all(0 <= a and b <= inner for a, b in tables), tables
                    buttons = driver.execute_script(
                        "return [...document.querySelectorAll('form[action$=\"/run\"] button')]"
                        ".map(b => b.getBoundingClientRect()).map(r => [r.left, r.right, r.width])"
                    )
                    assert all(w > 0 and 0 <= a and b <= inner for a, b, w in buttons), buttons
                    seen.setdefault(device, {})["buttons"] = len(buttons)
                shot = tmp_path / f"status-{device}-{width}x{height}.png"
                driver.execute_script("window.scrollTo(0, 0)")
                assert driver.save_screenshot(str(shot))
                whole = driver.execute_cdp_cmd(  # the whole page, for the record
                    "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
                )
                (tmp_path / f"{shot.stem}-full.png").write_bytes(base64.b64decode(whole["data"]))
                driver.execute_script("document.getElementById('jobs').scrollIntoView()")
                assert driver.save_screenshot(str(tmp_path / f"{shot.stem}-jobs.png"))
                for suffix in ("", "-full", "-jobs"):
                    made = tmp_path / f"{shot.stem}{suffix}.png"
                    shutil.copy(made, SCREENS / made.name)
                seen[device]["counts"] = {
                    state: int(driver.find_element(By.ID, f"count-{state}").text)
                    for state in ("failing", "stale", "running", "fresh", "never", "disabled")
                }
                seen[device]["order"] = [
                    e.get_attribute("id")
                    for e in driver.find_elements(By.CSS_SELECTOR, "#jobs > .wrap tbody tr")
                ]
                seen[device]["instances"] = driver.find_element(By.ID, "instances").text
                seen[device]["running"] = driver.find_element(By.ID, "running").text
                seen[device]["failures"] = driver.find_element(By.ID, "failures").text
            return seen
        finally:
            driver.quit()

    async with serve(view) as client:
        seen = await asyncio.to_thread(scenario, str(client.make_url("")).rstrip("/"))
    active = await db.fetchval("SELECT count(*) FROM dw_etl_jobs WHERE is_active")
    for device, page in seen.items():
        want = {s: expected.get(s, 0) for s in page["counts"]}
        assert page["counts"] == want, device
        assert page["buttons"] == active, device  # every active job's Run now, on screen
        order = page["order"]
        assert order[:2] == [f"job-{failing}", f"job-{stale}"], order  # what needs a look
        assert order[2] == f"job-{running}" and len(order) == active
        assert "backup" in page["instances"] and "unreachable" in page["instances"]
        assert "reachable" in page["instances"] and "118 ok" in page["instances"]
        assert "running (no heartbeat for 4 min)" in page["running"]
        assert "rows/s" in page["running"] and "req/s" in page["running"]
        assert f"resolved by run {fixed}" in page["failures"], first
    for device, (width, height, _) in VIEWPORTS.items():
        assert (tmp_path / f"status-{device}-{width}x{height}.png").stat().st_size > 10_000


async def test_page_per_instance_fits_a_desktop_and_a_phone(
    view: StubView, db: asyncpg.Connection
) -> None:
    """Two active API instances: a row per (job, instance) with its API column, no sideways
    scrolling at 1280 px nor on a 390 px phone (test_instances_many: what the rows say)."""
    require_browser()
    from selenium.webdriver.common.by import By

    await db.execute("INSERT INTO dw_api_credentials (id, name, base_url) "
                     "VALUES (2, 'second', 'http://10.9.9.9:8443/CCSWEB')")  # fmt: skip
    job = await db.fetchval("SELECT min(id) FROM dw_etl_jobs WHERE is_active")
    await finished_run(db, job, "success")
    other = await runs.start_run(db, job, 2, fresh=True)
    await runs.finish_run(db, other.run_id, RunProgress(), status="failed", error="HTTP 500")
    pairs = await db.fetchval(
        "SELECT count(*) FROM dw_etl_jobs j JOIN dw_api_credentials c ON c.id = "
        "COALESCE(j.source_instance_id, 1) OR (j.instance_scope = 'all' AND c.is_active) "
        "WHERE j.is_active"
    )

    def scenario(base: str) -> dict[str, Any]:
        driver = browser(True)
        seen: dict[str, Any] = {}
        try:
            for device, (width, height, mobile) in VIEWPORTS.items():
                driver.execute_cdp_cmd(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
                )
                driver.get(base + "/")
                inner = driver.execute_script("return window.innerWidth")
                scroll = driver.execute_script("return document.documentElement.scrollWidth")
                assert scroll <= inner, (device, scroll, inner)
                tables = driver.execute_script(
                    "return [...document.querySelectorAll('table')]"
                    ".map(t => t.getBoundingClientRect())"
                    ".filter(r => r.width > 0).map(r => [r.left, r.right])"
                )
                assert tables and all(0 <= a and b <= inner for a, b in tables), tables
                rows = driver.find_elements(By.CSS_SELECTOR, "#jobs > .wrap tbody tr")
                seen[device] = {
                    "order": [e.get_attribute("id") for e in rows],
                    "failing": driver.find_element(By.ID, "count-failing").text,
                    "failed row": driver.find_element(By.ID, f"job-{job}-api-2").text,
                }
            return seen
        finally:
            driver.quit()

    async with serve(view) as client:
        seen = await asyncio.to_thread(scenario, str(client.make_url("")).rstrip("/"))
    for device, page in seen.items():
        assert page["order"][0] == f"job-{job}-api-2", device  # failing first
        assert len(page["order"]) == pairs, device
        assert page["failing"] == "1" and "API 2" in page["failed row"], device
