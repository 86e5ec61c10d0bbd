"""Global lists: one list for what otherwise takes one request per parent.

* ``/api/v1/subjects/odata`` and ``/api/v1/visits/odata`` serve exactly the records of the
  per-study lists ``/studies/{studyId}/subjects/odata`` and ``.../visits/odata`` (same ids, same
  content): every live study's children, or one study's with ``?studyId=``. Children of a
  deleted study vanish from them, as that study's per-study lists answer 404 (the flat lists
  ``/elements/odata`` and ``/patient-visits/odata`` do not cascade). An unknown or deleted
  ``studyId`` is a 404, a non-integer one a 400.
* ``/api/v1/subject-statuses/odata?studyUid=`` narrows the statuses to those whose ``study``
  shows that uid (unknown or deleted study: 404, not a uuid: 400).

The ``global_list_drop`` fault removes a fraction of the records from the subject and visit
global lists only (``$count`` included): a record is missing when a seeded hash of its slot
falls below the fraction, so the same records are missing on every request and with or without
``studyId``; 1.0 empties them. Truth and ``__sim/records`` ignore it.

Views here keep the rank/slot contract of :class:`~ccsim.dataset.View`, so the query engine,
natural orders and page overlap work on them unchanged.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections.abc import Hashable, Sequence

from ccsim.catalog import EndpointSpec, Parent
from ccsim.dataset import Dataset, Exceptions, FlatView, ParentView, Space, View
from ccsim.hashing import h, salt
from ccsim.odata import ODataError
from ccsim.records import Renderer, uid_of
from ccsim.resolve import parent_alive, resolve_parent

STUDY_ID = "studyId"
STUDY_UID = "studyUid"
_UNIT = float(1 << 53)


class UnknownParent(LookupError):
    """The query parameter names no live parent (HTTP 404)."""


class ExcludingView(View):
    """A view minus some of its ranks (children of deleted studies, dropped records)."""

    def __init__(self, base: View, excluded: Sequence[int], key: Hashable) -> None:
        self.base = base
        self.space = base.space
        self.n = base.n
        self._excluded = frozenset(excluded)
        self._key = key
        self._exc: Exceptions | None = None

    def slot_of(self, r: int) -> int:
        return self.base.slot_of(r)

    def rank_lb(self, slot: int) -> int:
        return self.base.rank_lb(slot)

    def slots(self, ranks: list[int]) -> list[int]:
        return self.base.slots(ranks)

    def order_key(self) -> Hashable:
        return self._key

    def exceptions(self) -> Exceptions:
        if self._exc is None:
            base = self.base.exceptions()
            gone = self._excluded
            self._exc = Exceptions(
                sorted(gone.union(base.deleted)),
                {r: ts for r, ts in base.overrides.items() if r not in gone},
            )
        return self._exc


class SubsetView(View):
    """Some records of a root space, by ascending slot (e.g. one study's subject statuses)."""

    def __init__(self, space: Space, slots: list[int], key: Hashable) -> None:
        self.space = space
        self._slots = slots
        self.n = len(slots)
        self._key = key

    def _rank(self, slot: int) -> int | None:
        r = bisect_left(self._slots, slot)
        return r if r < self.n and self._slots[r] == slot else None

    def slot_of(self, r: int) -> int:
        return self._slots[r]

    def rank_lb(self, slot: int) -> int:
        return bisect_left(self._slots, slot)

    def slots(self, ranks: list[int]) -> list[int]:
        return [self._slots[r] for r in ranks]

    def order_key(self) -> Hashable:
        return self._key

    def exceptions(self) -> Exceptions:
        sp = self.space
        deleted = sorted(r for s in sp.deleted if (r := self._rank(s)) is not None)
        overrides: dict[int, int] = {}
        for s, (_, ts) in sp.override.items():
            r = self._rank(s)
            if r is not None:
                overrides[r] = ts
        return Exceptions(deleted, overrides)


def query_parent_value(ep: EndpointSpec | None, items: Sequence[tuple[str, str]]) -> str | None:
    """The value of the endpoint's parent query parameter (first one; any case), if given."""
    if ep is None or ep.query_parent is None:
        return None
    want = ep.query_parent.lower()
    return next((v for k, v in items if k.lower() == want and v.strip()), None)


def split_query_parent(
    name: str, items: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str]], str | None]:
    """The query without parameter ``name`` (matched in any case, as ASP.NET binds it) and its
    value (None when absent or blank); given twice is an :class:`ODataError`."""
    rest: list[tuple[str, str]] = []
    values: list[str] = []
    for k, v in items:
        if k.lower() == name.lower():
            values.append(v.strip())
        else:
            rest.append((k, v))
    if len(values) > 1:
        raise ODataError(f"query parameter {name!r} given more than once")
    return rest, (values[0] or None) if values else None


class GlobalViews:
    """Views of the global lists, with the per-list work (dropping, cascading) cached until the
    space or its parents change."""

    def __init__(self, ds: Dataset, renderer: Renderer | None = None) -> None:
        self.ds = ds
        self.renderer = renderer or Renderer(ds)
        self._flat: dict[tuple[str, float], tuple[tuple[int, int], ExcludingView]] = {}
        self._statuses: tuple[int, dict[int, list[int]]] | None = None
        self._uids: tuple[int, dict[str, int]] | None = None

    def view(self, ep: EndpointSpec, value: str | None, drop: float = 0.0) -> View:
        """The records ``ep`` serves for its parent query value (None: all); raises
        :class:`UnknownParent` (404) or :class:`ODataError` (400)."""
        sp = self.ds[ep.space]
        if ep.query_parent == STUDY_UID:
            return self.statuses_of(sp, value) if value is not None else ParentView(sp, 0)
        if value is None:
            return self.all_children(sp, drop)
        if not value.lstrip("+-").isdigit():
            raise ODataError(f"{STUDY_ID} must be an integer, not {value!r}")
        p = resolve_parent(self.ds, Parent.STUDY, (value,))
        if p is None:
            raise UnknownParent(f"no study {value}")
        base = ParentView(sp, p)
        if drop <= 0.0:
            return base
        s = _drop_salt(self.ds, sp)
        gone = [k for k in range(base.n) if _dropped(s, base.off + k, drop)]
        return ExcludingView(base, gone, ("drop", p, drop))

    def all_children(self, sp: Space, drop: float = 0.0) -> View:
        """Every child of a live parent (minus the dropped fraction), cached per epochs."""
        parent = sp.parent
        assert parent is not None
        epochs = (sp.epoch, parent.epoch)
        hit = self._flat.get((sp.name, drop))
        if hit is not None and hit[0] == epochs:
            return hit[1]
        base = FlatView(sp)
        gone: list[int] = []
        for ps in parent.deleted:
            o = parent.ordinal(ps)
            start = base.flat_prefix(o)
            gone.extend(range(start, start + sp.count(o)))
        if drop > 0.0:
            s = _drop_salt(self.ds, sp)
            for o in range(base.n_par):
                if not parent_alive(self.ds, Parent.STUDY, o):
                    continue
                start, first = base.flat_prefix(o), o * sp.maxc
                gone.extend(start + k for k in range(sp.count(o)) if _dropped(s, first + k, drop))
        view = ExcludingView(base, gone, ("global", drop, parent.epoch))
        self._flat[(sp.name, drop)] = (epochs, view)
        return view

    def statuses_of(self, sp: Space, value: str) -> View:
        """The subject statuses whose ``study`` is the live study with uid ``value``."""
        try:
            wanted = str(uuid.UUID(value))
        except ValueError as exc:
            raise ODataError(f"{STUDY_UID} must be a uuid, not {value!r}") from exc
        study = self._study_by_uid().get(wanted)
        if study is None or not self.ds["studies"].alive(study):
            raise UnknownParent(f"no study {value}")
        return SubsetView(sp, self._statuses_by_study(sp).get(study, []), ("study", study))

    def _study_by_uid(self) -> dict[str, int]:
        studies = self.ds["studies"]
        n = studies.count(0)
        if self._uids is None or self._uids[0] != n:
            self._uids = (n, {uid_of(studies, s): s for s in range(n)})
        return self._uids[1]

    def _statuses_by_study(self, sp: Space) -> dict[int, list[int]]:
        n = sp.count(0)  # a record's study depends on its slot alone: only inserts add any
        if self._statuses is None or self._statuses[0] != n:
            by: dict[int, list[int]] = {}
            for slot in range(n):
                by.setdefault(self.renderer.referenced_study(sp, slot), []).append(slot)
            self._statuses = (n, by)
        return self._statuses[1]


def _drop_salt(ds: Dataset, sp: Space) -> int:
    return salt(ds.seed, sp.name, "global_drop")


def _dropped(s: int, slot: int, fraction: float) -> bool:
    return (h(s, slot) >> 11) < fraction * _UNIT


__all__ = [
    "STUDY_ID",
    "STUDY_UID",
    "ExcludingView",
    "GlobalViews",
    "SubsetView",
    "UnknownParent",
    "query_parent_value",
    "split_query_parent",
]
