"""An in-memory OData list for paging tests (no HTTP).

``FakeList`` is a tiny OData server: ``$top`` (with a server cap), ``$skip``, ``$orderby=id``
(asc/desc), ``$filter`` on id (gt, ge, le), ``$count``, next links, a natural order that is not
id order, records repeated at page heads (the $top+1 bug), and a mutation hook called before
every answer. ``run`` walks it with a paging strategy; ``ids_of`` reads the ids walked.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from trialsync_async.api.pages import Page
from trialsync_async.api.paging import Paging, walk
from trialsync_async.errors import ClientRequestError

PATH = "/api/v1/things/odata"
_TERM = re.compile(r"id (gt|ge|le) (-?\d+)")


class FakeList:
    def __init__(
        self,
        ids: Sequence[int],
        *,
        cap: int = 1000,
        overlap: bool = False,
        shuffled: bool = False,
        links: bool = False,
        count: bool = True,
        refuse_filter: bool = False,
        mutate: Callable[[FakeList], None] | None = None,
        seed: int = 0,
    ) -> None:
        self.records: dict[int, dict[str, Any]] = {i: {"id": i, "v": 0} for i in ids}
        self.cap = cap
        self.overlap = overlap
        self.shuffled = shuffled
        self.links = links
        self.count = count
        self.refuse_filter = refuse_filter
        self.mutate = mutate
        self.rng = random.Random(seed)
        self.order: dict[int, float] = {i: self.rng.random() for i in ids}
        self.calls: list[dict[str, Any]] = []

    def insert(self, rid: int) -> None:
        self.records[rid] = {"id": rid, "v": 0}
        self.order[rid] = self.rng.random()

    def delete(self, rid: int) -> None:
        self.records.pop(rid, None)

    async def get_page(self, path: str, params: Sequence[tuple[str, str | int]]) -> Page:
        q = {k: str(v) for k, v in params}
        self.calls.append(q)
        if self.mutate is not None:
            self.mutate(self)
        if self.refuse_filter and ("$filter" in q or "$orderby" in q):
            raise ClientRequestError(status=400, endpoint=path, detail="unsupported")
        ids = list(self.records)
        for op, value in _TERM.findall(q.get("$filter", "")):
            x = int(value)
            ids = [i for i in ids if {"gt": i > x, "ge": i >= x, "le": i <= x}[op]]
        order = q.get("$orderby")
        if order:
            ids.sort(reverse=order.endswith("desc"))
        else:
            ids.sort(key=lambda i: self.order[i] if self.shuffled else i)
        top = min(int(q.get("$top", 50)), self.cap)
        skip = int(q.get("$skip", 0))
        window = ids[skip : skip + top]
        if self.overlap and skip > 0 and skip - 1 < len(ids):
            window = [ids[skip - 1], *window]
        link = None
        if self.links and skip + top < len(ids):
            link = f"http://elsewhere/x?$top={top}&$skip={skip + top}"
        total = len(ids) if self.count and q.get("$count") == "true" else None
        return Page([dict(self.records[i]) for i in window], next_link=link, total=total)


async def run(server: FakeList, paging: Paging) -> list[Any]:
    out: list[Any] = []
    async for records in walk(server, PATH, paging):
        out.extend(records)
    return out


def ids_of(records: list[Any]) -> list[int]:
    return [r["id"] for r in records]
