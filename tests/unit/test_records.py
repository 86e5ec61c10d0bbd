from __future__ import annotations

import pytest

from trialsync_async.engine.pipeline import Batcher, BoundedQueue, Chunk, UnitEnd
from trialsync_async.engine.plan import Unit
from trialsync_async.errors import MalformedResponse
from trialsync_async.inventory import RecordKey
from trialsync_async.records import Row, RowBuilder, scope_of, serialize


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
    assert a.key != b.key and a.key.endswith("|0") and b.key.endswith("|1")
    assert a.scope == "s=1"


def test_records_without_their_key_are_refused() -> None:
    with pytest.raises(MalformedResponse, match="no top-level 'id'"):
        RowBuilder(RecordKey("id"), endpoint="/x").row({"name": "no id"})
    with pytest.raises(MalformedResponse):
        RowBuilder(RecordKey.parse("visit.id+element.id"), endpoint="/x").row({"visit": {"id": 1}})


def test_nul_characters_are_replaced() -> None:
    assert "\\u0000" not in serialize({"id": 1, "t": "a\x00b"})


def test_scope() -> None:
    assert scope_of({"studyId": "1", "visitId": "2"}) == "studyId=1&visitId=2"
    assert scope_of({}) == ""


def test_batcher_bounds_rows_and_bytes_and_carries_unit_ends() -> None:
    batcher = Batcher(max_rows=3, max_bytes=10_000)
    rows = [Row(f'{{"id": {i}}}', None) for i in range(7)]
    full = batcher.add(Chunk(rows, 0))
    assert [len(b.rows) for b in full] == [3, 3]
    end = UnitEnd(Unit("/x", {}), None)
    batcher.end_unit(end)
    last = batcher.take()
    assert len(last.rows) == 1 and last.ended_units == [end]
    small = Batcher(max_rows=100, max_bytes=20)
    assert len(small.add(Chunk(rows, 0))) == 2


async def test_bounded_queue_high_water() -> None:
    q: BoundedQueue[int] = BoundedQueue(5)
    for i in range(3):
        q.put_nowait(i)
    await q.get()
    await q.put(9)
    assert q.high_water == 3


def test_page_units_split_a_counted_plain_job() -> None:
    from trialsync_async.engine.plan import page_units

    units = page_units("/p", first_page=1000, total=3500, page_size=1000)
    assert [(u.skip, u.open_ended) for u in units] == [(1000, False), (2000, False), (3000, True)]
    assert page_units("/p", first_page=400, total=400, page_size=1000) == []
    assert [u.skip for u in page_units("/p", first_page=10, total=10, page_size=10)] == [10]
