"""Unit tests of the simulator's paging faults: shuffled natural order, page overlap, max_top,
and the record dump (no sockets: the answers are computed by :class:`Api` directly)."""

from __future__ import annotations

import itertools
import random
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from ccsim.api import Api
from ccsim.catalog import Router
from ccsim.dataset import Dataset, FlatView, ParentView, View
from ccsim.dump import UnknownRecords, dump_records
from ccsim.hashing import h, salt
from ccsim.mutations import mutate
from ccsim.odata import Query, parse_query
from ccsim.options import SimulatorOptions
from ccsim.ordering import SHUFFLED, NaturalOrder
from ccsim.paging import OverlapPicker, PagingRules, head_query
from ccsim.query import all_slots
from ccsim.records import Renderer
from tests.sim_support import items_of

pytestmark = pytest.mark.unit

SEED, SCALE = 77, 0.05
APPOINTMENTS = "/api/v1/appointments/odata"
LINK_BASE = "http://sim.test/CCSWEB"


def views(ds: Dataset) -> list[View]:
    out: list[View] = [
        ParentView(ds[n], 0) for n in ("studies", "appointments", "subject_statuses")
    ]
    out += [FlatView(ds["patient_visits"]), FlatView(ds["visit_elements"])]
    pv = ds["patient_visits"]
    out.append(ParentView(pv, max(range(pv.n_parents()), key=pv.count)))
    return out


def mutated_dataset(seed: int = SEED) -> Dataset:
    ds = Dataset(seed, SCALE)
    rng = random.Random(11)
    for target in ("studies", "appointments", "subject_statuses", "patient_visits"):
        mutate(ds, target, insert=5, update=6, delete=5, rng=rng)
    return ds


# --- brute-force model ---------------------------------------------------------------------------
Row = tuple[int, int, int]  # (slot, id, ts) of a live record


def live_rows(view: View) -> list[Row]:
    sp = view.space
    return [(s, sp.id_of(s), sp.ts_of(s)) for s in all_slots(view)]


def _matches(row: Row, q: Query, skip_bound: str | None = None) -> bool:
    _, rid, ts = row
    checks = {
        "id_lo": q.id_lo is None or rid >= q.id_lo,
        "id_hi": q.id_hi is None or rid < q.id_hi,
        "ts_lo": q.ts_lo is None or ts >= q.ts_lo,
        "ts_hi": q.ts_hi is None or ts < q.ts_hi,
    }
    return all(ok for name, ok in checks.items() if name != skip_bound)


def brute_sequence(rows: list[Row], q: Query, natural: str, natural_salt: int) -> list[int]:
    """Every slot matching the filter, in the order the query asks for."""
    hits = [r for r in rows if _matches(r, q)]
    if natural == SHUFFLED and not q.explicit_order:
        return sorted((r[0] for r in hits), key=lambda s: h(natural_salt, s))
    col = 2 if q.order_by == "ts" else 1
    return [r[0] for r in sorted(hits, key=lambda r: r[col], reverse=q.desc)]


def brute_head(rows: list[Row], q: Query, natural: str, seq: list[int]) -> list[int]:
    """The record the overlap fault puts in front of the page (module ``paging`` docstring)."""
    if q.skip > 0:
        return [seq[q.skip - 1]] if q.skip - 1 < len(seq) else []
    if natural == SHUFFLED and not q.explicit_order:
        return []
    field, col = ("id", 1) if q.order_by == "id" else ("ts", 2)
    name = f"{field}_hi" if q.desc else f"{field}_lo"
    bound = getattr(q, name)
    if bound is None:
        return []
    beyond = [
        r for r in rows if _matches(r, q, name) and (r[col] >= bound if q.desc else r[col] < bound)
    ]
    if not beyond:
        return []
    pick = min if q.desc else max
    return [pick(beyond, key=lambda r: r[col])[0]]


def random_query(rng: random.Random, rows: list[Row], keyed: bool) -> Query:
    ids = [r[1] for r in rows] or [0]
    tss = [r[2] for r in rows] or [0]
    kw: dict[str, Any] = {
        "top": rng.choice([0, 1, 3, 10, 50]),
        "skip": rng.choice([0, 0, 0, 1, 5, 17, 40, len(rows), len(rows) + 1]),
        "explicit_order": rng.random() < 0.5,
    }
    if kw["explicit_order"]:
        kw["order_by"] = rng.choice(["id", "ts"]) if keyed else "ts"
        kw["desc"] = rng.random() < 0.4
    if keyed and rng.random() < 0.5:
        kw["id_lo"] = rng.choice(ids) + rng.choice([-1, 0, 1])
    if keyed and rng.random() < 0.3:
        kw["id_hi"] = rng.choice(ids) + rng.choice([-1, 0, 1])
    if rng.random() < 0.4:
        kw["ts_lo"] = rng.choice(tss) + rng.choice([-1, 0, 1])
    if rng.random() < 0.2:
        kw["ts_hi"] = rng.choice(tss) + rng.choice([-1, 0, 1])
    return Query(**kw)


@pytest.mark.parametrize("natural", ["id", SHUFFLED])
@pytest.mark.parametrize("mutated", [False, True])
def test_pages_and_heads_match_brute_force(natural: str, mutated: bool) -> None:
    ds = mutated_dataset() if mutated else Dataset(SEED, SCALE)
    order = NaturalOrder(ds)
    rng = random.Random(5)
    heads = {"skip": 0, "bound": 0}
    for view in views(ds):
        rows = live_rows(view)
        natural_salt = salt(ds.seed, view.space.name, "natural")
        for _ in range(60):
            q = random_query(rng, rows, view.space.spec.key is not None)
            page = order.run(view, q, natural)
            seq = brute_sequence(rows, q, natural, natural_salt)
            assert page.count == len(seq), (view.space.name, q)
            assert page.slots == seq[q.skip : q.skip + q.top], (view.space.name, q)
            hq = head_query(q, natural)
            head = order.run(view, hq, natural).slots if hq is not None else []
            assert head == brute_head(rows, q, natural, seq), (view.space.name, q)
            if head:
                heads["skip" if q.skip else "bound"] += 1
    assert heads["skip"] > 20
    assert heads["bound"] > (20 if natural == "id" else 5)


# --- shuffled natural order ----------------------------------------------------------------------
def test_shuffled_order_is_stable_seeded_and_not_id_order() -> None:
    ds = Dataset(SEED, SCALE)
    order = NaturalOrder(ds)
    view = ParentView(ds["appointments"], 0)
    first = order.shuffled(view)
    assert order.shuffled(ParentView(ds["appointments"], 0)) is first  # cached, not re-sorted
    assert sorted(first) == all_slots(view) and first != all_slots(view)
    again = NaturalOrder(Dataset(SEED, SCALE)).shuffled(
        ParentView(Dataset(SEED, SCALE)["appointments"], 0)
    )
    assert again == first
    other = NaturalOrder(Dataset(SEED + 1, SCALE))
    assert other.shuffled(ParentView(other.ds["appointments"], 0)) != first
    assert order.all_slots(view, "id") == all_slots(view)
    assert order.all_slots(view, SHUFFLED) == first


def test_shuffled_order_under_inserts_deletes_and_updates() -> None:
    ds = Dataset(SEED, SCALE)
    order = NaturalOrder(ds)
    sp = ds["appointments"]
    rng = random.Random(3)
    before = list(order.shuffled(ParentView(sp, 0)))
    res = mutate(ds, "appointments", delete=4, update=4, rng=rng)
    after = order.shuffled(ParentView(sp, 0))
    gone = {sp.slot_of_id(i) for i in res["deleted"]}
    assert after == [s for s in before if s not in gone]  # deletes shift later records left
    updated = {sp.slot_of_id(i) for i in res["updated"]}
    assert updated <= set(after)  # updates keep their position (same relative order)
    positions: list[int] = []
    for _ in range(12):
        res = mutate(ds, "appointments", insert=1, rng=rng)
        now = order.shuffled(ParentView(sp, 0))
        slot = sp.slot_of_id(res["inserted"][0])
        assert slot is not None
        positions.append(now.index(slot))
        assert len(now) == len(after) + len(positions)
    tail = len(after)
    assert any(p < tail for p in positions)  # inserts land inside the order, not at its end


def test_shuffled_plain_lists_and_keyless_views() -> None:
    ds = Dataset(SEED, SCALE)
    order = NaturalOrder(ds)
    flat = FlatView(ds["visit_elements"])
    got = order.all_slots(flat, SHUFFLED)
    assert sorted(got) == all_slots(flat) and got != all_slots(flat)


# --- page overlap, max_top and shapes through the Api --------------------------------------------
class Client:
    """Answers computed in-process, with the server's rules."""

    def __init__(self, ds: Dataset, **opts: Any) -> None:
        self.opts = SimulatorOptions(seed=ds.seed, scale=ds.scale).with_changes(**opts)
        self.api = Api(ds, Renderer(ds), 0)
        self.router = Router()
        self.picker = OverlapPicker(self.opts.page_overlap, 1)

    def get(self, path: str, query: list[tuple[str, str]] | None = None) -> Any:
        if "?" in path:
            path, _, qs = path.partition("?")
            query = parse_qsl(qs, keep_blank_values=True)
        route = self.router.match(path)
        assert route is not None
        rules = PagingRules(self.opts.natural_order, self.opts.max_top, self.picker.draw())
        ans = self.api.answer(
            route,
            query or [],
            LINK_BASE + path,
            "http://sim.test",
            self.opts.shape_overrides,
            rules,
        )
        assert ans.status == 200, ans.body
        return orjson.loads(ans.body)


def next_link(body: Any) -> str | None:
    if isinstance(body, dict):
        return body.get("@odata.nextLink") or body.get("NextPageLink")
    return None


def follow(client: Client, path: str) -> list[list[int]]:
    pages: list[list[int]] = []
    url: str | None = path
    while url is not None:
        body = client.get(url.removeprefix(LINK_BASE))
        pages.append([r["id"] for r in items_of(body)])
        url = next_link(body)
        assert len(pages) < 1000
    return pages


@pytest.mark.parametrize("shape", ["array", "envelope", "pageresult"])
def test_overlap_repeats_the_previous_record_in_every_shape(shape: str) -> None:
    ds = Dataset(SEED, SCALE)
    c = Client(ds, page_overlap=1.0, shape_overrides={"odata": shape})
    ids = [r["id"] for r in dump_records(ds, Renderer(ds), APPOINTMENTS)]
    assert len(ids) > 30
    body = c.get(APPOINTMENTS, [("$top", "7"), ("$count", "true")])
    assert [r["id"] for r in items_of(body)] == ids[:7]  # the first page is never extended
    body = c.get(APPOINTMENTS, [("$top", "7"), ("$skip", "7"), ("$count", "true")])
    assert [r["id"] for r in items_of(body)] == ids[6:14]  # $top + 1, head = record 6
    if shape != "array":
        link = next_link(body)
        assert link is not None and dict(parse_qsl(urlsplit(link).query))["$skip"] == "14"
        count = body.get("@odata.count", body.get("Count"))
        assert count == len(ids)
    # the page just past the end repeats the last record; beyond that nothing
    body = c.get(APPOINTMENTS, [("$top", "7"), ("$skip", str(len(ids)))])
    assert [r["id"] for r in items_of(body)] == ids[-1:]
    body = c.get(APPOINTMENTS, [("$top", "7"), ("$skip", str(len(ids) + 1))])
    assert items_of(body) == []
    # keyset: id gt X repeats X; id ge X repeats its predecessor; desc + id lt X repeats X
    x = ids[10]
    body = c.get(APPOINTMENTS, [("$top", "5"), ("$orderby", "id"), ("$filter", f"id gt {x}")])
    assert [r["id"] for r in items_of(body)] == ids[10:16]
    body = c.get(APPOINTMENTS, [("$top", "5"), ("$filter", f"id ge {x}")])
    assert [r["id"] for r in items_of(body)] == ids[9:15]
    body = c.get(APPOINTMENTS, [("$top", "3"), ("$orderby", "id desc"), ("$filter", f"id lt {x}")])
    assert [r["id"] for r in items_of(body)] == [x, ids[9], ids[8], ids[7]]
    body = c.get(APPOINTMENTS, [("$top", "5"), ("$filter", f"id gt {ids[0] - 10}")])
    assert [r["id"] for r in items_of(body)] == ids[:5]  # nothing below the bound


@pytest.mark.parametrize("shape", ["envelope", "pageresult"])
def test_following_links_sees_the_overlap(shape: str) -> None:
    ds = Dataset(SEED, SCALE)
    c = Client(ds, page_overlap=1.0, shape_overrides={"odata": shape})
    ids = [r["id"] for r in dump_records(ds, Renderer(ds), APPOINTMENTS)]
    pages = follow(c, f"{APPOINTMENTS}?$top=10&$count=true")
    assert len(pages) == -(-len(ids) // 10)
    for prev, page in itertools.pairwise(pages):
        assert page[0] == prev[-1]
    assert [i for n, p in enumerate(pages) for i in (p if n == 0 else p[1:])] == ids
    # filtered and ordered by timestamp: each linked page repeats the previous page's last row
    x = ids[len(ids) // 3]
    path = f"{APPOINTMENTS}?$top=9&$orderby=lastUpdatedOn&$filter=id gt {x}"
    pages = follow(c, path)
    assert len(pages) > 2 and all(p[0] == q[-1] for q, p in itertools.pairwise(pages))
    # no overlap: the pages partition the sequence
    plain = Client(ds, shape_overrides={"odata": shape})
    flat = [i for p in follow(plain, f"{APPOINTMENTS}?$top=10") for i in p]
    assert flat == ids


def test_overlap_probability_is_seeded_and_partial() -> None:
    a, b = OverlapPicker(0.5, 9), OverlapPicker(0.5, 9)
    seq_a = [a.draw() for _ in range(200)]
    assert seq_a == [b.draw() for _ in range(200)] and 60 < sum(seq_a) < 140
    assert not any(OverlapPicker(0.0, 1).draw() for _ in range(50))
    assert all(OverlapPicker(1.0, 1).draw() for _ in range(50))


def test_overlap_in_shuffled_order() -> None:
    ds = Dataset(SEED, SCALE)
    c = Client(ds, page_overlap=1.0, natural_order=SHUFFLED, shape_overrides={"odata": "envelope"})
    pages = follow(c, f"{APPOINTMENTS}?$top=10")
    assert len(pages) > 2 and all(p[0] == q[-1] for q, p in itertools.pairwise(pages))
    ids = [r["id"] for r in dump_records(ds, Renderer(ds), APPOINTMENTS)]
    seen = [i for n, p in enumerate(pages) for i in (p if n == 0 else p[1:])]
    assert sorted(seen) == ids and seen != ids
    # without $orderby a shuffled order has no "below the bound": id gt X is not extended
    body = c.get(APPOINTMENTS, [("$top", "5"), ("$filter", f"id gt {ids[5]}")])
    assert len(body["value"]) == 5
    assert all(r["id"] > ids[5] for r in body["value"])


def test_max_top_caps_silently_with_correct_count_and_links() -> None:
    ds = Dataset(SEED, SCALE)
    ids = [r["id"] for r in dump_records(ds, Renderer(ds), APPOINTMENTS)]
    c = Client(ds, max_top=20, shape_overrides={"odata": "envelope"})
    body = c.get(APPOINTMENTS, [("$top", "1000"), ("$count", "true")])
    assert [r["id"] for r in body["value"]] == ids[:20] and body["@odata.count"] == len(ids)
    assert dict(parse_qsl(urlsplit(body["@odata.nextLink"]).query))["$skip"] == "20"
    assert [i for p in follow(c, f"{APPOINTMENTS}?$top=1000") for i in p] == ids
    assert len(c.get(APPOINTMENTS)["value"]) == 20  # default page min(50, max_top)
    c = Client(ds, max_top=100, shape_overrides={"odata": "envelope"})
    assert len(c.get(APPOINTMENTS)["value"]) == 50
    assert len(c.get(APPOINTMENTS, [("$top", "500")])["value"]) == 100
    assert parse_query([("$top", "5000")], "id", None, max_top=7).top == 7
    assert parse_query([], "id", None, max_top=7).top == 7
    assert parse_query([("$top", "3")], "id", None, max_top=7).top == 3


def test_plain_lists_follow_the_natural_order() -> None:
    ds = Dataset(SEED, SCALE)
    want = [r["id"] for r in dump_records(ds, Renderer(ds), "/api/v1/sites")]
    assert [r["id"] for r in Client(ds).get("/api/v1/sites")] == want
    got = [r["id"] for r in Client(ds, natural_order=SHUFFLED).get("/api/v1/sites")]
    assert sorted(got) == want and got != want
    assert [r["id"] for r in Client(ds, natural_order=SHUFFLED).get("/api/v1/sites")] == got


# --- options -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes",
    [
        {"natural_order": "random"},
        {"page_overlap": -0.1},
        {"page_overlap": 1.5},
        {"max_top": 0},
        {"max_top": 1001},
        {"max_top": 10.5},
    ],
)
def test_paging_options_are_validated(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimulatorOptions().with_changes(**changes)


def test_paging_option_defaults() -> None:
    o = SimulatorOptions()
    assert (o.natural_order, o.page_overlap, o.max_top) == ("id", 0.0, 1000)
    o = o.with_changes(natural_order=SHUFFLED, page_overlap=1, max_top=1)
    assert o.public_dict()["natural_order"] == SHUFFLED and o.max_top == 1


# --- record dump ---------------------------------------------------------------------------------
def test_dump_records_matches_the_api_and_rejects_unknowns() -> None:
    ds = mutated_dataset()
    r = Renderer(ds)
    statuses = dump_records(ds, r, "/api/v1/subject-statuses/odata")
    view = ParentView(ds["subject_statuses"], 0)
    assert statuses == [orjson.loads(r.render("subject_statuses", s)) for s in all_slots(view)]
    c = Client(ds, page_overlap=1.0, natural_order=SHUFFLED)
    seen = c.get("/api/v1/subject-statuses/odata", [("$top", "1000")])
    assert sorted(map(orjson.dumps, items_of(seen))) == sorted(map(orjson.dumps, statuses))
    studies = ds["studies"]
    sid = studies.id_of(next(s for s in all_slots(ParentView(studies, 0)) if ds["visits"].count(s)))
    visits = dump_records(ds, r, "/api/v1/studies/{studyId}/visits/odata", [str(sid)])
    assert visits and [v["id"] for v in visits] == sorted(v["id"] for v in visits)
    elems = dump_records(
        ds,
        r,
        "/api/v1/studies/{studyId}/visits/{visitId}/elements/odata",
        (str(sid), str(visits[0]["id"])),
    )
    assert isinstance(elems, list)
    one = dump_records(ds, r, "/api/v1/studies/{studyId}", [str(sid)])
    assert len(one) == 1 and one[0]["id"] == sid
    assert dump_records(ds, r, "/api/v1/sponsor-teams/odata") == []  # swagger list answered empty
    with pytest.raises(UnknownRecords):
        dump_records(ds, r, "/api/v1/nope/odata")
    with pytest.raises(UnknownRecords):
        dump_records(ds, r, "/api/v1/users/odata")
    with pytest.raises(KeyError):
        dump_records(ds, r, "/api/v1/studies/{studyId}/visits/odata", ["1"])
    with pytest.raises(ValueError):
        dump_records(ds, r, "/api/v1/studies/{studyId}/visits/odata")
