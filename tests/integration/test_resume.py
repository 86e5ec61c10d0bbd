"""Resume: a killed, interrupted or stopped run is continued by the next run of its job.

The loader runs in a child process (the real CLI) so that it can be killed; the simulator
runs here and counts what is asked of it.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest

from ccsim import SimulatorServer
from tests.cli_support import start_cli
from tests.engine_support import fetch, loader, staged
from tests.sim_support import sim_options

pytestmark = pytest.mark.integration

VISITS = "/api/v1/studies/{studyId}/visits/odata"
SCALE_600_STUDIES = 600 / 1573 * 0.999  # about 600 studies


def _visit_requests(sim: SimulatorServer) -> int:
    per = sim.stats()["by_template"].get(VISITS)
    return int(per["requests"]) if per else 0


async def _start(db_dsn: str, sim: SimulatorServer, *args: str, **env: str) -> Any:
    environ = {
        "DATABASE_URL": db_dsn, "SIM_KEY": sim.api_key, "TRIALSYNC_COMMIT_SECONDS": "0.1",
        "TRIALSYNC_PROGRESS_SECONDS": "0.2", **env,
    }  # fmt: skip
    return await start_cli(*args, env=environ)


async def _when(sim: SimulatorServer, requests: int, seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.02)):
        if _visit_requests(sim) >= requests:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never reached {requests} requests")


async def _backends_gone(db_dsn: str) -> None:
    """After kill -9 the server ends the dead client's sessions (and frees its job lock) a
    moment later, not at once; wait for that, as an operator's next run a second later would."""
    for _ in range(100):
        [row] = await fetch(
            db_dsn, "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'"
        )
        if row["n"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the killed run's job lock was never released")


async def _done_units(db_dsn: str, job_id: int) -> int:
    [row] = await fetch(
        db_dsn,
        "SELECT count(*) AS n FROM dw_etl_unit_state u JOIN dw_etl_runs r "
        "ON r.run_id = u.pass_id WHERE u.job_id = $1 AND u.status = 'done' "
        "AND r.run_id = (SELECT max(pass_id) FROM dw_etl_runs WHERE job_id = $1)",
        job_id,
    )
    return int(row["n"])


@pytest.fixture
async def slow_sim():
    async with SimulatorServer(sim_options(scale=SCALE_600_STUDIES)) as server:
        yield server


async def _load_studies(db_dsn: str, sim: SimulatorServer) -> int:
    async with loader(db_dsn, sim) as ts:
        [studies] = await ts.run_jobs([2])
        await ts.set_instance(1, api_key_env="SIM_KEY", rate_limit=150)
    assert studies.ok
    return studies.progress.inserted


async def test_kill_9_mid_fanout_then_the_next_run_fetches_only_what_is_left(
    db_dsn: str, slow_sim: SimulatorServer
) -> None:
    sim = slow_sim
    parents = await _load_studies(db_dsn, sim)
    assert 550 <= parents <= 650
    sim.reset_stats()
    proc = await _start(db_dsn, sim, "--job", "11", "--concurrency", "4")
    await _when(sim, parents // 2)
    proc.kill()
    await proc.wait()
    await _backends_gone(db_dsn)
    done = await _done_units(db_dsn, 11)
    assert 0 < done < parents
    sim.reset_stats()
    async with loader(db_dsn, sim) as ts:
        [result] = await ts.run_jobs([11])
    assert result.ok, result.error
    remaining = parents - done
    assert remaining <= _visit_requests(sim) <= remaining + 4, (remaining, sim.stats())
    truth = sim.truth(VISITS)
    rows, id_sum, distinct = await staged(db_dsn, "dim_visits_staging")
    assert rows == distinct == truth["count"] and id_sum == truth["id_sum"]
    runs = await fetch(
        db_dsn, "SELECT run_id, run_status, error_message, pass_id, continues_run_id "
        "FROM dw_etl_runs WHERE job_id = 11 ORDER BY run_id",
    )  # fmt: skip
    killed, resumed = runs
    assert killed["run_status"] == "failed" and killed["error_message"].startswith("abandoned")
    assert resumed["continues_run_id"] == killed["run_id"]
    assert resumed["pass_id"] == killed["pass_id"] == killed["run_id"]
    assert result.continues_run_id == killed["run_id"]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_signal_commits_what_was_fetched_prints_the_summary_and_resumes(
    db_dsn: str, slow_sim: SimulatorServer, sig: signal.Signals, code: int
) -> None:
    sim = slow_sim
    parents = await _load_studies(db_dsn, sim)
    sim.reset_stats()
    proc = await _start(db_dsn, sim, "--job", "11", "--concurrency", "4",
                        TRIALSYNC_COMMIT_SECONDS="30", TRIALSYNC_BATCH_ROWS="100000")  # fmt: skip
    await _when(sim, parents // 3)
    proc.send_signal(sig)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == code, err.decode()[-2000:]
    assert "Traceback" not in err.decode()
    assert "jobs succeeded" in out.decode() and "interrupted" in out.decode()
    [run] = await fetch(db_dsn, "SELECT * FROM dw_etl_runs WHERE job_id = 11")
    assert (run["run_status"], run["error_message"]) == ("interrupted", "interrupted")
    rows, _, _ = await staged(db_dsn, "dim_visits_staging")
    # nothing was committed before the signal (one batch would take 30 s or 100k rows), so
    # every row staged now is a row fetched before it: all of them were written
    assert rows == run["records_fetched"] > 0
    assert run["records_inserted"] == rows
    async with loader(db_dsn, sim) as ts:
        sim.reset_stats()
        [result] = await ts.run_jobs([11])
    assert result.ok and result.continues_run_id == run["run_id"]
    assert _visit_requests(sim) < parents
    truth = sim.truth(VISITS)
    rows, id_sum, _ = await staged(db_dsn, "dim_visits_staging")
    assert (rows, id_sum) == (truth["count"], truth["id_sum"])


async def test_fresh_starts_a_new_pass(db_dsn: str, slow_sim: SimulatorServer) -> None:
    sim = slow_sim
    parents = await _load_studies(db_dsn, sim)
    proc = await _start(db_dsn, sim, "--job", "11", "--concurrency", "4")
    await _when(sim, parents // 3)
    proc.send_signal(signal.SIGTERM)
    await proc.communicate()
    sim.reset_stats()
    proc = await _start(db_dsn, sim, "--job", "11", "--fresh", "--full")
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert _visit_requests(sim) == parents
    [last] = await fetch(
        db_dsn, "SELECT continues_run_id, pass_id, run_id FROM dw_etl_runs "
        "WHERE job_id = 11 ORDER BY run_id DESC LIMIT 1",
    )  # fmt: skip
    assert last["continues_run_id"] is None and last["pass_id"] == last["run_id"]


async def test_the_heartbeat_saves_progress_while_nothing_is_committed(
    db_dsn: str, slow_sim: SimulatorServer
) -> None:
    """Removing the heartbeat's save (or the heartbeat) fails this test."""
    sim = slow_sim
    await _load_studies(db_dsn, sim)
    proc = await _start(db_dsn, sim, "--job", "11", "--concurrency", "1",
                        TRIALSYNC_COMMIT_SECONDS="60", TRIALSYNC_BATCH_ROWS="100000",
                        TRIALSYNC_BATCH_UNITS="100000")  # fmt: skip
    seen: list[tuple[Any, int, int]] = []
    try:
        for _ in range(300):
            rows = await fetch(
                db_dsn, "SELECT heartbeat_at, requests_made, records_fetched FROM dw_etl_runs "
                "WHERE job_id = 11 AND run_status = 'running'",
            )  # fmt: skip
            if rows:
                seen.append((rows[0]["heartbeat_at"], rows[0]["requests_made"],
                             rows[0]["records_fetched"]))  # fmt: skip
            if len({s[0] for s in seen}) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.communicate()
    beats = sorted({s[0] for s in seen})
    assert len(beats) >= 3, seen
    assert seen[-1][1] > 0 and seen[-1][2] > 0  # counts saved while no batch was committed
    staged_now = await fetch(db_dsn, "SELECT count(*) AS n FROM dim_visits_staging")
    assert staged_now[0]["n"] > 0  # and the stop committed them
