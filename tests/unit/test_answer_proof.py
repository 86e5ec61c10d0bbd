"""A walk ends only on an answer that proves the end, and keeps the evidence of what the API
claimed and gave; answers that are not lists are never records; records that cannot be stored
are refused deterministically (no I/O: the paging strategies against an in-memory list)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from tests.paging_support import PATH, FakeList, ids_of, run
from trialsync_async.api.pages import Page, nesting_depth, parse_page
from trialsync_async.api.paging import KeysetPaging, LinkPaging, OffsetPaging, walk
from trialsync_async.api.retry import RetryPolicy
from trialsync_async.errors import IncompleteAnswer, MalformedResponse, RecordRejected
from trialsync_async.inventory import RecordKey
from trialsync_async.records import RowBuilder

pytestmark = pytest.mark.unit

RETRY = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, max_retry_after=0.0)


class Faulty(FakeList):
    """A FakeList whose answer number ``at`` (0-based, probes included) is damaged by ``fault``
    every time (``times`` None) or the first ``times`` times that request is made."""

    def __init__(self, ids: Sequence[int], *, at: int, fault: str, times: int | None = None,
                 **kw: Any) -> None:  # fmt: skip
        super().__init__(ids, **kw)
        self.at, self.fault, self.times = at, fault, times
        self.pinned: dict[str, str] | None = None
        self.fired = 0

    async def get_page(self, path: str, params: Sequence[tuple[str, str | int]]) -> Page:
        page = await super().get_page(path, params)
        q = self.calls[-1]
        if self.pinned is None and len(self.calls) - 1 == self.at:
            self.pinned = q
        if q != self.pinned or (self.times is not None and self.fired >= self.times):
            return page
        self.fired += 1
        if self.fault == "empty":
            return Page([], next_link=page.next_link, total=page.total)
        if self.fault == "count_low":
            return Page(page.records, next_link=page.next_link, total=0)
        if self.fault == "duplicate":
            records = [dict(r) for r in page.records]
            records[1]["id"] = records[0]["id"]
            return Page(records, next_link=page.next_link, total=page.total)
        raise AssertionError(self.fault)


async def walked(server: FakeList, paging: Any) -> list[Any]:
    out: list[Any] = []
    async for records in walk(server, PATH, paging, retry=RETRY):
        out.extend(records)
    return out


@pytest.mark.parametrize("at", [0, 2])
async def test_an_empty_page_while_the_count_says_more_is_retried_then_refused(at: int) -> None:
    for paging in (KeysetPaging(10), OffsetPaging(10, order_by="id")):
        server = Faulty(range(60), at=at, fault="empty")
        with pytest.raises(IncompleteAnswer, match=r"reported 60 records but returned \d+"):
            await walked(server, paging)
        assert server.fired == RETRY.max_attempts  # asked again, never taken as the end


async def test_an_empty_page_that_heals_on_the_retry_loses_nothing() -> None:
    for paging in (KeysetPaging(10), OffsetPaging(10, order_by="id")):
        server = Faulty(range(60), at=2, fault="empty", times=1)
        assert ids_of(await walked(server, paging)) == list(range(60))
        assert paging.evidence().shortfall == 0


async def test_a_count_that_lies_low_never_ends_an_offset_walk() -> None:
    # 75 records, $top=20: the old walk stopped once $skip passed the (lying) count
    server = Faulty(range(75), at=1, fault="count_low", times=None)
    paging = OffsetPaging(20, order_by="id")
    assert ids_of(await walked(server, paging)) == list(range(75))
    evidence = paging.evidence()
    assert evidence.low_counts == 1 and evidence.shortfall == 0


async def test_duplicate_ids_in_one_answer_keep_the_last_and_leave_the_walk_unproven() -> None:
    for paging in (KeysetPaging(10), OffsetPaging(10, order_by="id")):
        server = Faulty(range(30), at=1, fault="duplicate")
        got = await walked(server, paging)
        assert len(got) == 29 and len(set(ids_of(got))) == 29  # one id twice: the last kept
        assert paging.evidence().duplicates == 1 and paging.evidence().shortfall == 1
        assert paging.duplicate_ids == ["10"]
        kept = next(r for r in got if r["id"] == 10)
        assert kept == {"id": 10, "v": 0}  # the last of the two (record 11's content, id 10)
        assert 11 not in ids_of(got)  # the record it displaced: why the walk is unproven


async def test_evidence_allows_for_records_deleted_during_the_walk() -> None:
    def delete_some(server: FakeList) -> None:
        if len(server.calls) == 3:
            for rid in (45, 46, 47):
                server.delete(rid)

    paging = KeysetPaging(10)
    got = await walked(FakeList(range(60), mutate=delete_some), paging)
    assert len(got) == 57
    assert paging.evidence().reported == 57 and paging.evidence().shortfall == 0


async def test_a_link_walk_short_of_its_count_is_unproven() -> None:
    server = FakeList(range(30), links=True)

    async def short(path: str, params: Sequence[tuple[str, str | int]]) -> Page:
        page = await FakeList.get_page(server, path, params)
        return Page(page.records, next_link=page.next_link, total=45)

    server.get_page = short  # type: ignore[method-assign]
    paging = LinkPaging(10, link=[("$top", 10), ("$count", "true")])
    assert len(await walked(server, paging)) == 30
    assert paging.evidence().shortfall == 15


async def test_keyset_takes_ids_written_as_strings() -> None:
    server = FakeList(range(25))
    for rid, record in server.records.items():
        if rid % 2:
            record["id"] = str(rid)
    got = await run(server, KeysetPaging(10))
    assert [int(r["id"]) for r in got] == list(range(25))


@pytest.mark.parametrize(
    ("record", "detail"),
    [({"v": 1}, "it has no id"), ({"id": None}, "its id is null"), ({"id": [1]}, "a JSON list")],
)
async def test_a_keyset_record_without_a_usable_id_is_refused_naming_its_place(
    record: dict[str, Any], detail: str
) -> None:
    server = FakeList(range(20))
    server.records[12] = record | {"_": 12}
    server.records = dict(sorted(server.records.items()))
    with pytest.raises(RecordRejected, match=detail) as caught:
        await run(server, KeysetPaging(10))
    assert "#3 of the page ($filter=id gt 9)" in str(caught.value)


# --- answer shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"@odata.context": "x", "value": None},
        {"@odata.context": "x", "@odata.count": 5},
        {"value": "not a list"},
        {"Items": None, "NextPageLink": None, "Count": 4},
        {"NextPageLink": None, "Count": 4},
    ],
)
def test_a_list_envelope_without_a_list_is_malformed_never_a_record(body: Any) -> None:
    with pytest.raises(MalformedResponse, match="not a list"):
        parse_page(orjson.dumps(body), endpoint="/api/v1/x")


def test_a_single_object_where_a_list_is_expected_is_malformed() -> None:
    body = orjson.dumps({"id": 1, "name": "x"})
    assert parse_page(body).records == [{"id": 1, "name": "x"}]
    with pytest.raises(MalformedResponse, match="single object"):
        parse_page(body, expect="list")


def test_a_body_nested_past_the_parser_is_refused_naming_where_not_malformed() -> None:
    deep = b'{"value":[{"id":7},{"id":8,"nested":' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    assert nesting_depth(deep)[::2] == (5003, True)
    with pytest.raises(RecordRejected, match=r"after id 8.*nested 5003 levels"):
        parse_page(deep, endpoint="/api/v1/x")
    with pytest.raises(MalformedResponse, match="truncated"):  # cut short: retryable as before
        parse_page(deep[: len(deep) // 2], endpoint="/api/v1/x")


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        ({"id": {"a": 1}}, "a JSON dict"),
        ({"id": True}, "a JSON bool"),
        ({"id": ""}, "empty string"),
        ({"id": 5, "deep": orjson.loads(b'{"a":' * 300 + b"1" + b"}" * 300)}, "cannot be written"),
    ],
)
def test_a_record_that_cannot_be_stored_is_refused_naming_it(
    record: dict[str, Any], detail: str
) -> None:
    rows = RowBuilder(RecordKey("id"), endpoint="/api/v1/x")
    with pytest.raises(RecordRejected, match=detail) as caught:
        rows.row(record, where="#4 of page 2 (all)")
    assert "#4 of page 2" in str(caught.value)


def test_ids_that_change_kind_within_a_run_are_reported() -> None:
    rows = RowBuilder(RecordKey("id"), endpoint="/api/v1/x")
    rows.row({"id": 1})
    assert rows.id_kind_report() is None
    rows.row({"id": "2"})
    assert "as numbers (1 records) and as strings (1)" in (rows.id_kind_report() or "")
