"""Paging strategies: the only code that writes ``$top``, ``$skip``, ``$filter``, ``$orderby``.

A strategy is a small object with state: ``request()`` gives the query of the next request,
``accept(page)`` takes its answer and returns the records that are new, ``done`` says when to
stop, and ``position()`` is a JSON-able value from which a new strategy of the same kind goes on
(the resume state a run commits with each batch).

* :class:`KeysetPaging` — ``$filter=id gt <last>&$orderby=id``: exact while records are
  inserted and deleted, since a position is an id, not a count. Optionally bounded above
  (``id le <upto>``) so a plain job can walk several id ranges at once.
* :class:`OffsetPaging` — ``$top``/``$skip``, advancing by ``$top`` (never by records
  received), optionally ``$orderby``. Drops records repeated from the previous page (servers
  that answer ``$top``+1 records, repeating the last one), and learns a server cap below
  ``$top`` from a next link or ``$count``.
* :class:`LinkPaging` — one request, then the server's next-page links (non-OData lists).

:func:`walk` drives any of them against a :class:`PageFetcher`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from itertools import pairwise
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import orjson

from trialsync_async.api.pages import Page
from trialsync_async.errors import MalformedResponse
from trialsync_async.facts import MAX_PAGE_SIZE

QueryItems = list[tuple[str, str | int]]
Identity = Callable[[Any], object]


class PageFetcher(Protocol):
    async def get_page(self, path: str, params: Sequence[tuple[str, str | int]]) -> Page: ...


def record_id(record: Any) -> object:
    """A record's ``id`` (any casing), or None."""
    if isinstance(record, Mapping):
        for key in ("id", "Id", "ID"):
            value = record.get(key)
            if value is not None:
                return value
    return None


def content_identity(record: Any) -> object:
    """Identity of a keyless record: its canonical JSON."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def id_identity(record: Any) -> object:
    """Identity of a keyed record: its id, else its content."""
    rid = record_id(record)
    return ("id", rid) if rid is not None else content_identity(record)


def odata_literal(value: object) -> str:
    """An id as an OData literal: integers bare, anything else single-quoted."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


class Paging(ABC):
    """Base of the strategies: page size, the stop flag, the learned server cap."""

    kind: str = "?"

    def __init__(self, page_size: int, *, count: bool = True, where: str | None = None) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.top = min(page_size, MAX_PAGE_SIZE)
        self.count = count  # ask $count: tells a server cap below $top, and overlaps at the end
        self.where = where  # a filter every request carries (timestamp incrementals)
        self.done = False

    def _count_item(self) -> QueryItems:
        return [("$count", "true")] if self.count else []

    def _filter_item(self, terms: Sequence[str] = ()) -> QueryItems:
        all_terms = [*([self.where] if self.where else []), *terms]
        return [("$filter", " and ".join(all_terms))] if all_terms else []

    @abstractmethod
    def request(self) -> QueryItems: ...

    @abstractmethod
    def accept(self, page: Page) -> list[Any]: ...

    @abstractmethod
    def position(self) -> dict[str, Any] | None: ...

    def _more_promised(self, page: Page, received: int, offset: int) -> bool:
        """A short page is not the end when the server says more rows follow."""
        if page.next_link:
            return True
        return page.total is not None and offset + received < page.total


class KeysetPaging(Paging):
    """``$filter=<key> gt <after> [and <key> le <upto>]&$orderby=<key>&$top=n``."""

    kind = "keyset"

    def __init__(
        self,
        page_size: int,
        *,
        key_field: str = "id",
        after: int | None = None,
        upto: int | None = None,
        count: bool = True,
        where: str | None = None,
    ) -> None:
        super().__init__(page_size, count=count, where=where)
        self.key_field = key_field
        self.after = after
        self.upto = upto

    def request(self) -> QueryItems:
        terms = []
        if self.after is not None:
            terms.append(f"{self.key_field} gt {odata_literal(self.after)}")
        if self.upto is not None:
            terms.append(f"{self.key_field} le {odata_literal(self.upto)}")
        items: QueryItems = [("$top", self.top), ("$orderby", self.key_field)]
        return items + self._filter_item(terms) + self._count_item()

    @staticmethod
    def _int_id(record: Any) -> int:
        rid = record_id(record)
        if not isinstance(rid, int) or isinstance(rid, bool):
            raise MalformedResponse(
                endpoint="keyset paging", detail=f"id {rid!r} is not an integer"
            )
        return rid

    def _in_range(self, rid: int) -> bool:
        return (self.after is None or rid > self.after) and (self.upto is None or rid <= self.upto)

    def accept(self, page: Page) -> list[Any]:
        raw = page.records
        if page.single or not raw:
            self.done = True
            return list(raw)
        keyed = [(rid, r) for r in raw if self._in_range(rid := self._int_id(r))]
        fresh = [r for _, r in keyed]
        ids = [rid for rid, _ in keyed]
        if any(b <= a for a, b in pairwise(ids)):
            raise MalformedResponse(
                endpoint="keyset paging", detail="$orderby=id did not return ascending ids"
            )
        if len(raw) < self.top and self._more_promised(page, len(raw), 0) and fresh:
            self.top = len(raw)  # the server caps $top lower than we asked
        if not fresh or len(raw) < self.top:
            self.done = True
        if fresh:
            self.after = ids[-1]
        return fresh

    def position(self) -> dict[str, Any]:
        return {"after": self.after}


class OffsetPaging(Paging):
    """``$top``/``$skip`` (``$orderby`` when given), advancing by ``$top``."""

    kind = "offset"

    def __init__(
        self,
        page_size: int,
        *,
        order_by: str | None = None,
        identity: Identity = id_identity,
        keyed: bool = True,
        skip: int = 0,
        count: bool = True,
        where: str | None = None,
    ) -> None:
        super().__init__(page_size, count=count, where=where)
        self.order_by = order_by
        self.identity = identity
        self.keyed = keyed
        self.skip = skip
        self._previous: list[object] = []  # identities of the previous page
        self._first_identity: object = None
        self._overlapping: bool | None = None  # does this server repeat a page's predecessor?
        self._held: tuple[Page, list[object]] | None = None  # a page waiting for that answer

    def request(self) -> QueryItems:
        top, skip = self.top, self.skip
        if self._held is not None:  # the overlap probe: one record, inside the list
            top, skip = 1, max(self.skip - 1, 1)
        items: QueryItems = [("$top", top), ("$skip", skip)]
        if self.order_by:
            items.append(("$orderby", self.order_by))
        return items + self._filter_item() + self._count_item()

    def _repeats_head(self, page: Page, identities: list[object]) -> bool | None:
        """Whether a keyless page's head repeats the previous page's tail (None: cannot tell).

        Keyless records may repeat legitimately, so the head is a repeat only when the page is
        one record longer than expected: ``$top``, or on the last page what ``$count`` leaves.
        Without ``$count`` the last page's length is unknown: once the server has shown that
        it overlaps (or not) that answer stands, and until then one request of one record just
        before this page (``$skip`` - 1, inside the list) asks it: an overlapping server
        answers two.
        """
        if not self._previous or identities[0] != self._previous[-1]:
            return False
        expected = self.top
        if page.total is not None:
            expected = min(expected, max(page.total - self.skip, 0))
        if len(page.records) == expected + 1:
            self._overlapping = True
            return True
        if page.total is not None:
            return False
        return self._overlapping  # None when still unknown: probe

    def accept(self, page: Page) -> list[Any]:
        if self._held is not None:  # the answer to the overlap probe
            held, identities = self._held
            self._held = None
            self._overlapping = len(page.records) > 1
            return self._take(held, identities, drop_head=self._overlapping)
        raw = page.records
        if page.single or not raw:
            self.done = True
            return list(raw)
        identities = [self.identity(r) for r in raw]
        repeats_tail = bool(self._previous) and identities[0] == self._previous[-1]
        if self.skip > 0 and identities[0] == self._first_identity and not repeats_tail:
            raise MalformedResponse(
                endpoint="offset paging",
                detail=f"same first record again at $skip={self.skip}: the endpoint ignores $skip",
            )
        if self.skip == 0:
            self._first_identity = identities[0]
        if self.keyed:
            return self._take(page, identities, drop_head=False)
        drop = self._repeats_head(page, identities)
        if drop is None:  # one request of one record tells whether this server overlaps
            self._held = (page, identities)
            return []
        return self._take(page, identities, drop_head=drop)

    def _take(self, page: Page, identities: list[object], *, drop_head: bool) -> list[Any]:
        raw = page.records
        if self.keyed:
            seen = set(self._previous)
            fresh = [r for r, i in zip(raw, identities, strict=True) if i not in seen]
        else:
            fresh = raw[1:] if drop_head else raw
        whole_list = (
            self.skip == 0
            and len(raw) > self.top + 1
            and not page.next_link
            and (page.total is None or page.total <= len(raw))
        )
        if whole_list:  # the server ignores $top and sent everything
            self.done = True
            return fresh
        if len(raw) > self.top + 1 and not self.keyed:
            raise MalformedResponse(
                endpoint="offset paging",
                detail=f"{len(raw)} records for $top={self.top}: cannot page keyless records",
            )
        if len(raw) < self.top:
            if self._more_promised(page, len(raw), self.skip):
                self.top = len(raw)  # the server caps $top lower than we asked
            else:
                self.done = True
        if not fresh and self.skip > 0:
            self.done = True
        self._previous = identities
        self.skip += self.top
        if page.total is not None and self.skip >= page.total:
            self.done = True
        return fresh

    def position(self) -> dict[str, Any]:
        return {"skip": self.skip}


class LinkPaging(Paging):
    """One request with the caller's query, then the server's next-page links.

    Only a link's query string is used, on our own base URL and path: its host is never
    trusted.
    """

    kind = "link"

    def __init__(self, page_size: int = MAX_PAGE_SIZE, *, link: QueryItems | None = None) -> None:
        super().__init__(page_size)
        self.link = link
        self._previous_tail: object = None
        self._seen_links: set[str] = set()

    def request(self) -> QueryItems:
        return list(self.link or [])

    def accept(self, page: Page) -> list[Any]:
        raw = page.records
        if page.single or not raw:
            self.done = True
            return list(raw)
        fresh = raw
        if self._previous_tail is not None and id_identity(raw[0]) == self._previous_tail:
            fresh = raw[1:]
        self._previous_tail = id_identity(raw[-1])
        if not page.next_link:
            self.done = True
            return fresh
        if page.next_link in self._seen_links:
            raise MalformedResponse(endpoint="link paging", detail="next-page link repeats")
        self._seen_links.add(page.next_link)
        self.link = [(k, v) for k, v in parse_qsl(urlsplit(page.next_link).query, True)]
        return fresh

    def position(self) -> dict[str, Any] | None:
        return {"link": self.link} if self.link else None


async def walk(fetcher: PageFetcher, path: str, paging: Paging) -> AsyncIterator[list[Any]]:
    """Yield the new records of each page until ``paging`` is done (possibly ``[]``)."""
    while not paging.done:
        page = await fetcher.get_page(path, paging.request())
        yield paging.accept(page)


class IdRange:
    """What two one-record probes tell about a keyed list: lowest and highest id, count."""

    def __init__(self, first: int | None, last: int | None, total: int | None) -> None:
        self.first = first
        self.last = last
        self.total = total

    def split(self, pieces: int) -> list[tuple[int | None, int | None]]:
        """``pieces`` keyset ranges ``(after, upto]`` covering every id; the first range is
        open below and the last open above, so ids inserted outside the probed span are
        walked too."""
        if self.first is None or self.last is None or pieces <= 1 or self.last <= self.first:
            return [(None, None)]
        span = self.last - self.first
        cuts = sorted({self.first + span * i // pieces for i in range(1, pieces)})
        bounds: list[int | None] = [None, *cuts, None]
        return list(pairwise(bounds))


async def probe_ids(
    fetcher: PageFetcher, path: str, *, key_field: str = "id", count_only: bool = False
) -> IdRange:
    """``$orderby=id&$top=1&$count=true``, then (unless ``count_only``) the highest id.

    Raises MalformedResponse when ids are not integers (keyset ranges need an order the
    server and we agree on), ClientRequestError when the server refuses the options.
    """
    page = await fetcher.get_page(path, [("$top", 1), ("$orderby", key_field), ("$count", "true")])
    if not page.records:
        return IdRange(None, None, page.total if page.total is not None else 0)
    first = _integer_id(record_id(page.records[0]))
    total = page.total
    if count_only:
        return IdRange(first, None, total)
    page = await fetcher.get_page(
        path,
        [("$top", 1), ("$orderby", f"{key_field} desc"), ("$filter", f"{key_field} ge {first}")],
    )
    last = _integer_id(record_id(page.records[0])) if page.records else first
    return IdRange(first, last, total)


def _integer_id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedResponse(endpoint="keyset paging", detail=f"id {value!r} is not an integer")
    return value
