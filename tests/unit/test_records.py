from __future__ import annotations

import orjson
import pytest

from trialsync_async.engine.pipeline import Batcher, Chunk, TrackedQueue, UnitEnd
from trialsync_async.engine.units import Unit, fanout_unit, range_count, range_units
from trialsync_async.errors import MalformedResponse
from trialsync_async.inventory import RecordKey, parse_job
from trialsync_async.records import NUL_REPLACEMENT, Row, RowBuilder, scope_of, serialize

pytestmark = pytest.mark.unit


def test_keys_by_strategy() -> None:
    assert RowBuilder(RecordKey("id"), endpoint="/x").row({"id": 1}).key is None
    assert RowBuilder(RecordKey.parse("Id"), endpoint="/x").row({"Id": 7}).key == "7"
    assert RowBuilder(RecordKey.parse("$"), endpoint="/x").row("Sex").key == "Sex"
    keyless = RowBuilder(RecordKey("none"), endpoint="/x")
    seen: dict[str, int] = {}
    a, b = (
        keyless.row({"a": 1}, scope="s=1", seen=seen),
        keyless.row({"a": 1}, scope="s=1", seen=seen),
    )
    assert a.key is not None and b.key is not None
    assert a.key != b.key and a.key.endswith("|0") and b.key.endswith("|1")
    assert a.scope == "s=1"


def test_record_keys_match_any_casing_and_note_it() -> None:
    builder = RowBuilder(RecordKey.parse("Id"), endpoint="/x")
    assert builder.row({"id": 7}).key == "7"
    assert builder.row({"ID": 8}).key == "8"
    assert builder.row({"Id": 9}).key == "9"
    assert builder.casings == {"id": 1, "ID": 1, "Id": 1}
    composite = RowBuilder(RecordKey.parse("visit.id+element.id"), endpoint="/x")
    assert composite.row({"Visit": {"id": 1}, "element": {"id": 2}}).key == "1|2"


def test_records_without_their_key_are_refused() -> None:
    with pytest.raises(MalformedResponse, match="no top-level 'id'"):
        RowBuilder(RecordKey("id"), endpoint="/x").row({"name": "no id"})
    with pytest.raises(MalformedResponse, match="it has 'Id'"):
        RowBuilder(RecordKey("id"), endpoint="/x").row({"Id": 3})
    with pytest.raises(MalformedResponse):
        RowBuilder(RecordKey.parse("visit.id+element.id"), endpoint="/x").row({"visit": {"id": 1}})


def test_nul_characters_are_replaced_and_flagged() -> None:
    text, sanitized = serialize({"id": 1, "t": "a\x00b", "n": ["\x00"], "k": {"x": "c\x00"}})
    assert sanitized
    assert orjson.loads(text) == {
        "id": 1,
        "t": f"a{NUL_REPLACEMENT}b",
        "n": [NUL_REPLACEMENT],
        "k": {"x": f"c{NUL_REPLACEMENT}"},
    }
    assert serialize({"id": 1, "t": "plain"}) == ('{"id":1,"t":"plain"}', False)
    row = RowBuilder(RecordKey("id"), endpoint="/x").row({"id": 1, "t": "\x00"})
    assert row.sanitized and orjson.loads(row.data)["t"] == NUL_REPLACEMENT


def test_scope() -> None:
    assert scope_of({"studyId": "1", "visitId": "2"}) == "studyId=1&visitId=2"
    assert scope_of({}) == ""


def _unit(key: str = "all") -> Unit:
    return Unit(key, "/x", {})


def test_batcher_never_splits_a_page_and_carries_positions_and_unit_ends() -> None:
    batcher = Batcher(max_rows=3, max_bytes=10_000)
    rows = [Row(f'{{"id": {i}}}', None) for i in range(2)]
    assert batcher.add(Chunk(_unit(), rows, {"after": 1})) is None
    full = batcher.add(Chunk(_unit(), rows, {"after": 3}))
    assert full is not None and len(full.rows) == 4  # a page is never split
    [update] = full.unit_updates()
    assert (update.status, update.position, update.records) == ("partial", {"after": 3}, 4)
    end = UnitEnd(_unit(), None)
    assert batcher.end_unit(end) is None
    last = batcher.take()
    assert last.ended_units == [end]
    assert [(u.status, u.records) for u in last.unit_updates()] == [("done", 0)]
    small = Batcher(max_rows=100, max_bytes=10)
    assert small.add(Chunk(_unit(), rows, None)) is not None


def test_batcher_commits_after_enough_ended_units() -> None:
    batcher = Batcher(max_rows=100, max_bytes=10_000, max_units=3, max_age=60)
    assert batcher.due_in() is None
    assert batcher.end_unit(UnitEnd(_unit("a"), None)) is None
    due = batcher.due_in()
    assert due is not None and 59 < due <= 60
    assert batcher.end_unit(UnitEnd(_unit("b"), None)) is None
    full = batcher.end_unit(UnitEnd(_unit("c"), None))
    assert full is not None and [u.key for u in full.unit_updates()] == ["a", "b", "c"]


async def test_tracked_queue_high_water() -> None:
    q: TrackedQueue[int] = TrackedQueue(5)
    for i in range(3):
        await q.put(i)
    await q.get()
    await q.put(9)
    assert q.high_water == 3


def test_plain_jobs_are_split_into_keyset_ranges() -> None:
    assert range_count(None, 1000, 8) == 1
    assert range_count(2000, 1000, 8) == 1
    assert range_count(5000, 1000, 8) == 5
    assert range_count(10**6, 1000, 8) == 16
    units = range_units("/p", [(None, 10), (10, 20), (20, None)])
    assert [u.key for u in units] == ["range 0", "range 1", "range 2"]
    assert units[0].bounds == {"after": None, "upto": 10}
    assert range_units("/p", [(None, None)])[0].key == "all"


def test_a_parameter_value_that_cannot_be_a_path_segment_is_refused_per_unit() -> None:
    job = parse_job(
        {
            "id": 99,
            "name": "visits",
            "source_endpoint": "/api/v1/studies/{studyId}/visits/odata",
            "target_table": "dim_visits_staging",
            "parameter_source_table": "dim_studies_staging",
            "parameters": [{"name": "studyId", "path": "id"}],
        }
    )
    for bad in ("..", ".", ""):
        unit = fanout_unit(job, {"studyId": bad}, None)
        assert unit.refused is not None and repr(bad) in unit.refused
    ok = fanout_unit(job, {"studyId": "1;DROP TABLE x"}, None)
    assert ok.refused is None and ok.path == "/api/v1/studies/1%3BDROP%20TABLE%20x/visits/odata"
