"""Data that changes while clients page: the admin mutate call, churn and the truth."""

from __future__ import annotations

import pytest

from ccsim import SimulatorServer
from ccsim.catalog import ENDPOINT_BY_TEMPLATE, Kind, Parent
from tests.sim_support import (
    client_session,
    fetch_all,
    fill,
    get_json,
    parent_values,
    sim_options,
)

pytestmark = pytest.mark.integration

APPOINTMENTS = "/api/v1/appointments/odata"
SUBJECTS = "/api/v1/studies/{studyId}/subjects/odata"
PV_ELEMENTS = "/api/v1/patient-visits/{patientVisitId}/elements/odata"


async def crawl_ids(http, sim: SimulatorServer, template: str) -> list[int]:
    ep = ENDPOINT_BY_TEMPLATE[template]
    key = sim.truth(template)["key"]
    out: list[int] = []
    for values in await parent_values(http, sim.base_url, ep.parent):
        rows = await fetch_all(http, sim.base_url, fill(template, values), kind=ep.kind)
        out += [r[key] for r in rows]
    return out


async def test_mutate_changes_truth_consistently() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        before = await fetch_all(http, sim.base_url, APPOINTMENTS)
        newest = max(r["lastUpdatedOn"] for r in before)
        t0 = sim.truth(APPOINTMENTS)
        body = {"template": APPOINTMENTS, "insert": 5, "update": 4, "delete": 3}
        async with http.post(f"{sim.admin_url}/mutate", json=body) as r:
            assert r.status == 200
            res = await r.json()
        assert [len(res[k]) for k in ("inserted", "updated", "deleted")] == [5, 4, 3]
        t1 = sim.truth(APPOINTMENTS)
        assert t1["count"] == t0["count"] + 5 - 3
        after = await fetch_all(http, sim.base_url, APPOINTMENTS)
        ids = [r["id"] for r in after]
        assert len(ids) == t1["count"] and sum(ids) == t1["id_sum"]
        assert not set(res["deleted"]) & set(ids)
        old = {r["id"]: r for r in before}
        for rid in res["updated"]:
            new = next(r for r in after if r["id"] == rid)
            assert new["lastUpdatedOn"] > newest and new != old[rid]
        # an incremental pull by timestamp returns exactly the inserted and updated records
        q = f"?$filter=lastUpdatedOn gt '{newest}'&$orderby=lastUpdatedOn&$top=1000"
        _, changed = await get_json(http, sim.url(APPOINTMENTS + q))
        got = [r["id"] for r in changed["Items"]]
        assert sorted(got) == sorted(res["inserted"] + res["updated"])
        stamps = [r["lastUpdatedOn"] for r in changed["Items"]]
        assert stamps == sorted(stamps)
        # inserted ids sort after every existing id
        assert min(res["inserted"]) > max(old)


async def test_deleting_a_parent_removes_its_children() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        pairs = await parent_values(http, sim.base_url, Parent.STUDY_SUBJECT)
        study_id = pairs[0][0]
        before = sim.truth(SUBJECTS)["count"]
        n_subjects = len([p for p in pairs if p[0] == study_id])
        body = {"template": "/api/v1/studies/odata", "delete_ids": [study_id]}
        async with http.post(f"{sim.admin_url}/mutate", json=body) as r:
            assert r.status == 200 and (await r.json())["deleted"] == [study_id]
        status, _ = await get_json(http, sim.url(f"/api/v1/studies/{study_id}/subjects/odata"))
        assert status == 404
        status, _ = await get_json(http, sim.url(f"/api/v1/studies/{study_id}"))
        assert status == 404
        assert sim.truth(SUBJECTS)["count"] == before - n_subjects
        ids = await crawl_ids(http, sim, SUBJECTS)
        truth = sim.truth(SUBJECTS)
        assert (len(ids), sum(ids)) == (truth["count"], truth["id_sum"])
        # the flat patient-visit list does not cascade; the nested one does
        nested = "/api/v1/studies/{studyId}/subjects/{subjectId}/patient-visits"
        assert sim.truth(nested)["count"] < sim.truth("/api/v1/patient-visits/odata")["count"]


async def test_mutations_on_nested_endpoints_match_a_crawl() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        for template in (SUBJECTS, PV_ELEMENTS, "/api/v1/patient-visits/odata"):
            sim.mutate(template, insert=3, update=3, delete=3)
        for template in (
            SUBJECTS,
            PV_ELEMENTS,
            "/api/v1/patient-visits/odata",
            "/api/v1/studies/{studyId}/subjects/{subjectId}/patient-visits",
        ):
            ids = await crawl_ids(http, sim, template)
            truth = sim.truth(template)
            assert (len(ids), sum(ids)) == (truth["count"], truth["id_sum"]), template


async def test_mutate_with_parent_and_errors() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        studies = await fetch_all(http, sim.base_url, "/api/v1/studies/odata")
        sid = studies[0]["id"]
        path = f"/api/v1/studies/{sid}/notes/odata"
        n0 = len(await fetch_all(http, sim.base_url, path))
        body = {
            "template": "/api/v1/studies/{studyId}/notes/odata",
            "insert": 2,
            "parent": str(sid),
        }
        async with http.post(f"{sim.admin_url}/mutate", json=body) as r:
            assert r.status == 200
        rows = await fetch_all(http, sim.base_url, path)
        assert len(rows) == n0 + 2
        body = {"template": "/api/v1/studies/{studyId}/notes/odata", "update_ids": [rows[0]["id"]]}
        async with http.post(f"{sim.admin_url}/mutate", json=body) as r:
            assert (await r.json())["updated"] == [rows[0]["id"]]
        _, one = await get_json(http, sim.url(f"{path}?$filter=id eq {rows[0]['id']}"))
        assert one["Items"][0] != rows[0]
        for bad in (
            {"template": "/api/v1/nope", "insert": 1},
            {"insert": 1},
            {"template": "/api/v1/instance/details", "update": 1},
            {"template": "/api/v1/studies/{studyId}/notes/odata", "parent": "1", "insert": 1},
            {"template": "/api/v1/studies/odata", "delete_ids": [1]},
        ):
            async with http.post(f"{sim.admin_url}/mutate", json=bad) as r:
                assert r.status == 400, bad


async def test_churn_keeps_truth_consistent() -> None:
    async with SimulatorServer(sim_options(churn=0.5)) as sim, client_session(sim) as http:
        epoch0 = sim.dataset.epoch
        for _ in range(40):
            status, _ = await get_json(http, sim.url(APPOINTMENTS + "?$top=5"))
            assert status == 200
        assert sim.dataset.epoch > epoch0
        sim.configure(churn=0.0)
        rows = await fetch_all(http, sim.base_url, APPOINTMENTS)
        truth = sim.truth(APPOINTMENTS)
        assert len(rows) == truth["count"] and sum(r["id"] for r in rows) == truth["id_sum"]


async def test_plain_list_kind_helper() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        rows = await fetch_all(http, sim.base_url, "/api/v1/sites", kind=Kind.LIST)
        assert len(rows) == 40
