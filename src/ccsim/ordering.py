"""The server's natural order of a list: id order (default) or a stable, seeded shuffle.

With ``natural_order="shuffled"`` an OData list queried without ``$orderby`` (and every plain
list) answers its live records sorted by ``h(salt(seed, space, "natural"), slot)`` instead of by
id. The order is a function of the slot alone, so it is stable across requests: an inserted
record (a new slot) lands at a random position, a deleted record vanishes (later records shift
left) and an updated record keeps its position. ``$filter`` filters that order; ``$count`` is
unchanged; ``$orderby`` (id or timestamp) keeps the exact semantics of :mod:`query`.

The shuffled order of a view is materialised (all live slots, sorted) and cached per
(space, view parent, space epoch), so paging through a view sorts it once per mutation. That is
meant for test sizes (tens of thousands of records); the default id order never materialises.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

from ccsim.dataset import Dataset, Space, View
from ccsim.hashing import h, salt
from ccsim.odata import Query
from ccsim.query import Page, all_slots, run_query, window

ID_ORDER = "id"
SHUFFLED = "shuffled"
_CACHE_MAX_VIEWS = 1024
_CACHE_MAX_SLOTS = 4_000_000  # total cached slots across views


def view_key(view: View) -> Hashable:
    """The view's parent ordinal (0 for a root space), -1 for a flat child view, or the key of
    a derived view (global lists, see :mod:`ccsim.global_lists`)."""
    return view.order_key()


class NaturalOrder:
    """Runs list queries in a configured natural order (``"id"`` or ``"shuffled"``)."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self._salts: dict[str, int] = {}
        self._cache: OrderedDict[tuple[str, Hashable], tuple[int, list[int]]] = OrderedDict()
        self._cached_slots = 0

    def shuffled(self, view: View) -> list[int]:
        """Live slots of ``view`` in shuffled order (cached: do not mutate the list)."""
        sp = view.space
        key = (sp.name, view_key(view))
        hit = self._cache.get(key)
        if hit is not None and hit[0] == sp.epoch:
            self._cache.move_to_end(key)
            return hit[1]
        s = self._salts.get(sp.name)
        if s is None:
            s = self._salts[sp.name] = salt(self.ds.seed, sp.name, "natural")
        slots = all_slots(view)
        slots.sort(key=lambda slot: h(s, slot))
        if hit is not None:
            self._cached_slots -= len(hit[1])
        self._cache[key] = (sp.epoch, slots)
        self._cache.move_to_end(key)
        self._cached_slots += len(slots)
        while len(self._cache) > 1 and (
            len(self._cache) > _CACHE_MAX_VIEWS or self._cached_slots > _CACHE_MAX_SLOTS
        ):
            _, (_, old) = self._cache.popitem(last=False)
            self._cached_slots -= len(old)
        return slots

    def all_slots(self, view: View, order: str) -> list[int]:
        """Every live record of a plain list, in the natural ``order``."""
        return self.shuffled(view) if order == SHUFFLED else all_slots(view)

    def run(self, view: View, q: Query, order: str) -> Page:
        """One OData page: ``$orderby`` (or id natural order) via :func:`run_query`, else the
        shuffled order, filtered."""
        if order != SHUFFLED or q.explicit_order:
            return run_query(view, q)
        slots = self.shuffled(view)
        if q.filtered:
            ok = _matcher(view.space, q)
            slots = [s for s in slots if ok(s)]
        count = len(slots)
        a, b = window(q, count)
        page = slots[a:b]
        if q.desc:
            page.reverse()
        return Page(page, count)


def _matcher(sp: Space, q: Query) -> Callable[[int], bool]:
    """Whether a live slot matches the filter of ``q`` (ids and base timestamps are monotone
    in the slot; overridden records are checked against their override timestamp)."""
    big = 1 << 62
    s_lo = sp.slot_ceil_id(q.id_lo) if q.id_lo is not None else 0
    s_hi = sp.slot_ceil_id(q.id_hi) if q.id_hi is not None else big
    t_lo = sp.slot_ceil_ts(q.ts_lo) if q.ts_lo is not None else 0
    t_hi = sp.slot_ceil_ts(q.ts_hi) if q.ts_hi is not None else big
    ts_lo = q.ts_lo if q.ts_lo is not None else -big
    ts_hi = q.ts_hi if q.ts_hi is not None else big
    override = sp.override

    def ok(s: int) -> bool:
        if not s_lo <= s < s_hi:
            return False
        o = override.get(s)
        if o is None:
            return t_lo <= s < t_hi
        return ts_lo <= o[1] < ts_hi

    return ok


__all__ = ["ID_ORDER", "SHUFFLED", "NaturalOrder", "view_key"]
