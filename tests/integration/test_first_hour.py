"""A new user's first hour: an unmigrated database, the embedded cluster found from a
subdirectory, a fan-out run before its parents (a warning naming the job that fills them),
and ``--with-upstream`` (the parents first, then the fan-out over them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccsim import SimulatorServer
from tests.cli_support import cli
from tests.engine_support import fetch, loader, staged
from trialsync_async.app import TrialSync
from trialsync_async.cli.live import summary_table
from trialsync_async.errors import NotMigratedError
from trialsync_async.inventory import load_inventory
from trialsync_async.jobgraph import upstream
from trialsync_async.settings import Settings, find_embedded_dir

pytestmark = pytest.mark.integration

NOT_MIGRATED = "error: database not migrated: run trialsync-async migrate"


# --- an unmigrated database ------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["--job", "3"], ["plan"], ["jobs", "list"], ["instances", "list"], ["serve"]]
)
async def test_an_unmigrated_database_says_so_in_one_line(empty_db_dsn: str, args) -> None:
    rc, out, err = await cli(*args, env={"DATABASE_URL": empty_db_dsn})
    assert rc == 1
    assert err.strip().splitlines() == [NOT_MIGRATED], err
    assert "Traceback" not in out + err


async def test_migrate_still_works_and_then_the_commands_do(empty_db_dsn: str) -> None:
    env = {"DATABASE_URL": empty_db_dsn}
    rc, _out, err = await cli("migrate", env=env)
    assert rc == 0, err
    rc, out, err = await cli("jobs", "list", env=env)
    assert rc == 0, err
    assert "Studies" in out


async def test_a_database_behind_the_code_names_the_missing_migration(db_dsn: str) -> None:
    rows = await fetch(db_dsn, "SELECT version FROM trialsync_schema_migrations ORDER BY 1")
    last = rows[-1]["version"]
    await fetch(db_dsn, "DELETE FROM trialsync_schema_migrations WHERE version = $1", last)
    with pytest.raises(NotMigratedError, match=f"not applied: {last}"):
        async with TrialSync(Settings.from_dsn(db_dsn)):
            pass
    async with TrialSync(Settings.from_dsn(db_dsn), require_schema=False) as ts:
        assert not ts.migrated


# --- one embedded cluster per working copy ------------------------------------------------


def _no_working_copy_above(path: Path) -> None:
    for directory in (path, *path.parents):
        if (directory / ".trialsync").is_dir() or (directory / "pyproject.toml").is_file():
            pytest.skip(f"{directory} would be found first")


def test_the_embedded_cluster_is_found_from_any_subdirectory(tmp_path: Path) -> None:
    _no_working_copy_above(tmp_path)
    copy = tmp_path / "copy"
    deep = copy / "src" / "trialsync_async" / "db"
    deep.mkdir(parents=True)
    (copy / "pyproject.toml").write_text('[project]\nname = "trialsync-async"\n')
    assert find_embedded_dir(deep, {}) == copy / ".trialsync" / "pgdata"
    assert find_embedded_dir(copy, {}) == copy / ".trialsync" / "pgdata"

    # Another project's pyproject.toml is not a working copy; an existing .trialsync is.
    other = tmp_path / "other"
    (other / "a" / "b").mkdir(parents=True)
    (other / "pyproject.toml").write_text('[project]\nname = "something-else"\n')
    (other / "a" / ".trialsync").mkdir()
    assert find_embedded_dir(other / "a" / "b", {}) == other / "a" / ".trialsync" / "pgdata"

    # Outside any working copy: a per-user directory.
    outside = tmp_path / "plain" / "dir"
    outside.mkdir(parents=True)
    xdg = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert find_embedded_dir(outside, xdg) == tmp_path / "xdg" / "trialsync-async" / "pgdata"
    home = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": "relative/is/ignored"}
    expected = tmp_path / "home" / ".local" / "share" / "trialsync-async" / "pgdata"
    assert find_embedded_dir(outside, home) == expected

    # TRIALSYNC_EMBEDDED_DIR wins over all of it.
    chosen = Settings.from_env({"TRIALSYNC_EMBEDDED_DIR": str(tmp_path / "mine")}, env_file=None)
    assert chosen.embedded_path(deep) == tmp_path / "mine"
    assert Settings().embedded_path(deep) == copy / ".trialsync" / "pgdata"


# --- a fan-out before its parents ---------------------------------------------------------


async def test_a_fanout_with_an_empty_parent_table_warns_naming_its_upstream(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        [result] = await ts.run_jobs([10])
    assert result.ok and result.progress.requests == 0
    [warning] = result.progress.notes["warnings"]
    assert warning.startswith("job 10 (Subjects): its parent table dim_studies_staging")
    assert "run job 2 (Studies) first, or add --with-upstream" in warning
    assert f"warning: {warning}" in summary_table([result])
    [run] = await fetch(db_dsn, "SELECT notes FROM dw_etl_runs WHERE run_id = $1", result.run_id)
    assert run["notes"]["warnings"] == [warning]  # kept on the run row


async def test_the_warning_is_in_the_cli_summary_and_log(db_dsn: str, sim: SimulatorServer) -> None:
    env = {"DATABASE_URL": db_dsn, "SIM_KEY": sim.api_key}
    rc, _out, err = await cli(
        "instances", "set", "1", "--base-url", sim.base_url, "--api-key-env", "SIM_KEY",
        "--rate-limit", "0", env=env,
    )  # fmt: skip
    assert rc == 0, err
    rc, out, err = await cli("--job", "10", env=env)
    assert rc == 0, err
    assert "warning: job 10 (Subjects): its parent table dim_studies_staging" in out
    assert '"event":"fan-out has no parents"' in err and '"loaded_by":[2]' in err


# --- --with-upstream ----------------------------------------------------------------------


async def test_with_upstream_runs_the_parents_first_then_the_fanout(
    db_dsn: str, sim: SimulatorServer
) -> None:
    env = {"DATABASE_URL": db_dsn, "SIM_KEY": sim.api_key}
    rc, _out, err = await cli(
        "instances", "set", "1", "--base-url", sim.base_url, "--api-key-env", "SIM_KEY",
        "--rate-limit", "0", env=env,
    )  # fmt: skip
    assert rc == 0, err
    rc, out, err = await cli("--job", "10", "--with-upstream", env=env)
    assert rc == 0, err
    assert "2 of 2 jobs succeeded" in out and "warning" not in out
    runs = await fetch(
        db_dsn,
        "SELECT job_id, run_status, started_at, completed_at, units_total, requests_made "
        "FROM dw_etl_runs ORDER BY run_id",
    )
    assert [(r["job_id"], r["run_status"]) for r in runs] == [(2, "success"), (10, "success")]
    studies, subjects = runs
    assert studies["completed_at"] <= subjects["started_at"]
    parents, _, _ = await staged(db_dsn, "dim_studies_staging")
    assert parents > 0
    assert subjects["units_total"] == parents  # one unit per study
    assert subjects["requests_made"] >= parents
    assert (await staged(db_dsn, "dim_subjects_staging"))[0] > 0


def test_upstream_is_transitive_over_the_active_inventory() -> None:
    active = [job for job in load_inventory() if job.is_active]
    assert upstream(active, [10]) == {2}
    assert upstream(active, [166]) == {2, 9, 10, 160}  # visits from job 9 and from job 160
    assert upstream(active, [3]) == set()


async def test_with_upstream_needs_a_job(db_dsn: str) -> None:
    rc, _out, err = await cli("--all", "--with-upstream", env={"DATABASE_URL": db_dsn})
    assert rc == 2 and "--with-upstream goes with --job" in err
