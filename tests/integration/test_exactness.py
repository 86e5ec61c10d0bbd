"""Exact under paging faults: drift while paging, overlapping pages, a server cap on $top.

Staged data is compared with the simulator's own dump (``sim.records``) by content, for keyed
and keyless jobs alike.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from aiohttp import web

from ccsim import SimulatorServer
from tests.engine_support import fetch, loader
from tests.sim_support import sim_options

pytestmark = pytest.mark.integration

APPOINTMENTS = "/api/v1/appointments/odata"
PATIENT_VISITS = "/api/v1/patient-visits/odata"
SUBJECT_STATUSES = "/api/v1/subject-statuses/odata"
VISIT_ELEMENTS = "/api/v1/studies/{studyId}/visits/{visitId}/elements/odata"


def _canon(record: Any) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


async def _staged(db_dsn: str, table: str, *, live: bool = True) -> list[Any]:
    where = "WHERE deleted_at IS NULL" if live else ""
    rows = await fetch(db_dsn, f"SELECT data FROM {table} {where}")
    return [r["data"] for r in rows]


def _ids(records: list[Any]) -> Counter[int]:
    return Counter(int(r["id"]) for r in records)


@pytest.mark.parametrize(
    ("job_id", "template", "table", "scale"),
    [
        (25, APPOINTMENTS, "dim_appointments_staging", 1.0),
        (9, PATIENT_VISITS, "dim_patient_visits_staging", 0.4),
    ],
)
async def test_drift_while_paging_loses_and_doubles_nothing(
    db_dsn: str, job_id: int, template: str, table: str, scale: float
) -> None:
    """Inserts at random places of a natural order that is not id order, deletes, updates:
    one mutation per request while the job pages at $top=100."""
    options = sim_options(scale=scale, natural_order="shuffled", page_overlap=0.3)
    async with SimulatorServer(options) as sim, loader(db_dsn, sim) as ts:
        before = _ids(sim.records(template))
        assert len(before) > 8000
        sim.configure(churn=1.0)
        [result] = await ts.run_jobs([job_id], page_size=100)
        sim.configure(churn=0.0)
        after = sim.records(template)
        assert result.ok, result.error
        assert sim.stats()["requests"] > 80  # it did page while the data changed
        staged = _ids(await _staged(db_dsn, table, live=False))
        assert max(staged.values()) == 1  # nothing staged twice
        present = set(before) & set(_ids(after))
        missing = present - set(staged)
        assert not missing, f"{len(missing)} records present throughout were not staged"
        # a second, quiet pass: the staged live rows are exactly the upstream records
        [second] = await ts.run_jobs([job_id])
    assert second.ok
    live = await _staged(db_dsn, table)
    assert sorted(map(_canon, live)) == sorted(map(_canon, after))
    assert second.progress.deleted == len(set(staged) - set(_ids(after)))


SHAPES = ["envelope", "pageresult", "array"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("page_size", [5, 50, 1000])
async def test_overlapping_pages_keyed_and_keyless_match_the_truth(
    db_dsn: str, shape: str, page_size: int
) -> None:
    options = sim_options(page_overlap=1.0, shape_overrides={"odata": shape})
    async with SimulatorServer(options) as sim, loader(db_dsn, sim) as ts:
        results = await ts.run_jobs([2, 9, 11, 127, 175], page_size=page_size)
        assert all(r.ok for r in results), [(r.job_id, r.error) for r in results]
        visits = sim.records(PATIENT_VISITS)
        statuses = sim.records(SUBJECT_STATUSES)
        pairs = await fetch(
            db_dsn, "SELECT data->'study'->>'id' AS s, data->>'id' AS v FROM dim_visits_staging"
        )
        elements = [e for p in pairs for e in sim.records(VISIT_ELEMENTS, (p["s"], p["v"]))]
    staged_visits = await _staged(db_dsn, "dim_patient_visits_staging")
    assert sorted(map(_canon, staged_visits)) == sorted(map(_canon, visits))
    staged_statuses = await _staged(db_dsn, "dim_subject_statuses_staging")
    assert Counter(map(_canon, staged_statuses)) == Counter(map(_canon, statuses))
    staged_elements = await _staged(db_dsn, "dim_visit_element_relationships_staging")
    assert len(elements) > 50
    assert Counter(map(_canon, staged_elements)) == Counter(map(_canon, elements))


async def test_a_server_that_caps_top_below_the_page_size(db_dsn: str) -> None:
    async with (
        SimulatorServer(sim_options(scale=0.3, max_top=40)) as sim,
        loader(db_dsn, sim) as ts,
    ):
        results = await ts.run_jobs([2, 9, 127])
        visits = sim.records(PATIENT_VISITS)
        statuses = sim.records(SUBJECT_STATUSES)
    assert all(r.ok for r in results), [(r.job_id, r.error) for r in results]
    assert len(visits) > 40 * 20 and len(statuses) > 40
    staged = await _staged(db_dsn, "dim_patient_visits_staging")
    assert sorted(map(_canon, staged)) == sorted(map(_canon, visits))
    staged_statuses = await _staged(db_dsn, "dim_subject_statuses_staging")
    assert Counter(map(_canon, staged_statuses)) == Counter(map(_canon, statuses))


async def test_an_endpoint_refusing_filter_and_orderby_falls_back_to_plain_offset(
    db_dsn: str,
) -> None:
    records = [{"id": i * 7, "name": f"p{i}"} for i in range(230)]

    async def handler(request: web.Request) -> web.Response:
        if "$filter" in request.query or "$orderby" in request.query:
            body = {"error": {"message": "The query specified in the URI is not valid."}}
            return web.json_response(body, status=400)
        top, skip = int(request.query.get("$top", 50)), int(request.query.get("$skip", 0))
        return web.json_response(records[skip : skip + top])

    app = web.Application()
    app.router.add_get("/CCSWEB/api/v1/patients/odata", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/CCSWEB"
    try:
        async with SimulatorServer(sim_options()) as sim, loader(db_dsn, sim) as ts:
            await ts.set_instance(1, base_url=base)
            [result] = await ts.run_jobs([3], page_size=50)
    finally:
        await runner.cleanup()
    assert result.ok, result.error
    [run] = await fetch(db_dsn, "SELECT notes FROM dw_etl_runs WHERE run_id = $1", result.run_id)
    assert run["notes"]["paging"] == "offset"
    assert len(run["notes"]["warnings"]) == 2  # keyset refused, then $orderby refused
    staged = await _staged(db_dsn, "dim_patients_staging")
    assert sorted(map(_canon, staged)) == sorted(map(_canon, records))
