"""iter_pages logic against a scripted fetcher (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from trialsync_async.api.client import Params
from trialsync_async.api.pages import Page
from trialsync_async.api.paging import MAX_PAGE_SIZE, iter_pages
from trialsync_async.errors import MalformedResponse

PATH = "/api/v1/studies/odata"


class Scripted:
    """Returns the scripted pages in order and records what was asked."""

    def __init__(self, *pages: Page) -> None:
        self.pages = list(pages)
        self.calls: list[tuple[str, dict[str, Any] | None]] = []

    async def get_page(self, path: str, params: Params | None = None) -> Page:
        self.calls.append((path, None if params is None else dict(params)))
        return self.pages.pop(0)


def recs(start: int, stop: int) -> list[dict[str, int]]:
    return [{"id": i} for i in range(start, stop)]


def odata(records: list[Any], next_link: str | None = None) -> Page:
    return Page(records=records, next_link=next_link, kind="odata")


async def collect(fetcher: Scripted, **kwargs: Any) -> list[list[Any]]:
    return [page async for page in iter_pages(fetcher, PATH, **kwargs)]


async def test_stops_on_short_page() -> None:
    f = Scripted(odata(recs(0, 3)), odata(recs(3, 6)), odata(recs(6, 7)))
    pages = await collect(f, page_size=3, params={"$filter": "x eq 1"})
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [c[1] for c in f.calls] == [
        {"$filter": "x eq 1", "$top": 3, "$skip": 0},
        {"$filter": "x eq 1", "$top": 3, "$skip": 3},
        {"$filter": "x eq 1", "$top": 3, "$skip": 6},
    ]


async def test_stops_on_empty_page() -> None:
    f = Scripted(odata(recs(0, 2)), odata([]))
    assert await collect(f, page_size=2) == [recs(0, 2)]
    assert len(f.calls) == 2


async def test_empty_endpoint_yields_nothing() -> None:
    f = Scripted(odata([]))
    assert await collect(f) == []


async def test_page_size_capped_at_api_max() -> None:
    f = Scripted(odata(recs(0, 10)))
    await collect(f, page_size=50_000)
    assert f.calls[0][1] == {"$top": MAX_PAGE_SIZE, "$skip": 0}
    assert MAX_PAGE_SIZE == 1000


async def test_follows_next_link_query_only() -> None:
    f = Scripted(
        odata(recs(0, 2), "https://other.host/x/y?$top=2&$skip=2&$filter=a%20eq%201"),
        odata(recs(2, 4), "/CCSWEB/api/v1/studies/odata?$skip=4"),
        odata(recs(4, 5)),
    )
    pages = await collect(f, page_size=1000)
    assert sum(map(len, pages)) == 5
    assert f.calls[1] == (PATH, {"$top": "2", "$skip": "2", "$filter": "a eq 1"})
    assert f.calls[2] == (PATH, {"$skip": "4"})
    assert len(f.calls) == 3  # last link-chain page < $top: done


async def test_server_paging_inside_a_full_window_continues_with_skip() -> None:
    # $top=4 honoured but served 2 per response with a next link: after the window is
    # complete the client asks for the next window with $skip.
    f = Scripted(
        odata(recs(0, 2), "?$top=2&$skip=2"),
        odata(recs(2, 4)),
        odata(recs(4, 5)),
    )
    pages = await collect(f, page_size=4)
    assert sum(map(len, pages)) == 5
    assert f.calls[2][1] == {"$top": 4, "$skip": 4}


async def test_server_ignoring_top_stops_after_its_chain() -> None:
    f = Scripted(odata(recs(0, 3), "?$skiptoken=3"), odata(recs(3, 6)))
    pages = await collect(f, page_size=2)
    assert sum(map(len, pages)) == 6
    assert len(f.calls) == 2


async def test_swagger_next_page_link() -> None:
    f = Scripted(
        Page(records=recs(0, 2), next_link="http://h/p?page=2", kind="swagger"),
        Page(records=recs(2, 3), next_link=None, kind="swagger"),
    )
    pages = await collect(f, paged=False)
    assert sum(map(len, pages)) == 3
    assert f.calls == [(PATH, None), (PATH, {"page": "2"})]


async def test_single_object_stops() -> None:
    f = Scripted(Page(records=[{"id": 1}], kind="object"))
    assert await collect(f, page_size=1) == [[{"id": 1}]]
    assert len(f.calls) == 1


async def test_non_paged_one_request_without_odata_options() -> None:
    f = Scripted(Page(records=["Active", "Closed"], kind="array"))
    assert await collect(f, paged=False) == [["Active", "Closed"]]
    assert f.calls == [(PATH, None)]
    f = Scripted(Page(records=["a"], kind="array"))
    await collect(f, paged=False, params={"type": "x"})
    assert f.calls == [(PATH, {"type": "x"})]


async def test_endpoint_ignoring_skip_is_detected() -> None:
    f = Scripted(odata(recs(0, 2)), odata(recs(0, 2)), odata(recs(0, 2)))
    seen = []
    with pytest.raises(MalformedResponse, match="ignores"):
        async for page in iter_pages(f, PATH, page_size=2):
            seen.append(page)
    assert seen == [recs(0, 2)]


async def test_repeated_scalar_pages_detected() -> None:
    f = Scripted(odata(["a", "b"]), odata(["a", "b"]))
    with pytest.raises(MalformedResponse):
        await collect(f, page_size=2)


async def test_repeating_window_behind_link_chain_detected() -> None:
    # Server ignores $skip but chains next links: each window restarts at record 0.
    chain = [odata(recs(0, 2), "?p=2"), odata(recs(2, 4))]
    f = Scripted(*chain, *chain)
    with pytest.raises(MalformedResponse):
        await collect(f, page_size=4)


@pytest.mark.parametrize("bad", [{"$top": 5}, {"$skip": 1}])
async def test_top_skip_in_params_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        await collect(Scripted(), params=bad)


async def test_invalid_page_size() -> None:
    with pytest.raises(ValueError):
        await collect(Scripted(), page_size=0)
