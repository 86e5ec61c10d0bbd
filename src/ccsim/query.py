"""Evaluate a parsed OData query over a view without materialising the record set.

Because ids and base timestamps are both monotone in the rank, filters narrow the view to one
rank range ``[lo, hi)``; deleted and overridden (inserted/updated) records are the only
exceptions, handled individually: they are removed from the range, and overridden records that
match the filter (with their override timestamp) are merged back in. Overridden timestamps are
newer than every base timestamp of the space, so timestamp order = base range in rank order,
then the overridden matches sorted by timestamp.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from ccsim.dataset import View
from ccsim.odata import Query


@dataclass(frozen=True, slots=True)
class Page:
    slots: list[int]
    count: int  # records matching the filter (all pages)


def run_query(view: View, q: Query) -> Page:
    sp = view.space
    n = view.n
    lo, hi = 0, n
    if q.id_lo is not None:
        lo = max(lo, view.rank_lb(sp.slot_ceil_id(q.id_lo)))
    if q.id_hi is not None:
        hi = min(hi, view.rank_lb(sp.slot_ceil_id(q.id_hi)))
    if q.ts_lo is not None:
        lo = max(lo, view.rank_lb(sp.slot_ceil_ts(q.ts_lo)))
    if q.ts_hi is not None:
        hi = min(hi, view.rank_lb(sp.slot_ceil_ts(q.ts_hi)))
    hi = max(lo, hi)
    exc = view.exceptions()
    if not exc.deleted and not exc.overrides:
        return _simple(view, q, lo, hi)

    excluded = sorted(
        {r for r in exc.deleted if lo <= r < hi} | {r for r in exc.overrides if lo <= r < hi}
    )
    extras: list[tuple[int, int]] = []  # (ts, rank) of overridden records matching the filter
    for r, ts in exc.overrides.items():
        if q.ts_lo is not None and ts < q.ts_lo:
            continue
        if q.ts_hi is not None and ts >= q.ts_hi:
            continue
        if q.id_lo is not None or q.id_hi is not None:
            rid = sp.id_of(view.slot_of(r))
            if (q.id_lo is not None and rid < q.id_lo) or (q.id_hi is not None and rid >= q.id_hi):
                continue
        extras.append((ts, r))
    base_len = (hi - lo) - len(excluded)
    count = base_len + len(extras)
    a, b = window(q, count)
    if a >= b:
        return Page([], count)
    if q.order_by == "ts":
        extras.sort()
        ranks = _base_ranks(lo, excluded, a, min(b, base_len))
        slots = view.slots(ranks)
        slots += [view.slot_of(r) for _, r in extras[max(a - base_len, 0) : max(b - base_len, 0)]]
    else:
        xr = sorted(r for _, r in extras)
        # position of each extra in the merged (rank-ordered) sequence
        xpos = [
            (min(max(x, lo), hi) - lo) - bisect_left(excluded, min(max(x, lo), hi)) + i
            for i, x in enumerate(xr)
        ]
        merged: list[int] = []
        j = bisect_left(xpos, a)
        base_start = a - j
        base_needed = (b - a) - sum(1 for p in xpos[j:] if p < b)
        base = iter(_base_ranks(lo, excluded, base_start, base_start + base_needed))
        for pos in range(a, b):
            if j < len(xpos) and xpos[j] == pos:
                merged.append(xr[j])
                j += 1
            else:
                merged.append(next(base))
        slots = view.slots(merged)
    if q.desc:
        slots.reverse()
    return Page(slots, count)


def window(q: Query, count: int) -> tuple[int, int]:
    """Ascending positions [a, b) holding the requested page (reversed later for desc)."""
    if q.desc:
        b = max(count - q.skip, 0)
        return max(b - q.top, 0), b
    a = min(q.skip, count)
    return a, min(a + q.top, count)


def _simple(view: View, q: Query, lo: int, hi: int) -> Page:
    count = hi - lo
    a, b = window(q, count)
    slots = view.slots(list(range(lo + a, lo + b)))
    if q.desc:
        slots.reverse()
    return Page(slots, count)


def _base_ranks(lo: int, excluded: list[int], a: int, b: int) -> list[int]:
    """Ranks at positions [a, b) of ``range(lo, ...)`` with ``excluded`` removed."""
    if b <= a:
        return []
    r = lo + a
    while True:  # smallest r with r = lo + a + |excluded <= r|
        nr = lo + a + bisect_right(excluded, r)
        if nr == r:
            break
        r = nr
    out: list[int] = []
    j = bisect_right(excluded, r)
    need = b - a
    while len(out) < need:
        if j < len(excluded) and excluded[j] == r:
            j += 1
        else:
            out.append(r)
        r += 1
    return out


def all_slots(view: View) -> list[int]:
    """Every live record of a view in rank order (plain, non-OData lists)."""
    exc = view.exceptions()
    if not exc.deleted:
        return view.slots(list(range(view.n)))
    dead = set(exc.deleted)
    return view.slots([r for r in range(view.n) if r not in dead])
