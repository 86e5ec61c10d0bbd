"""Walk every page of an endpoint.

OData endpoints (``paged=True``) are read with ``$top``/``$skip``; a server's next-page
link (``@odata.nextLink`` / ``NextPageLink``) takes precedence while one is given. Only the
link's query string is used, on our own base URL and path: its host is never trusted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import orjson

from trialsync_async.api.client import Params
from trialsync_async.api.pages import Page
from trialsync_async.errors import MalformedResponse

MAX_PAGE_SIZE = 1000
"""The API's maximum ``$top``."""

_ID_KEYS = ("id", "Id", "ID")


class PageFetcher(Protocol):
    async def get_page(self, path: str, params: Params | None = None) -> Page: ...


def _first_key(records: list[Any]) -> object:
    """Identity of a page's first record: its id if it has one, else its whole value."""
    first = records[0]
    if isinstance(first, dict):
        for key in _ID_KEYS:
            if first.get(key) is not None:
                return ("id", first[key])
    return orjson.dumps(first, option=orjson.OPT_SORT_KEYS)


def _link_params(link: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(link).query, keep_blank_values=True)


async def iter_pages(
    client: PageFetcher,
    path: str,
    *,
    page_size: int = MAX_PAGE_SIZE,
    paged: bool = True,
    params: Mapping[str, str | int | float] | None = None,
    start: int = 0,
) -> AsyncIterator[list[Any]]:
    """Yield the records of each non-empty page of ``path``.

    ``paged=True``: send ``$top=min(page_size, 1000)`` and ``$skip`` (0, then the number
    of records received so far); stop on a page shorter than ``$top`` (or longer: the
    server ignores ``$top``), an empty page or a single object. ``paged=False``: one
    request without OData options (next-page links are still followed). An endpoint
    that serves the same first record twice in a row (ignoring ``$skip`` or its own
    link) raises MalformedResponse instead of looping. ``start`` is the first ``$skip``.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    size = min(page_size, MAX_PAGE_SIZE)
    base = list((params or {}).items())
    if paged and any(k in ("$top", "$skip") for k, _ in base):
        raise ValueError("pass the page size as page_size, not $top/$skip in params")

    def window_params(offset: int) -> list[tuple[str, str | int | float]]:
        return [*base, ("$top", size), ("$skip", offset)]

    request: Params | None = window_params(start) if paged else (base or None)
    offset = start  # records skipped or received in all
    window = 0  # records received since the last $skip request
    window_start = True
    prev_key: object = None
    prev_window_key: object = None
    while True:
        page = await client.get_page(path, request)
        records = page.records
        if not records:
            return
        key = _first_key(records)
        if key == prev_key or (window_start and key == prev_window_key):
            raise MalformedResponse(
                endpoint=path,
                detail=f"same first record again at offset {offset}: "
                "the endpoint ignores $skip or its next-page link",
            )
        prev_key = key
        if window_start:
            prev_window_key = key
        yield records
        if page.single:
            return
        offset += len(records)
        window += len(records)
        if page.next_link:
            request = _link_params(page.next_link)
            window_start = False
            continue
        # Continue with $skip only when exactly $top records came (in one page or along a
        # chain of links): fewer means the end; more means the server ignores $top and
        # paged everything itself.
        if not paged or window != size:
            return
        request = window_params(offset)
        window = 0
        window_start = True
