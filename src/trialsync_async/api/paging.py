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

Every strategy also keeps the *evidence* of its walk (:class:`Evidence`): what the API's counts
claimed and how many distinct records it gave. A walk ends only on an answer that proves the
end: an empty page, or a short one, while the answer's own count (or next link) says more
remain is a deficient answer, never the end of the list; a count alone never ends a walk
(a count that lies low would cut it short). :func:`walk` retries a deficient answer with
backoff and then raises IncompleteAnswer. A short page while more are promised loses
nothing: the walk goes on right after its records, at that page size (a server cap on
``$top``, noted as ``capped_at``).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import orjson

from trialsync_async.api.pages import Page
from trialsync_async.api.retry import RetryPolicy
from trialsync_async.errors import IncompleteAnswer, MalformedResponse, RecordRejected
from trialsync_async.facts import MAX_PAGE_SIZE

QueryItems = list[tuple[str, str | int]]
Identity = Callable[[Any], object]
DUPLICATE_IDS_KEPT = 20
"""How many duplicated ids a walk remembers for the log line."""


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


def id_text(value: object) -> str | None:
    """An id as the staging key text (``data->>'id'``): ``17`` and ``"17"`` are one id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        return str(value)
    return None


def content_identity(record: Any) -> object:
    """Identity of a keyless record: its canonical JSON."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def id_identity(record: Any) -> object:
    """Identity of a keyed record: its id (as text: number and string alike), else its
    content."""
    rid = id_text(record_id(record))
    return ("id", rid) if rid is not None else content_identity(record)


def odata_literal(value: object) -> str:
    """An id as an OData literal: integers bare, anything else single-quoted."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one walk was told and given.

    ``reported``: the records the API claimed the walk would find (the smaller of its first
    and its last claim, so records deleted upstream during the walk are allowed for; None when
    no answer carried a count); ``received``: distinct records accepted; ``duplicates``:
    records that repeated an id inside one answer (each may have displaced a record);
    ``low_counts``: answers whose count was below the records they carried.
    """

    reported: int | None = None
    received: int = 0
    duplicates: int = 0
    low_counts: int = 0

    @property
    def shortfall(self) -> int:
        """Records the walk cannot prove it received: 0 when the walk is complete. A repeated
        id may hide a record the count does not miss (a keyset count is of what lies ahead)."""
        short = max(0, self.reported - self.received) if self.reported is not None else 0
        return max(short, self.duplicates)


class _Deficient(Exception):
    """An answer that cannot be the end of the list although it claims to be (retryable)."""

    def __init__(self, reported: int, returned: int, detail: str) -> None:
        super().__init__(detail)
        self.reported = reported
        self.returned = returned
        self.detail = detail


class _BadRecord(Exception):
    """A record the walk cannot place (its id is missing or of the wrong kind)."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(detail)
        self.index = index
        self.detail = detail


class Paging(ABC):
    """Base of the strategies: page size, the stop flag, the learned server cap, evidence."""

    kind: str = "?"

    def __init__(self, page_size: int, *, count: bool = True, where: str | None = None) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.top = min(page_size, MAX_PAGE_SIZE)
        self.count = count  # ask $count: tells a server cap below $top, and overlaps at the end
        self.where = where  # a filter every request carries (timestamp incrementals)
        self.done = False
        self.capped_at: int | None = None  # a server cap on $top met by this walk
        self.duplicate_ids: list[str] = []
        self._received = 0
        self._duplicates = 0
        self._low_counts = 0
        self._first_claim: int | None = None
        self._last_claim: int | None = None
        self._unproven_end = False  # the walk ended on a short page that carried no count
        self._end_was_empty = False  # ... and that page brought nothing new
        self._end_brought = 0

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

    def end_check(self) -> QueryItems | None:
        """After the walk ended on a short page whose answer carried no count or next link
        (a bare array says nothing about what follows): a one-record request for whatever
        lies beyond the end. None when the end is proven or this strategy cannot ask."""
        return None

    def lies_beyond(self, page: Page) -> bool:
        """Whether the answer to ``end_check`` holds a record beyond the end (a server that
        ignores the query and answers the start of the list again does not count)."""
        return False

    def refute_end(self) -> None:
        """A record lies beyond the page taken as the end. A short page: the walk goes on
        right after its records (nothing was lost). An empty one: a deficient answer."""
        self.done = False
        self._unproven_end = False
        if self._end_was_empty:
            raise _Deficient(
                self._received + 1, self._received, "an empty page while a record follows it"
            )

    def _ended(self, page: Page, brought: int) -> None:
        """The walk ends on ``page``: proven by its count or link, or left to ``end_check``."""
        self.done = True
        self._unproven_end = page.total is None and not page.next_link
        self._end_was_empty = brought == 0
        self._end_brought = brought

    def evidence(self) -> Evidence:
        claims = [c for c in (self._first_claim, self._last_claim) if c is not None]
        return Evidence(
            min(claims) if claims else None, self._received, self._duplicates, self._low_counts
        )

    def _claim(self, total: int, carried: int) -> None:
        """The API's count at this answer, as records the whole walk would find; ``carried``:
        the records this answer brought (a count below them is a count that lies low)."""
        if self._first_claim is None:
            self._first_claim = total
        self._last_claim = total
        if total < self._received + carried:
            self._low_counts += 1

    def _more_promised(self, page: Page, received: int, offset: int) -> bool:
        """A short page is not the end when the server says more rows follow."""
        if page.next_link:
            return True
        return page.total is not None and offset + received < page.total

    def _empty_but_promised(self, page: Page, before: int, total: int | None) -> None:
        """An answer with nothing new whose count (``total``: the records the whole walk
        would find, by this answer) or next link says records remain: deficient."""
        if page.next_link or (total is not None and before < total):
            reported = total if total is not None else before + 1
            detail = "an empty page with a next link" if page.next_link else "an empty page"
            raise _Deficient(reported, before, detail)

    def _distinct(self, records: list[Any], identities: list[object]) -> list[Any]:
        """The records of one answer with repeated ids dropped, the last of each kept (the
        merge would keep the last too); the repeats are counted and remembered."""
        last = {identity: i for i, identity in enumerate(identities)}
        if len(last) == len(records):
            return records
        kept = [r for i, (r, identity) in enumerate(zip(records, identities, strict=True))
                if last[identity] == i]  # fmt: skip
        repeated = len(records) - len(kept)
        self._duplicates += repeated
        seen: set[object] = set()
        for i, identity in enumerate(identities):
            if last[identity] != i and identity not in seen:
                seen.add(identity)
                if len(self.duplicate_ids) < DUPLICATE_IDS_KEPT and isinstance(identity, tuple):
                    self.duplicate_ids.append(str(identity[1]))
        return kept


def _identities(identity: Identity, records: list[Any]) -> list[object]:
    """Each record's identity; a record whose JSON cannot be written (nested past 254 levels)
    cannot be placed."""
    out: list[object] = []
    for index, record in enumerate(records):
        try:
            out.append(identity(record))
        except TypeError as exc:  # orjson: recursion limit
            raise _BadRecord(index, f"JSON that cannot be written: {exc}") from None
    return out


def _int_id(record: Any, index: int) -> int:
    """A keyset record's id as an integer: ``17`` or ``"17"``; anything else cannot be placed
    (no id: the record is refused; a non-integer id: the list cannot be walked by keyset)."""
    rid = record_id(record)
    if rid is None:
        raise _BadRecord(index, "it has no id" if not _has_id_key(record) else "its id is null")
    if isinstance(rid, int) and not isinstance(rid, bool):
        return rid
    if isinstance(rid, str) and rid.lstrip("-").isdigit():
        return int(rid)
    if isinstance(rid, str):
        raise MalformedResponse(endpoint="keyset paging", detail=f"id {rid!r} is not an integer")
    raise _BadRecord(index, f"its id is a JSON {type(rid).__name__}, not a number or string")


def _has_id_key(record: Any) -> bool:
    return isinstance(record, Mapping) and any(k in record for k in ("id", "Id", "ID"))


class KeysetPaging(Paging):
    """``$filter=<key> gt <after> [and <key> le <upto>]&$orderby=<key>&$top=n``.

    Its count is of the records still ahead (the filter applies to it), so each answer's claim
    is the records received so far plus that count.
    """

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

    def _in_range(self, rid: int) -> bool:
        return (self.after is None or rid > self.after) and (self.upto is None or rid <= self.upto)

    def _total(self, page: Page) -> int | None:
        return None if page.total is None else self._received + page.total

    def accept(self, page: Page) -> list[Any]:
        raw = page.records
        if page.single:
            self.done = True
            return list(raw)
        if not raw:
            self._empty_but_promised(page, self._received, self._total(page))
            if page.total is not None:
                self._claim(self._received + page.total, 0)
            self._ended(page, 0)
            return []
        keyed = [(rid, r) for i, r in enumerate(raw) if self._in_range(rid := _int_id(r, i))]
        ids = [rid for rid, _ in keyed]
        if any(b < a for a, b in pairwise(ids)):
            raise MalformedResponse(
                endpoint="keyset paging", detail="$orderby=id did not return ascending ids"
            )
        if not keyed:  # only records already walked past (an overlap at the very end)
            self._empty_but_promised(page, self._received, self._total(page))
            self._ended(page, 0)
            return []
        capped = len(raw) < self.top and self._more_promised(page, len(keyed), 0)
        fresh = self._distinct([r for _, r in keyed], [("id", str(rid)) for rid in ids])
        if capped:  # the server caps $top lower than we asked (or answered short: no loss,
            self.top = self.capped_at = len(raw)  # the next page starts after the last id)
        if page.total is not None:
            self._claim(self._received + page.total, len(fresh))
        self._received += len(fresh)
        if len(raw) < self.top:
            self._ended(page, len(fresh))
        self.after = ids[-1]
        return fresh

    def end_check(self) -> QueryItems | None:
        if not (self.done and self._unproven_end):
            return None
        terms = []
        if self.after is not None:
            terms.append(f"{self.key_field} gt {odata_literal(self.after)}")
        if self.upto is not None:
            terms.append(f"{self.key_field} le {odata_literal(self.upto)}")
        return [("$top", 1), ("$orderby", self.key_field), *self._filter_item(terms)]

    def lies_beyond(self, page: Page) -> bool:
        ids = [id_text(record_id(r)) for r in page.records]
        return any(
            i is not None and i.lstrip("-").isdigit() and self._in_range(int(i)) for i in ids
        )

    def refute_end(self) -> None:
        super().refute_end()  # an empty page raises: asked again from the same id
        self.capped_at = self._end_brought  # a short page: the walk goes on after its last id

    def position(self) -> dict[str, Any]:
        return {"after": self.after}


class OffsetPaging(Paging):
    """``$top``/``$skip`` (``$orderby`` when given), advancing by ``$top``.

    Its count is of the whole list, so a walk resumed at ``$skip`` = n claims the count less n.
    """

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
        self._start = skip
        self._end_at = skip  # where records would go on after the page taken as the end
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
        if page.single:
            self.done = True
            return list(raw)
        if not raw:
            self._empty_but_promised(page, self.skip, page.total)
            if page.total is not None:
                self._claim(page.total - self._start, 0)
            self._end_at = self.skip
            self._ended(page, 0)
            return []
        identities = _identities(self.identity, raw)
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
        proper = len(raw) - (1 if drop_head else 0)  # the page's own records (no repeated head)
        whole_list = (
            self.skip == 0
            and len(raw) > self.top + 1
            and not page.next_link
            and (page.total is None or page.total <= len(raw))
        )  # the server ignores $top and sent everything
        if len(raw) > self.top + 1 and not self.keyed and not whole_list:
            raise MalformedResponse(
                endpoint="offset paging",
                detail=f"{len(raw)} records for $top={self.top}: cannot page keyless records",
            )
        short = 0 < proper < self.top and not whole_list
        capped = short and self._more_promised(page, proper, self.skip)
        if self.keyed:
            seen = set(self._previous)
            pairs = [(r, i) for r, i in zip(raw, identities, strict=True) if i not in seen]
            fresh = self._distinct([r for r, _ in pairs], [i for _, i in pairs])
        else:
            fresh = raw[1:] if drop_head else raw
        if not fresh and self.skip > 0 and not whole_list:  # only records seen already:
            self._previous = identities  # shifted by an insert behind the walk, or the end
            if self._more_promised(page, proper, self.skip):
                self.skip += self.top  # the count or link says the list goes on: so do we
                return []
            self._end_at = self.skip + proper
            self._ended(page, 0)
            return []
        if page.total is not None:
            self._claim(page.total - self._start, len(fresh))
        self._received += len(fresh)
        if whole_list:
            self.done = True
            return fresh
        if capped:  # the server caps $top lower than we asked (or answered short: the next
            self.top = self.capped_at = proper  # page starts right after this one's records)
        elif proper < self.top:
            self._end_at = self.skip + proper
            self._ended(page, len(fresh))
        self._previous = identities
        self.skip += self.top
        return fresh

    def end_check(self) -> QueryItems | None:
        if not (self.done and self._unproven_end):
            return None
        items: QueryItems = [("$top", 1), ("$skip", self._end_at)]
        if self.order_by:
            items.append(("$orderby", self.order_by))
        return items + self._filter_item()

    def lies_beyond(self, page: Page) -> bool:
        if not page.records or page.single:
            return False
        first = _identities(self.identity, page.records[:1])[0]
        return first not in self._previous and first != self._first_identity

    def refute_end(self) -> None:
        super().refute_end()  # an empty page raises: asked again at the same $skip
        # a short page: its records were all there was of its window; go on right after them
        self.top = self.capped_at = max(1, self._end_at - (self.skip - self.top))
        self.skip = self._end_at

    def position(self) -> dict[str, Any]:
        return {"skip": self.skip}


class LinkPaging(Paging):
    """One request with the caller's query, then the server's next-page links.

    Only a link's query string is used, on our own base URL and path: its host is never
    trusted. Its count (``Count``) is of the whole list: a walk resumed at a link claims
    nothing.
    """

    kind = "link"

    def __init__(
        self,
        page_size: int = MAX_PAGE_SIZE,
        *,
        link: QueryItems | None = None,
        resumed: bool = False,
    ) -> None:
        super().__init__(page_size)
        self.link = link
        self._resumed = resumed  # started at a link mid-list: its counts are of the whole list
        self._previous_tail: object = None
        self._seen_links: set[str] = set()

    def request(self) -> QueryItems:
        return list(self.link or [])

    def accept(self, page: Page) -> list[Any]:
        raw = page.records
        if page.single:
            self.done = True
            return list(raw)
        if not raw:
            total = None if self._resumed else page.total
            self._empty_but_promised(page, self._received, total)
            self.done = True
            return []
        fresh = raw
        if self._previous_tail is not None and id_identity(raw[0]) == self._previous_tail:
            fresh = raw[1:]
        fresh = self._distinct(fresh, _identities(id_identity, fresh))
        if page.total is not None and not self._resumed:
            self._claim(page.total, len(fresh))
        self._received += len(fresh)
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


async def walk(
    fetcher: PageFetcher,
    path: str,
    paging: Paging,
    *,
    retry: RetryPolicy | None = None,
    on_retry: Callable[[str], None] | None = None,
    check_end: bool = False,
) -> AsyncIterator[list[Any]]:
    """Yield the new records of each page until ``paging`` is done (possibly ``[]``).

    A deficient answer (empty or short while more are promised) is asked again, with the
    retry policy's backoff, up to its attempts; then IncompleteAnswer. With ``check_end`` a
    walk that ended on an answer without a count or link (a bare array) asks one record
    beyond its end: if there is one, the end was not the end. A record the strategy cannot
    place raises RecordRejected (not retried: the same answer would come back).
    """
    while not paging.done:
        query = paging.request()
        attempt = 0
        while True:
            attempt += 1
            page = await fetcher.get_page(path, query)
            try:
                records = paging.accept(page)
                beyond = paging.end_check() if check_end else None
                if beyond is not None and paging.lies_beyond(await fetcher.get_page(path, beyond)):
                    paging.refute_end()
            except _Deficient as exc:
                if retry is None or not retry.can_retry(attempt):
                    raise IncompleteAnswer(
                        reported=f"{exc.reported:,}", returned=f"{exc.returned:,}",
                        endpoint=path, detail=f"{exc.detail}, {attempt} attempts",
                    ) from None  # fmt: skip
                if on_retry is not None:
                    on_retry(exc.detail)
                await asyncio.sleep(retry.backoff(attempt))
                continue
            except _BadRecord as exc:
                raise RecordRejected(
                    where=f"#{exc.index + 1} of the page {_query_text(query)}",
                    endpoint=path, detail=exc.detail,
                ) from None  # fmt: skip
            break
        yield records


def _query_text(query: QueryItems) -> str:
    """Where a page is, for people: ``$skip=200`` or ``$filter=id gt 17``."""
    shown = [f"{k}={v}" for k, v in query if k in ("$skip", "$filter", "skip", "page")]
    return "(" + "&".join(shown) + ")" if shown else "(the first)"


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
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)  # an id sent as a string ("17") is still the integer 17
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedResponse(endpoint="keyset paging", detail=f"id {value!r} is not an integer")
    return value
