"""Answer transforms and field changes over real sockets: which requests they hit (``after``,
probes, ``same_page``, ``times``, ``parent``), deep records, slow bodies, runtime configuration,
the command line and a child process."""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.request
from typing import Any

import aiohttp
import orjson
import pytest

from ccsim import AnswerTransform, FieldChange, SimulatorOptions, SimulatorProcess, SimulatorServer
from ccsim.cli import add_arguments, main, options_from_args, options_to_argv
from tests.sim_support import client_session, get_json, items_of, sim_options

pytestmark = pytest.mark.integration

APPOINTMENTS = "/api/v1/appointments/odata"  # PageResultOf by default, 172 records in tests
STUDIES = "/api/v1/studies/odata"  # bare array by default
SITES = "/api/v1/sites"  # plain list (array), 40 records
VISITS = "/api/v1/studies/{studyId}/visits/odata"
GLOBAL_VISITS = "/api/v1/visits/odata"  # ?studyId=
STUDY = "/api/v1/studies/{studyId}"  # an object endpoint


def transform(kind: str, template: str = APPOINTMENTS, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "template": template, **fields}


async def raw(http: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    async with http.get(url) as resp:
        return resp.status, await resp.read()


async def post_config(http: aiohttp.ClientSession, sim: SimulatorServer, **changes: Any) -> Any:
    async with http.post(f"{sim.admin_url}/config", json=changes) as resp:
        return resp.status, await resp.json()


def page_ids(payload: Any) -> list[Any]:  # ints, or strings where a transform says so
    return [r["id"] for r in items_of(payload)]


async def test_after_counts_data_requests_and_never_probes() -> None:
    opts = sim_options(transforms=[transform("empty_page", after=2)])
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        ids = [r["id"] for r in sim.records(APPOINTMENTS)]
        total = len(ids)

        async def page(skip: int, top: int = 10) -> Any:
            status, body = await get_json(
                http, sim.url(f"{APPOINTMENTS}?$top={top}&$skip={skip}&$count=true")
            )
            assert status == 200
            return body

        # one-record probes around every data request: answered normally, never counted
        assert page_ids(await page(0, top=1)) == ids[:1]
        assert page_ids(await page(0)) == ids[:10]  # data request 1: skipped (after=2)
        assert page_ids(await page(0, top=1)) == ids[:1]
        assert page_ids(await page(10)) == ids[10:20]  # data request 2: skipped
        assert page_ids(await page(10, top=1)) == ids[10:11]
        assert sim.stats()["transforms"] == {}
        bad = await page(20)  # data request 3: the first transformed one
        assert bad["Items"] == [] and bad["Count"] == total
        assert "$skip=30" in bad["NextPageLink"]  # the next link as the server computed it
        assert (await page(20))["Items"] == []  # its retry
        assert page_ids(await page(20, top=1)) == ids[20:21]  # a probe of that page: untouched
        assert page_ids(await page(30)) == ids[30:40]  # pinned to $skip=20: other pages normal
        assert page_ids(await page(0)) == ids[:10]
        assert sim.stats()["transforms"] == {"empty_page": 2}
        assert sim.truth(APPOINTMENTS)["count"] == total  # the truth is untouched
        assert len(sim.records(APPOINTMENTS)) == total
        status, dumped = await get_json(
            http, f"{sim.admin_url}/records?template={APPOINTMENTS.replace('/', '%2F')}"
        )
        assert status == 200 and len(dumped) == total  # admin answers are never transformed


async def test_same_page_retries_fail_the_same_way() -> None:
    opts = sim_options(transforms=[transform("duplicate_id", index=3)])
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        ids = [r["id"] for r in sim.records(APPOINTMENTS)]
        first_url = sim.url(f"{APPOINTMENTS}?$top=50")
        bodies = [(await raw(http, first_url))[1] for _ in range(4)]  # the page and 3 retries
        assert len(set(bodies)) == 1
        first = orjson.loads(bodies[0])
        assert page_ids(first) == [*ids[:3], ids[2], *ids[4:50]]
        status, second = await get_json(http, first["NextPageLink"])
        assert status == 200 and page_ids(second) == ids[50:100]
        assert sim.stats()["transforms"] == {"duplicate_id": 4}
        # every matching data request instead of one page
        sim.configure(transforms=[transform("duplicate_id", index=3, same_page=False)])
        _, second = await get_json(http, first["NextPageLink"])
        assert page_ids(second) == [*ids[50:53], ids[52], *ids[54:100]]


async def test_times_one_heals_on_the_retry() -> None:
    opts = sim_options(transforms=[transform("null_list", STUDIES, times=1)])
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        url = sim.url(f"{STUDIES}?$top=20")
        assert await raw(http, url) == (200, b"null")
        status, body = await get_json(http, url)
        assert status == 200 and page_ids(body) == [r["id"] for r in sim.records(STUDIES)][:20]
        assert sim.stats()["transforms"] == {"null_list": 1}
        sim.configure(transforms=[transform("missing_list", STUDIES, times=1)])
        assert await raw(http, url) == (200, b"{}")  # reconfiguring restarts the counters
        assert page_ids((await get_json(http, url))[1])


async def test_parent_restricts_to_one_parent() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        studies = [r["id"] for r in sim.records(STUDIES)]
        sid, other = [s for s in studies if len(sim.records(VISITS, [str(s)])) >= 4][:2]
        sim.configure(
            transforms=[
                transform("missing_list", VISITS, parent=str(sid), same_page=False),
                transform("id_as_string", GLOBAL_VISITS, parent=str(sid), same_page=False),
            ]
        )
        for _ in range(2):
            _, body = await get_json(http, sim.url(f"/api/v1/studies/{sid}/visits/odata"))
            assert body == {"NextPageLink": None, "Count": None}
            _, body = await get_json(http, sim.url(f"/api/v1/studies/{other}/visits/odata"))
            assert page_ids(body) == [r["id"] for r in sim.records(VISITS, [str(other)])]
        # a global list's parent is its query parameter
        _, body = await get_json(http, sim.url(f"{GLOBAL_VISITS}?studyId={sid}"))
        assert {type(i) for i in page_ids(body)} == {str}
        for query in (f"?studyId={other}", ""):
            _, body = await get_json(http, sim.url(GLOBAL_VISITS + query))
            assert {type(i) for i in page_ids(body)} == {int}
        assert sim.stats()["transforms"] == {"missing_list": 2, "id_as_string": 1}
        # by_parameters still counts per parent as usual
        assert sim.stats()["by_parameters"][VISITS] == {str(sid): 2, str(other): 2}


@pytest.mark.parametrize("depth", [300, 10_000])
async def test_deep_record(depth: int) -> None:
    opts = sim_options(transforms=[transform("deep_record", depth=depth, index=2)])
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        status, body = await raw(http, sim.url(f"{APPOINTMENTS}?$top=5"))
        assert status == 200
        assert body.count(b'{"a":') == depth
        assert body.count(b'"nested":') == 1
        assert b'"nested":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}," in body
        ids = [r["id"] for r in sim.records(APPOINTMENTS)]
        head, _, _ = body.partition(b',"nested":')
        starts = [b'{"id":%d,"lastUpdatedOn"' % i for i in ids[:5]]
        assert [start in head for start in starts] == [True, True, True, False, False]
        assert head.rindex(starts[2]) > head.rindex(starts[1])  # record 2 carries the field
        if depth < 1000:
            assert page_ids(orjson.loads(body)) == ids[:5]


async def test_slow_drip_sends_a_complete_body_slowly() -> None:
    seconds = 0.6
    opts = sim_options(transforms=[transform("slow_drip", SITES, seconds=seconds, chunk=256)])
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with http.get(sim.url(SITES)) as resp:
            headers_after = loop.time() - start
            body = await resp.read()
            assert resp.status == 200 and resp.content_length == len(body)
        elapsed = loop.time() - start
        assert headers_after < seconds / 2  # the status line comes at once, the body drips
        assert seconds * 0.9 <= elapsed <= seconds + 1.0
        assert orjson.loads(body) == sim.records(SITES)  # complete and unchanged
        assert sim.stats()["transforms"] == {"slow_drip": 1}


async def test_runtime_configuration_over_http() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        url = sim.url(f"{APPOINTMENTS}?$top=10&$count=true")
        _, normal = await get_json(http, url)
        wanted = [
            transform("count_high", amount=7, times=2),
            transform("short_page", after=1),
        ]
        status, cfg = await post_config(http, sim, transforms=wanted)
        assert status == 200
        assert cfg["transforms"] == [AnswerTransform.from_value(t).to_dict() for t in wanted]
        assert (await get_json(http, f"{sim.admin_url}/config"))[1]["transforms"] == cfg[
            "transforms"
        ]
        _, body = await get_json(http, url)
        assert body["Count"] == normal["Count"] + 7 and body["Items"] == normal["Items"]
        _, body = await get_json(http, url)
        assert body["Count"] == normal["Count"] + 7 and body["Items"] == normal["Items"][:5]
        _, body = await get_json(http, url)
        assert body["Count"] == normal["Count"] and body["Items"] == normal["Items"][:5]
        assert sim.stats()["transforms"] == {"count_high": 2, "short_page": 2}
        for bad, message in (
            ([transform("bogus")], "kind"),
            ([transform("empty_page", "/api/v1/nope/odata")], "template"),
            ([transform("empty_page", STUDY)], "not a list endpoint"),
            ([transform("empty_page", speed=3)], "unknown transform field"),
            ({"kind": "empty_page"}, "list"),
        ):
            status, body = await post_config(http, sim, transforms=bad)
            assert status == 400 and message in body["error"], body
        assert len(sim.options.transforms) == 2  # unchanged by the rejected calls
        status, cfg = await post_config(http, sim, transforms=[])
        assert status == 200 and cfg["transforms"] == [] and sim.options == sim_options()
        assert (await get_json(http, url))[1] == normal


async def test_objects_streams_and_concurrency() -> None:
    opts = sim_options(size_overrides={SITES: 20_001})  # streamed: more than 20000 records
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        studies = sim.records(STUDIES)
        sim.configure(transforms=[transform("missing_list", SITES, same_page=False)])
        status, body = await get_json(http, sim.url(SITES))
        assert status == 200 and len(body) == 20_001  # streamed answers are left alone
        status, body = await get_json(http, sim.url(f"/api/v1/studies/{studies[0]['id']}"))
        assert status == 200 and body == studies[0]
        sim.configure(transforms=[transform("empty_page", times=5, same_page=False)])
        results = await asyncio.gather(
            *(get_json(http, sim.url(f"{APPOINTMENTS}?$top=10&$skip={n}")) for n in range(40))
        )
        assert sum(items_of(b) == [] for _, b in results) == 5
        assert sim.stats()["transforms"] == {"empty_page": 5}


async def test_field_changes_mid_life() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        url = sim.url(f"{APPOINTMENTS}?$top=5")
        _, before = await get_json(http, url)  # now in the page cache
        sid = before["Items"][0]["study"]["id"]
        _, study = await get_json(http, sim.url(f"/api/v1/studies/{sid}"))
        changes = [
            {"template": APPOINTMENTS, "field": "comment", "change": "retype"},
            {"template": APPOINTMENTS, "field": "status", "change": "drop"},
            {"template": APPOINTMENTS, "field": "source", "change": "add", "value": {"x": 1}},
            {"template": STUDY, "field": "title", "change": "retype"},
        ]
        status, cfg = await post_config(http, sim, field_changes=changes)
        assert status == 200 and cfg["field_changes"] == changes
        _, after = await get_json(http, url)
        want = []
        for r in before["Items"]:
            r = dict(r, comment={"value": r["comment"]}, source={"x": 1})
            del r["status"]
            want.append(r)
        assert after["Items"] == want
        assert sim.records(APPOINTMENTS)[:5] == want  # the dump shows what the API serves
        _, one = await get_json(http, sim.url(f"/api/v1/studies/{sid}"))
        assert one == dict(study, title={"value": study["title"]})
        assert sim.records(STUDY, [str(sid)]) == [one]
        _, other = await get_json(http, sim.url(f"{STUDIES}?$top=3"))
        assert all(isinstance(r["title"], str) for r in other)  # only that template
        sim.configure(transforms=[transform("id_as_string", times=1)])  # both together
        _, both = await get_json(http, url)
        assert [r["id"] for r in both["Items"]] == [str(r["id"]) for r in want]
        assert both["Items"][0]["comment"] == want[0]["comment"]
        sim.configure(field_changes=[], transforms=[])  # (any change restarts the counters)
        assert (await get_json(http, url))[1] == before
        assert sim.truth(APPOINTMENTS)["count"] == len(sim.records(APPOINTMENTS))


def test_cli_flags_round_trip() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    opts = sim_options(
        transforms=[
            transform("deep_record", depth=10_000, times=1, same_page=False),
            transform("slow_drip", SITES, seconds=0.25, chunk=7),
            transform("null_id", VISITS, parent="12", after=3),
        ],
        field_changes=[
            {"template": APPOINTMENTS, "field": "comment", "change": "retype"},
            {"template": APPOINTMENTS, "field": "extra", "change": "add", "value": [1, "x"]},
        ],
    )
    argv = options_to_argv(opts)
    assert argv.count("--transform") == 3 and argv.count("--field-change") == 2
    args = parser.parse_args([*argv, "--api-key", opts.api_key])
    assert options_from_args(args) == opts
    assert options_from_args(parser.parse_args([])).transforms == ()
    args = parser.parse_args(
        ["--transform", '{"kind": "empty_page", "template": "/api/v1/studies/odata"}']
    )
    assert options_from_args(args).transforms == (
        AnswerTransform(kind="empty_page", template=STUDIES),
    )
    helptext = parser.format_help()
    assert "--transform" in helptext and "--field-change" in helptext
    for bad in (
        ["--transform", "{not json"],
        ["--transform", "[1]"],
        ["--transform", '{"kind": "empty_page"}'],
        ["--field-change", '{"template": "/x", "field": "a", "change": "drop"}'],
    ):
        with pytest.raises(ValueError):
            options_from_args(parser.parse_args(bad))
        assert main([*bad, "--port", "0"]) == 2  # refused before listening


def test_child_process_takes_transforms_from_its_command_line() -> None:
    opts = SimulatorOptions(
        scale=0.02,
        transforms=(AnswerTransform(kind="null_list", template=STUDIES, times=1),),
        field_changes=(FieldChange(template=STUDIES, field="title", change="drop"),),
    )
    with SimulatorProcess(opts) as sim:
        url = sim.base_url + f"{STUDIES}?$top=1000"
        bodies = []
        for _ in range(2):
            req = urllib.request.Request(url, headers=sim.auth_header)
            with urllib.request.urlopen(req, timeout=10) as resp:
                bodies.append(json.loads(resp.read()))
        assert bodies[0] is None
        assert len(bodies[1]) == sim.truth(STUDIES)["count"]
        assert all("title" not in r for r in bodies[1])
        req = urllib.request.Request(sim.admin_url + "/stats")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["transforms"] == {"null_list": 1}
