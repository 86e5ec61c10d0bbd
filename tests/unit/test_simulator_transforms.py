"""Unit tests of the simulator's answer transforms and field changes: the pure body functions
on each of the three list shapes, validation, the per-configuration counters, the options and
the page cache (no sockets)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ccsim.api import Api
from ccsim.catalog import Router
from ccsim.dataset import Dataset
from ccsim.field_changes import FieldChange, change_record, parse_field_changes
from ccsim.options import SimulatorOptions
from ccsim.records import Renderer
from ccsim.shapes import ARRAY, ENVELOPE, PAGERESULT, list_body
from ccsim.transforms import (
    TRANSFORM_KINDS,
    AnswerTransform,
    Drip,
    TransformRuntime,
    is_data_query,
    nested_bytes,
    parse_transforms,
    transform_body,
)
from tests.sim_support import items_of

pytestmark = pytest.mark.unit

APPOINTMENTS = "/api/v1/appointments/odata"
SUBJECTS = "/api/v1/studies/{studyId}/subjects/odata"
VISIT_ELEMENTS = "/api/v1/studies/{studyId}/visits/{visitId}/elements/odata"  # keyless
GLOBAL_SUBJECTS = "/api/v1/subjects/odata"  # parent in ?studyId=
ARMS = "/api/v1/studies/{studyId}/arms"  # key "Id"
NEXT = "http://sim.test/CCSWEB/api/v1/appointments/odata?$top=6&$skip=6"
SHAPES = (ARRAY, ENVELOPE, PAGERESULT)
COUNT = 100
IDS = [11, 12, 13, 14, 15, 16]


def page(shape: str, n: int = len(IDS), *, count: int | None = COUNT, key: str = "id") -> bytes:
    """A page of ``n`` records ``{key: id, "name": ...}`` in ``shape`` (arrays carry no count
    and no link)."""
    records = [orjson.dumps({key: i, "name": f"record {i}"}) for i in IDS[:n]]
    return list_body(shape, records, count=count, next_link=NEXT, context="ctx")


def tf(kind: str, **fields: Any) -> AnswerTransform:
    return AnswerTransform(kind=kind, template=APPOINTMENTS, **fields)


def apply(body: bytes, *transforms: AnswerTransform, key: str = "id") -> Any:
    return orjson.loads(transform_body(body, transforms, key).body)


def meta(doc: Any) -> Any:
    """Everything of a parsed answer except its records."""
    if isinstance(doc, list):
        return None
    return {k: v for k, v in doc.items() if k not in ("value", "Items")}


def ids(doc: Any, key: str = "id") -> list[Any]:
    return [r.get(key, "<missing>") for r in items_of(doc)]


# --- record-count kinds --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_empty_page_keeps_count_and_link(shape: str) -> None:
    body = page(shape)
    out = transform_body(body, [tf("empty_page")])
    doc = orjson.loads(out.body)
    assert items_of(doc) == [] and out.records == 0
    assert meta(doc) == meta(orjson.loads(body))
    if shape != ARRAY:
        assert (doc.get("@odata.count") or doc.get("Count")) == COUNT
        assert (doc.get("@odata.nextLink") or doc.get("NextPageLink")) == NEXT


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n,kept", [(6, 3), (5, 2), (1, 0), (0, 0)])
def test_short_page_keeps_the_first_half(shape: str, n: int, kept: int) -> None:
    body = page(shape, n)
    out = transform_body(body, [tf("short_page")])
    doc = orjson.loads(out.body)
    assert ids(doc) == IDS[:kept] and out.records == kept
    assert meta(doc) == meta(orjson.loads(body))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "kind,amount,want", [("count_low", 40, 60), ("count_low", 400, 0), ("count_high", 40, 140)]
)
def test_count_changes(shape: str, kind: str, amount: int, want: int) -> None:
    body = page(shape)
    doc = apply(body, tf(kind, amount=amount))
    assert ids(doc) == IDS
    if shape == ARRAY:  # an array carries no count: unchanged
        assert doc == orjson.loads(body)
        return
    assert doc.get("@odata.count", doc.get("Count")) == want
    assert {k: v for k, v in meta(doc).items() if k not in ("@odata.count", "Count")} == {
        k: v for k, v in meta(orjson.loads(body)).items() if k not in ("@odata.count", "Count")
    }


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["count_low", "count_high"])
def test_count_change_without_a_count_is_a_no_op(shape: str, kind: str) -> None:
    body = page(shape, count=None)
    assert apply(body, tf(kind)) == orjson.loads(body)


# --- list member kinds ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_null_list(shape: str) -> None:
    body = page(shape)
    out = transform_body(body, [tf("null_list")])
    doc = orjson.loads(out.body)
    assert out.records == 0
    if shape == ARRAY:
        assert out.body == b"null"
        return
    member = "value" if shape == ENVELOPE else "Items"
    assert doc[member] is None and list(doc) == list(orjson.loads(body))
    assert meta(doc) == meta(orjson.loads(body))


@pytest.mark.parametrize("shape", SHAPES)
def test_missing_list(shape: str) -> None:
    body = page(shape)
    out = transform_body(body, [tf("missing_list")])
    doc = orjson.loads(out.body)
    assert out.records == 0
    if shape == ARRAY:
        assert out.body == b"{}"
        return
    assert "value" not in doc and "Items" not in doc
    assert doc == meta(orjson.loads(body))


# --- id kinds ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_duplicate_id(shape: str) -> None:
    body = page(shape)
    doc = apply(body, tf("duplicate_id"))
    assert ids(doc) == [11, 11, 13, 14, 15, 16]
    assert [r["name"] for r in items_of(doc)] == [f"record {i}" for i in IDS]  # two records
    assert ids(apply(body, tf("duplicate_id", index=4))) == [11, 12, 13, 14, 14, 16]
    for n in (0, 1):  # fewer than index + 1 records: unchanged
        short = page(shape, n)
        assert apply(short, tf("duplicate_id")) == orjson.loads(short)


@pytest.mark.parametrize("shape", SHAPES)
def test_id_as_string(shape: str) -> None:
    doc = apply(page(shape), tf("id_as_string"))
    assert ids(doc) == [str(i) for i in IDS]
    assert b'"id":"11"' in transform_body(page(shape), [tf("id_as_string")]).body


@pytest.mark.parametrize("shape", SHAPES)
def test_null_id_and_missing_id(shape: str) -> None:
    body = page(shape)
    assert ids(apply(body, tf("null_id"))) == [11, None, 13, 14, 15, 16]
    assert ids(apply(body, tf("null_id", index=0))) == [None, *IDS[1:]]
    doc = apply(body, tf("missing_id", index=2))
    assert ids(doc) == [11, 12, "<missing>", 14, 15, 16]
    assert items_of(doc)[2] == {"name": "record 13"}
    short = page(shape, 2)
    assert apply(short, tf("null_id", index=2)) == orjson.loads(short)
    assert apply(short, tf("missing_id", index=2)) == orjson.loads(short)


@pytest.mark.parametrize("kind", ["duplicate_id", "id_as_string", "null_id", "missing_id"])
def test_id_kinds_use_the_endpoints_key(kind: str) -> None:
    body = page(PAGERESULT, key="Id")
    doc = apply(body, AnswerTransform(kind=kind, template=ARMS), key="Id")
    assert ids(doc, "Id") != IDS and all("id" not in r for r in items_of(doc))


# --- deep record ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("depth", [1, 300, 10_000])
def test_deep_record_nests_by_bytes(shape: str, depth: int) -> None:
    body = page(shape)
    out = transform_body(body, [tf("deep_record", depth=depth)])
    assert out.records == len(IDS)
    assert out.body.count(b'{"a":') == depth
    assert b'"nested":' + nested_bytes(depth) + b"}" in out.body
    assert out.body.count(b"}") == body.count(b"}") + depth
    before, _, after = out.body.partition(b',"nested":')
    assert before.endswith(b'"name":"record 12"')  # the record at index 1
    assert after.startswith(b'{"a":{"a":' if depth > 1 else b'{"a":1}')
    if depth < 1000:  # orjson parses up to 1024 levels
        doc = orjson.loads(out.body)
        nested = items_of(doc)[1]["nested"]
        for _ in range(depth - 1):
            nested = nested["a"]
        assert nested == {"a": 1}
        assert [r for n, r in enumerate(items_of(doc)) if n != 1] == [
            r for n, r in enumerate(items_of(orjson.loads(body))) if n != 1
        ]


def test_deep_record_needs_the_record() -> None:
    body = page(ENVELOPE, 1)
    assert transform_body(body, [tf("deep_record")]).body == orjson.dumps(orjson.loads(body))


def test_nested_bytes() -> None:
    assert nested_bytes(1) == b'{"a":1}'
    assert nested_bytes(3) == b'{"a":{"a":{"a":1}}}'
    assert len(nested_bytes(10_000)) == 10_000 * 6 + 1


# --- slow drip and combinations ------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_slow_drip_leaves_the_bytes(shape: str) -> None:
    body = page(shape)
    out = transform_body(body, [tf("slow_drip", seconds=2, chunk=10)])
    assert out.body is body and out.records is None and out.drip == Drip(10, 2.0)


def test_transforms_apply_in_order() -> None:
    body = page(PAGERESULT)
    doc = apply(body, tf("duplicate_id"), tf("short_page"), tf("count_high", amount=1))
    assert ids(doc) == [11, 11, 13] and doc["Count"] == COUNT + 1
    doc = apply(body, tf("short_page"), tf("duplicate_id", index=4))
    assert ids(doc) == [11, 12, 13]  # too few records left: no-op
    out = transform_body(body, [tf("deep_record", depth=2000), tf("id_as_string")])
    assert out.body.count(b'{"a":') == 2000 and b'"id":"16"' in out.body
    out = transform_body(body, [tf("null_list"), tf("duplicate_id"), tf("slow_drip")])
    assert orjson.loads(out.body)["Items"] is None and out.drip is not None
    deep_then_gone = transform_body(body, [tf("deep_record"), tf("empty_page")])
    assert b"nested" not in deep_then_gone.body and b"\\u0000" not in deep_then_gone.body


# --- validation ----------------------------------------------------------------------------------
def test_transform_round_trips_through_dicts() -> None:
    t = tf("count_high", parent=None, after=3, times=2, same_page=False, amount=7)
    assert AnswerTransform.from_value(t.to_dict()) == t
    assert AnswerTransform.from_value(orjson.loads(orjson.dumps(t.to_dict()))) == t
    assert AnswerTransform.from_value(t) is t
    one = AnswerTransform.from_value({"kind": "slow_drip", "template": SUBJECTS, "parent": 12})
    assert one.parent == "12" and one.seconds == 5.0
    assert AnswerTransform.from_value({"kind": "slow_drip", "template": APPOINTMENTS, "seconds": 2})
    assert set(TRANSFORM_KINDS) == {
        "empty_page", "short_page", "count_low", "count_high", "null_list", "missing_list",
        "duplicate_id", "id_as_string", "null_id", "missing_id", "deep_record", "slow_drip",
    }  # fmt: skip


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"kind": "nope", "template": APPOINTMENTS}, "kind"),
        ({"template": APPOINTMENTS}, "needs 'kind'"),
        ({"kind": "empty_page"}, "needs 'template'"),
        ({"kind": "empty_page", "template": "/api/v1/nope/odata"}, "not a list endpoint"),
        ({"kind": "empty_page", "template": "/api/v1/studies/{studyId}"}, "not a list endpoint"),
        ({"kind": "empty_page", "template": APPOINTMENTS, "colour": 1}, "unknown transform"),
        ({"kind": "empty_page", "template": APPOINTMENTS, "parent": "12"}, "no parent"),
        ({"kind": "empty_page", "template": SUBJECTS, "parent": "12/34"}, "does not fit"),
        ({"kind": "empty_page", "template": VISIT_ELEMENTS, "parent": "12"}, "does not fit"),
        ({"kind": "empty_page", "template": VISIT_ELEMENTS, "parent": "12/"}, "does not fit"),
        ({"kind": "null_id", "template": VISIT_ELEMENTS}, "no id field"),
        ({"kind": "empty_page", "template": APPOINTMENTS, "after": -1}, "after"),
        ({"kind": "empty_page", "template": APPOINTMENTS, "times": 0}, "times"),
        ({"kind": "empty_page", "template": APPOINTMENTS, "times": 1.5}, "times"),
        ({"kind": "empty_page", "template": APPOINTMENTS, "same_page": "yes"}, "same_page"),
        ({"kind": "count_low", "template": APPOINTMENTS, "amount": -5}, "amount"),
        ({"kind": "duplicate_id", "template": APPOINTMENTS, "index": 0}, "index"),
        ({"kind": "null_id", "template": APPOINTMENTS, "index": True}, "index"),
        ({"kind": "deep_record", "template": APPOINTMENTS, "depth": 0}, "depth"),
        ({"kind": "slow_drip", "template": APPOINTMENTS, "seconds": -1}, "seconds"),
        ({"kind": "slow_drip", "template": APPOINTMENTS, "seconds": "2"}, "seconds"),
        ({"kind": "slow_drip", "template": APPOINTMENTS, "chunk": 0}, "chunk"),
    ],
)
def test_bad_transforms_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnswerTransform.from_value(fields)
    with pytest.raises(ValueError, match=rf"transforms\[1\].*{message}"):
        parse_transforms([{"kind": "empty_page", "template": APPOINTMENTS}, fields])


def test_transform_parents_of_global_lists_and_pairs() -> None:
    assert AnswerTransform(kind="empty_page", template=GLOBAL_SUBJECTS, parent="").parent == ""
    assert AnswerTransform(kind="empty_page", template=VISIT_ELEMENTS, parent="1/2")
    for bad in ({"kind": "empty_page"}, "empty_page", [["kind", "x"]]):
        with pytest.raises(ValueError):
            parse_transforms(bad)


# --- which requests ------------------------------------------------------------------------------
def test_is_data_query() -> None:
    assert is_data_query([]) and is_data_query([("$skip", "10")])
    assert is_data_query([("$top", "2")]) and is_data_query([("$TOP", "50")])
    assert not is_data_query([("$top", "1")]) and not is_data_query([("$Top", "0")])
    assert is_data_query([("$top", "many")])


def q(top: int, skip: int = 0) -> list[tuple[str, str]]:
    return [("$top", str(top)), ("$skip", str(skip))]


def fired(runtime: TransformRuntime, *requests: tuple[str, str | None, Any]) -> list[int]:
    return [len(runtime.pick(t, p, query)) for t, p, query in requests]


def test_runtime_after_times_and_same_page() -> None:
    rt = TransformRuntime([tf("empty_page", after=2, times=None)])
    got = fired(rt, *[(APPOINTMENTS, None, q(10, s)) for s in (0, 10, 20, 20, 30, 20)])
    assert got == [0, 0, 1, 1, 0, 1]  # pinned to $skip=20 once fired
    assert fired(TransformRuntime([tf("empty_page")]), ("/api/v1/sites/odata", None, q(10))) == [0]
    rt = TransformRuntime([tf("empty_page", times=1)])
    assert fired(rt, *[(APPOINTMENTS, None, q(10))] * 3) == [1, 0, 0]  # heals on the retry
    rt = TransformRuntime([tf("empty_page", times=2, same_page=False)])
    assert fired(rt, *[(APPOINTMENTS, None, q(10, s)) for s in (0, 10, 20)]) == [1, 1, 0]


def test_runtime_parents() -> None:
    seven, eight = (SUBJECTS, "7", q(10)), (SUBJECTS, "8", q(10))
    rt = TransformRuntime([AnswerTransform(kind="short_page", template=SUBJECTS, parent="7")])
    assert fired(rt, eight, seven, eight, seven) == [0, 1, 0, 1]
    # without a parent, the pinned page is (parent, query): another parent's first page differs
    rt = TransformRuntime([AnswerTransform(kind="short_page", template=SUBJECTS)])
    assert fired(rt, seven, eight, seven) == [1, 0, 1]
    rt = TransformRuntime([AnswerTransform(kind="short_page", template=SUBJECTS, same_page=False)])
    assert fired(rt, seven, eight, seven) == [1, 1, 1]


def test_runtime_applies_every_match_in_order() -> None:
    first, second = tf("short_page"), tf("count_high", after=1)
    rt = TransformRuntime([first, second, AnswerTransform(kind="empty_page", template=SUBJECTS)])
    assert rt.pick(APPOINTMENTS, None, q(10)) == [first]
    assert rt.pick(APPOINTMENTS, None, q(10)) == [first, second]


# --- options -------------------------------------------------------------------------------------
def test_options_accept_dicts_and_show_dicts() -> None:
    t = {"kind": "null_list", "template": APPOINTMENTS, "times": 1}
    c = {"template": APPOINTMENTS, "field": "comment", "change": "add", "value": {"x": [1]}}
    opts = SimulatorOptions().with_changes(transforms=[t], field_changes=[c])
    assert opts.transforms == (AnswerTransform(kind="null_list", template=APPOINTMENTS, times=1),)
    assert opts.field_changes == (FieldChange.from_value(c),)
    public = opts.public_dict()
    assert public["transforms"] == [AnswerTransform.from_value(t).to_dict()]
    assert public["field_changes"] == [c]
    assert orjson.loads(orjson.dumps(public))["transforms"][0]["times"] == 1
    assert SimulatorOptions(transforms=(opts.transforms[0],)).transforms == opts.transforms
    cleared = opts.with_changes(transforms=[], field_changes=None)
    assert cleared.transforms == () and cleared.field_changes == ()
    assert cleared == SimulatorOptions()
    with pytest.raises(ValueError, match=r"transforms\[0\]"):
        opts.with_changes(transforms=[{"kind": "bad", "template": APPOINTMENTS}])
    with pytest.raises(ValueError, match=r"field_changes\[0\]"):
        opts.with_changes(field_changes=[{"template": APPOINTMENTS, "field": "x"}])


# --- field changes -------------------------------------------------------------------------------
def test_field_change_kinds() -> None:
    record = orjson.dumps({"id": 1, "name": "a", "comment": None})

    def change(**fields: Any) -> Any:
        return orjson.loads(change_record(record, [FieldChange(template=APPOINTMENTS, **fields)]))

    retyped = change(field="name", change="retype")
    assert retyped == {"id": 1, "name": {"value": "a"}, "comment": None}
    assert change(field="comment", change="retype")["comment"] == {"value": None}
    assert change(field="name", change="drop") == {"id": 1, "comment": None}
    added = change(field="extra", change="add")
    assert list(added.items())[-1] == ("extra", "new") and len(added) == 4
    assert change(field="extra", change="add", value=[1, None])["extra"] == [1, None]
    assert change(field="extra", change="add", value=None)["extra"] is None
    assert change(field="missing", change="retype") == orjson.loads(record)
    assert change(field="missing", change="drop") == orjson.loads(record)
    drop = parse_field_changes([{"template": APPOINTMENTS, "field": "x", "change": "drop"}])
    assert change_record(b'"a string record"', drop) == b'"a string record"'
    assert change_record(record, ()) is record


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"template": "/nope", "field": "x", "change": "drop"}, "template"),
        ({"template": APPOINTMENTS, "field": "", "change": "drop"}, "field name"),
        ({"template": APPOINTMENTS, "field": "x", "change": "rename"}, "rename"),
        ({"template": APPOINTMENTS, "field": "x", "change": "drop", "value": 1}, "no value"),
        ({"template": APPOINTMENTS, "field": "x", "change": "add", "value": {1, 2}}, "JSON"),
        ({"template": APPOINTMENTS, "change": "drop"}, "needs 'field'"),
        ({"template": APPOINTMENTS, "field": "x", "change": "add", "colour": 1}, "unknown"),
    ],
)
def test_bad_field_changes_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FieldChange.from_value(fields)


def test_field_change_round_trips() -> None:
    for c in (
        FieldChange(template=APPOINTMENTS, field="comment", change="retype"),
        FieldChange(template=APPOINTMENTS, field="extra", change="add", value={"a": [1]}),
    ):
        assert FieldChange.from_value(orjson.loads(orjson.dumps(c.to_dict()))) == c
    assert "value" not in FieldChange(template=APPOINTMENTS, field="x", change="drop").to_dict()


def test_field_changes_are_part_of_the_page_cache_key() -> None:
    ds = Dataset(77, 0.05)
    api = Api(ds, Renderer(ds), cache_size=16)
    route = Router().match(APPOINTMENTS)
    assert route is not None
    query = [("$top", "5")]

    def answer(*changes: FieldChange) -> list[Any]:
        ans = api.answer(route, query, "http://x", "http://x", {}, field_changes=changes)
        return items_of(orjson.loads(ans.body))

    plain = answer()
    retyped = answer(FieldChange(template=APPOINTMENTS, field="comment", change="retype"))
    assert [r["comment"] for r in retyped] == [{"value": r["comment"]} for r in plain]
    added = answer(FieldChange(template=APPOINTMENTS, field="comment", change="add", value=1))
    assert [r["comment"] for r in added] == [1] * 5
    assert answer() == plain  # served from the cache, unchanged
