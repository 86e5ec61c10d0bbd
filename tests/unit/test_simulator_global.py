"""Unit tests of the simulator's request-economy parts: global-list views against brute force,
the drop fault, refused $filter fields, the new options and the per-parameter statistics."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ccsim import SimulatorOptions, stats
from ccsim.catalog import ENDPOINT_BY_TEMPLATE
from ccsim.dataset import Dataset, ParentView, View
from ccsim.global_lists import GlobalViews, UnknownParent, split_query_parent
from ccsim.mutations import mutate
from ccsim.odata import FilterFieldRejected, ODataError, parse_query, parse_timestamp_us
from ccsim.ordering import SHUFFLED, NaturalOrder
from ccsim.query import all_slots, run_query
from ccsim.records import Renderer
from tests.sim_support import brute, random_query

pytestmark = pytest.mark.unit

SEED, SCALE = 99, 0.05
SUBJECTS = ENDPOINT_BY_TEMPLATE["/api/v1/subjects/odata"]
VISITS = ENDPOINT_BY_TEMPLATE["/api/v1/visits/odata"]
STATUSES = ENDPOINT_BY_TEMPLATE["/api/v1/subject-statuses/odata"]


def mutated() -> Dataset:
    ds = Dataset(SEED, SCALE)
    rng = random.Random(11)
    for target in ("studies", "subjects", "visits", "subject_statuses"):
        mutate(ds, target, insert=4, update=5, delete=4, rng=rng)
    return ds


def live_children(ds: Dataset, space: str) -> list[int]:
    """Brute force: the slots of a global list (children of live studies, in id order)."""
    sp, studies = ds[space], ds["studies"]
    out = [
        s for p in range(studies.count(0)) if studies.alive(p) for s in all_slots(ParentView(sp, p))
    ]
    return sorted(out, key=sp.id_of)


def check(view: View, rng: random.Random, rounds: int = 40) -> None:
    for _ in range(rounds):
        q = random_query(rng, view)
        page = run_query(view, q)
        assert (page.slots, page.count) == brute(view, q), q


@pytest.mark.parametrize("ds", [Dataset(SEED, SCALE), mutated()], ids=["plain", "mutated"])
def test_global_views_are_the_live_studies_children_and_query_exactly(ds: Dataset) -> None:
    views = GlobalViews(ds)
    rng = random.Random(3)
    for ep in (SUBJECTS, VISITS):
        view = views.all_children(ds[ep.space])
        assert all_slots(view) == live_children(ds, ep.space)
        check(view, rng)
        dropped = views.all_children(ds[ep.space], 0.4)
        kept = all_slots(dropped)
        assert set(kept) < set(all_slots(view)) and 0.3 < len(kept) / len(all_slots(view)) < 0.9
        check(dropped, rng)
        assert views.all_children(ds[ep.space], 0.4) is dropped  # cached until a change
        assert all_slots(views.all_children(ds[ep.space], 1.0)) == []
        per_study: list[int] = []
        for study in ds["studies"].deleted | {0, 1, 2, 3}:
            sid = str(ds["studies"].id_of(study))
            if not ds["studies"].alive(study):
                with pytest.raises(UnknownParent):
                    views.view(ep, sid)
                continue
            assert all_slots(views.view(ep, sid)) == all_slots(ParentView(ds[ep.space], study))
        for study in range(ds["studies"].count(0)):
            if ds["studies"].alive(study):
                one = views.view(ep, str(ds["studies"].id_of(study)), 0.4)
                check(one, rng, 3)
                per_study += all_slots(one)
        assert sorted(per_study) == sorted(kept)  # the same records missing per study
        with pytest.raises(ODataError):
            views.view(ep, "x1")


def test_shuffled_order_of_global_views_follows_changes() -> None:
    ds = Dataset(SEED, SCALE)
    views, order = GlobalViews(ds), NaturalOrder(ds)
    sp = ds["subjects"]
    q = parse_query([("$top", "1000")], "id", "lastUpdatedOn")
    first = order.run(views.all_children(sp), q, SHUFFLED).slots
    assert sorted(first) == all_slots(views.all_children(sp)) and first != sorted(first)
    dropped = order.run(views.all_children(sp, 0.5), q, SHUFFLED).slots
    assert dropped == [s for s in first if s in set(dropped)] and len(dropped) < len(first)
    victim = sp.split(first[0])[0]
    mutate(ds, "studies", delete_ids=[ds["studies"].id_of(victim)], rng=random.Random(1))
    after = order.run(views.all_children(sp), q, SHUFFLED).slots
    assert after == [s for s in first if sp.split(s)[0] != victim]


def test_subject_statuses_of_one_study() -> None:
    ds = mutated()
    renderer = Renderer(ds)
    views = GlobalViews(ds, renderer)
    sp, studies = ds["subject_statuses"], ds["studies"]
    by_study: dict[int, list[int]] = {}
    for s in all_slots(ParentView(sp, 0)):
        by_study.setdefault(renderer.referenced_study(sp, s), []).append(s)
    rng = random.Random(5)
    for study, slots in sorted(by_study.items())[:25]:
        uid = renderer.preview("studies", study)["uid"]
        if not studies.alive(study):
            with pytest.raises(UnknownParent):
                views.view(STATUSES, uid)
            continue
        view = views.view(STATUSES, uid.upper())
        assert all_slots(view) == slots
        check(view, rng, 5)
    assert all_slots(views.view(STATUSES, None)) == all_slots(ParentView(sp, 0))
    with pytest.raises(ODataError):
        views.view(STATUSES, "nope")


def test_split_query_parent() -> None:
    items = [("$top", "5"), ("StudyId", " 12 "), ("$skip", "1")]
    assert split_query_parent("studyId", items) == ([("$top", "5"), ("$skip", "1")], "12")
    assert split_query_parent("studyId", [("studyId", "")]) == ([], None)
    assert split_query_parent("studyId", [("$top", "1")]) == ([("$top", "1")], None)
    with pytest.raises(ODataError):
        split_query_parent("studyId", [("studyId", "1"), ("studyid", "2")])


def test_timestamp_literals_and_refused_filter_fields() -> None:
    want = parse_timestamp_us("2026-01-01T00:00:00Z")
    for literal in ("2026-01-01T00:00:00Z", "'2026-01-01T00:00:00Z'", "datetime'2026-01-01'"):
        assert parse_timestamp_us(literal) == want
    assert parse_timestamp_us("datetimeoffset'2026-01-01T01:00:00+01:00'") == want
    q = parse_query(
        [("$filter", "lastUpdatedOn ge datetimeoffset'2026-01-01T00:00:00Z' and id le 9")],
        "id",
        "lastUpdatedOn",
    )
    assert (q.ts_lo, q.id_hi) == (want // 1000, 10)
    refuse = frozenset({"lastupdatedon"})
    with pytest.raises(FilterFieldRejected) as exc:
        parse_query(
            [("$filter", "id gt 1 and LastUpdatedOn ge 2026-01-01")],
            "id",
            "x",
            reject_fields=refuse,
        )
    assert exc.value.field == "LastUpdatedOn" and "$filter" in str(exc.value)
    ok = parse_query([("$orderby", "lastUpdatedOn")], "id", "lastUpdatedOn", reject_fields=refuse)
    assert ok.order_by == "ts"


def test_new_options_validate_and_normalise() -> None:
    o = SimulatorOptions().with_changes(
        global_list_drop=0.25, reject_filter_fields=" lastUpdatedOn, createdOn,lastUpdatedOn"
    )
    assert o.global_list_drop == 0.25
    assert o.reject_filter_fields == ("lastUpdatedOn", "createdOn")
    assert o.public_dict()["reject_filter_fields"] == ["lastUpdatedOn", "createdOn"]
    assert o.with_changes(reject_filter_fields=["id"]).reject_filter_fields == ("id",)
    assert (
        SimulatorOptions().reject_filter_fields == () and SimulatorOptions().global_list_drop == 0
    )
    bad: list[dict[str, Any]] = [
        {"global_list_drop": -0.1},
        {"global_list_drop": 1.01},
        {"global_list_drop": True},
        {"reject_filter_fields": "last updated"},
    ]
    for changes in bad:
        with pytest.raises(ValueError):
            SimulatorOptions().with_changes(**changes)


def test_quiet_updates_keep_names_and_results_name_parents_and_orphans() -> None:
    ds = Dataset(SEED, SCALE)
    r, rng = Renderer(ds), random.Random(2)
    studies, subjects = ds["studies"], ds["subjects"]
    study = next(p for p in range(studies.count(0)) if subjects.count(p) >= 2)
    sid = studies.id_of(study)
    before = (r.render("studies", study), r.preview("studies", study)["name"])
    mutate(ds, "studies", update_ids=[sid, sid], rename=False, rng=rng)
    assert studies.version_of(study) == 2 and studies.label_version(study) == 0
    assert r.render("studies", study) != before[0]
    assert r.preview("studies", study)["name"] == before[1]
    mutate(ds, "studies", update_ids=[sid], rng=rng)
    assert r.preview("studies", study)["name"].endswith("(rev 3)")
    kids = [subjects.id_of(s) for s in all_slots(ParentView(subjects, study))]
    res = mutate(ds, "/api/v1/studies/{studyId}/subjects/odata", update_ids=kids[:1], rng=rng)
    assert res["parents"] == {kids[0]: sid}
    res = mutate(ds, "studies", delete_ids=[sid], rng=rng)
    assert res["orphaned"]["subjects"] == kids and "study_personnel" not in res["orphaned"]


def test_stats_by_parameters_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "MAX_PARAMETER_KEYS", 2)
    st = stats.Stats()
    for value in ("1", "2", "1", "3", "2"):
        st.parameters("/t/{x}", value)
    snap = st.snapshot()
    assert snap["by_parameters"] == {"/t/{x}": {"1": 2, "2": 2}}
    assert snap["by_parameters_overflow"] == 1
    st.reset()
    assert st.snapshot()["by_parameters"] == {} and st.snapshot()["by_parameters_overflow"] == 0
