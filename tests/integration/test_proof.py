"""Proof before every delete, skip and success: an answer that is short, empty or malformed
never removes data (a real PostgreSQL and the simulator's answer transforms over real sockets).

Each case loads a job cleanly, then damages one answer (mid-list, or the first page of a
range) and runs it again: the live rows stay equal to the simulator's truth, nothing is marked
or deleted, and the run is not a clean success (it fails, or carries a warning). A clean run
afterwards is exact and clean again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from ccsim import SimulatorServer
from tests.cli_support import cli, start_cli
from tests.engine_support import fetch, loader
from tests.sim_support import sim_fixture, sim_options
from trialsync_async.app import TrialSync
from trialsync_async.db.connect import connect
from trialsync_async.engine.result import JobResult
from trialsync_async.identifiers import quote_ident

pytestmark = pytest.mark.integration

SCALE = 0.1  # 153 patients, 861 appointments, 120 subject statuses, 157 studies

sim = sim_fixture(scale=SCALE)


@dataclass(frozen=True)
class Plain:
    job_id: int
    template: str
    table: str
    page_size: int
    keyless: bool = False
    counts: bool = True  # its answers carry a count (PageResultOf…); a bare array does not


# keyset in 2 ranges; a bare array (the swagger's shape for patients): no count to go by
PATIENTS = Plain(3, "/api/v1/patients/odata", "dim_patients_staging", 20, counts=False)
APPOINTMENTS = Plain(25, "/api/v1/appointments/odata", "dim_appointments_staging", 100)
STATUSES = Plain(127, "/api/v1/subject-statuses/odata", "dim_subject_statuses_staging", 20, True)


@dataclass(frozen=True)
class Case:
    kind: str
    expect: str  # "failed", or "warned": success with a warning
    message: str  # in the error or a warning
    same_page: bool = True
    keyed_only: bool = False  # id transforms: a keyless record's content is its identity
    extra: tuple[tuple[str, Any], ...] = ()


CASES = [
    Case("empty_page", "failed", "the API reported"),  # (a bare array: "more than N")
    Case("short_page", "warned", "paged on at that size"),
    Case("count_low", "warned", "count was below the records", same_page=False),
    Case("count_high", "failed", "the API reported", same_page=False),
    Case("null_list", "failed", "malformed response"),  # "… is null, not a list"
    Case("missing_list", "failed", "malformed response"),
    Case("duplicate_id", "warned", "deletions skipped", keyed_only=True),
    Case("id_as_string", "warned", "ids came as numbers", keyed_only=True),
    Case("null_id", "failed", "cannot be stored", keyed_only=True),
    Case("missing_id", "failed", "cannot be stored", keyed_only=True),
    Case("deep_record", "failed", "cannot be stored", extra=(("depth", 300),)),
    Case("deep_record", "failed", "past the 1024", extra=(("depth", 10_000),)),
]


async def live(db_dsn: str, table: str) -> tuple[list[str], int]:
    """Live rows of instance 1 (their ids, or canonical data for keyless ones) and how many
    rows are marked deleted."""
    rows = await fetch(
        db_dsn,
        f"SELECT data, deleted_at IS NOT NULL AS marked FROM {quote_ident(table)} "
        "WHERE source_instance_id = 1",
    )
    alive = [r["data"] for r in rows if not r["marked"]]
    keys = [str(d["id"]) if "id" in d else _canonical(d) for d in alive]
    return sorted(keys), sum(r["marked"] for r in rows)


def _canonical(record: Any) -> str:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS).decode()


def truth(server: SimulatorServer, job: Plain) -> list[str]:
    records = server.records(job.template)
    return sorted(str(r["id"]) if "id" in r and not job.keyless else _canonical(r) for r in records)


async def run(ts: TrialSync, job: Plain, **options: Any) -> JobResult:
    [result] = await ts.run_jobs([job.job_id], page_size=job.page_size, concurrency=1, **options)
    return result


def warnings_of(result: JobResult) -> list[str]:
    return list(result.progress.notes.get("warnings", []))


@pytest.mark.parametrize("job", [PATIENTS, APPOINTMENTS, STATUSES], ids=lambda j: f"job{j.job_id}")
@pytest.mark.parametrize("after", [2, 0], ids=["mid-list", "first-page"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.kind + "".join(f"-{v}" for _, v in c.extra))
async def test_a_bad_answer_never_removes_data_and_is_never_a_clean_success(
    db_dsn: str, sim: SimulatorServer, job: Plain, after: int, case: Case
) -> None:
    if case.keyed_only and job.keyless:
        pytest.skip("a keyless record's content is its identity: a changed id is an update")
    if after == 0 and case.kind in ("count_low", "count_high", "deep_record"):
        pytest.skip("every page, or a record: the first page adds nothing")
    if not job.counts and case.kind in ("count_low", "count_high"):
        pytest.skip("its answers carry no count to lie with")
    expected = truth(sim, job)
    async with loader(db_dsn, sim) as ts:
        sim.configure(transforms=[])
        clean = await run(ts, job)
        assert clean.ok and not warnings_of(clean), (clean.error, warnings_of(clean))
        assert await live(db_dsn, job.table) == (expected, 0)
        transform = {"kind": case.kind, "template": job.template, "after": after,
                     "same_page": case.same_page, **dict(case.extra)}  # fmt: skip
        sim.configure(transforms=[transform])
        try:
            bad = await run(ts, job)
        finally:
            sim.configure(transforms=[])
        fired = sim.stats()["transforms"]
        assert fired.get(case.kind), f"the transform never fired: {fired}"
        said = (bad.error or "") + " | ".join(warnings_of(bad))
        if case.expect == "failed":
            assert bad.status == "failed", (bad.status, said)
        else:
            assert bad.ok and warnings_of(bad), said
        assert case.message in said, said
        assert bad.progress.deleted == 0
        assert await live(db_dsn, job.table) == (expected, 0), said
        again = await run(ts, job)
    assert again.ok and not warnings_of(again), (again.error, warnings_of(again))
    assert await live(db_dsn, job.table) == (expected, 0)


async def test_an_empty_page_that_heals_on_the_retry_is_a_clean_exact_run(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        assert (await run(ts, PATIENTS)).ok
        sim.configure(transforms=[{"kind": "empty_page", "template": PATIENTS.template,
                                   "after": 2, "times": 1}])  # fmt: skip
        try:
            healed = await run(ts, PATIENTS)
        finally:
            sim.configure(transforms=[])
    assert healed.ok and not warnings_of(healed)
    assert healed.progress.notes["answers_retried"] == 1
    assert await live(db_dsn, PATIENTS.table) == (truth(sim, PATIENTS), 0)


async def test_a_record_nested_too_deep_fails_its_unit_without_retries(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        sim.configure(transforms=[{"kind": "deep_record", "template": PATIENTS.template,
                                   "after": 1, "depth": 10_000}])  # fmt: skip
        sim.reset_stats()
        try:
            result = await run(ts, PATIENTS)
        finally:
            sim.configure(transforms=[])
    assert result.status == "failed"
    assert result.error is not None and "after id" in result.error and "nested" in result.error
    assert sim.stats()["transforms"]["deep_record"] == 1  # asked once: no retry fixes it
    assert result.progress.units_failed == 1  # one range; the other went on
    assert result.progress.units_done == result.progress.units_total


async def test_a_slow_body_within_the_timeout_is_read_whole(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        sim.configure(transforms=[{"kind": "slow_drip", "template": PATIENTS.template,
                                   "after": 1, "seconds": 0.5, "chunk": 256}])  # fmt: skip
        try:
            result = await run(ts, PATIENTS)
        finally:
            sim.configure(transforms=[])
    assert result.ok and not warnings_of(result)
    assert await live(db_dsn, PATIENTS.table) == (truth(sim, PATIENTS), 0)


async def test_a_list_answer_that_is_not_a_list_fails_only_its_parent(
    db_dsn: str, sim: SimulatorServer
) -> None:
    template = "/api/v1/studies/{studyId}/personnel"  # job 144: keyless, a bare array
    async with loader(db_dsn, sim) as ts:
        await ts.run_jobs([2])
        [clean] = await ts.run_jobs([144])
        assert clean.ok
        [row] = await fetch(
            db_dsn,
            "SELECT scope_key, count(*) AS n FROM "
            "dim_study_personnel_staging GROUP BY 1 ORDER BY 2 DESC LIMIT 1",
        )
        study = row["scope_key"].split("=")[1]
        sim.configure(transforms=[{"kind": "null_list", "template": template, "parent": study}])
        try:
            [bad] = await ts.run_jobs([144], full=True)
        finally:
            sim.configure(transforms=[])
    assert bad.status == "failed" and bad.progress.units_failed == 1
    assert "malformed response" in (bad.error or "")
    [after] = await fetch(db_dsn, "SELECT count(*) AS n FROM dim_study_personnel_staging "
                          "WHERE scope_key = $1", row["scope_key"])  # fmt: skip
    assert after["n"] == row["n"]  # its rows stay; no envelope became a record


# --- the mass-deletion guard -----------------------------------------------------------------


@pytest.mark.parametrize("job", [PATIENTS, STATUSES], ids=lambda j: f"job{j.job_id}")
async def test_a_real_mass_deletion_is_refused_until_confirmed(db_dsn: str, job: Plain) -> None:
    async with SimulatorServer(sim_options(scale=SCALE)) as server, loader(db_dsn, server) as ts:
        assert (await run(ts, job)).ok
        before = await live(db_dsn, job.table)
        n = len(before[0])
        gone = server.mutate(job.template, delete=int(n * 0.7))
        assert gone
        refused = await run(ts, job)
        assert refused.status == "failed", refused.error
        verb = "delete" if job.keyless else "mark"
        assert f"refused to {verb} " in (refused.error or "")
        assert "(70% > 10%)" in (refused.error or "") or "% > 10%)" in (refused.error or "")
        assert f"--job {job.job_id} --allow-deletes" in (refused.error or "")
        assert await live(db_dsn, job.table) == before  # nothing removed
        confirmed = await run(ts, job, allow_deletes=True)
        assert confirmed.ok, confirmed.error
        left = truth(server, job)
        marked = 0 if job.keyless else n - len(left)  # keyless rows are deleted, not marked
        assert await live(db_dsn, job.table) == (left, marked)


async def test_the_share_is_a_job_setting(db_dsn: str) -> None:
    async with SimulatorServer(sim_options(scale=SCALE)) as server, loader(db_dsn, server) as ts:
        assert (await run(ts, PATIENTS)).ok
        server.mutate(PATIENTS.template, delete=40)  # 26%
        assert (await run(ts, PATIENTS)).status == "failed"
        await ts.set_job(PATIENTS.job_id, values={"max_deletes": "30%"}, reason="cleanup")
        result = await run(ts, PATIENTS)
    assert result.ok and result.progress.deleted == 40


# --- state checked against staging ------------------------------------------------------------


async def test_a_truncated_fanout_table_is_refilled_by_the_next_plain_run(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        await ts.run_jobs([2])
        [first] = await ts.run_jobs([10])
        assert first.ok
        await fetch(db_dsn, "TRUNCATE dim_subjects_staging")
        plans = await ts.plan([10])
        [again] = await ts.run_jobs([10])
    truth_rows = sim.truth("/api/v1/studies/{studyId}/subjects/odata")
    [staged] = await fetch(db_dsn, "SELECT count(*) AS n, sum((data->>'id')::bigint) AS s "
                           "FROM dim_subjects_staging")  # fmt: skip
    assert (staged["n"], staged["s"]) == (truth_rows["count"], truth_rows["id_sum"])
    lost = again.progress.notes["fanout"]["lost"]
    assert lost > 0 and plans[0].reasons["lost"] == lost  # plan said so before the run
    assert again.ok and again.progress.inserted == truth_rows["count"]


async def test_a_plain_incremental_job_that_lost_its_rows_runs_a_full_pass(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        [first] = await ts.run_jobs([2])
        assert first.ok
        [incremental] = await ts.run_jobs([2])
        assert incremental.progress.notes["incremental"]["mode"] == "incremental"
        await fetch(db_dsn, "DELETE FROM dim_studies_staging WHERE id % 3 <> 0")
        [again] = await ts.run_jobs([2])
    assert again.progress.notes["incremental"]["reason"] == "lost"
    t = sim.truth("/api/v1/studies/odata")
    [staged] = await fetch(db_dsn, "SELECT count(*) AS n FROM dim_studies_staging")
    assert staged["n"] == t["count"]


# --- a pass keeps its mode ----------------------------------------------------------------


async def test_an_interrupted_full_pass_continues_full_and_plan_says_so(db_dsn: str) -> None:
    template = "/api/v1/studies/{studyId}/subjects/odata"
    async with SimulatorServer(sim_options(scale=SCALE)) as server, loader(db_dsn, server) as ts:
        await ts.run_jobs([2])
        assert (await ts.run_jobs([10]))[0].ok
        studies = [str(r["id"]) for r in server.records("/api/v1/studies/odata")]
        server.configure(fail_parents={template: studies[:5]})
        [broken] = await ts.run_jobs([10], full=True)
        assert broken.status == "failed" and broken.progress.units_failed == 5
        server.configure(fail_parents={})
        [plan] = await ts.plan([10])
        [continued] = await ts.run_jobs([10])  # no --full: the pass it continues was full
    assert continued.ok and continued.continues_run_id == broken.run_id
    fanout = continued.progress.notes["fanout"]
    assert fanout["mode"] == "full" and continued.progress.notes.get("full") is True
    assert fanout["full"] + fanout["failed"] == 5 and fanout["fresh"] == 0
    assert plan.fetched == 5 and plan.reasons.get("fresh", 0) == 0


async def test_retry_failed_skips_units_a_later_run_fetched(db_dsn: str) -> None:
    template = "/api/v1/studies/{studyId}/subjects/odata"
    async with SimulatorServer(sim_options(scale=SCALE)) as server, loader(db_dsn, server) as ts:
        await ts.run_jobs([2])
        studies = [str(r["id"]) for r in server.records("/api/v1/studies/odata")]
        server.configure(fail_parents={template: studies[:4]})
        [broken] = await ts.run_jobs([10])
        server.configure(fail_parents={})
        assert broken.progress.units_failed == 4
        [later] = await ts.run_jobs([10])  # continues the pass: fetches the 4
        assert later.ok and broken.run_id is not None
        assert await ts.still_failed_of(broken.run_id) == []
        server.reset_stats()
        [retry] = await ts.run_jobs([10], retry_of=broken.run_id)
    assert retry.ok and retry.progress.requests == 0


# --- no exception escapes a run -------------------------------------------------------------


async def _planted(stage: str, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return await cli(
        *args, env={"PLANT_STAGE": stage, **env},
        python=["-c", "from tests.plant_support import main; main()"],
    )  # fmt: skip


@pytest.mark.parametrize("stage", ["plan", "fetch", "parse", "write", "settle", "finish"])
async def test_an_unexpected_exception_in_any_stage_ends_the_run_failed_with_its_message(
    db_dsn: str, sim: SimulatorServer, stage: str
) -> None:
    async with loader(db_dsn, sim):
        pass  # instance 1 points at the simulator
    env = {"DATABASE_URL": db_dsn}
    rc, out, err = await _planted(stage, env, "--job", "3")
    assert rc == 1, (out, err)
    for line in err.splitlines():  # logs are JSON lines; a traceback only inside one of them
        assert line.startswith("{") or line.startswith("error:"), line
    [row] = await fetch(db_dsn, "SELECT run_status, error_message FROM dw_etl_runs "
                        "WHERE job_id = 3 ORDER BY run_id DESC LIMIT 1")  # fmt: skip
    assert row["run_status"] == "failed"
    assert f"Planted: planted in {stage}" in row["error_message"]
    assert f"planted in {stage}" in out  # the summary's error column
    events = [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(e.get("level") == "error" and "exception" in e for e in events)


# --- timeouts --------------------------------------------------------------------------------


async def test_a_lock_held_elsewhere_is_shown_and_ends_as_a_clear_failure(
    db_dsn: str, sim: SimulatorServer
) -> None:
    phases: list[str | None] = []
    async with loader(db_dsn, sim, db_lock_timeout=3, progress_seconds=0.3) as ts:
        holder = await connect(db_dsn)
        try:
            async with holder.transaction():
                await holder.execute("LOCK TABLE dim_patients_staging IN ACCESS EXCLUSIVE MODE")
                [result] = await ts.run_jobs(
                    [3], on_progress=lambda run: phases.append(run.ctx.phase)
                )
        finally:
            await holder.close()
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("waited 3 s for a lock on dim_patients_staging while writing")
    assert "waiting for a lock on dim_patients_staging" in phases
    [row] = await fetch(db_dsn, "SELECT run_status, error_message FROM dw_etl_runs "
                        "WHERE run_id = $1", result.run_id)  # fmt: skip
    assert row["run_status"] == "failed" and "lock on dim_patients_staging" in row["error_message"]


async def test_api_text_reaches_a_terminal_without_its_control_bytes(
    db_dsn: str, sim: SimulatorServer
) -> None:
    from trialsync_async.text import printable

    evil = "bad \x1b[31mred\x1b[0m\x07 text"
    assert printable(evil) == "bad \\x1b[31mred\\x1b[0m\\x07 text"
    async with loader(db_dsn, sim):
        pass
    await fetch(db_dsn, "INSERT INTO dw_etl_runs (job_id, run_status, started_at, completed_at, "
                "error_message) VALUES (3, 'failed', now(), now(), $1)", evil)  # fmt: skip
    env = {"DATABASE_URL": db_dsn}
    for args in (["runs"], ["failures"], ["runs", "show", "1"]):
        proc = await start_cli(*args, env=env)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err
        assert b"\x1b" not in out and b"\x07" not in out and b"\\x1b[31mred" in out, out
    proc = await start_cli("runs", "--json", env=env)
    out, _ = await proc.communicate()
    [run] = orjson.loads(out)["runs"]
    assert run["error"] == evil  # JSON keeps the text exact


async def test_a_dot_segment_written_into_an_endpoint_is_a_clear_error(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim):
        pass
    await fetch(db_dsn, "UPDATE dw_etl_jobs SET source_endpoint = '/api/v1/../patients/odata' "
                "WHERE id = 3")  # fmt: skip
    rc, _, err = await _planted("none", {"DATABASE_URL": db_dsn}, "--job", "3")
    assert rc == 1
    assert err.strip().splitlines()[-1] == (
        "error: Invalid configuration: job 3 (Patients): source_endpoint "
        "'/api/v1/../patients/odata' has a '.' or '..' segment"
    )
