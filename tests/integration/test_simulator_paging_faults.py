"""Paging faults over real sockets: shuffled natural order, page overlap, max_top, runtime
configuration, the CLI flags and the ``__sim/records`` dump."""

from __future__ import annotations

import argparse
import asyncio
import itertools
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import orjson
import pytest

from ccsim import SimulatorServer
from ccsim.catalog import Kind, Parent
from ccsim.cli import add_arguments, options_from_args, options_to_argv
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

APPOINTMENTS = "/api/v1/appointments/odata"  # PageResultOf by default
STUDIES = "/api/v1/studies/odata"  # bare array by default
STATUSES = "/api/v1/subject-statuses/odata"  # keyless
VISIT_ELEMENTS = "/api/v1/studies/{studyId}/visits/{visitId}/elements/odata"  # keyless, 2 params


async def records_http(
    http: aiohttp.ClientSession, sim: SimulatorServer, template: str, params: str = ""
) -> tuple[int, Any]:
    query = {"template": template, **({"params": params} if params else {})}
    async with http.get(f"{sim.admin_url}/records", params=query) as resp:
        return resp.status, orjson.loads(await resp.read())


async def post_config(http: aiohttp.ClientSession, sim: SimulatorServer, **changes: Any) -> Any:
    async with http.post(f"{sim.admin_url}/config", json=changes) as resp:
        return resp.status, await resp.json()


async def follow_links(http: aiohttp.ClientSession, url: str) -> list[list[Any]]:
    pages: list[list[Any]] = []
    next_url: str | None = url
    while next_url:
        status, body = await get_json(http, next_url)
        assert status == 200, body
        pages.append(items_of(body))
        next_url = body.get("NextPageLink") or body.get("@odata.nextLink")
    return pages


async def test_runtime_config_of_paging_knobs() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        status, cfg = await post_config(
            http, sim, natural_order="shuffled", page_overlap=0.25, max_top=100
        )
        assert status == 200
        assert (cfg["natural_order"], cfg["page_overlap"], cfg["max_top"]) == (
            "shuffled",
            0.25,
            100,
        )
        _, cfg = await get_json(http, f"{sim.admin_url}/config")
        assert cfg["max_top"] == 100 and sim.options.natural_order == "shuffled"
        for bad in ({"natural_order": "desc"}, {"page_overlap": 2}, {"max_top": 5000}):
            status, body = await post_config(http, sim, **bad)
            assert status == 400 and "error" in body
        assert sim.options.max_top == 100  # unchanged by the rejected calls
        sim.configure(natural_order="id", page_overlap=0.0, max_top=1000)
        assert sim.options == sim_options()


async def test_shuffled_natural_order_over_http() -> None:
    async with (
        SimulatorServer(sim_options(natural_order="shuffled")) as sim,
        client_session(sim) as http,
    ):
        want = sim.records(APPOINTMENTS)
        crawl = await fetch_all(http, sim.base_url, APPOINTMENTS, top=25)
        ids = [r["id"] for r in crawl]
        assert ids != sorted(ids) and sorted(ids) == [r["id"] for r in want]
        assert crawl == sorted(want, key=lambda r: ids.index(r["id"]))  # same content
        assert [r["id"] for r in await fetch_all(http, sim.base_url, APPOINTMENTS, top=7)] == ids
        _, body = await get_json(http, sim.url(f"{APPOINTMENTS}?$orderby=id&$top=1000"))
        assert [r["id"] for r in items_of(body)] == sorted(ids)
        mid = sorted(ids)[len(ids) // 2]
        _, body = await get_json(
            http, sim.url(f"{APPOINTMENTS}?$filter=id gt {mid}&$top=1000&$count=true")
        )
        assert [r["id"] for r in items_of(body)] == [i for i in ids if i > mid]
        assert body["Count"] == sum(1 for i in ids if i > mid)
        _, sites = await get_json(http, sim.url("/api/v1/sites"))
        site_ids = [r["id"] for r in sites]
        assert site_ids != sorted(site_ids)
        assert site_ids == [r["id"] for r in (await get_json(http, sim.url("/api/v1/sites")))[1]]
        # drift: inserts land inside the order, deletes shift, updates keep their place
        res = sim.mutate(APPOINTMENTS, insert=6, delete=3, update=3)
        after = [r["id"] for r in await fetch_all(http, sim.base_url, APPOINTMENTS, top=25)]
        kept = [i for i in after if i not in res["inserted"]]
        assert kept == [i for i in ids if i not in res["deleted"]]
        assert any(after.index(i) < len(after) - len(res["inserted"]) for i in res["inserted"])


@pytest.mark.parametrize(
    "shape,path", [("pageresult", APPOINTMENTS), ("envelope", APPOINTMENTS), ("array", STUDIES)]
)
async def test_page_overlap_over_http(shape: str, path: str) -> None:
    opts = sim_options(page_overlap=1.0, shape_overrides={"odata": shape})
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        ids = [r["id"] for r in sim.records(path)]
        _, body = await get_json(http, sim.url(f"{path}?$top=10&$skip=10&$count=true"))
        assert [r["id"] for r in items_of(body)] == ids[9:20]
        _, body = await get_json(
            http, sim.url(f"{path}?$top=10&$orderby=id&$filter=id gt {ids[4]}")
        )
        assert [r["id"] for r in items_of(body)] == ids[4:15]
        if shape == "array":
            # a client paging by $skip sees every page after the first begin with a repeat
            _, first = await get_json(http, sim.url(f"{path}?$top=10"))
            _, second = await get_json(http, sim.url(f"{path}?$top=10&$skip=10"))
            assert len(first) == 10 and len(second) == 11 and second[0] == first[-1]
            return
        pages = await follow_links(http, sim.url(f"{path}?$top=10&$count=true"))
        assert len(pages) == -(-len(ids) // 10)
        assert all(b[0] == a[-1] for a, b in itertools.pairwise(pages))
        assert [r["id"] for n, p in enumerate(pages) for r in (p if n == 0 else p[1:])] == ids
        link = body.get("NextPageLink") or body.get("@odata.nextLink")
        assert link is not None and dict(parse_qsl(urlsplit(link).query))["$skip"] == "10"


async def test_partial_overlap_is_reproducible() -> None:
    async def run() -> list[int]:
        opts = sim_options(page_overlap=0.5)
        async with SimulatorServer(opts) as sim, client_session(sim) as http:
            sizes = []
            for skip in range(10, 400, 10):
                _, body = await get_json(http, sim.url(f"{APPOINTMENTS}?$top=10&$skip={skip}"))
                sizes.append(len(items_of(body)))
            return sizes

    first, second = await run(), await run()
    assert first == second and 11 in first and 10 in first


async def test_max_top_caps_pages_over_http() -> None:
    async with SimulatorServer(sim_options(max_top=100)) as sim, client_session(sim) as http:
        total = sim.truth(APPOINTMENTS)["count"]
        assert total > 100
        _, body = await get_json(http, sim.url(f"{APPOINTMENTS}?$top=1000&$count=true"))
        assert len(body["Items"]) == 100 and body["Count"] == total
        query = dict(parse_qsl(urlsplit(body["NextPageLink"]).query))
        assert query["$skip"] == "100" and query["$top"] == "100"
        pages = await follow_links(http, sim.url(f"{APPOINTMENTS}?$top=1000"))
        assert [r["id"] for p in pages for r in p] == [r["id"] for r in sim.records(APPOINTMENTS)]
        sim.configure(max_top=10)
        _, body = await get_json(http, sim.url(APPOINTMENTS))
        assert len(body["Items"]) == 10  # the default page is min(50, max_top)


async def test_records_dump_matches_the_api_by_content() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        status, statuses = await records_http(http, sim, STATUSES)
        assert status == 200 and statuses == await fetch_all(http, sim.base_url, STATUSES)
        assert statuses == sim.records(STATUSES) and len(statuses) == sim.truth(STATUSES)["count"]
        pairs = await parent_values(http, sim.base_url, Parent.STUDY_VISIT)
        total = 0
        for sid, vid in pairs[:25]:
            crawled = await fetch_all(http, sim.base_url, fill(VISIT_ELEMENTS, (sid, vid)))
            status, dumped = await records_http(http, sim, VISIT_ELEMENTS, f"{sid}/{vid}")
            assert status == 200 and dumped == crawled == sim.records(
                VISIT_ELEMENTS, [str(sid), str(vid)]
            )
            total += len(dumped)
        assert total > 0
        sid = pairs[0][0]
        one = await fetch_all(http, sim.base_url, f"/api/v1/studies/{sid}", kind=Kind.OBJECT)
        assert (await records_http(http, sim, "/api/v1/studies/{studyId}", str(sid)))[1] == one
        for template, params, want in (
            ("/api/v1/nope/odata", "", 404),
            ("/api/v1/users/odata", "", 404),
            (VISIT_ELEMENTS, "1/2", 404),
            (VISIT_ELEMENTS, str(sid), 400),
            ("", "", 400),
        ):
            status, body = await records_http(http, sim, template, params)
            assert status == want and "error" in body, (template, params)
        with pytest.raises(KeyError):
            sim.records("/api/v1/nope/odata")


async def test_records_snapshots_under_drift_ignore_faults_and_order() -> None:
    opts = sim_options(natural_order="shuffled", page_overlap=1.0, faults={"p_500": 1.0})
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        before = {r["id"]: r for r in sim.records(APPOINTMENTS)}
        status, _ = await get_json(http, sim.url(APPOINTMENTS))
        assert status == 500  # the API is faulted, the dump is not
        res = sim.mutate(APPOINTMENTS, insert=3, update=2, delete=2)
        status, dumped = await records_http(http, sim, APPOINTMENTS)
        after = {r["id"]: r for r in dumped}
        assert status == 200 and list(after) == sorted(after)
        assert set(after) == (set(before) - set(res["deleted"])) | set(res["inserted"])
        changed = {i for i in set(before) & set(after) if before[i] != after[i]}
        assert changed == set(res["updated"])


def test_cli_flags_round_trip() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    opts = sim_options(natural_order="shuffled", page_overlap=0.3, max_top=100)
    args = parser.parse_args([*options_to_argv(opts), "--api-key", opts.api_key])
    assert options_from_args(args) == opts
    helptext = parser.format_help()
    for flag in ("--natural-order", "--page-overlap", "--max-top"):
        assert flag in helptext
    with pytest.raises(ValueError):
        options_from_args(parser.parse_args(["--max-top", "0"]))


async def test_concurrent_paging_in_shuffled_order_is_consistent() -> None:
    """Concurrent clients (cache hits and misses) all see the same shuffled sequence."""
    opts = sim_options(natural_order="shuffled", page_cache_size=4)
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        crawls = await asyncio.gather(
            *(fetch_all(http, sim.base_url, APPOINTMENTS, top=t) for t in (5, 13, 50, 1000))
        )
        assert all(c == crawls[0] for c in crawls)
