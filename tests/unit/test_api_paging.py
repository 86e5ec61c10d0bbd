"""Paging strategies against an in-memory list that changes between requests (no HTTP).

The list is ``FakeList`` (tests/paging_support.py), a tiny OData server with a server cap,
next links, a natural order that is not id order, records repeated at page heads (the $top+1
bug), and a mutation hook called before every answer. The property tests check the one
promise each strategy makes: every record present for the whole walk is returned, and (keyed)
none twice.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.paging_support import PATH, FakeList, ids_of, run
from trialsync_async.api.pages import Page
from trialsync_async.api.paging import (
    IdRange,
    KeysetPaging,
    LinkPaging,
    OffsetPaging,
    content_identity,
    probe_ids,
)
from trialsync_async.errors import MalformedResponse

pytestmark = pytest.mark.unit

# --- each strategy on a still list -------------------------------------------------------


async def test_keyset_walks_in_id_order_and_stops_on_a_short_page() -> None:
    server = FakeList(range(0, 70, 3))
    got = await run(server, KeysetPaging(10))
    assert ids_of(got) == list(range(0, 70, 3))
    assert server.calls[0] == {"$top": "10", "$orderby": "id", "$count": "true"}
    assert server.calls[1]["$filter"] == "id gt 27"
    assert len(server.calls) == 3


async def test_keyset_range_is_bounded_and_resumes_from_its_position() -> None:
    server = FakeList(range(100))
    paging = KeysetPaging(10, after=19, upto=49)
    got = await run(server, paging)
    assert ids_of(got) == list(range(20, 50))
    assert server.calls[0]["$filter"] == "id gt 19 and id le 49"
    assert paging.position() == {"after": 49}


async def test_keyset_drops_a_repeated_head_and_learns_a_lower_server_cap() -> None:
    server = FakeList(range(250), cap=100, overlap=True)
    got = await run(server, KeysetPaging(1000))
    assert ids_of(got) == list(range(250))


async def test_keyset_refuses_ids_that_are_not_integers() -> None:
    server = FakeList([])
    server.records = {0: {"id": "a"}}
    with pytest.raises(MalformedResponse, match="not an integer"):
        await run(server, KeysetPaging(10))


async def test_offset_advances_by_top_never_by_records_received() -> None:
    server = FakeList(range(23), overlap=True)  # every page after the first has $top+1 records
    got = await run(server, OffsetPaging(5, order_by="id"))
    assert ids_of(got) == list(range(23))
    assert [c["$skip"] for c in server.calls] == ["0", "5", "10", "15", "20"]


@pytest.mark.parametrize("page_size", [5, 50, 1000])
async def test_offset_overlap_keyless_drops_only_the_repeated_head(page_size: int) -> None:
    # keyless records, some identical on purpose: duplicates inside the data are kept
    server = FakeList(range(2 * page_size + 3), overlap=True)
    for rid, record in server.records.items():
        record.pop("id")
        record["v"] = rid // 2  # pairs of identical records
    paging = OffsetPaging(page_size, identity=content_identity, keyed=False)
    got = await run(server, paging)
    assert sorted(r["v"] for r in got) == sorted(r // 2 for r in range(2 * page_size + 3))


async def test_offset_follows_a_lower_server_cap_told_by_count_or_link() -> None:
    server = FakeList(range(250), cap=100, links=True)
    got = await run(server, OffsetPaging(1000, order_by="id"))
    assert ids_of(got) == list(range(250))
    assert [c["$skip"] for c in server.calls] == ["0", "100", "200"]


async def test_offset_takes_a_page_longer_than_top_as_the_whole_list_only_at_the_start() -> None:
    class IgnoresTop(FakeList):
        async def get_page(self, path: str, params: Sequence[tuple[str, str | int]]) -> Page:
            self.calls.append(dict(params))
            return Page([dict(r) for r in self.records.values()])

    server = IgnoresTop(range(40))
    got = await run(server, OffsetPaging(10))
    assert ids_of(got) == list(range(40)) and len(server.calls) == 1


async def test_offset_detects_an_endpoint_that_ignores_skip() -> None:
    class IgnoresSkip(FakeList):
        async def get_page(self, path: str, params: Sequence[tuple[str, str | int]]) -> Page:
            self.calls.append(dict(params))
            return Page([dict(self.records[i]) for i in range(10)])

    with pytest.raises(MalformedResponse, match="ignores"):
        await run(IgnoresSkip(range(100)), OffsetPaging(10, keyed=False, identity=content_identity))


async def test_offset_resumes_at_its_position() -> None:
    server = FakeList(range(30))
    paging = OffsetPaging(10, order_by="id", skip=20)
    assert ids_of(await run(server, paging)) == list(range(20, 30))
    assert paging.position() == {"skip": 30}


async def test_link_paging_uses_only_the_links_query_and_drops_a_repeated_head() -> None:
    server = FakeList(range(12), links=True, overlap=True)
    paging = LinkPaging(link=[("$top", 5)])
    got = await run(server, paging)
    assert ids_of(got) == list(range(12))
    assert server.calls[1] == {"$top": "5", "$skip": "5"}


async def test_probe_and_split_into_ranges() -> None:
    server = FakeList(range(1000, 5000, 2))
    probe = await probe_ids(server, PATH)
    assert (probe.first, probe.last, probe.total) == (1000, 4998, 2000)
    ranges = probe.split(4)
    assert ranges[0][0] is None and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert IdRange(None, None, 0).split(8) == [(None, None)]
    walked: list[int] = []
    for after, upto in ranges:
        walked += ids_of(await run(server, KeysetPaging(100, after=after, upto=upto)))
    assert walked == list(range(1000, 5000, 2))


# --- properties under drift ---------------------------------------------------------------

Op = tuple[str, int]
ops_strategy = st.lists(
    st.tuples(st.sampled_from(["insert", "delete", "update", "none"]), st.integers(0, 10_000)),
    max_size=60,
)


def drift(ops: list[Op], protected: set[int]) -> Callable[[FakeList], None]:
    """Apply one op per request; never delete a protected id (records present throughout)."""
    queue = list(ops)

    def apply(server: FakeList) -> None:
        if not queue:
            return
        op, n = queue.pop(0)
        live = sorted(server.records)
        if op == "insert":
            server.insert(100_000 + n)
        elif op == "delete" and live:
            victim = live[n % len(live)]
            if victim not in protected:
                server.delete(victim)
        elif op == "update" and live:
            server.records[live[n % len(live)]]["v"] += 1

    return apply


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 120),
    page_size=st.integers(1, 17),
    ops=ops_strategy,
    overlap=st.booleans(),
    cap=st.sampled_from([1000, 7]),
    pieces=st.integers(1, 5),
    seed=st.integers(0, 1000),
)
async def test_keyset_ranges_are_exact_under_drift(
    n: int, page_size: int, ops: list[Op], overlap: bool, cap: int, pieces: int, seed: int
) -> None:
    ids = list(range(10, 10 + 3 * n, 3))
    stable = {i for i in ids if i % 2 == 0}  # these are never deleted
    server = FakeList(ids, overlap=overlap, cap=cap, shuffled=True, seed=seed)
    probe = await probe_ids(server, PATH)
    server.mutate = drift(ops, stable)
    got: list[int] = []
    for after, upto in probe.split(pieces):
        got += ids_of(await run(server, KeysetPaging(page_size, after=after, upto=upto)))
    assert len(got) == len(set(got)), "a record was returned twice"
    assert stable <= set(got), "a record present throughout was lost"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 120),
    page_size=st.integers(1, 17),
    ops=st.lists(
        st.tuples(st.sampled_from(["append", "update", "none"]), st.integers(0, 10_000)),
        max_size=60,
    ),
    overlap=st.booleans(),
)
async def test_ordered_offset_is_exact_when_records_only_append_or_change(
    n: int, page_size: int, ops: list[Op], overlap: bool
) -> None:
    """Offset paging promises less: exact under appends (ids above the rest) and updates."""
    ids = list(range(n))
    queue = list(ops)

    def mutate(server: FakeList) -> None:
        if queue:
            op, k = queue.pop(0)
            if op == "append":
                server.insert(1_000_000 + k)
            elif op == "update" and server.records:
                live = sorted(server.records)
                server.records[live[k % len(live)]]["v"] += 1

    server = FakeList(ids, overlap=overlap, mutate=mutate)
    got = ids_of(await run(server, OffsetPaging(page_size, order_by="id")))
    assert len(got) == len(set(got))
    assert set(ids) <= set(got)


async def test_unordered_offset_under_drift_is_what_keyset_fixes() -> None:
    """The failure the keyset strategy exists for: deletes in a natural order lose records."""
    ids = list(range(0, 3000, 3))
    stable = set(ids[1::2])
    ops: list[Op] = [("delete", k * 7) for k in range(40)] + [("insert", k) for k in range(40)]
    rng = random.Random(3)
    rng.shuffle(ops)
    offset_server = FakeList(ids, shuffled=True, mutate=drift(ops, stable))
    by_offset = set(ids_of(await run(offset_server, OffsetPaging(25))))
    keyset_server = FakeList(ids, shuffled=True, mutate=drift(ops, stable))
    by_keyset = set(ids_of(await run(keyset_server, KeysetPaging(25))))
    assert stable <= by_keyset
    assert not stable <= by_offset  # the unordered offset walk lost some


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("n", [7, 10, 11])
async def test_keyless_without_count_asks_the_server_whether_it_overlaps(
    overlap: bool, n: int
) -> None:
    """No $count, identical records on every page boundary: one probe settles it."""
    server = FakeList(range(n), overlap=overlap, count=False)
    for record in server.records.values():
        record.pop("id")  # every record identical: the hardest case
    got = await run(server, OffsetPaging(5, identity=content_identity, keyed=False))
    assert len(got) == n
    assert sum(1 for c in server.calls if c["$top"] == "1") <= 1
