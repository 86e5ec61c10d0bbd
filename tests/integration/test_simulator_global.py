"""Request economy in the simulator, over real sockets: global lists (and their drop fault),
requests per parent in the stats, parent/child mutations, study timestamps and their filters,
and refused $filter fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from ccsim import SimulatorServer
from tests.sim_support import (
    client_session,
    fetch_all,
    get_json,
    items_of,
    sim_fixture,
    sim_options,
)

pytestmark = pytest.mark.integration

STUDIES = "/api/v1/studies/odata"
SUBJECTS = "/api/v1/subjects/odata"
VISITS = "/api/v1/visits/odata"
STATUSES = "/api/v1/subject-statuses/odata"
PER_STUDY = {
    SUBJECTS: "/api/v1/studies/{studyId}/subjects/odata",
    VISITS: "/api/v1/studies/{studyId}/visits/odata",
}
MORE: dict[str, Any] = {"size_overrides": {"subjects": 4.0}}  # ~120 subjects: several pages

sim = sim_fixture(**MORE)  # read-only tests share one simulator


def per_study(template: str, sid: int) -> str:
    return PER_STUDY[template].replace("{studyId}", str(sid))


async def per_study_crawl(
    http: aiohttp.ClientSession, sim: SimulatorServer, template: str
) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for study in await fetch_all(http, sim.base_url, STUDIES):
        out[study["id"]] = await fetch_all(http, sim.base_url, per_study(template, study["id"]))
    return out


def ids(rows: list[Any]) -> list[int]:
    return [r["id"] for r in rows]


# --- global lists ------------------------------------------------------------------------------
@pytest.mark.parametrize("template", [SUBJECTS, VISITS])
async def test_global_list_serves_the_per_study_records(
    http: aiohttp.ClientSession, sim: SimulatorServer, template: str
) -> None:
    crawl = await per_study_crawl(http, sim, template)
    want = sorted((r for rows in crawl.values() for r in rows), key=lambda r: r["id"])
    got = await fetch_all(http, sim.base_url, template + "?$orderby=id", top=37)
    assert got == want and len(got) > 37  # same ids, same content, over several pages
    assert await fetch_all(http, sim.base_url, template) == want  # natural order: by id
    truth, per = sim.truth(template), sim.truth(PER_STUDY[template])
    assert (
        (truth["count"], truth["id_sum"])
        == (per["count"], per["id_sum"])
        == (
            len(want),
            sum(ids(want)),
        )
    )
    assert sim.records(template) == want
    for sid in list(crawl)[:8]:
        one = await fetch_all(http, sim.base_url, f"{template}?studyId={sid}", top=3)
        assert one == crawl[sid]


async def test_global_list_odata_options(http: aiohttp.ClientSession, sim: SimulatorServer) -> None:
    rows = await fetch_all(http, sim.base_url, SUBJECTS)
    mid = rows[len(rows) // 2]["id"]
    _, body = await get_json(http, sim.url(f"{SUBJECTS}?$top=5&$count=true"))
    assert set(body) == {"Items", "NextPageLink", "Count"}  # the swagger's PageResultOf
    assert body["Count"] == len(rows) and ids(body["Items"]) == ids(rows[:5])
    for flt, want in (
        (f"id gt {mid}", [r for r in rows if r["id"] > mid]),
        (f"id le {mid}", [r for r in rows if r["id"] <= mid]),
        (
            f"id gt {rows[2]['id']} and id le {mid}",
            [r for r in rows if rows[2]["id"] < r["id"] <= mid],
        ),
    ):
        path = f"{SUBJECTS}?$filter={flt}&$orderby=id&$count=true&$top=1000"
        _, body = await get_json(http, sim.url(path))
        assert body["Count"] == len(want) and body["Items"] == want, flt
    _, body = await get_json(http, sim.url(f"{SUBJECTS}?$orderby=id desc&$top=3&$skip=1"))
    assert ids(body["Items"]) == ids(rows[::-1][1:4])
    # one study's list pages with next links that keep studyId
    sid = max(
        {r["study"]["id"] for r in rows}, key=lambda s: sum(r["study"]["id"] == s for r in rows)
    )
    mine = [r for r in rows if r["study"]["id"] == sid]
    url: str | None = sim.url(f"{SUBJECTS}?StudyID={sid}&$top=2&$count=true")  # any case
    seen: list[Any] = []
    while url:
        status, body = await get_json(http, url)
        assert status == 200 and body["Count"] == len(mine)
        seen += body["Items"]
        url = body["NextPageLink"]
        if url:
            assert dict(parse_qsl(urlsplit(url).query))["StudyID"] == str(sid)
    assert seen == mine and len(mine) > 2


async def test_global_list_errors(http: aiohttp.ClientSession, sim: SimulatorServer) -> None:
    sid = (await fetch_all(http, sim.base_url, STUDIES))[0]["id"]
    for query, status in (
        ("studyId=abc", 400),
        (f"studyId={sid}&studyId={sid}", 400),
        ("studyId=1", 404),
        (f"studyId={sid}&$select=id", 400),
        ("studyId=", 200),  # blank: all studies
    ):
        got, body = await get_json(http, sim.url(f"{VISITS}?{query}"))
        assert got == status, (query, body)
        if status != 200:
            assert set(body["error"]) >= {"code", "message"}


async def test_global_lists_honour_the_fault_options() -> None:
    async with SimulatorServer(sim_options(**MORE)) as sim, client_session(sim) as http:
        rows = await fetch_all(http, sim.base_url, SUBJECTS)
        sim.configure(max_top=10)
        _, body = await get_json(http, sim.url(f"{SUBJECTS}?$top=50&$count=true"))
        assert len(body["Items"]) == 10 and body["Count"] == len(rows)
        sim.configure(max_top=1000, page_overlap=1.0)
        _, body = await get_json(http, sim.url(f"{SUBJECTS}?$top=5&$skip=5&$orderby=id"))
        assert ids(body["Items"]) == ids(rows[4:10])  # the $top + 1 bug
        sim.configure(page_overlap=0.0, natural_order="shuffled")
        shuffled = await fetch_all(http, sim.base_url, SUBJECTS, top=1000)
        assert shuffled != rows and sorted(shuffled, key=lambda r: r["id"]) == rows
        sim.configure(natural_order="id", faults={"p_500": 1.0})
        status, _ = await get_json(http, sim.url(SUBJECTS))
        assert status == 500
        sid = rows[0]["study"]["id"]
        fail = {SUBJECTS: [str(sid)]}
        sim.configure(faults={"p_500": 0.0}, fail_parents=fail)
        assert (await get_json(http, sim.url(f"{SUBJECTS}?studyId={sid}")))[0] == 500
        assert (await get_json(http, sim.url(SUBJECTS)))[0] == 200


async def test_subject_statuses_by_study_uid(
    http: aiohttp.ClientSession, sim: SimulatorServer
) -> None:
    statuses = await fetch_all(http, sim.base_url, STATUSES)
    by_uid: dict[str, list[Any]] = {}
    for r in statuses:
        by_uid.setdefault(r["study"]["uid"], []).append(r)
    live = {s["uid"] for s in await fetch_all(http, sim.base_url, STUDIES)}
    for uid in sorted(by_uid)[:6]:
        path = f"{STATUSES}?studyUid={uid.upper()}&$count=true&$top=1000"
        status, body = await get_json(http, sim.url(path))
        if uid in live:
            assert (
                status == 200 and body["Items"] == by_uid[uid] and body["Count"] == len(by_uid[uid])
            )
        else:
            assert status == 404
    assert (await get_json(http, sim.url(f"{STATUSES}?studyUid=not-a-uuid")))[0] == 400
    zero = "00000000-0000-4000-8000-000000000000"
    assert (await get_json(http, sim.url(f"{STATUSES}?studyUid={zero}")))[0] == 404


async def test_catalog_lists_the_global_lists(
    http: aiohttp.ClientSession, sim: SimulatorServer
) -> None:
    _, catalog = await get_json(http, f"{sim.admin_url}/catalog")
    got = {e["template"]: e for e in catalog}
    assert got[SUBJECTS]["query_parameter"] == got[VISITS]["query_parameter"] == "studyId"
    assert got[STATUSES]["query_parameter"] == "studyUid"
    assert got[SUBJECTS]["space"] == "subjects" and got[VISITS]["kind"] == "odata"
    assert got[STUDIES]["query_parameter"] is None


# --- global_list_drop --------------------------------------------------------------------------
async def test_global_list_drop_is_a_stable_fraction_of_the_global_lists_only() -> None:
    async with SimulatorServer(sim_options(**MORE)) as sim, client_session(sim) as http:
        full = {t: await fetch_all(http, sim.base_url, t) for t in (SUBJECTS, VISITS)}
        statuses = await fetch_all(http, sim.base_url, STATUSES)
        crawl = await per_study_crawl(http, sim, SUBJECTS)
        async with http.post(f"{sim.admin_url}/config", json={"global_list_drop": 0.5}) as r:
            assert r.status == 200 and (await r.json())["global_list_drop"] == 0.5
        for template, rows in full.items():
            kept = await fetch_all(http, sim.base_url, template, top=7)
            assert 0.25 * len(rows) < len(kept) < 0.75 * len(rows), template
            assert set(ids(kept)) < set(ids(rows))
            assert await fetch_all(http, sim.base_url, template) == kept  # stable
            _, body = await get_json(http, sim.url(f"{template}?$count=true&$top=1"))
            assert body["Count"] == len(kept)
            assert sim.truth(template)["count"] == len(rows)  # truth ignores the fault
            assert sim.records(template) == rows
        kept = await fetch_all(http, sim.base_url, SUBJECTS)
        by_study: list[Any] = []
        for sid, rows in crawl.items():
            by_study += await fetch_all(http, sim.base_url, f"{SUBJECTS}?studyId={sid}")
            assert await fetch_all(http, sim.base_url, per_study(SUBJECTS, sid)) == rows
        assert sorted(by_study, key=lambda r: r["id"]) == kept  # the same records missing
        assert await fetch_all(http, sim.base_url, STATUSES) == statuses  # not a drop target
        sim.configure(global_list_drop=1.0)
        _, body = await get_json(http, sim.url(f"{VISITS}?$count=true"))
        assert body == {"Items": [], "NextPageLink": None, "Count": 0}
        async with http.post(f"{sim.admin_url}/config", json={"global_list_drop": 1.5}) as r:
            assert r.status == 400
        sim.configure(global_list_drop=0.0)
        assert await fetch_all(http, sim.base_url, VISITS) == full[VISITS]


# --- requests per parent -----------------------------------------------------------------------
async def test_stats_count_requests_per_parameter_value() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        visits = await fetch_all(http, sim.base_url, VISITS)
        sim.reset_stats()
        a, b = visits[0], next(v for v in visits if v["study"]["id"] != visits[0]["study"]["id"])
        sa, sb = a["study"]["id"], b["study"]["id"]
        for sid in (sa, sa, sb):
            await get_json(http, sim.url(per_study(SUBJECTS, sid)))
        elements = f"/api/v1/studies/{sa}/visits/{a['id']}/elements/odata"
        await get_json(http, sim.url(elements))
        await get_json(http, sim.url(f"{SUBJECTS}?studyId={sb}"))
        await get_json(http, sim.url(SUBJECTS))
        await get_json(http, sim.url(per_study(SUBJECTS, 1)))  # 404s count too
        await get_json(http, sim.url(STUDIES))  # no parameters: not counted
        status, stats = await get_json(http, f"{sim.admin_url}/stats")
        assert status == 200 and stats == sim.stats()
        assert stats["by_parameters"] == {
            PER_STUDY[SUBJECTS]: {str(sa): 2, str(sb): 1, "1": 1},
            "/api/v1/studies/{studyId}/visits/{visitId}/elements/odata": {f"{sa},{a['id']}": 1},
            SUBJECTS: {str(sb): 1, "": 1},
        }
        assert stats["by_parameters_overflow"] == 0
        sim.reset_stats()
        assert sim.stats()["by_parameters"] == {}


# --- mutations of parents and children ---------------------------------------------------------
async def test_quiet_study_updates_leave_children_untouched() -> None:
    async with SimulatorServer(sim_options(**MORE)) as sim:
        children = {t: sim.records(t) for t in (SUBJECTS, VISITS)}
        studies = {r["id"]: r for r in sim.records(STUDIES)}
        res = sim.mutate(STUDIES, update=3, rename=False)
        assert len(set(res["updated"])) == 3 and res["parents"] == {} and res["orphaned"] == {}
        after = {r["id"]: r for r in sim.records(STUDIES)}
        for sid in res["updated"]:
            assert after[sid] != studies[sid] and after[sid]["name"] == studies[sid]["name"]
            assert after[sid]["lastUpdatedOn"] > studies[sid]["lastUpdatedOn"]
        assert {k: v for k, v in after.items() if k not in res["updated"]} == {
            k: v for k, v in studies.items() if k not in res["updated"]
        }
        assert {t: sim.records(t) for t in children} == children  # byte for byte the same
        # a renaming update shows in the children that embed the study
        parent = next(r["study"]["id"] for r in children[SUBJECTS])
        sim.mutate(STUDIES, update_ids=[parent])
        renamed = next(r for r in sim.records(STUDIES) if r["id"] == parent)["name"]
        assert renamed != studies[parent]["name"]
        mine = [r for r in sim.records(SUBJECTS) if r["study"]["id"] == parent]
        assert mine and all(r["study"]["name"] == renamed for r in mine)


async def test_subject_updates_leave_their_studies_untouched() -> None:
    async with SimulatorServer(sim_options(**MORE)) as sim:
        studies, subjects = sim.records(STUDIES), {r["id"]: r for r in sim.records(SUBJECTS)}
        res = sim.mutate(PER_STUDY[SUBJECTS], update=4)
        assert sim.records(STUDIES) == studies
        after = {r["id"]: r for r in sim.records(SUBJECTS)}
        assert set(res["parents"]) == set(res["updated"])
        for rid in res["updated"]:
            assert after[rid] != subjects[rid]
            assert after[rid]["study"]["id"] == res["parents"][rid]
        assert {k for k in after if after[k] != subjects[k]} == set(res["updated"])


async def test_insert_and_delete_subjects_under_existing_studies() -> None:
    async with SimulatorServer(sim_options(**MORE)) as sim, client_session(sim) as http:
        studies = sim.records(STUDIES)
        before = await fetch_all(http, sim.base_url, SUBJECTS)
        sid = before[0]["study"]["id"]
        own = await fetch_all(http, sim.base_url, per_study(SUBJECTS, sid))
        body = {"template": PER_STUDY[SUBJECTS], "insert": 2, "parent": str(sid)}
        async with http.post(f"{sim.admin_url}/mutate", json=body) as r:
            added = await r.json()
        assert len(added["inserted"]) == 2
        assert added["parents"] == {str(i): sid for i in added["inserted"]}  # JSON keys
        gone = sim.mutate(PER_STUDY[SUBJECTS], delete=1, parent=str(sid))
        assert gone["parents"] == {gone["deleted"][0]: sid}
        want = [r["id"] for r in own if r["id"] not in gone["deleted"]] + added["inserted"]
        got = await fetch_all(http, sim.base_url, per_study(SUBJECTS, sid))
        assert ids(got) == want
        assert await fetch_all(http, sim.base_url, f"{SUBJECTS}?studyId={sid}") == got
        everything = await fetch_all(http, sim.base_url, SUBJECTS)
        assert set(ids(everything)) == (set(ids(before)) - set(gone["deleted"])) | set(
            added["inserted"]
        )
        truth = sim.truth(SUBJECTS)
        assert (truth["count"], truth["id_sum"]) == (len(everything), sum(ids(everything)))
        assert sim.truth(PER_STUDY[SUBJECTS])["id_sum"] == truth["id_sum"]
        assert sim.records(STUDIES) == studies


async def test_deleting_a_study_drops_its_children_everywhere_but_flat_lists() -> None:
    async with SimulatorServer(sim_options(**MORE)) as sim, client_session(sim) as http:
        visits = await fetch_all(http, sim.base_url, VISITS)
        subjects = await fetch_all(http, sim.base_url, SUBJECTS)
        sid = subjects[0]["study"]["id"]
        res = sim.mutate(STUDIES, delete_ids=[sid])
        assert res["deleted"] == [sid]
        orphans = res["orphaned"]
        assert orphans["subjects"] == [r["id"] for r in subjects if r["study"]["id"] == sid]
        assert orphans["visits"] == [r["id"] for r in visits if r["study"]["id"] == sid]
        for template in (SUBJECTS, VISITS):
            assert (await get_json(http, sim.url(per_study(template, sid))))[0] == 404
            assert (await get_json(http, sim.url(f"{template}?studyId={sid}")))[0] == 404
        for template, rows in ((SUBJECTS, subjects), (VISITS, visits)):
            left = await fetch_all(http, sim.base_url, template)
            space = "subjects" if template == SUBJECTS else "visits"
            assert ids(left) == [i for i in ids(rows) if i not in orphans[space]]
            truth = sim.truth(template)
            assert (truth["count"], truth["id_sum"]) == (len(left), sum(ids(left)))
        if "elements" in orphans:  # the flat /elements/odata list does not cascade
            flat = ids(await fetch_all(http, sim.base_url, "/api/v1/elements/odata"))
            assert set(orphans["elements"]) <= set(flat)


# --- study timestamps --------------------------------------------------------------------------
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$")


async def test_study_updates_and_inserts_stamp_the_current_time() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        base = await fetch_all(http, sim.base_url, STUDIES)
        assert all(ISO.match(r["lastUpdatedOn"]) for r in base)
        assert max(r["lastUpdatedOn"] for r in base) < "2026-01-01"
        t0 = datetime.now(UTC).isoformat(timespec="milliseconds")[:23]

        def stamps(*groups: list[int]) -> list[str]:
            now = {r["id"]: r["lastUpdatedOn"] for r in sim.records(STUDIES)}
            return [now[i] for group in groups for i in group]

        first = sim.mutate(STUDIES, update_ids=ids(base[:2]), insert=1)
        one = stamps(first["updated"], first["inserted"])
        second = sim.mutate(STUDIES, update_ids=first["inserted"], insert=1)
        two = stamps(second["updated"], second["inserted"])
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="milliseconds")[:23]
        for run in (one, two):
            assert all(ISO.match(s) for s in run)
            assert run == sorted(set(run))  # strictly increasing within a mutation
        # the current time (+1 ms per record when faster than the clock), and across mutations
        assert t0 <= one[0] and one[-1] < two[0] and two[-1] < soon


async def test_timestamp_filters_on_studies() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        res = sim.mutate(STUDIES, update=3, insert=2)
        changed = sorted(set(res["updated"] + res["inserted"]))
        lo, mid = changed[0], changed[len(changed) // 2]
        since = "2026-01-01T00:00:00Z"
        for flt, want in (
            (f"lastUpdatedOn ge {since}", changed),
            (f"lastUpdatedOn ge '{since}'", changed),
            (f"lastUpdatedOn ge datetimeoffset'{since}'", changed),
            (f"lastUpdatedOn ge {since} and id gt 5", changed),
            (f"lastUpdatedOn ge {since} and id le 9", []),
            (f"lastUpdatedOn ge {since} and id gt {lo}", changed[1:]),
            (f"lastUpdatedOn ge {since} and id le {mid}", [i for i in changed if i <= mid]),
            (
                f"(lastUpdatedOn ge {since}) and id gt {lo} and id le {mid}",
                [i for i in changed if lo < i <= mid],
            ),
            (f"lastUpdatedOn lt {since}", None),
        ):
            status, body = await get_json(http, sim.url(f"{STUDIES}?$filter={flt}&$top=1000"))
            assert status == 200, (flt, body)
            if want is None:
                assert not set(ids(body)) & set(changed) and len(body) > 0
            else:
                assert ids(body) == want, flt
        path = f"{STUDIES}?$filter=lastUpdatedOn ge {since}&$orderby=lastUpdatedOn desc"
        _, body = await get_json(http, sim.url(path))
        stamps = [r["lastUpdatedOn"] for r in body]
        assert stamps == sorted(stamps, reverse=True) and len(body) == len(changed)


# --- refused $filter fields --------------------------------------------------------------------
async def test_reject_filter_fields_answers_an_odata_400() -> None:
    options = sim_options(reject_filter_fields="lastUpdatedOn")
    async with SimulatorServer(options) as sim, client_session(sim) as http:
        assert sim.options.reject_filter_fields == ("lastUpdatedOn",)
        for flt in (
            "lastUpdatedOn ge 2026-01-01T00:00:00Z",
            "id gt 5 and LASTUPDATEDON ge 2026-01-01T00:00:00Z",
        ):
            status, body = await get_json(http, sim.url(f"{STUDIES}?$filter={flt}"))
            assert status == 400
            assert body["error"]["code"] == "BadRequest"
            assert body["error"]["target"].lower() == "lastupdatedon"
            assert "cannot be used in the $filter query option" in body["error"]["message"]
        for ok in ("$filter=id gt 5", "$orderby=lastUpdatedOn"):
            assert (await get_json(http, sim.url(f"{STUDIES}?{ok}")))[0] == 200
        visits = f"{VISITS}?$filter=lastUpdatedOn ge 2026-01-01T00:00:00Z"
        assert (await get_json(http, sim.url(visits)))[0] == 400  # every OData list
        body = {"reject_filter_fields": "createdOn, id"}
        async with http.post(f"{sim.admin_url}/config", json=body) as r:
            assert r.status == 200 and (await r.json())["reject_filter_fields"] == [
                "createdOn",
                "id",
            ]
        status, _ = await get_json(
            http, sim.url(f"{STUDIES}?$filter=lastUpdatedOn ge 2026-01-01T00:00:00Z")
        )
        assert status == 200
        assert (await get_json(http, sim.url(f"{STUDIES}?$filter=id gt 5")))[0] == 400
        async with http.post(f"{sim.admin_url}/config", json={"reject_filter_fields": "a b"}) as r:
            assert r.status == 400
        sim.configure(reject_filter_fields=())
        assert items_of((await get_json(http, sim.url(f"{STUDIES}?$filter=id gt 5")))[1])
