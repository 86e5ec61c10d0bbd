"""Many jobs: the shared rate limit, the dependency order, skipping, bounded memory."""

from __future__ import annotations

from typing import Any

import pytest

from ccsim import SimulatorServer
from tests.engine_support import fetch, loader, staged
from tests.sim_support import sim_fixture, sim_options
from trialsync_async.engine.stages import PAGE_QUEUE_PAGES

pytestmark = pytest.mark.integration

sim = sim_fixture(scope="function")  # every test gets a simulator of its own


async def test_rate_limit_is_never_exceeded_across_jobs(db_dsn: str, sim) -> None:
    rate = 40
    async with loader(db_dsn, sim, rate_limit=rate, parallel_jobs=6) as ts:
        await ts.run_jobs([2, 3])
        sim.configure(rate_limit_rps=rate)  # the server answers 429 beyond the limit
        sim.reset_stats()
        results = await ts.run_jobs([10, 11, 13, 147, 148, 152])
        stats = sim.stats()
    assert all(r.ok for r in results), [r.error for r in results]
    assert stats["requests"] > 2 * rate  # long enough to span several seconds
    assert stats["max_per_second"] <= rate, stats["per_second"]
    assert stats["by_status"].get("429", 0) == 0


async def test_dependency_order_and_skipped_dependents(db_dsn: str, sim) -> None:
    async with loader(db_dsn, sim) as ts:
        ok = await ts.run_jobs([175, 11, 2])  # given in the wrong order on purpose
        assert [r.job_id for r in ok] == [2, 11, 175] and all(r.ok for r in ok)
        await fetch(
            db_dsn, "UPDATE dw_etl_jobs SET source_endpoint='/api/v1/nope/odata' WHERE id=2"
        )
        results = await ts.run_jobs([175, 11, 2, 3])
    by_id = {r.job_id: r for r in results}
    assert by_id[2].status == "failed" and by_id[3].ok
    assert by_id[11].status == "skipped" and by_id[11].error is not None
    assert "upstream job 2 (Studies) failed" in by_id[11].error
    assert by_id[175].status == "skipped" and by_id[175].error is not None
    assert "upstream job 11 (Visits) skipped" in by_id[175].error
    order = await fetch(
        db_dsn,
        "SELECT job_id, started_at, completed_at FROM dw_etl_runs WHERE run_id IN "
        "(SELECT min(run_id) FROM dw_etl_runs GROUP BY job_id) ORDER BY job_id",
    )
    times = {r["job_id"]: r for r in order}
    assert times[11]["started_at"] >= times[2]["completed_at"]
    assert times[175]["started_at"] >= times[11]["completed_at"]
    skipped = await fetch(
        db_dsn, "SELECT run_status, error_message FROM dw_etl_runs WHERE job_id = 175 "
        "ORDER BY run_id DESC LIMIT 1"
    )  # fmt: skip
    assert skipped[0]["run_status"] == "skipped"


async def test_memory_stays_bounded_on_a_200k_record_job(db_dsn: str) -> None:
    template = "/api/v1/appointments/odata"
    options = sim_options(scale=1.0, size_overrides={template: 200_000})
    run: dict[str, Any] = {"concurrency": 4, "batch_rows": 2_000, "batches_in_flight": 2}
    async with SimulatorServer(options) as sim, loader(db_dsn, sim) as ts:
        truth = sim.truth(template)
        [result] = await ts.run_jobs([25], **run)
    assert truth["count"] >= 200_000
    assert result.ok, result.error
    assert result.progress.inserted == truth["count"]
    assert result.batch_queue_high_water <= run["batches_in_flight"]
    assert result.page_queue_high_water <= PAGE_QUEUE_PAGES
    rows, id_sum, _ = await staged(db_dsn, "dim_appointments_staging")
    assert (rows, id_sum) == (truth["count"], truth["id_sum"])


async def test_changes_upstream_are_merged_and_keyless_deletions_swept(db_dsn: str, sim) -> None:
    patients = "/api/v1/patients/odata"
    statuses = "/api/v1/subject-statuses/odata"
    async with loader(db_dsn, sim) as ts:
        await ts.run_jobs([3, 127])
        sim.mutate(patients, insert=3, update=4, delete=0)
        sim.mutate(statuses, insert=0, update=0, delete=2)
        after = {r.job_id: r for r in await ts.run_jobs([3, 127])}
        truth_p, truth_s = sim.truth(patients), sim.truth(statuses)
    assert (after[3].progress.inserted, after[3].progress.updated) == (3, 4)
    assert after[127].progress.deleted == 2 and after[127].progress.inserted == 0
    rows, id_sum, _ = await staged(db_dsn, "dim_patients_staging")
    assert (rows, id_sum) == (truth_p["count"], truth_p["id_sum"])
    rows, _, _ = await staged(db_dsn, "dim_subject_statuses_staging")
    assert rows == truth_s["count"]
