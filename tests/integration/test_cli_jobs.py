"""`jobs show / enable / disable / set / sync` as operators run them: a real process on a
migrated PostgreSQL; overrides survive `jobs sync`, hand edits of dw_etl_jobs too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli_support import cli
from tests.engine_support import fetch
from tests.inventory_support import write_copy
from trialsync_async.db.connect import connect
from trialsync_async.engine.runner import select_jobs
from trialsync_async.inventory import PACKAGED_INVENTORY

pytestmark = pytest.mark.integration


async def ok(*args: str, env: dict[str, str]) -> str:
    rc, out, err = await cli(*args, env=env)
    assert rc == 0, err
    return out


async def show(job_id: int, env: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(await ok("jobs", "show", str(job_id), "--json", env=env))
    return doc


async def job_row(db_dsn: str, job_id: int) -> dict[str, Any]:
    [row] = await fetch(db_dsn, "SELECT * FROM dw_etl_jobs WHERE id = $1", job_id)
    return dict(row)


async def test_show_prints_settings_sources_schedule_parent_and_runs(db_dsn: str, sim) -> None:
    env = {"DATABASE_URL": db_dsn, "SIM_KEY": sim.api_key}
    await ok("instances", "set", "1", "--base-url", sim.base_url, "--api-key-env", "SIM_KEY",
             "--rate-limit", "500", env=env)  # fmt: skip
    await ok("--job", "2", env=env)
    await ok("--job", "11", "--concurrency", "2", env=env)
    out = await ok("jobs", "show", "11", env=env)
    print(out)
    expected = (
        "job 11: Visits", "parent", "2 (Studies)", "studyId from dim_studies_staging",
        "0 2 * * * (TRIALSYNC_DEFAULT_SCHEDULE)", "next run", "settings", "the last run",
    )  # fmt: skip
    for text in expected:
        assert text in out, text
    headers = ("setting", "value", "source", "inventory", "reason")
    assert any(all(h in line for h in headers) for line in out.splitlines())
    assert any(line.split()[:3] == ["page_size", "1000", "inventory"] for line in out.splitlines())
    assert any(line.split()[:2] == ["max_refresh", "28d"] for line in out.splitlines())
    run_headers = ("run", "status", "started", "duration", "fetched", "written", "requests")
    assert any(all(h in line for h in run_headers) for line in out.splitlines())

    doc = await show(11, env)
    assert doc["parent"] == {"id": 2, "name": "Studies"}
    assert (doc["schedule"], doc["schedule_is_default"]) == ("0 2 * * *", True)
    assert doc["next_run_at"].endswith(("+00:00", "Z"))
    assert set(doc["settings"]) == {"schedule", "page_size", "min_refresh", "max_refresh",
                                    "fanout", "max_deletes", "instance_scope",
                                    "is_active"}  # fmt: skip
    assert doc["settings"]["page_size"] == {
        "value": 1000, "source": "inventory", "inventory": 1000, "set_at": None, "reason": None,
    }  # fmt: skip
    assert doc["settings"]["max_refresh"]["value"] == 28 * 86400
    [run] = doc["runs"]
    assert run["status"] == "success" and run["fetched"] > 0
    assert set(run) == {"run_id", "status", "started_at", "completed_at", "seconds",
                        "fetched", "written", "requests", "error"}  # fmt: skip

    listed = orjson.loads(await ok("jobs", "list", "--json", env=env))
    assert (listed["count"], listed["active"]) == (90, 68)
    assert {j["id"]: j["overrides"] for j in listed["jobs"]}[11] == []
    assert "90 jobs: 68 active, 22 disabled" in await ok("jobs", "list", env=env)


async def test_disable_refuses_runs_with_the_reason_and_enable_restores(db_dsn: str, sim) -> None:
    env = {"DATABASE_URL": db_dsn, "SIM_KEY": sim.api_key}
    await ok("instances", "set", "1", "--base-url", sim.base_url, "--api-key-env", "SIM_KEY",
             "--rate-limit", "500", env=env)  # fmt: skip
    out = await ok("jobs", "disable", "3", "--reason", "API maintenance until Monday", env=env)
    assert "job 3 (Patients): is_active no (override): API maintenance until Monday" in out
    for args in (["--job", "3"], ["plan", "--job", "3"]):
        rc, out, err = await cli(*args, env=env)
        assert rc == 1
        lines = [line for line in (out + err).splitlines() if "disabled" in line]
        assert lines == ["error: Job 3 (Patients) is disabled: API maintenance until Monday"]
        assert "Traceback" not in err
    assert not await fetch(db_dsn, "SELECT 1 FROM dw_etl_runs WHERE job_id = 3")
    conn = await connect(db_dsn)
    try:  # the service's scheduler and `plan` without --job take active jobs only
        assert 3 not in {job.id for job in await select_jobs(conn, None)}
    finally:
        await conn.close()
    await ok("jobs", "sync", env=env)  # the inventory says active: the override wins
    doc = await show(3, env)
    assert (doc["active"], doc["disabled_reason"]) == (False, "API maintenance until Monday")
    assert doc["settings"]["is_active"]["source"] == "override"
    assert doc["next_run_at"] is None

    out = await ok("jobs", "enable", "3", env=env)
    assert "job 3 (Patients): is_active yes (inventory)" in out  # the file says active
    assert not await fetch(db_dsn, "SELECT 1 FROM dw_etl_job_overrides")
    assert "1 of 1 jobs succeeded" in await ok("--job", "3", env=env)

    # A job the inventory disables can be enabled: an override, kept by sync, then reset.
    assert "is_active yes (override)" in await ok("jobs", "enable", "27", env=env)
    await ok("jobs", "sync", env=env)
    assert (await job_row(db_dsn, 27))["is_active"] is True
    await ok("jobs", "set", "27", "--reset", "is_active", env=env)
    row = await job_row(db_dsn, 27)
    assert row["is_active"] is False and "parameter fix" in row["disabled_reason"]


async def test_an_override_survives_sync_and_reset_restores_the_inventory(db_dsn: str) -> None:
    env = {"DATABASE_URL": db_dsn}
    out = await ok("jobs", "set", "3", "--page-size", "200", "--reason", "slow API", env=env)
    assert "job 3 (Patients): page_size 200 (override)" in out
    assert "overrides applied: 1" in await ok("jobs", "sync", env=env)
    assert (await job_row(db_dsn, 3))["page_size"] == 200
    page_size = (await show(3, env))["settings"]["page_size"]
    assert (page_size["value"], page_size["inventory"]) == (200, 1000)
    assert page_size["source"] == "override"
    assert page_size["reason"] == "slow API" and page_size["set_at"]
    table = await ok("jobs", "show", "3", env=env)
    [line] = [line for line in table.splitlines() if line.split()[:1] == ["page_size"]]
    assert "200" in line and "override, set 20" in line and "1000" in line and "slow API" in line
    # migrate syncs the inventory too
    await ok("migrate", env=env)
    assert (await job_row(db_dsn, 3))["page_size"] == 200

    await ok("jobs", "set", "3", "--min-refresh", "12h", "--max-refresh", "7d", env=env)
    row = await job_row(db_dsn, 3)
    assert (row["min_refresh_seconds"], row["max_refresh_seconds"]) == (43200, 7 * 86400)
    out = await ok("jobs", "set", "3", "--reset", "page_size", "--reset", "max_refresh", env=env)
    assert "page_size 1000 (inventory)" in out and "max_refresh 28d (inventory)" in out
    row = await job_row(db_dsn, 3)
    assert (row["page_size"], row["min_refresh_seconds"], row["max_refresh_seconds"]) == (
        1000, 43200, 28 * 86400,
    )  # fmt: skip
    overrides = await fetch(db_dsn, "SELECT job_id, setting FROM dw_etl_job_overrides")
    assert [tuple(r) for r in overrides] == [(3, "min_refresh")]


async def test_sync_keeps_hand_edits_and_applies_file_changes(db_dsn: str, tmp_path: Path) -> None:
    """The old bug: `jobs sync` reset an operator's UPDATE of schedule_cron."""
    env = {"DATABASE_URL": db_dsn}
    await fetch(db_dsn, "UPDATE dw_etl_jobs SET schedule_cron = '*/5 * * * *' WHERE id = 3")
    # a row from before overrides existed (no record of the file's values): kept as well
    await fetch(db_dsn, "UPDATE dw_etl_jobs SET page_size = 50, inventory_settings = NULL "
                        "WHERE id = 2")  # fmt: skip
    text = PACKAGED_INVENTORY.read_text(encoding="utf-8")
    edited = text.replace('name = "Sites"\n', 'name = "Sites"\npage_size = 500\n', 1)
    assert edited != text
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(edited, encoding="utf-8")
    out = await ok("jobs", "sync", env={**env, "TRIALSYNC_JOBS_FILE": str(jobs_file)})
    print(out)
    assert "job 3 (Patients): schedule */5 * * * * was set in dw_etl_jobs" in out
    assert "`jobs set 3 --reset schedule` takes the inventory's default" in out
    assert "job 2 (Studies): page_size 50 was set in dw_etl_jobs" in out
    assert "overrides applied: 2" in out
    assert (await job_row(db_dsn, 3))["schedule_cron"] == "*/5 * * * *"
    assert (await job_row(db_dsn, 2))["page_size"] == 50
    assert (await job_row(db_dsn, 1))["page_size"] == 500  # an unedited setting follows the file
    schedule = (await show(3, env))["settings"]["schedule"]
    assert (schedule["source"], schedule["reason"]) == ("override", "edited in dw_etl_jobs")
    # a second sync has nothing new to report, and keeps both
    out = await ok("jobs", "sync", env=env)
    assert "was set in dw_etl_jobs" not in out and "overrides applied: 2" in out
    assert (await job_row(db_dsn, 1))["page_size"] == 1000  # the packaged file again
    await ok("jobs", "set", "3", "--reset", "schedule", env=env)
    assert (await job_row(db_dsn, 3))["schedule_cron"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--schedule", "61 * * * *"], "--schedule: schedule '61 * * * *'"),
        (["--schedule", "every day"], "--schedule: schedule 'every day' needs 5 cron fields"),
        (["--page-size", "0"], "--page-size: page_size must be 1..1000"),
        (["--page-size", "1001"], "--page-size: page_size must be 1..1000"),
        (["--min-refresh", "0"], "--min-refresh: min_refresh must be a positive duration"),
        (["--max-refresh", "soon"], "--max-refresh: max_refresh must be a positive duration"),
        (["--min-refresh", "2d", "--max-refresh", "1d"],
         "Job 3 (Patients): min_refresh 2d exceeds max_refresh 1d"),
        (["--min-refresh", "30d"], "Job 3 (Patients): min_refresh 30d exceeds max_refresh 28d"),
        (["--page-size", "10", "--reset", "page_size"], "page_size cannot be both set and reset"),
        (["--reset", "colour"], "--reset: invalid choice: 'colour'"),
        ([], "give at least one of --schedule, --page-size"),
    ],
)  # fmt: skip
async def test_bad_settings_exit_2_and_change_nothing(db_dsn: str, args, message) -> None:
    before = await job_row(db_dsn, 3)
    rc, out, err = await cli("jobs", "set", "3", *args, env={"DATABASE_URL": db_dsn})
    assert rc == 2, out + err
    assert message in err and "Traceback" not in err
    assert await job_row(db_dsn, 3) == before
    assert not await fetch(db_dsn, "SELECT 1 FROM dw_etl_job_overrides")


async def test_other_refusals(db_dsn: str) -> None:
    env = {"DATABASE_URL": db_dsn}
    rc, _out, err = await cli("jobs", "disable", "3", env=env)
    assert rc == 2 and "--reason" in err
    rc, _out, err = await cli("jobs", "show", "9999", env=env)
    assert rc == 1 and "Unknown job id 9999" in err and "Traceback" not in err
    rc, _out, err = await cli("jobs", "enable", "9999", env=env)
    assert rc == 1 and "Unknown job id 9999" in err


async def runs_for(db_dsn: str, job_id: int) -> list[int]:
    """The API instances `--job J` runs the job for."""
    conn = await connect(db_dsn)
    try:
        return [job.source_instance_id for job in await select_jobs(conn, [job_id])]
    finally:
        await conn.close()


async def test_instance_scope_is_an_override_and_an_inventory_key(
    db_dsn: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": db_dsn}
    await ok("instances", "add", "2", "--base-url", "http://127.0.0.1:9/CCSWEB",
             "--api-key-env", "SECOND_KEY", env=env)  # fmt: skip
    assert await runs_for(db_dsn, 3) == [1, 2]
    out = await ok("jobs", "set", "3", "--instance-scope", "own", "--reason", "site 1 only",
                   env=env)  # fmt: skip
    assert "job 3 (Patients): instance_scope own (override)" in out
    assert (await job_row(db_dsn, 3))["instance_scope"] == "own"
    assert await runs_for(db_dsn, 3) == [1]
    assert "overrides applied: 1" in await ok("jobs", "sync", env=env)  # kept by sync
    assert await runs_for(db_dsn, 3) == [1]
    scope = (await show(3, env))["settings"]["instance_scope"]
    assert (scope["value"], scope["source"], scope["inventory"]) == ("own", "override", "all")
    table = await ok("jobs", "show", "3", env=env)
    [line] = [x for x in table.splitlines() if x.split()[:1] == ["instance_scope"]]
    assert line.split()[1:3] == ["own", "override,"] and "site 1 only" in line
    rc, _out, err = await cli("jobs", "set", "3", "--instance-scope", "mine", env=env)
    assert rc == 2 and "instance_scope must be one of all, own" in err
    out = await ok("jobs", "set", "3", "--instance-scope", "all", env=env)
    assert "job 3 (Patients): instance_scope all (inventory)" in out  # the file's again
    assert await runs_for(db_dsn, 3) == [1, 2]
    assert not await fetch(db_dsn, "SELECT 1 FROM dw_etl_job_overrides")

    # The inventory's key; a value it does not know is refused before anything changes.
    jobs_file = write_copy(tmp_path, lambda jobs: jobs[8].update(instance_scope="own"))
    await ok("jobs", "sync", env={**env, "TRIALSYNC_JOBS_FILE": str(jobs_file)})
    assert await runs_for(db_dsn, 8) == [1]
    bad = write_copy(tmp_path, lambda jobs: jobs[8].update(instance_scope="some"))
    rc, _out, err = await cli("jobs", "sync", env={**env, "TRIALSYNC_JOBS_FILE": str(bad)})
    assert rc != 0 and "job 8 (Elements): instance_scope must be one of all, own" in err
    assert await runs_for(db_dsn, 8) == [1]

    # Set with SQL before it was a setting (the inventory's value not recorded yet): kept.
    await fetch(
        db_dsn,
        "UPDATE dw_etl_jobs SET instance_scope = 'own', "
        "inventory_settings = inventory_settings - 'instance_scope' WHERE id = 9",
    )
    out = await ok("jobs", "sync", env=env)
    assert "job 9 (PatientVisits): instance_scope own was set in dw_etl_jobs" in out, out
    assert await runs_for(db_dsn, 8) == [1, 2] and await runs_for(db_dsn, 9) == [1]


async def test_sync_refreshes_the_typed_views(db_dsn: str, tmp_path: Path) -> None:
    """A job's table renamed in the inventory: `jobs sync` makes its view over the new table
    and drops the old one's, saying so as `migrate` does; the packaged file again undoes it."""
    env = {"DATABASE_URL": db_dsn}
    out = await ok("jobs", "sync", env=env)  # the views of the packaged inventory
    assert "typed views (staging_typed): " in out and " created;" in out, out
    jobs_file = write_copy(
        tmp_path, lambda jobs: jobs[32].update(target_table="dim_providers_v2_staging")
    )
    out = await ok("jobs", "sync", env={**env, "TRIALSYNC_JOBS_FILE": str(jobs_file)})
    assert "typed views (staging_typed): 1 created, 1 dropped;" in out, out
    views = await fetch(
        db_dsn, "SELECT table_name FROM information_schema.views "
        "WHERE table_schema = 'staging_typed' AND table_name LIKE 'dim_providers%'",
    )  # fmt: skip
    assert [v["table_name"] for v in views] == ["dim_providers_v2"]
    rc, out, err = await cli("views", "--check", env={**env, "TRIALSYNC_JOBS_FILE": str(jobs_file)})
    assert rc == 0, out + err  # nothing left to change
    out = await ok("jobs", "sync", env=env)
    assert "typed views (staging_typed): 1 created, 1 dropped;" in out, out
    out = await ok("jobs", "sync", env=env)
    assert "typed views" not in out  # nothing changed: nothing said
