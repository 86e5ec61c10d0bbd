"""The wheel is the product: built from this tree, installed in a fresh virtual environment
outside it, it finds its migrations and inventory (top-level migrations/ and config/, shipped
inside the wheel) and runs ``migrate`` and a job from any directory."""

from __future__ import annotations

import asyncio
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ccsim import SimulatorServer
from tests.cli_support import REPO

pytestmark = pytest.mark.integration


def _wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(REPO)],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = out.glob("trialsync_async-*.whl")
    return wheel


def _install(tmp_path: Path) -> Path:
    """The wheel built and installed in a fresh virtual environment; its directory."""
    wheel = _wheel(tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert "trialsync_async/migrations/0001_core_tables.sql" in names
    assert "trialsync_async/config/jobs.toml" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # the dependencies come from the test's environment; the package itself from the wheel
    [packages] = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    (Path(packages) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    return venv


async def test_the_wheel_installed_elsewhere_migrates_and_runs_a_job(
    tmp_path: Path, db_dsn: str, sim: SimulatorServer
) -> None:
    venv = await asyncio.to_thread(_install, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "DATABASE_URL": db_dsn, "SIM_KEY": sim.api_key,
           "TRIALSYNC_LOG_FORMAT": "json", "PYTHONPATH": ""}  # fmt: skip
    cli = venv / "bin" / "trialsync-async"

    async def run(*args: str) -> str:  # the simulator answers on this event loop meanwhile
        proc = await asyncio.create_subprocess_exec(
            cli, *args, cwd=elsewhere, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, (args, out, err)
        return out.decode()

    proc = await asyncio.create_subprocess_exec(
        venv / "bin" / "python", "-c", "import trialsync_async; print(trialsync_async.__file__)",
        cwd=elsewhere, env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    where = (await proc.communicate())[0].decode()
    assert where.startswith(str(venv)), where  # the wheel's copy, not this tree's
    assert "migrations applied" in await run("migrate")
    await run("instances", "set", "1", "--base-url", sim.base_url, "--api-key-env", "SIM_KEY",
              "--rate-limit", "0")  # fmt: skip
    assert "1 of 1 jobs succeeded" in await run("--job", "3")
