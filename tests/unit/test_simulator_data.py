"""Unit tests of the simulator's data generation, query engine, truth and mutations."""

from __future__ import annotations

import itertools
import random
import time

import orjson
import pytest

from ccsim.catalog import (
    DEAD_TEMPLATES,
    ENDPOINTS,
    NOT_IMPLEMENTED_TEMPLATES,
    Kind,
    Parent,
    Router,
)
from ccsim.dataset import Dataset, FlatView, ParentView, Space, View
from ccsim.mutations import MutationError, mutate
from ccsim.query import all_slots, run_query
from ccsim.records import Renderer
from ccsim.resolve import resolve_parent
from ccsim.truth import Truth, parent_ordinals
from tests.sim_support import brute, random_query

pytestmark = pytest.mark.unit

SEED, SCALE = 99, 0.05


def views(ds: Dataset) -> list[View]:
    out: list[View] = []
    for name in ("studies", "appointments", "subject_statuses"):
        out.append(ParentView(ds[name], 0))
    for name in ("patient_visits", "elements"):
        out.append(FlatView(ds[name]))
    pv = ds["patient_visits"]
    busiest = max(range(pv.n_parents()), key=pv.count)
    out.append(ParentView(pv, busiest))
    return out


def check_queries(ds: Dataset, rng: random.Random, rounds: int = 60) -> None:
    for view in views(ds):
        for _ in range(rounds):
            q = random_query(rng, view)
            page = run_query(view, q)
            want_slots, want_count = brute(view, q)
            assert page.count == want_count, (view.space.name, q)
            assert page.slots == want_slots, (view.space.name, q)


def test_ids_unique_monotone_and_invertible() -> None:
    ds = Dataset(SEED, SCALE)
    for name in ("studies", "patients", "patient_visits", "pv_elements", "visit_elements"):
        sp = ds[name]
        view: View = ParentView(sp, 0) if sp.is_root else FlatView(sp)
        slots = all_slots(view)
        ids = [sp.id_of(s) for s in slots]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert all(sp.slot_of_id(i) == s for i, s in zip(ids, slots, strict=True))
        assert sp.slot_of_id(ids[0] - 1) is None or sp.slot_of_id(ids[0] - 1) not in slots
        gaps = {b - a for a, b in itertools.pairwise(ids)}
        assert len(gaps) > 1 and min(gaps) >= 1  # non-contiguous
        assert max(ids) < 2**31


def test_children_exist_only_for_parents_and_some_have_none() -> None:
    ds = Dataset(SEED, SCALE)
    subjects = ds["subjects"]
    counts = [subjects.count(p) for p in range(ds["studies"].n_ordinals())]
    assert 0 in counts and max(counts) > 0
    assert sum(counts) == FlatView(subjects).n == subjects.n_nat()
    assert subjects.count(ds["studies"].n_ordinals() + 5) == 0


def test_deterministic_per_seed_and_differs_across_seeds() -> None:
    def sample(seed: int) -> bytes:
        ds = Dataset(seed, SCALE)
        r = Renderer(ds)
        out = []
        for name in ("studies", "patient_visits", "visit_elements", "lookup_lists"):
            sp = ds[name]
            view: View = ParentView(sp, 0) if sp.is_root else FlatView(sp)
            out += [r.render(name, s) for s in all_slots(view)[:20]]
        return b"\n".join(out)

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_records_parse_and_carry_non_ascii_and_nulls() -> None:
    ds = Dataset(SEED, SCALE)
    r = Renderer(ds)
    blob = b"[" + b",".join(r.render("patients", s) for s in range(50)) + b"]"
    rows = orjson.loads(blob)
    assert all(isinstance(row["id"], int) for row in rows)
    text = blob.decode()
    assert any(ord(c) > 127 for c in text)
    assert any(v is None for row in rows for v in row.values())
    pv = orjson.loads(r.render("patient_visits", FlatView(ds["patient_visits"]).slot_of(0)))
    assert {"id", "uid", "study", "subject", "visitId", "appointments"} <= set(pv)
    assert set(pv["subject"]) == {"Id", "Uid", "Name"}


def test_scale_100_starts_fast() -> None:
    t = time.perf_counter()
    ds = Dataset(1, 100.0)
    Renderer(ds)
    assert time.perf_counter() - t < 1.0
    assert ds["studies"].n_nat() == 157_300


def test_query_engine_matches_brute_force() -> None:
    check_queries(Dataset(SEED, SCALE), random.Random(1))


def test_query_engine_matches_brute_force_after_mutations() -> None:
    ds = Dataset(SEED, SCALE)
    rng = random.Random(2)
    for target in ("studies", "appointments", "subject_statuses", "patient_visits", "elements"):
        mutate(ds, target, insert=4, update=6, delete=5, rng=rng)
    pv = ds["patient_visits"]
    busiest = max(range(pv.n_parents()), key=pv.count)
    subject_slot = ds["subjects"].slot_of_ordinal(busiest)
    parent = f"{ds['studies'].id_of(ds['subjects'].split(subject_slot)[0])}/"
    parent += str(ds["subjects"].id_of(subject_slot))
    mutate(
        ds,
        "/api/v1/studies/{studyId}/subjects/{subjectId}/patient-visits",
        insert=2,
        update=2,
        delete=2,
        parent=parent,
        rng=rng,
    )
    check_queries(ds, random.Random(3))


def brute_truth(ds: Dataset, template: str) -> tuple[int, int | None]:
    ep = next(e for e in ENDPOINTS if e.template == template)
    sp: Space = ds[ep.space]
    if ep.kind is Kind.OBJECT:
        if ep.parent is Parent.NONE:
            return 1, None
        slots = all_slots(ParentView(sp, 0))
        return len(slots), (sum(sp.id_of(s) for s in slots) if ep.companion is None else None)
    if ep.parent is Parent.NONE and ep.query_parent is not None and not sp.is_root:
        studies = ds["studies"]  # a global list: the children of live studies
        alive = [s for s in range(studies.count(0)) if studies.alive(s)]
        view_list: list[View] = [ParentView(sp, s) for s in alive]
    elif ep.parent is Parent.NONE:
        view_list = [ParentView(sp, 0) if sp.is_root else FlatView(sp)]
    else:
        view_list = [ParentView(sp, p) for p in parent_ordinals(ds, ep.parent)]
    slots = [s for v in view_list for s in all_slots(v)]
    ids = sum(sp.id_of(s) for s in slots) if sp.spec.key else None
    return len(slots), ids


def test_truth_matches_enumeration_before_and_after_mutations() -> None:
    ds = Dataset(SEED, SCALE)
    truth = Truth(ds)
    for ep in ENDPOINTS:
        got = truth.one(ep.template)
        assert (got["count"], got["id_sum"]) == brute_truth(ds, ep.template), ep.template
    rng = random.Random(5)
    for target in ("studies", "subjects", "visits", "patient_visits", "pv_elements", "patients"):
        mutate(ds, target, insert=3, update=3, delete=3, rng=rng)
    for ep in ENDPOINTS:
        got = truth.one(ep.template)
        assert (got["count"], got["id_sum"]) == brute_truth(ds, ep.template), ep.template


def test_mutation_semantics() -> None:
    ds = Dataset(SEED, SCALE)
    rng = random.Random(7)
    studies = ds["studies"]
    n0 = studies.count(0)
    res = mutate(ds, "/api/v1/studies/odata", insert=2, update=1, delete=1, rng=rng)
    assert len(res["inserted"]) == 2 and len(res["updated"]) == 1 and len(res["deleted"]) == 1
    assert min(res["inserted"]) > studies.id_of(n0 - 1)  # inserted sort last
    top_base = max(studies.base_ts(s) for s in range(studies.count(0)))
    for rid in res["inserted"] + res["updated"]:
        slot = studies.slot_of_id(rid)
        assert slot is not None and studies.ts_of(slot) > top_base
    dead = studies.slot_of_id(res["deleted"][0])
    assert dead is not None and not studies.alive(dead)
    assert resolve_parent(ds, Parent.STUDY, (str(res["deleted"][0]),)) is None
    with pytest.raises(MutationError):
        mutate(ds, "/api/v1/instance/details", update=1, rng=rng)
    with pytest.raises(MutationError):
        mutate(ds, "/api/v1/nope", update=1, rng=rng)


def test_router() -> None:
    router = Router()
    for t in DEAD_TEMPLATES:
        got = router.match(t.replace("{studyId}", "123"))
        assert got is not None and got.status == 404, t
    for t in NOT_IMPLEMENTED_TEMPLATES:
        got = router.match(t)
        assert got is not None and got.status == 501
    got = router.match("/api/v1/studies/odata")
    assert got is not None and got.endpoint is not None and got.endpoint.space == "studies"
    got = router.match("/api/v1/studies/42")
    assert got is not None and got.endpoint is not None and got.params == ("42",)
    got = router.match("/api/v1/studies/4/visits/7/elements/odata")
    assert got is not None and got.params == ("4", "7")
    got = router.match("/api/v1/sponsor-teams/odata")  # a swagger list path without data
    assert got is not None and got.endpoint is None and got.empty_kind is Kind.ODATA
    assert router.match("/api/v1/no/such/thing") is None
    assert router.match("/api/v1/system/study-statuses/odata").status == 404  # type: ignore[union-attr]
