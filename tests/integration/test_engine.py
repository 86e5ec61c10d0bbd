"""The loader end to end: real PostgreSQL, the simulator over real sockets."""

from __future__ import annotations

import aiohttp
import pytest

from ccsim import SimulatorServer
from tests.engine_support import fetch, loader, staged
from tests.sim_support import items_of, sim_fixture, sim_options
from trialsync_async.errors import InactiveJobError, UnknownJobError

pytestmark = pytest.mark.integration

PATIENTS = "/api/v1/patients/odata"


sim = sim_fixture(scope="function")  # every test gets a simulator of its own


async def test_plain_job_matches_truth_and_rerun_changes_nothing(db_dsn: str, sim) -> None:
    truth = sim.truth(PATIENTS)
    async with loader(db_dsn, sim) as ts:
        [first] = await ts.run_jobs([3])
        [second] = await ts.run_jobs([3])
    assert first.ok, first.error
    assert (first.progress.inserted, first.progress.updated) == (truth["count"], 0)
    assert staged_ok(await staged(db_dsn, "dim_patients_staging"), truth)
    assert second.ok
    assert (second.progress.inserted, second.progress.updated) == (0, 0)
    assert second.progress.unchanged == truth["count"]
    runs = await fetch(
        db_dsn,
        "SELECT run_status, records_loaded, records_inserted, records_unchanged, credential_id "
        "FROM dw_etl_runs WHERE job_id = 3 ORDER BY run_id",
    )
    assert [tuple(r) for r in runs] == [
        ("success", truth["count"], truth["count"], 0, 1),
        ("success", 0, 0, truth["count"], 1),
    ]
    [job] = await fetch(
        db_dsn, "SELECT last_run_status, last_run_records FROM dw_etl_jobs WHERE id=3"
    )
    assert tuple(job) == ("success", 0)


def staged_ok(staged_row: tuple[int, int, int], truth: dict) -> bool:
    rows, id_sum, distinct = staged_row
    return rows == distinct == truth["count"] and id_sum == truth["id_sum"]


@pytest.mark.parametrize("shape", ["envelope", "pageresult", "array"])
async def test_every_response_shape_and_small_pages(db_dsn: str, shape: str) -> None:
    options = sim_options(shape_overrides={"odata": shape})
    async with SimulatorServer(options) as sim, loader(db_dsn, sim) as ts:
        [result] = await ts.run_jobs([9], page_size=37, batch_rows=100)
        truth = sim.truth("/api/v1/patient-visits/odata")
    assert result.ok, result.error
    assert staged_ok(await staged(db_dsn, "dim_patient_visits_staging"), truth)


async def test_parameterized_nested_and_keyless_jobs_match_truth(db_dsn: str, sim) -> None:
    async with loader(db_dsn, sim) as ts:
        results = await ts.run_jobs([2, 10, 11, 175, 145, 127, 141, 133, 160])
        again = await ts.run_jobs([175, 145, 127, 141, 133])
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    truths = {
        10: sim.truth("/api/v1/studies/{studyId}/subjects/odata"),
        11: sim.truth("/api/v1/studies/{studyId}/visits/odata"),
        141: sim.truth("/api/v1/studies/{studyId}/arms"),
        160: sim.truth("/api/v1/studies/{studyId}/subjects/{subjectId}/patient-visits"),
    }
    assert staged_ok(await staged(db_dsn, "dim_subjects_staging"), truths[10])
    assert staged_ok(await staged(db_dsn, "dim_visits_staging"), truths[11])
    assert staged_ok(await staged(db_dsn, "dim_study_arms_staging", "Id"), truths[141])
    assert staged_ok(await staged(db_dsn, "dim_patient_visits_staging"), truths[160])
    keyless = {
        "dim_visit_element_relationships_staging": (
            "/api/v1/studies/{studyId}/visits/{visitId}/elements/odata"
        ),
        "dim_study_warnings_staging": "/api/v1/studies/{studyId}/warnings",
        "dim_subject_statuses_staging": "/api/v1/subject-statuses/odata",
        "dim_system_lookup_lists_staging": "/api/v1/system/lookup-lists",
    }
    for table, template in keyless.items():
        rows, _, _ = await staged(db_dsn, table)
        assert rows == sim.truth(template)["count"], table
    assert all(r.ok for r in again)
    assert all(r.progress.written == 0 and r.progress.deleted == 0 for r in again)


async def test_faults_of_every_kind_still_load_exactly(db_dsn: str) -> None:
    faults = {
        "p_500": 0.05, "p_503": 0.05, "p_429": 0.05, "p_reset": 0.05,
        "p_truncated": 0.05, "p_html": 0.05, "p_hang": 0.02, "hang_seconds": 5.0,
    }  # fmt: skip
    options = sim_options(faults=faults)
    async with SimulatorServer(options) as sim, loader(db_dsn, sim) as ts:
        results = await ts.run_jobs([3, 10, 2], page_size=10, concurrency=8)
        stats = sim.stats()
        truths = (sim.truth(PATIENTS), sim.truth("/api/v1/studies/{studyId}/subjects/odata"))
    assert all(r.ok for r in results), [r.error for r in results]
    assert sum(stats["faults"].values()) > 10, stats["faults"]
    # honest counters: every HTTP attempt the server saw is counted, retries among them
    assert sum(r.progress.requests for r in results) == stats["requests"]
    ok_answers = stats["by_status"].get("200", 0)
    assert sum(r.progress.retries for r in results) == stats["requests"] - ok_answers
    made = await fetch(db_dsn, "SELECT sum(requests_made) AS n, sum(requests_retried) AS r "
                       "FROM dw_etl_runs")  # fmt: skip
    assert (made[0]["n"], made[0]["r"]) == (stats["requests"], stats["requests"] - ok_answers)
    assert staged_ok(await staged(db_dsn, "dim_patients_staging"), truths[0])
    assert staged_ok(await staged(db_dsn, "dim_subjects_staging"), truths[1])


async def test_missing_endpoint_fails_with_a_clear_error(db_dsn: str, sim) -> None:
    async with loader(db_dsn, sim) as ts:
        with pytest.raises(InactiveJobError, match=r"Job 4 .* disabled"):
            await ts.run_jobs([4])
        with pytest.raises(UnknownJobError):
            await ts.run_jobs([4242])
        await fetch(db_dsn, "UPDATE dw_etl_jobs SET is_active = true WHERE id IN (4, 30)")
        results = await ts.run_jobs([4, 30])
    assert [r.status for r in results] == ["failed", "failed"]
    assert results[0].error is not None and results[1].error is not None
    assert "HTTP 404 for endpoint /api/v1/users/odata" in results[0].error
    assert "HTTP 501" in results[1].error
    [run] = await fetch(db_dsn, "SELECT error_message FROM dw_etl_runs WHERE job_id = 4")
    assert "/api/v1/users/odata" in run["error_message"]


async def test_wrong_key_fails_the_run_at_once(db_dsn: str, sim) -> None:
    async with loader(db_dsn, sim) as ts:
        await ts.set_instance(1, api_key="wrong-key")
        [result] = await ts.run_jobs([3])
    assert result.status == "failed" and result.error is not None
    assert "check the API key of instance 1" in result.error
    assert "wrong-key" not in result.error
    assert result.progress.requests == 1


async def test_one_failing_parent_fails_the_run_but_not_the_others(db_dsn: str, sim) -> None:
    async with loader(db_dsn, sim) as ts:
        [studies] = await ts.run_jobs([2])
        [row] = await fetch(
            db_dsn, "SELECT data->>'id' AS id FROM dim_studies_staging ORDER BY id LIMIT 1"
        )
        bad = row["id"]
        template = "/api/v1/studies/{studyId}/visits/odata"
        children = await _count_children(sim, f"/api/v1/studies/{bad}/visits/odata")
        sim.configure(fail_parents={template: {bad}})
        [result] = await ts.run_jobs([11])
    assert studies.ok and result.status == "failed" and result.error is not None
    assert result.error.startswith(f"1 of {studies.progress.inserted} units failed")
    assert f"studyId={bad}" in result.error
    failures = await fetch(
        db_dsn,
        "SELECT f.parameters, f.error_message FROM dw_etl_run_failures f "
        "JOIN dw_etl_runs r USING (run_id) WHERE r.job_id = 11",
    )
    assert [f["parameters"] for f in failures] == [{"studyId": bad}]
    expected = sim.truth(template)["count"]
    rows, _, _ = await staged(db_dsn, "dim_visits_staging")
    others = await fetch(
        db_dsn, "SELECT count(*) AS n FROM dim_visits_staging WHERE data->'study'->>'id' = $1", bad
    )
    assert others[0]["n"] == 0
    assert rows == expected - children


async def _count_children(sim: SimulatorServer, path: str) -> int:
    async with aiohttp.ClientSession(headers=sim.auth_header) as http:
        async with http.get(sim.url(path), params={"$top": "1000"}) as resp:
            body = await resp.json()
    return len(items_of(body))


async def test_a_parent_gone_upstream_is_recorded_but_does_not_fail(db_dsn: str, sim) -> None:
    async with loader(db_dsn, sim) as ts:
        await ts.run_jobs([2])
        await fetch(
            db_dsn,
            "INSERT INTO dim_studies_staging (data, source_instance_id) VALUES "
            """('{"id": 1}'::jsonb, 1)""",
        )
        [result] = await ts.run_jobs([10])
        truth = sim.truth("/api/v1/studies/{studyId}/subjects/odata")
    assert result.ok, result.error
    assert result.progress.units_missing == 1
    assert staged_ok(await staged(db_dsn, "dim_subjects_staging"), truth)
    [failure] = await fetch(
        db_dsn,
        "SELECT parameters, error_message FROM dw_etl_run_failures WHERE run_id = $1",
        result.run_id,
    )
    assert failure["parameters"] == {"studyId": "1"}
    assert failure["error_message"].startswith("missing: HTTP 404")


async def test_a_dead_parameterized_endpoint_fails_fast(db_dsn: str, sim) -> None:
    async with loader(db_dsn, sim) as ts:
        await ts.run_jobs([2])
        await fetch(
            db_dsn, "UPDATE dw_etl_jobs SET is_active = true WHERE id = 14"
        )  # /studies/{studyId}/screenings/odata: a 404
        [result] = await ts.run_jobs([14], concurrency=2)
    assert result.status == "failed" and result.error is not None
    assert "HTTP 404 for endpoint /api/v1/studies/{studyId}/screenings/odata" in result.error
    assert result.progress.requests < 31  # gave up before calling every study
