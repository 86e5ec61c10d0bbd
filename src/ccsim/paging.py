"""Paging rules of one request and the *page overlap* fault.

Page overlap models a bug reported against Clinical Conductor: an OData page answers ``$top`` + 1
records, repeating the last record of the previous page at its head. When the fault fires (seeded
draw per OData list request, probability ``page_overlap``), a page that does not start at the
very beginning of its sequence is extended by the record preceding its first record *in the same
(filtered, ordered) sequence*:

* ``$skip`` > 0: the record at position ``$skip`` - 1 (so also a page just past the end, e.g.
  ``$skip`` = count, answers that last record);
* ``$skip`` = 0 with a bound on the ordering field in ``$filter``: ascending ``id gt|ge X`` (or a
  timestamp lower bound when ordered by the timestamp) gives the last record below the bound,
  descending ``id lt|le X`` (timestamp upper bound) the first record above it, the rest of the
  filter applying unchanged (none: no extension);
* in the shuffled natural order (no ``$orderby``) only ``$skip`` > 0 pages are extended.

``$count`` and next links ignore the repeated record: the next link continues at
``$skip + (records of the page proper)``, so a client following links sees the overlap too.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from ccsim.odata import Query
from ccsim.options import DEFAULT_MAX_TOP, DEFAULT_NATURAL_ORDER
from ccsim.ordering import SHUFFLED


@dataclass(frozen=True, slots=True)
class PagingRules:
    """How one request is paged and which list faults apply (part of the page-cache key)."""

    natural_order: str = DEFAULT_NATURAL_ORDER
    max_top: int = DEFAULT_MAX_TOP
    overlap: bool = False  # this request's page repeats its predecessor (when it has one)
    global_drop: float = 0.0  # fraction of records missing from the global lists
    reject_filter: frozenset[str] = frozenset()  # lower-cased fields $filter may not use


DEFAULT_RULES = PagingRules()


class OverlapPicker:
    """Seeded per-request decisions of the page-overlap fault (deterministic in request order)."""

    def __init__(self, probability: float, seed: int) -> None:
        self.p = probability
        self.rng = random.Random(seed)

    def draw(self) -> bool:
        if self.p <= 0.0:
            return False
        return self.rng.random() < self.p


def head_query(q: Query, natural_order: str) -> Query | None:
    """A query whose (at most one) result is the record preceding the page of ``q``, or None
    when the page starts at the beginning of its sequence (see the module docstring)."""
    if q.skip > 0:
        return dataclasses.replace(q, skip=q.skip - 1, top=1, count=False)
    if natural_order == SHUFFLED and not q.explicit_order:
        return None
    by_id = q.order_by == "id"
    lo, hi = (q.id_lo, q.id_hi) if by_id else (q.ts_lo, q.ts_hi)
    new_lo: int | None
    new_hi: int | None
    if not q.desc:
        if lo is None:
            return None
        new_lo, new_hi = None, lo if hi is None else min(hi, lo)
    else:
        if hi is None:
            return None
        new_lo, new_hi = hi if lo is None else max(lo, hi), None
    head = dataclasses.replace(q, skip=0, top=1, count=False, desc=not q.desc, explicit_order=True)
    if by_id:
        return dataclasses.replace(head, id_lo=new_lo, id_hi=new_hi)
    return dataclasses.replace(head, ts_lo=new_lo, ts_hi=new_hi)


__all__ = ["DEFAULT_RULES", "OverlapPicker", "PagingRules", "head_query"]
