"""PostgreSQL restarted under a running job: the run rides it out, or ends with one line."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ccsim import SimulatorServer
from tests.cli_support import start_cli
from tests.engine_support import fetch, loader, staged
from tests.sim_support import sim_options

pytestmark = pytest.mark.integration

VISITS = "/api/v1/studies/{studyId}/visits/odata"
SCALE = 0.4  # about 630 studies: one request each for the visits fan-out


def _visit_requests(sim: SimulatorServer) -> int:
    per = sim.stats()["by_template"].get(VISITS)
    return int(per["requests"]) if per else 0


async def _when(sim: SimulatorServer, requests: int) -> None:
    for _ in range(3000):
        if _visit_requests(sim) >= requests:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never reached {requests} requests")


async def _exact(db_dsn: str, sim: SimulatorServer) -> None:
    truth = sim.truth(VISITS)
    rows, id_sum, distinct = await staged(db_dsn, "dim_visits_staging")
    assert rows == distinct == truth["count"] and id_sum == truth["id_sum"]
    running = await fetch(db_dsn, "SELECT run_id FROM dw_etl_runs WHERE run_status = 'running'")
    assert running == []


async def test_a_restart_within_the_window_and_the_run_goes_on(
    restartable_pg: Any, restartable_db_dsn: str
) -> None:
    dsn = restartable_db_dsn
    async with SimulatorServer(sim_options(scale=SCALE)) as sim:
        async with loader(dsn, sim, commit_seconds=0.05, progress_seconds=0.1) as ts:
            [studies] = await ts.run_jobs([2])
            await ts.set_instance(1, rate_limit=150)
            sim.reset_stats()
            run = asyncio.create_task(ts.run_jobs([11]))
            await _when(sim, studies.progress.inserted // 3)
            await restartable_pg.restart_async(down_seconds=1.5)
            [result] = await asyncio.wait_for(run, 120)
        assert result.ok, result.error
        await _exact(dsn, sim)


async def test_a_database_gone_too_long_ends_the_run_in_one_line_and_a_rerun_is_exact(
    restartable_pg: Any, restartable_db_dsn: str
) -> None:
    dsn = restartable_db_dsn
    async with SimulatorServer(sim_options(scale=SCALE)) as sim:
        async with loader(dsn, sim) as ts:
            [studies] = await ts.run_jobs([2])
            await ts.set_instance(1, rate_limit=150, api_key_env="SIM_KEY")
        sim.reset_stats()
        env = {
            "DATABASE_URL": dsn, "SIM_KEY": sim.api_key, "TRIALSYNC_DB_RETRY_SECONDS": "2",
            "TRIALSYNC_COMMIT_SECONDS": "0.05",
        }  # fmt: skip
        proc = await start_cli("--job", "11", env=env)
        await _when(sim, studies.progress.inserted // 3)
        await asyncio.to_thread(restartable_pg.stop)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        await asyncio.to_thread(restartable_pg.start)
        text = out.decode() + err.decode()
        assert proc.returncode == 1, text[-3000:]
        assert "Traceback" not in text, text[-6000:]
        assert "database unavailable: " in text
        async with loader(dsn, sim) as ts:
            [again] = await ts.run_jobs([11])
        assert again.ok, again.error
        await _exact(dsn, sim)
        runs = await fetch(
            dsn, "SELECT run_status, error_message FROM dw_etl_runs WHERE job_id = 11 "
            "ORDER BY run_id",
        )  # fmt: skip
        assert [r["run_status"] for r in runs] == ["failed", "success"]
