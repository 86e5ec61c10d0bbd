"""The service: schedules, dependency order within a tick, replicas on one database, takeover
after kill -9, SIGTERM, and a one-shot run refused while the service runs the job."""

from __future__ import annotations

import asyncio
import itertools
import signal
import socket
import time

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ccsim import SimulatorServer
from tests.browser_support import browser, require_browser
from tests.engine_support import staged
from tests.service_support import (
    child_replica,
    eventually,
    prepare,
    replica,
    rows,
    service_settings,
)
from tests.sim_support import sim_fixture, sim_options
from trialsync_async.app import TrialSync
from trialsync_async.errors import ConfigError
from trialsync_async.service.daemon import Service

pytestmark = pytest.mark.integration

sim = sim_fixture(scope="function")

EVERY_2S = "*/2 * * * * *"
MEDICATIONS = "/api/v1/patients/{patientId}/medications"


async def finished_ticks(db_dsn: str, job_id: int) -> list[dict]:
    return await rows(
        db_dsn,
        "SELECT t.*, r.run_status, r.started_at, r.completed_at FROM dw_etl_ticks t "
        "LEFT JOIN dw_etl_runs r USING (run_id) WHERE t.job_id = $1 AND t.run_id IS NOT NULL "
        "ORDER BY t.due_at",
        job_id,
    )


async def test_a_scheduled_job_runs_on_its_ticks(db_dsn: str, sim: SimulatorServer) -> None:
    await prepare(db_dsn, sim, {3: EVERY_2S})
    async with replica(service_settings(db_dsn)):
        done = await eventually(
            lambda: finished_ticks(db_dsn, 3), what="a tick of job 3 to finish", within=20
        )
    tick = done[0]
    assert tick["status"] == "success" and tick["run_status"] == "success"
    assert tick["due_at"].second % 2 == 0 and tick["source"] == "schedule"
    assert tick["started_at"] is not None
    n, _, _ = await staged(db_dsn, "dim_patients_staging")
    assert n == sim.truth("/api/v1/patients/odata")["count"]
    [baseline] = await rows(
        db_dsn, "SELECT status FROM dw_etl_ticks WHERE job_id = 3 ORDER BY due_at LIMIT 1"
    )
    assert baseline["status"] == "skipped"  # first sight: the schedule counts from there


async def test_a_dependent_runs_after_its_parent_and_is_skipped_when_it_fails(
    db_dsn: str, sim: SimulatorServer
) -> None:
    await prepare(db_dsn, sim, {2: "*/3 * * * * *", 11: "*/3 * * * * *"})
    async with replica(service_settings(db_dsn)):
        visits = await eventually(lambda: finished_ticks(db_dsn, 11), what="job 11's tick")
        [studies] = [
            t for t in await finished_ticks(db_dsn, 2) if t["due_at"] == visits[0]["due_at"]
        ]
        assert visits[0]["run_status"] == "success"
        assert visits[0]["started_at"] >= studies["completed_at"]  # after the parent's run
        # The parent now fails: its dependent's tick of the same moment is skipped.
        await rows(
            db_dsn,
            "UPDATE dw_etl_jobs SET source_endpoint = '/api/v1/nowhere/odata' "
            "WHERE id = 2 RETURNING id",
        )

        async def skipped() -> list[dict]:
            return [t for t in await finished_ticks(db_dsn, 11) if t["status"] == "skipped"]

        [skip] = (await eventually(skipped, what="job 11 skipped"))[:1]
    [run] = await rows(db_dsn, "SELECT * FROM dw_etl_runs WHERE run_id = $1", skip["run_id"])
    assert run["run_status"] == "skipped" and "parent job" in run["error_message"]


async def test_two_replicas_share_ticks_and_the_rate_limit(db_dsn: str) -> None:
    options = sim_options(scale=0.05)
    async with SimulatorServer(options) as sim:
        await prepare(db_dsn, sim, {3: "0 0 1 1 *"})
        async with TrialSync(service_settings(db_dsn)) as ts:
            [patients] = await ts.run_jobs([3])
        assert patients.ok
        # Two fan-outs over the patients, due together, one slot per replica: each replica
        # takes one, and together they must keep to the instance's 20 requests/second.
        await prepare(db_dsn, sim, {148: "*/4 * * * * *", 152: "*/4 * * * * *"}, rate=20)
        settings = service_settings(db_dsn, parallel_jobs=1)
        async with replica(settings) as a, replica(settings) as b:
            await eventually(lambda: _both_replicas_ran(db_dsn), within=60, what="both ran")
            sim.reset_stats()
            await asyncio.sleep(4)
            stats = sim.stats()
            assert a.live_replicas() == b.live_replicas() == 2
        runs = await rows(
            db_dsn,
            "SELECT job_id, started_at, completed_at, worker FROM "
            "dw_etl_runs WHERE job_id IN (148, 152) ORDER BY started_at",
        )
    busiest = max(stats["per_second"].values())
    print(f"two replicas, 20 req/s instance: requests per second {stats['per_second']}")
    assert busiest <= 20, stats["per_second"]
    assert busiest >= 14  # both replicas were sending, each at its share of 10/s
    for job_id in (148, 152):  # never twice at once
        spans = [(r["started_at"], r["completed_at"]) for r in runs if r["job_id"] == job_id]
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end is None or start >= end
    ticks = await rows(
        db_dsn,
        "SELECT t.job_id, t.due_at, count(*) AS n FROM dw_etl_runs r JOIN "
        "dw_etl_ticks t USING (run_id) GROUP BY 1, 2",
    )
    assert all(t["n"] == 1 for t in ticks)  # each tick ran once


async def _both_replicas_ran(db_dsn: str) -> bool:
    found = await rows(
        db_dsn,
        "SELECT DISTINCT claimed_by FROM dw_etl_ticks "
        "WHERE job_id IN (148, 152) AND claimed_by IS NOT NULL",
    )
    return len(found) == 2


async def _patients_loaded(db_dsn: str, sim: SimulatorServer) -> None:
    await prepare(db_dsn, sim, {3: "0 0 1 1 *"})
    async with TrialSync(service_settings(db_dsn)) as ts:
        [patients] = await ts.run_jobs([3])
    assert patients.ok


async def test_kill_9_mid_run_another_replica_continues_it_exactly(db_dsn: str) -> None:
    async with SimulatorServer(sim_options(scale=0.05)) as sim:
        await _patients_loaded(db_dsn, sim)
        await prepare(db_dsn, sim, {152: "*/2 * * * * *"}, rate=40)
        child = await child_replica(db_dsn)
        try:

            async def halfway() -> list[dict]:
                return await rows(
                    db_dsn,
                    "SELECT run_id FROM dw_etl_runs WHERE job_id = 152 "
                    "AND run_status = 'running' AND units_done >= 20",
                )

            [dead_run] = await eventually(halfway, what="the child's run to be under way")
        finally:
            child.send_signal(signal.SIGKILL)
            await child.wait()
        killed_at = time.monotonic()
        async with replica(service_settings(db_dsn)):

            async def continued() -> list[dict]:
                return await rows(
                    db_dsn,
                    "SELECT * FROM dw_etl_runs WHERE continues_run_id = $1 "
                    "AND run_status = 'success'",
                    dead_run["run_id"],
                )

            [resumed] = await eventually(continued, within=60, what="the run to be continued")
        took = time.monotonic() - killed_at
        truth = sim.truth(MEDICATIONS)
    [dead] = await rows(db_dsn, "SELECT * FROM dw_etl_runs WHERE run_id = $1", dead_run["run_id"])
    assert dead["run_status"] == "failed" and "abandoned" in dead["error_message"]
    assert resumed["pass_id"] == dead["pass_id"]  # the same pass, continued
    assert resumed["units_done"] == resumed["units_total"]
    n, id_sum, distinct = await staged(db_dsn, "dim_patient_medications_staging")
    assert (n, id_sum, distinct) == (truth["count"], truth["id_sum"], truth["count"])
    print(f"kill -9: continued and finished {took:.1f} s after the kill")
    assert took < 30


async def test_sigterm_exits_0_within_the_grace_and_leaves_the_run_resumable(
    db_dsn: str,
) -> None:
    async with SimulatorServer(sim_options(scale=0.05)) as sim:
        await _patients_loaded(db_dsn, sim)
        await prepare(db_dsn, sim, {152: "*/2 * * * * *"}, rate=20)
        child = await child_replica(db_dsn, stop_grace_seconds=3)

        async def running() -> list[dict]:
            return await rows(
                db_dsn,
                "SELECT run_id FROM dw_etl_runs WHERE job_id = 152 "
                "AND run_status = 'running' AND units_done >= 5",
            )

        [run] = await eventually(running, what="a run under way")
        child.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = await asyncio.wait_for(child.communicate(), 15)
        took = time.monotonic() - started
    assert child.returncode == 0, err.decode()[-2000:]
    assert took < 3 + 3
    [row] = await rows(db_dsn, "SELECT * FROM dw_etl_runs WHERE run_id = $1", run["run_id"])
    assert row["run_status"] == "interrupted"
    [tick] = await rows(
        db_dsn,
        "SELECT status FROM dw_etl_ticks WHERE run_id IS NULL "
        "AND job_id = 152 AND source = 'schedule' AND status = 'pending' "
        "ORDER BY due_at DESC LIMIT 1",
    )
    assert tick["status"] == "pending"  # a live replica continues it
    assert b"Traceback" not in err


async def test_a_one_shot_run_is_refused_while_the_service_runs_the_job(db_dsn: str) -> None:
    async with SimulatorServer(sim_options(scale=0.05)) as sim:
        await _patients_loaded(db_dsn, sim)
        await prepare(db_dsn, sim, {152: "*/2 * * * * *"}, rate=20)
        async with replica(service_settings(db_dsn)) as service:

            async def running() -> list[dict]:
                return await rows(
                    db_dsn,
                    "SELECT run_id FROM dw_etl_runs WHERE job_id = 152 AND run_status = 'running'",
                )

            [run] = await eventually(running, what="the service's run")
            async with TrialSync(service_settings(db_dsn)) as ts:
                [result] = await ts.run_jobs([152])
    assert not result.ok
    assert f"already running (run {run['run_id']} on {service.host}:" in (result.error or "")


async def test_the_service_exposes_its_runs_on_metrics_and_page_and_runs_now_on_request(
    db_dsn: str, sim: SimulatorServer
) -> None:
    """The whole chain over HTTP: a scheduled run on /metrics (parsed) and on the page; run-now
    with the token queues a tick that the service runs; without it, 401."""
    await prepare(db_dsn, sim, {3: EVERY_2S, 14: "0 0 1 1 *"})
    settings = service_settings(db_dsn, admin_token="s3cret-token")
    async with replica(settings) as service, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{service.port}"
        await eventually(lambda: finished_ticks(db_dsn, 3), what="a scheduled run of job 3")
        async with http.get(f"{base}/metrics") as resp:
            text = await resp.text()
        finished = {
            (s.labels["job_id"], s.labels["status"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "trialsync_runs_finished_total"
        }
        assert finished[("3", "success")] >= 1
        async with http.get(f"{base}/") as resp:
            page = await resp.text()
        assert "Patients" in page and "success" in page
        run_now = f"{base}/api/jobs/14/run"
        async with http.post(run_now) as resp:
            assert resp.status == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        async with http.post(run_now, headers=auth) as resp:
            assert resp.status == 202
            tick_id = (await resp.json())["tick_id"]

        async def ran() -> list[dict]:
            return await rows(
                db_dsn,
                "SELECT * FROM dw_etl_ticks WHERE tick_id = $1 AND status = 'success'",
                tick_id,
            )

        [tick] = await eventually(ran, what="the run-now tick")
        async with http.get(f"{base}/api/runs?job=14") as resp:
            listed = await resp.json()
    assert tick["source"] == "manual"
    assert [r for r in listed if r["run_id"] == tick["run_id"]]


async def test_a_replica_presumed_dead_registers_again(db_dsn: str, sim: SimulatorServer) -> None:
    await prepare(db_dsn, sim, {3: "0 0 1 1 *"})
    async with replica(service_settings(db_dsn)) as service:
        await rows(db_dsn, "DELETE FROM dw_etl_replicas RETURNING replica_id")

        async def back() -> list[dict]:
            return await rows(
                db_dsn, "SELECT * FROM dw_etl_replicas WHERE replica_id = $1", service.replica_id
            )

        await eventually(back, within=10, what="the replica to register again")
    assert not await back()  # and it leaves on a clean stop


async def test_run_now_in_a_browser_starts_a_run_that_appears_on_the_page(
    db_dsn: str, sim: SimulatorServer
) -> None:
    """The whole chain in a real browser: the page of a running service lists the jobs; run-now
    with the token queues a tick the service runs, and its success shows on the page."""
    require_browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    await prepare(db_dsn, sim, {3: "0 0 1 1 *", 14: "0 0 1 1 *"})
    settings = service_settings(db_dsn, admin_token="browser-token")

    def scenario(base: str) -> str:
        driver = browser(javascript=True)
        try:
            driver.get(base + "/")
            assert "Patients" in driver.find_element(By.ID, "job-3").text
            form = driver.find_element(By.CSS_SELECTOR, 'form[action="/api/jobs/3/run"]')
            form.find_element(By.NAME, "token").send_keys("browser-token")
            form.find_element(By.TAG_NAME, "button").click()
            WebDriverWait(driver, 10).until(lambda d: "queued=" in d.current_url)

            def succeeded(d: object) -> bool:
                driver.get(base + "/")
                return "success" in driver.find_element(By.ID, "job-3").text

            WebDriverWait(driver, 30, poll_frequency=0.5).until(succeeded)
            return str(driver.find_element(By.ID, "job-3").text)
        finally:
            driver.quit()

    async with replica(settings) as service:
        row = await asyncio.to_thread(scenario, f"http://127.0.0.1:{service.port}")
    assert "success" in row
    [tick] = await rows(db_dsn, "SELECT * FROM dw_etl_ticks WHERE source = 'manual'")
    assert tick["job_id"] == 3 and tick["status"] == "success"


async def test_a_port_in_use_is_a_clear_error_and_records_nothing(db_dsn: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = Service(service_settings(db_dsn, listen=f"127.0.0.1:{port}"))
        with pytest.raises(ConfigError, match="cannot listen on"):
            await service.run()
    assert not await rows(db_dsn, "SELECT * FROM dw_etl_replicas")
