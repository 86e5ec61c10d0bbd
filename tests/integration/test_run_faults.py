"""Faults of a run that are not HTTP faults: resources, hostile values, a dead host, NULs,
records deleted upstream."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from aiohttp import web

from ccsim import SimulatorServer
from tests.engine_support import fetch, loader, staged
from tests.sim_support import sim_fixture, sim_options
from trialsync_async.settings import Settings

pytestmark = pytest.mark.integration

STUDIES = "/api/v1/studies/odata"


sim = sim_fixture(scope="function")  # every test gets a simulator of its own


async def test_many_parallel_jobs_on_a_pool_sized_for_one_worker_finish(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim, concurrency=1, parallel_jobs=12) as ts:
        results = await asyncio.wait_for(ts.run_jobs(None), timeout=240)
    assert results and all(r.ok for r in results), [
        (r.job_id, r.error) for r in results if not r.ok
    ]


async def test_a_parent_value_that_cannot_be_a_path_segment_fails_only_its_unit(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        [studies] = await ts.run_jobs([2])
        hostile = ["..", ".", "", "1;DROP TABLE x", "../../patients/odata?x=", "%2e%2e"]
        await fetch(
            db_dsn,
            "INSERT INTO dim_studies_staging (data, source_instance_id) "
            "SELECT jsonb_build_object('id', v), 1 FROM unnest($1::text[]) AS v",
            hostile,
        )
        [visits] = await ts.run_jobs([11])
    assert visits.status == "failed"
    assert visits.progress.units_failed == 3  # "..", "." and "" never reach the API
    assert visits.progress.units_missing == 3  # the others are encoded, and answer 404
    assert visits.progress.units_ok == studies.progress.inserted
    failures = await fetch(
        db_dsn, "SELECT parameters->>'studyId' AS v, error_message FROM dw_etl_run_failures "
        "WHERE run_id = $1 ORDER BY id", visits.run_id,
    )  # fmt: skip
    refused = {f["v"]: f["error_message"] for f in failures if "refused" in f["error_message"]}
    assert set(refused) == {"..", ".", ""}
    truth = sim.truth("/api/v1/studies/{studyId}/visits/odata")
    rows, id_sum, _ = await staged(db_dsn, "dim_visits_staging")
    assert (rows, id_sum) == (truth["count"], truth["id_sum"])
    [count] = await fetch(db_dsn, "SELECT count(*) AS n FROM dim_studies_staging")
    assert count["n"] == studies.progress.inserted + len(hostile)  # nothing was dropped


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_api_fails_a_big_fanout_quickly_and_stays_resumable(
    db_dsn: str,
) -> None:
    async with SimulatorServer(sim_options(scale=1)) as sim, loader(db_dsn, sim) as ts:
        [studies] = await ts.run_jobs([2])
    await _unreachable(db_dsn, sim, studies.progress.inserted)


async def _unreachable(db_dsn: str, sim: SimulatorServer, parents: int) -> None:
    port = _closed_port()
    async with loader(db_dsn, sim, breaker_failures=12, breaker_seconds=0.3) as ts:
        await ts.set_instance(1, base_url=f"http://127.0.0.1:{port}/CCSWEB")
        [visits] = await ts.run_jobs([11])
    assert visits.status == "failed"
    assert f"API instance 1 unreachable (127.0.0.1:{port})" in (visits.error or "")
    assert parents > 1500
    # a few attempts per worker until the breaker's 0.3 s have passed (how many depends on the
    # retries' jitter: up to 399 seen), not 6 attempts for each of 1,573 parents (9,438)
    workers = Settings().concurrency
    assert visits.progress.requests < 20 * workers, visits.progress
    assert visits.progress.units_failed < 50
    [state] = await fetch(
        db_dsn, "SELECT count(*) FILTER (WHERE status = 'done') AS done FROM dw_etl_unit_state "
        "WHERE job_id = 11",
    )  # fmt: skip
    assert state["done"] == 0
    async with SimulatorServer(sim_options(scale=1)) as sim, loader(db_dsn, sim) as ts:
        [again] = await ts.run_jobs([11])
    assert again.ok and again.continues_run_id == visits.run_id
    assert again.progress.units_total == parents


async def _nul_server(records: list[dict]) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(records), content_type="application/json")

    app = web.Application()
    app.router.add_get("/CCSWEB/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/CCSWEB"


async def test_nul_characters_are_stored_replaced_and_counted(
    db_dsn: str, sim: SimulatorServer
) -> None:
    records = [
        {"id": 1, "firstName": "Ann\x00e", "notes": ["a\x00", "ok"]},
        {"id": 2, "firstName": "Bob"},
        {"id": 3, "address": {"city": "\x00Z\x00"}},
    ]
    runner, base_url = await _nul_server(records)
    try:
        async with loader(db_dsn, sim) as ts:
            await ts.set_instance(1, base_url=base_url)
            [result] = await ts.run_jobs([3])
    finally:
        await runner.cleanup()
    assert result.ok, result.error
    assert result.progress.sanitized == 2
    rows = await fetch(db_dsn, "SELECT data FROM dim_patients_staging ORDER BY data->>'id'")
    assert [r["data"] for r in rows] == [
        {"id": 1, "firstName": "Ann\ufffde", "notes": ["a\ufffd", "ok"]},
        {"id": 2, "firstName": "Bob"},
        {"id": 3, "address": {"city": "\ufffdZ\ufffd"}},
    ]
    [run] = await fetch(db_dsn, "SELECT records_sanitized FROM dw_etl_runs WHERE job_id = 3")
    assert run["records_sanitized"] == 2


async def test_records_deleted_upstream_are_marked_after_a_complete_pass(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        [first] = await ts.run_jobs([2])
        gone = sim.mutate(STUDIES, delete=3)["deleted"]  # under the 10% mass-deletion guard
        # full: job 2 is timestamp-incremental, and only a full pass settles deletions
        [second] = await ts.run_jobs([2], full=True)
        [third] = await ts.run_jobs([2], full=True)
    assert first.ok and second.ok and third.ok
    assert second.progress.deleted == 3 and third.progress.deleted == 0
    marked = await fetch(
        db_dsn, "SELECT (data->>'id')::int AS id FROM dim_studies_staging "
        "WHERE deleted_at IS NOT NULL ORDER BY 1",
    )  # fmt: skip
    assert [r["id"] for r in marked] == sorted(gone)
    [run] = await fetch(
        db_dsn, "SELECT records_deleted FROM dw_etl_runs WHERE run_id = $1", second.run_id
    )
    assert run["records_deleted"] == 3
    [left] = await fetch(db_dsn, "SELECT count(*) AS n FROM dw_etl_seen_keys")
    assert left["n"] == 0  # the pass's keys are forgotten once it is settled


async def test_deletes_policy_delete_and_keep(db_dsn: str, sim: SimulatorServer) -> None:
    async with loader(db_dsn, sim) as ts:
        [first] = await ts.run_jobs([2])
        await fetch(db_dsn, "UPDATE dw_etl_jobs SET deletes = 'delete' WHERE id = 2")
        sim.mutate(STUDIES, delete=3)
        [second] = await ts.run_jobs([2], full=True)  # a full pass settles deletions
        await fetch(db_dsn, "UPDATE dw_etl_jobs SET deletes = 'keep' WHERE id = 2")
        sim.mutate(STUDIES, delete=2)
        [third] = await ts.run_jobs([2], full=True)
    assert second.progress.deleted == 3 and third.progress.deleted == 0
    rows, _, _ = await staged(db_dsn, "dim_studies_staging")
    assert rows == first.progress.inserted - 3


async def test_a_failed_pass_marks_nothing(db_dsn: str, sim: SimulatorServer) -> None:
    async with loader(db_dsn, sim, http_max_attempts=2) as ts:
        [first] = await ts.run_jobs([2])
        sim.mutate(STUDIES, delete=4)
        sim.configure(faults={"p_500": 1.0})
        [failed] = await ts.run_jobs([2])
        sim.configure(faults={"p_500": 0.0})
    assert first.ok and failed.status == "failed"
    marked = await fetch(
        db_dsn, "SELECT count(*) AS n FROM dim_studies_staging WHERE deleted_at IS NOT NULL"
    )
    assert marked[0]["n"] == 0
