"""Contract tests of the simulator over real sockets (aiohttp client, in-process server)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from ccsim import SimulatorServer
from ccsim.catalog import (
    DEAD_TEMPLATES,
    ENDPOINTS,
    NOT_IMPLEMENTED_TEMPLATES,
    EndpointSpec,
    Kind,
    Parent,
)
from tests.sim_support import (
    client_session,
    fetch_all,
    fill,
    get_json,
    items_of,
    parent_values,
    sim_options,
)

pytestmark = pytest.mark.integration

STUDIES = "/api/v1/studies/odata"
APPOINTMENTS = "/api/v1/appointments/odata"
DEVICES = "/api/v1/system/devices/odata"  # 3295 rows at every scale


async def crawl(http: aiohttp.ClientSession, sim: SimulatorServer, ep: EndpointSpec) -> list[Any]:
    parents = await parent_values(http, sim.base_url, ep.parent)
    sem = asyncio.Semaphore(24)

    async def one(values: tuple[int, ...]) -> list[Any]:
        async with sem:
            return await fetch_all(http, sim.base_url, fill(ep.template, values), kind=ep.kind)

    pages = await asyncio.gather(*(one(v) for v in parents))
    return [r for page in pages for r in page]


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda e: e.template)
async def test_every_endpoint_matches_truth(
    http: aiohttp.ClientSession, sim: SimulatorServer, ep: EndpointSpec
) -> None:
    rows = await crawl(http, sim, ep)
    truth = sim.truth(ep.template)
    assert len(rows) == truth["count"]
    key = truth["key"]
    if key is None:
        assert truth["id_sum"] is None
    else:
        ids = [r[key] for r in rows]
        assert len(set(ids)) == len(ids)
        assert sum(ids) == truth["id_sum"]


async def test_truth_over_http_and_sizes(http: aiohttp.ClientSession, sim: SimulatorServer) -> None:
    status, body = await get_json(http, f"{sim.admin_url}/truth")
    assert status == 200
    assert body["templates"][STUDIES] == sim.truth(STUDIES)
    status, one = await get_json(http, f"{sim.admin_url}/truth?template=/api/v1/sites")
    assert status == 200 and one["count"] == 40
    status, _ = await get_json(http, f"{sim.admin_url}/truth?template=/api/v1/nope")
    assert status == 404
    t = body["templates"]
    assert t["/api/v1/system/study-customfields"]["count"] == 0
    assert t["/api/v1/invoices/odata"]["count"] == 0
    assert t["/api/v1/system/organizations"]["count"] == 1
    assert t["/api/v1/studies/{studyId}/subjects/odata"]["parent"] == "study"
    assert t["/api/v1/patient-visits/odata"]["count"] > 100
    assert t["/api/v1/studies/{studyId}/visits/{visitId}/elements/odata"]["id_sum"] is None


async def test_default_page_and_cap(http: aiohttp.ClientSession, sim: SimulatorServer) -> None:
    total = sim.truth(DEVICES)["count"]
    assert total > 1000
    _, body = await get_json(http, sim.url(DEVICES))
    assert len(items_of(body)) == 50
    _, body = await get_json(http, sim.url(DEVICES + "?$top=5000"))
    assert len(items_of(body)) == 1000
    _, body = await get_json(http, sim.url(DEVICES + "?$top=0&$count=true"))
    assert items_of(body) == [] and body["Count"] == total
    _, body = await get_json(http, sim.url(DEVICES + f"?$top=1000&$skip={total - 10}"))
    assert len(items_of(body)) == 10


async def test_plain_lists_ignore_odata_options(
    http: aiohttp.ClientSession, sim: SimulatorServer
) -> None:
    status, body = await get_json(http, sim.url("/api/v1/system/lookup-lists?$top=2&$bogus=1"))
    assert status == 200 and len(body) == 108 and all(isinstance(x, str) for x in body)
    _, orgs = await get_json(http, sim.url("/api/v1/system/organizations"))
    assert set(orgs[0]) == {"Id", "Name"}


async def test_errors(http: aiohttp.ClientSession, sim: SimulatorServer) -> None:
    async with aiohttp.ClientSession() as anon:
        status, body = await get_json(anon, sim.url(STUDIES))
        assert status == 401 and "error" in body
        async with anon.get(sim.url(STUDIES), headers={sim.options.api_key_header: "wrong"}) as r:
            assert r.status == 401
        async with anon.get(sim.url(STUDIES), headers={"X-ApiKey": sim.api_key}) as r:
            assert r.status == 401  # the key must come in the configured header
    study_id = (await fetch_all(http, sim.base_url, STUDIES))[0]["id"]
    for t in DEAD_TEMPLATES:
        status, _ = await get_json(http, sim.url(t.replace("{studyId}", str(study_id))))
        assert status == 404, t
    for t in NOT_IMPLEMENTED_TEMPLATES:
        status, _ = await get_json(http, sim.url(t))
        assert status == 501, t
    for path in (
        "/api/v1/no-such-endpoint",
        "/api/v1/studies/1/subjects/odata",  # unknown parent id
        "/api/v1/studies/abc/subjects/odata",
        "/api/v1/patients/1/allergies",
        "/api/v1/patient-visits/1/elements/odata",
        "/api/v1/studies/1",
    ):
        status, body = await get_json(http, sim.url(path))
        assert status == 404, path
    for query in (
        "$top=-1",
        "$skip=x",
        "$count=maybe",
        "$orderby=name",
        "$filter=id ne 3",
        "$filter=name eq 'x'",
        "$select=id",
        "foo=bar",
    ):
        status, body = await get_json(http, sim.url(f"{STUDIES}?{query}"))
        assert status == 400, query
        assert "error" in body


async def test_swagger_list_paths_answer_empty(
    http: aiohttp.ClientSession, sim: SimulatorServer
) -> None:
    status, body = await get_json(http, sim.url("/api/v1/sponsor-teams/odata"))
    assert status == 200 and items_of(body) == []
    status, body = await get_json(http, sim.url("/api/v1/system/study-groups"))
    assert status == 200 and body == []


async def test_filter_orderby_count(http: aiohttp.ClientSession, sim: SimulatorServer) -> None:
    rows = await fetch_all(http, sim.base_url, APPOINTMENTS)
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids)  # default order: id ascending
    mid = ids[len(ids) // 2]
    _, body = await get_json(http, sim.url(f"{APPOINTMENTS}?$filter=id gt {mid}&$count=true"))
    assert body["Count"] == sum(1 for i in ids if i > mid)
    assert all(r["id"] > mid for r in items_of(body))
    _, body = await get_json(http, sim.url(f"{APPOINTMENTS}?$filter=id le {mid}&$orderby=id desc"))
    page = [r["id"] for r in items_of(body)]
    assert page == sorted((i for i in ids if i <= mid), reverse=True)[:50]
    stamps = sorted(r["lastUpdatedOn"] for r in rows)
    cut = stamps[len(stamps) // 3]
    q = f"$filter=lastUpdatedOn ge '{cut}' and id lt {mid}&$orderby=lastUpdatedOn desc&$top=1000"
    _, body = await get_json(http, sim.url(f"{APPOINTMENTS}?{q}&$count=true"))
    want = sorted(
        (
            (r["lastUpdatedOn"], r["id"])
            for r in rows
            if r["lastUpdatedOn"] >= cut and r["id"] < mid
        ),
        reverse=True,
    )
    got = [(r["lastUpdatedOn"], r["id"]) for r in items_of(body)]
    assert got == want and body["Count"] == len(want)
    _, body = await get_json(http, sim.url(f"{APPOINTMENTS}?$filter=id eq {mid}"))
    assert [r["id"] for r in items_of(body)] == [mid]
    _, body = await get_json(http, sim.url(f"{APPOINTMENTS}?$filter=lastUpdatedOn gt 2099-01-01"))
    assert items_of(body) == []


async def test_shapes(sim: SimulatorServer) -> None:
    async with (
        SimulatorServer(sim_options(shape_overrides={"odata": "envelope"})) as env,
        client_session(env) as http,
    ):
        _, body = await get_json(http, env.url(APPOINTMENTS + "?$top=7&$count=true"))
        assert set(body) == {"@odata.context", "@odata.count", "value", "@odata.nextLink"}
        assert len(body["value"]) == 7 and body["@odata.count"] > 7
        assert "$skip=7" in body["@odata.nextLink"] and body["@odata.nextLink"].startswith("http")
        _, nxt = await get_json(http, body["@odata.nextLink"])
        assert nxt["value"][0]["id"] > body["value"][-1]["id"]
        _, body = await get_json(http, env.url(APPOINTMENTS + "?$top=7"))
        assert "@odata.count" not in body
        _, body = await get_json(http, env.url(STUDIES + "?$top=1000"))
        assert "@odata.nextLink" not in body  # last page
    async with (
        SimulatorServer(sim_options(shape_overrides={"odata": "pageresult"})) as pr,
        client_session(pr) as http,
    ):
        _, body = await get_json(http, pr.url(STUDIES + "?$top=3"))
        assert set(body) == {"Items", "NextPageLink", "Count"} and body["Count"] is None
        assert "$skip=3" in body["NextPageLink"]
        _, body = await get_json(http, pr.url(STUDIES + "?$top=1000&$count=true"))
        assert body["NextPageLink"] is None and body["Count"] == len(body["Items"])
    async with (
        SimulatorServer(sim_options(shape_overrides={"odata": "array"})) as arr,
        client_session(arr) as http,
    ):
        _, body = await get_json(http, arr.url(APPOINTMENTS + "?$top=3&$count=true"))
        assert isinstance(body, list) and len(body) == 3


async def test_default_shapes(http: aiohttp.ClientSession, sim: SimulatorServer) -> None:
    for path in (STUDIES, "/api/v1/patients/odata", "/api/v1/sites/odata", "/api/v1/staff/odata"):
        _, body = await get_json(http, sim.url(path + "?$top=2"))
        assert isinstance(body, list), path
    _, body = await get_json(http, sim.url(APPOINTMENTS + "?$top=2"))
    assert set(body) == {"Items", "NextPageLink", "Count"}
    _, body = await get_json(http, sim.url("/api/v1/sites"))
    assert isinstance(body, list) and len(body) == 40
    _, body = await get_json(http, sim.url("/api/v1/instance/details"))
    assert isinstance(body, dict) and "id" not in body


async def test_nested_records_are_the_same_records(
    http: aiohttp.ClientSession, sim: SimulatorServer
) -> None:
    flat = {r["id"]: r for r in await fetch_all(http, sim.base_url, "/api/v1/patient-visits/odata")}
    pairs = await parent_values(http, sim.base_url, Parent.STUDY_SUBJECT)
    seen = 0
    for sid, subj in pairs[:10]:
        path = f"/api/v1/studies/{sid}/subjects/{subj}/patient-visits"
        for r in await fetch_all(http, sim.base_url, path, kind=Kind.LIST):
            assert r == flat[r["id"]]
            assert r["study"]["id"] == sid and r["subject"]["Id"] == subj
            seen += 1
    assert seen > 0
    studies = await fetch_all(http, sim.base_url, STUDIES)
    _, one = await get_json(http, sim.url(f"/api/v1/studies/{studies[3]['id']}"))
    assert one == studies[3]
    # a (study, subject) pair with a subject of another study is unknown
    (s1, subj1), other = pairs[0], next(p for p in pairs if p[0] != pairs[0][0])
    status, _ = await get_json(
        http, sim.url(f"/api/v1/studies/{other[0]}/subjects/{subj1}/patient-visits")
    )
    assert status == 404 and s1 != other[0]


async def test_stats(http: aiohttp.ClientSession, sim: SimulatorServer) -> None:
    sim.reset_stats()
    for _ in range(5):
        await get_json(http, sim.url(STUDIES + "?$top=2"))
    await get_json(http, sim.url("/api/v1/users/odata"))
    status, stats = await get_json(http, f"{sim.admin_url}/stats")
    assert status == 200
    assert stats["by_status"] == {"200": 5, "404": 1}
    assert stats["by_template"][STUDIES]["requests"] == 5
    assert stats["by_template"][STUDIES]["records"] == 10
    assert stats["max_in_flight"] >= 1 and stats["max_per_second"] >= 1
    assert sum(stats["per_second"].values()) == 6
    async with http.post(f"{sim.admin_url}/reset") as r:
        assert r.status == 200
    assert sim.stats()["requests"] == 0
