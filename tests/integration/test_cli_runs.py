"""`runs`, `runs show`, `failures` and `stats` as users run them: a real process on a real
PostgreSQL whose run log the engine wrote (a success, a failed run, the run resuming it, a run
with failed units), the --json documents parsed, the tables' columns, exit codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import pytest_asyncio

from ccsim import SimulatorServer
from tests.cli_support import cli
from tests.engine_support import fetch, loader
from tests.pg_support import unique_name
from trialsync_async.db.connect import drop_database, recreate_database

pytestmark = pytest.mark.integration

HOSTILE = ["..", ".", "", "1;DROP TABLE x", "../../patients/odata?x=", "%2e%2e"]

RUN_KEYS = {
    "run_id", "job_id", "job_name", "status", "started_at", "completed_at", "seconds",
    "fetched", "inserted", "updated", "unchanged", "deleted", "requests", "planned_requests",
    "error", "continues_run_id", "pass_id", "heartbeat_age_seconds", "dead", "instance_id",
}  # fmt: skip
DETAIL_KEYS = RUN_KEYS | {
    "worker", "written", "retries", "sanitized", "duplicates", "units_total", "units_done",
    "units_failed",
    "units_missing", "planned_parents", "fanout", "paging", "warnings", "cancel_requested",
    "unit_failures", "unit_failures_total", "continues", "continued_by", "retry_of", "pressure",
    "schema_drift", "schema_checked",
}  # fmt: skip
TOTAL_KEYS = {"runs", "successes", "failures", "success_rate", "fetched", "written", "requests",
              "mean_seconds"}  # fmt: skip


@dataclass(frozen=True)
class History:
    dsn: str
    ok: int  # job 2, success, started three days ago
    failed: int  # job 2, every request answered 500
    resumed: int  # job 2, success, continues ``failed``
    units: int  # job 11, failed: 3 refused parameter values, 3 missing (404)

    @property
    def env(self) -> dict[str, str]:
        """The environment of a command reading this history."""
        return {"DATABASE_URL": self.dsn}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def history(
    pg_server_dsn: str, template_db: str, sim: SimulatorServer
) -> AsyncIterator[History]:
    name = unique_name("h")
    dsn = await recreate_database(pg_server_dsn, name, template=template_db)
    async with loader(dsn, sim, http_max_attempts=2) as ts:
        [ok] = await ts.run_jobs([2])
        sim.configure(faults={"p_500": 1.0})
        [failed] = await ts.run_jobs([2])
        sim.configure(faults={"p_500": 0.0})
        [resumed] = await ts.run_jobs([2])
        await fetch(
            dsn,
            "INSERT INTO dim_studies_staging (data, source_instance_id) "
            "SELECT jsonb_build_object('id', v), 1 FROM unnest($1::text[]) AS v",
            HOSTILE,
        )
        [units] = await ts.run_jobs([11])
    assert (ok.status, failed.status, resumed.status, units.status) == (
        "success", "failed", "success", "failed",
    )  # fmt: skip
    assert resumed.continues_run_id == failed.run_id
    await fetch(
        dsn,
        "UPDATE dw_etl_runs SET started_at = started_at - interval '3 days', "
        "completed_at = completed_at - interval '3 days' WHERE run_id = $1",
        ok.run_id,
    )
    assert ok.run_id and failed.run_id and resumed.run_id and units.run_id
    yield History(dsn, ok.run_id, failed.run_id, resumed.run_id, units.run_id)
    await drop_database(pg_server_dsn, name)


async def cli_json(history: History, *args: str) -> Any:
    rc, out, err = await cli(*args, "--json", env=history.env)
    assert rc == 0, err
    return orjson.loads(out)


def header_words(out: str) -> list[str]:
    """The words of a table's header line (the line after its title)."""
    return out.splitlines()[1].split()


async def test_runs_lists_newest_first_with_the_summary_words(history: History) -> None:
    doc = await cli_json(history, "runs")
    assert list(doc) == ["runs"]
    runs = doc["runs"]
    assert [r["run_id"] for r in runs] == [history.units, history.resumed, history.failed,
                                           history.ok]  # fmt: skip
    assert all(set(r) == RUN_KEYS for r in runs)
    by_id = {r["run_id"]: r for r in runs}
    ok, failed, resumed = by_id[history.ok], by_id[history.failed], by_id[history.resumed]
    assert ok["status"] == "success" and ok["job_id"] == 2 and ok["job_name"]
    assert ok["fetched"] > 0 and ok["inserted"] == ok["fetched"] and ok["requests"] > 0
    assert ok["error"] is None and ok["seconds"] >= 0
    assert failed["status"] == "failed" and "500" in failed["error"]
    assert resumed["continues_run_id"] == history.failed
    assert resumed["pass_id"] == failed["pass_id"]
    assert resumed["planned_requests"] is not None  # job 2 had a success to estimate from
    assert by_id[history.units]["status"] == "failed"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--job", "2"], ["resumed", "failed", "ok"]),
        (["--job", "11"], ["units"]),
        (["--status", "failed"], ["units", "failed"]),
        (["--limit", "1"], ["units"]),
        (["--since", "24h"], ["units", "resumed", "failed"]),
        (["--since", "30m"], ["units", "resumed", "failed"]),
        (["--since", "7d"], ["units", "resumed", "failed", "ok"]),
        (["--job", "2", "--status", "success", "--since", "1d"], ["resumed"]),
    ],
)
async def test_runs_filters(history: History, args: list[str], expected: list[str]) -> None:
    doc = await cli_json(history, "runs", *args)
    assert [r["run_id"] for r in doc["runs"]] == [getattr(history, n) for n in expected]


async def test_runs_table_has_its_columns_and_truncates_errors(history: History) -> None:
    rc, out, err = await cli("runs", env=history.env)
    assert rc == 0, err
    assert out.splitlines()[0].startswith("the newest 4 runs")
    assert header_words(out) == [
        "run", "job", "name", "status", "started", "duration", "fetched", "inserted", "updated",
        "unchanged", "deleted", "requests", "planned", "error",
    ]  # fmt: skip
    [units] = await fetch(
        history.dsn, "SELECT error_message FROM dw_etl_runs WHERE run_id = $1", history.units
    )
    assert len(units["error_message"]) > 60 and units["error_message"] not in out
    assert units["error_message"][:40] in out and "…" in out


@pytest.mark.parametrize("span", ["3x", "24", "h", "0h", "1.5h", "7 days"])
async def test_a_bad_since_is_a_usage_error(history: History, span: str) -> None:
    rc, _out, err = await cli("runs", "--since", span, env=history.env)
    assert rc == 2
    assert f"argument --since: {span!r} is not a time span" in err
    assert "30m, 24h, 7d" in err and "Traceback" not in err


async def test_runs_show_a_run_with_failed_units(history: History) -> None:
    doc = await cli_json(history, "runs", "show", str(history.units))
    assert list(doc) == ["run"]
    run = doc["run"]
    assert set(run) == DETAIL_KEYS
    assert run["run_id"] == history.units and run["status"] == "failed"
    assert run["units_failed"] == 3 and run["units_missing"] == 3
    assert run["unit_failures_total"] == 6 and len(run["unit_failures"]) == 5
    assert all(set(f["parameters"]) == {"studyId"} for f in run["unit_failures"])
    assert {f["parameters"]["studyId"] for f in run["unit_failures"]} <= set(HOSTILE)
    fanout = run["fanout"]
    assert fanout["mode"] == "changed" and fanout["new"] == fanout["parents"] > 0
    assert run["planned_parents"] == fanout["new"]
    assert run["units_total"] == fanout["parents"]
    assert run["continues"] == [] and run["continued_by"] == []
    assert run["written"] == run["inserted"] + run["updated"]
    assert set(run["pressure"]) == {"rate", "ceiling", "decreases", "throttled", "in_flight_limit"}

    rc, out, err = await cli("runs", "show", str(history.units), env=history.env)
    assert rc == 0, err
    assert out.startswith(f"run {history.units}: job 11 ")
    assert "  pressure   rate " in out and "in flight" in out
    assert "fan-out" in out and "failed units (6, first 5)" in out and "studyId=.." in out
    assert "records and requests" in out and "resume chain" not in out


async def test_runs_show_the_resume_chain(history: History) -> None:
    failed = (await cli_json(history, "runs", "show", str(history.failed)))["run"]
    resumed = (await cli_json(history, "runs", "show", str(history.resumed)))["run"]
    assert [c["run_id"] for c in failed["continued_by"]] == [history.resumed]
    assert failed["continues"] == []
    assert [c["run_id"] for c in resumed["continues"]] == [history.failed]
    assert resumed["continues"][0]["status"] == "failed"
    assert "500" in resumed["continues"][0]["error"]
    assert set(resumed["continues"][0]) == {"run_id", "status", "started_at", "completed_at",
                                            "seconds", "fetched", "requests", "error"}  # fmt: skip
    rc, out, err = await cli("runs", "--json", "show", str(history.resumed), env=history.env)
    assert rc == 0 and orjson.loads(out)["run"]["run_id"] == history.resumed  # --json before
    rc, out, err = await cli("runs", "show", str(history.resumed), env=history.env)
    assert rc == 0, err
    assert "resume chain" in out and "continued" in out and f"continues run {history.failed}" in out


@pytest.mark.parametrize(
    ("args", "rc", "message"),
    [
        (["runs", "show", "99999"], 1, "error: Unknown run id 99999: see `trialsync-async runs`"),
        (["failures", "--run", "99999"], 1, "error: Unknown run id 99999"),
        (["runs", "show", "abc"], 2, "invalid int value: 'abc'"),
        (["runs", "--status", "done"], 2, "invalid choice: 'done'"),
        (["runs", "--limit", "0"], 2, "--limit: 0 is out of range"),
        (["failures", "--run", "1", "--job", "2"], 2, "not allowed with argument"),
        (["stats", "--days", "0"], 2, "--days: 0 is out of range"),
    ],
)
async def test_bad_requests_get_one_clear_line(
    history: History, args: list[str], rc: int, message: str
) -> None:
    code, out, err = await cli(*args, env=history.env)
    assert code == rc
    assert message in err and "Traceback" not in err
    if rc == 1:
        assert err.strip() == err.strip().splitlines()[0]  # one line
        assert out == ""


async def test_failures(history: History) -> None:
    doc = await cli_json(history, "failures")
    assert set(doc) == {"failures", "failed_units", "failed_units_total"}
    assert [f["run_id"] for f in doc["failures"]] == [history.units, history.failed]
    units, failed = doc["failures"]
    assert set(units) == RUN_KEYS | {"units_failed", "units_missing", "unit_failures",
                                     "unit_failures_total"}  # fmt: skip
    assert units["unit_failures_total"] == 6 and units["units_failed"] == 3
    assert failed["unit_failures"] == [] and "500" in failed["error"]
    # the units still failed: the three refused values, which the next run retries
    assert doc["failed_units_total"] == 3
    still = doc["failed_units"]
    assert {u["parameters"]["studyId"] for u in still} == {"..", ".", ""}
    assert all(u["job_id"] == 11 and u["run_id"] == history.units for u in still)
    assert all("refused parameter value" in u["error"] for u in still)

    only = await cli_json(history, "failures", "--job", "11")
    assert [f["run_id"] for f in only["failures"]] == [history.units]
    assert only["failed_units_total"] == 3
    of_job_2 = await cli_json(history, "failures", "--job", "2")
    assert [f["run_id"] for f in of_job_2["failures"]] == [history.failed]
    assert of_job_2["failed_units"] == [] and of_job_2["failed_units_total"] == 0
    one = await cli_json(history, "failures", "--run", str(history.units), "--limit", "2")
    assert [f["run_id"] for f in one["failures"]] == [history.units]
    assert len(one["failed_units"]) == 2 and one["failed_units_total"] == 3
    clean = await cli_json(history, "failures", "--run", str(history.ok))
    assert clean == {"failures": [], "failed_units": [], "failed_units_total": 0}

    rc, out, err = await cli("failures", env=history.env)
    assert rc == 0, err
    assert out.startswith("2 failed runs")
    assert header_words(out) == ["run", "job", "name", "status", "started", "failed", "missing",
                                 "error"]  # fmt: skip
    assert f"run {history.units}: units (6, first 5)" in out
    assert "units still failed: the next run retries them (3)" in out


async def test_stats(history: History) -> None:
    doc = await cli_json(history, "stats")
    assert set(doc) == {"days", "jobs", "total"} and doc["days"] == 7
    assert [j["job_id"] for j in doc["jobs"]] == [2, 11]
    assert all(set(j) == TOTAL_KEYS | {"job_id", "job_name"} for j in doc["jobs"])
    assert set(doc["total"]) == TOTAL_KEYS
    studies, visits = doc["jobs"]
    assert (studies["runs"], studies["successes"], studies["failures"]) == (3, 2, 1)
    assert studies["success_rate"] == 66.7 and visits["success_rate"] == 0.0
    total = doc["total"]
    assert (total["runs"], total["successes"], total["failures"], total["success_rate"]) == (
        4, 2, 2, 50.0,
    )  # fmt: skip
    runs = (await cli_json(history, "runs"))["runs"]
    for key in ("fetched", "requests"):
        assert total[key] == sum(r[key] for r in runs)
    assert total["written"] == sum(r["inserted"] + r["updated"] for r in runs)
    assert studies["mean_seconds"] > 0

    recent = await cli_json(history, "stats", "--days", "1")
    assert recent["days"] == 1 and recent["jobs"][0]["runs"] == 2  # the first run is 3 days old

    rc, out, err = await cli("stats", env=history.env)
    assert rc == 0, err
    assert out.startswith("runs started in the last 7 days")
    assert out.splitlines()[1].split() == ["job", "name", "runs", "successes", "failures",
                                           "success", "rate", "fetched", "written", "requests",
                                           "mean", "duration"]  # fmt: skip
    assert out.splitlines()[-1].split()[:5] == ["total", "4", "2", "2", "50.0%"]
