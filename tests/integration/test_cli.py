"""The command line as users run it: a real process, real exit codes, nothing secret printed."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from ccsim import SimulatorServer
from tests.cli_support import cli, start_cli
from tests.engine_support import fetch, loader
from tests.sim_support import sim_fixture, sim_options

pytestmark = pytest.mark.integration

sim = sim_fixture(scope="function")  # every test gets a simulator of its own


async def test_one_shot_job_and_instance_commands(db_dsn: str, sim) -> None:
    env = {"DATABASE_URL": db_dsn, "SIM_KEY": sim.api_key}
    rc, out, err = await cli(
        "instances", "set", "1", "--base-url", sim.base_url, "--api-key-env", "SIM_KEY",
        "--rate-limit", "500", env=env,
    )  # fmt: skip
    assert rc == 0, err
    rc, out, err = await cli("--job", "3", "--concurrency", "2", env=env)
    assert rc == 0, err
    assert "success" in out and "1 of 1 jobs succeeded" in out
    assert '"event":"run finished"' in err  # JSON logs when not on a terminal
    assert sim.api_key not in out + err
    rc, out, err = await cli("instances", "set", "1", "--api-key-stdin", env=env, stdin=b"s3cret\n")
    assert rc == 0, err
    rc, out, err = await cli("instances", "list", env=env)
    assert rc == 0 and "s3cret" not in out and "env SIM_KEY" not in out  # one or the other
    rc, out, err = await cli("plan", "--job", "3", "--job", "10", env=env)
    assert rc == 0, err
    assert "Patients" in out and "Subjects" in out and "total:" in out


@pytest.mark.parametrize(
    ("args", "env", "rc", "message"),
    [
        (["--job", "4"], {}, 1, "Job 4 (Users) is disabled"),
        (["--job", "9999"], {}, 1, "Unknown job id 9999"),
        (["--job", "3"], {"TRIALSYNC_PAGE_SIZE": "5000"}, 2, "TRIALSYNC_PAGE_SIZE must be 1..1000"),
        (["--job", "3"], {"TRIALSYNC_PAGE_SIZE": "0"}, 2, "TRIALSYNC_PAGE_SIZE must be 1..1000"),
        (["--job", "3"], {"TRIALSYNC_CONCURRENCY": "0"}, 2, "TRIALSYNC_CONCURRENCY must be at"),
        (["--job", "3"], {"TRIALSYNC_PARALLEL_JOBS": "-1"}, 2, "TRIALSYNC_PARALLEL_JOBS must be"),
        (["--job", "3", "--concurrency", "0"], {}, 2, "--concurrency: 0 is out of range"),
        (["--job", "3", "--concurrency", "-1"], {}, 2, "--concurrency: -1 is out of range"),
        (["--job", "3", "--parallel-jobs", "0"], {}, 2, "--parallel-jobs: 0 is out of range"),
        (["--job", "3", "--page-size", "0"], {}, 2, "--page-size: 0 is out of range (1..1000)"),
        (["--job", "3", "--page-size", "-5"], {}, 2, "--page-size: -5 is out of range"),
        (["--job", "3", "--page-size", "5000"], {}, 2, "--page-size: 5000 is out of range"),
        (["--job", "3", "--page-size", "ten"], {}, 2, "'ten' is not a whole number"),
        (["migrate"], {"DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"}, 1, "u:***@127.0.0.1"),
        ([], {}, 2, "usage"),
        (["--job", "3", "--all"], {}, 2, "not both"),
        (["--jobb", "3"], {}, 2, "unrecognized option --jobb"),
        (["runs", "--jobb", "3"], {}, 2, "unrecognized option --jobb"),
        (["--with-upstream"], {}, 2, "--with-upstream goes with --job"),
    ],
)
async def test_bad_input_gets_a_clear_error(db_dsn: str, args, env, rc, message) -> None:
    code, out, err = await cli(*args, env={"DATABASE_URL": db_dsn, **env})
    assert code == rc
    assert message in out + err
    assert "Traceback" not in err


async def test_a_failed_job_exits_1(db_dsn: str, sim) -> None:
    env = {"DATABASE_URL": db_dsn}
    await cli("instances", "set", "1", "--base-url", sim.base_url, env=env)
    rc, out, _err = await cli("--job", "3", env=env)  # instance 1 has no key
    assert rc == 1
    assert "has no key" in out


async def _wait_for_running(db_dsn: str, job_id: int) -> None:
    for _ in range(200):
        rows = await fetch(
            db_dsn,
            "SELECT 1 FROM dw_etl_runs WHERE job_id = $1 AND run_status = 'running'",
            job_id,
        )
        if rows:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the run never started")


async def _start(db_dsn: str, sim, *args: str) -> asyncio.subprocess.Process:
    return await start_cli(*args, env={"DATABASE_URL": db_dsn, "SIM_KEY": sim.api_key})


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_a_stopped_process_leaves_a_closed_run(db_dsn: str, sig) -> None:
    async with SimulatorServer(sim_options(latency_mean_s=0.2)) as sim:
        async with loader(db_dsn, sim) as ts:
            await ts.run_jobs([2])
            await ts.set_instance(1, api_key_env="SIM_KEY")
            proc = await _start(db_dsn, sim, "--job", "11", "--concurrency", "1")
            await _wait_for_running(db_dsn, 11)
            proc.send_signal(sig)
            _, err = await proc.communicate()
            if sig == signal.SIGTERM:
                assert proc.returncode == 143, err.decode()
                [run] = await fetch(db_dsn, "SELECT * FROM dw_etl_runs WHERE job_id = 11")
                assert (run["run_status"], run["error_message"]) == ("interrupted", "interrupted")
                assert run["completed_at"] is not None
            else:
                os.environ["SIM_KEY"] = sim.api_key
                try:
                    [result] = await ts.run_jobs([11])
                finally:
                    del os.environ["SIM_KEY"]
                assert result.ok
                [old] = await fetch(
                    db_dsn, "SELECT * FROM dw_etl_runs WHERE job_id = 11 ORDER BY run_id LIMIT 1"
                )
                assert old["run_status"] == "failed"
                assert old["error_message"].startswith("abandoned: its process stopped")


async def test_the_same_job_never_runs_twice_at_once(db_dsn: str) -> None:
    async with SimulatorServer(sim_options(latency_mean_s=0.05)) as sim, loader(db_dsn, sim) as ts:
        await ts.run_jobs([2])
        first, second = await asyncio.gather(ts.run_jobs([11]), ts.run_jobs([11]))
    statuses = sorted([first[0].status, second[0].status])
    assert statuses == ["failed", "success"]
    loser = first[0] if first[0].status == "failed" else second[0]
    assert loser.error is not None
    assert "already running" in loser.error
