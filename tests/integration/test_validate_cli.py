"""`validate` as operators run it: a real process, no database (a DSN nobody answers), the
shipped inventory and broken copies of it; `--version`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import orjson
import pytest

from tests.cli_support import cli
from tests.inventory_support import Jobs, write_copy

pytestmark = pytest.mark.integration

NO_DATABASE = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}

run_cli = partial(cli, env=NO_DATABASE, unset=["TRIALSYNC_JOBS_FILE"])


async def test_cli_passes_on_the_shipped_inventory_without_a_database() -> None:
    done = await run_cli("validate")
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if "severity" in line)
    assert header.split() == ["job", "name", "severity", "check", "message"]
    assert "90 jobs checked: 0 error, " in done.stdout and done.stdout.rstrip().endswith(": ok")
    assert "shared-target" in done.stdout


async def test_cli_json_and_exit_1_on_a_broken_copy(tmp_path: Path) -> None:
    def change(jobs: Jobs) -> None:
        jobs[11]["source_endpoint"] = "/api/v1/studies/{studyId}/visitz/odata"

    done = await run_cli("validate", "--json", "--jobs", str(write_copy(tmp_path, change)))
    assert done.returncode == 1, done.stderr
    doc = orjson.loads(done.stdout)
    assert doc["ok"] is False and doc["jobs_checked"] == 90
    [error] = [f for f in doc["findings"] if f["severity"] == "error"]
    assert error == {
        "job_id": 11,
        "job": "Visits",
        "severity": "error",
        "check": "endpoint",
        "message": "/api/v1/studies/{studyId}/visitz/odata is not in the swagger",
    }


async def test_cli_reads_trialsync_jobs_file(tmp_path: Path) -> None:
    def change(jobs: Jobs) -> None:
        jobs[160]["parameters"] = [
            {"name": "studyId", "path": "studie.id"},
            {"name": "subjectId", "path": "id"},
        ]

    done = await run_cli(
        "validate", env={**NO_DATABASE, "TRIALSYNC_JOBS_FILE": str(write_copy(tmp_path, change))}
    )
    assert done.returncode == 1
    assert "1 error" in done.stdout and "FAILED" in done.stdout
    assert "studie.id" in done.stdout


async def test_cli_missing_file_is_one_line(tmp_path: Path) -> None:
    done = await run_cli("validate", "--jobs", str(tmp_path / "nope.toml"))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: Invalid configuration: job inventory")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


async def test_cli_version() -> None:
    from trialsync_async import __version__

    done = await run_cli("--version")
    assert (done.returncode, done.stdout) == (0, f"trialsync-async {__version__}\n")
