"""Every endpoint of the job inventory answers in the simulator as the API reference says."""

from __future__ import annotations

import aiohttp
import pytest

from ccsim import SimulatorServer
from ccsim.catalog import ENDPOINT_BY_TEMPLATE, Kind
from tests.sim_support import fetch_all, items_of
from trialsync_async.api.urls import render_path
from trialsync_async.inventory import JobSpec, load_inventory

pytestmark = pytest.mark.integration

JOBS = load_inventory()
CCE_ONLY = {30, 31}
DEAD = {4, 5, 6, 7, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22}


async def _first(http: aiohttp.ClientSession, sim: SimulatorServer, path: str) -> dict:
    async with http.get(sim.url(path)) as resp:
        assert resp.status == 200, path
        return items_of(await resp.json())[0]


async def _values(http: aiohttp.ClientSession, sim: SimulatorServer, job: JobSpec) -> dict:
    """Real parameter values for a job, read from its parent endpoints."""
    study = await _first(http, sim, "/api/v1/studies/odata")
    values = {"studyId": study["id"]}
    if "patientId" in job.placeholders:
        values["patientId"] = (await _first(http, sim, "/api/v1/patients/odata"))["id"]
    if "patientVisitId" in job.placeholders:
        values["patientVisitId"] = (await _first(http, sim, "/api/v1/patient-visits/odata"))["id"]
    if "visitId" in job.placeholders or "subjectId" in job.placeholders:
        visit = await _first(http, sim, "/api/v1/patient-visits/odata")
        values["studyId"] = visit["study"]["id"]
        values["subjectId"] = visit["subject"]["Id"]  # SubjectPreviewModel: Id casing
        visits = f"/api/v1/studies/{values['studyId']}/visits/odata"
        values["visitId"] = (await _first(http, sim, visits))["id"]
    return {k: v for k, v in values.items() if k in job.placeholders}


@pytest.mark.parametrize("job", JOBS, ids=[f"job{j.id}" for j in JOBS])
async def test_inventory_endpoint_answers_as_the_reference_says(sim, job: JobSpec) -> None:
    async with aiohttp.ClientSession(headers=sim.auth_header) as http:
        values = await _values(http, sim, job)
        path = render_path(job.source_endpoint, values)
        async with http.get(sim.url(path)) as resp:
            status = resp.status
        expected = 501 if job.id in CCE_ONLY else 404 if job.id in DEAD else 200
        assert status == expected, path
        if expected != 200:
            return
        # a live endpoint the simulator really serves (not an empty swagger stub), answering
        # exactly the records its truth describes
        ep = ENDPOINT_BY_TEMPLATE[job.source_endpoint]
        truth = sim.truth(job.source_endpoint)
        got = await fetch_all(http, sim.base_url, path, kind=ep.kind)
    assert got == sim.records(job.source_endpoint, [str(values[n]) for n in job.placeholders])
    key = truth["key"]
    if key is not None:
        assert all(isinstance(r[key], int) for r in got), path
    if job.placeholders:
        assert len(got) <= truth["count"], path
    else:  # the whole endpoint: its count and id sum are the truth's
        assert len(got) == truth["count"], path
        if key is not None and ep.kind is not Kind.OBJECT:
            assert sum(r[key] for r in got) == truth["id_sum"], path
