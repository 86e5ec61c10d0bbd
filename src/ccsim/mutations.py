"""Inserts, updates and deletes applied to a space while clients page through it.

Inserted records append to their parent (so their ids sort last within it) and, like updated
records, get an override timestamp (``lastUpdatedOn``) of the simulator's current time, strictly
increasing within the space and newer than any base timestamp of it; updates also bump the
record's version, which changes its name/comment and static variant. ``rename=False`` keeps the
name and the other head fields (only the variant and the timestamp change), so records that embed
a preview of the updated one -- a study's subjects, visits and other children show
``study: {id, uid, name}`` -- stay byte for byte the same: "update k studies, children untouched".
Parents and children are separate spaces: mutating subjects never touches their studies.

Deleting a parent makes its per-parent endpoints answer 404 (what the simulator does for any
unknown parent) and drops its children from the global lists (/subjects/odata, /visits/odata);
flat lists such as /elements/odata and /patient-visits/odata do not cascade. Inserted records
start without children.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from ccsim.catalog import ENDPOINT_BY_TEMPLATE, SPACE_BY_NAME, Kind, Parent
from ccsim.dataset import HEADROOM, Dataset, Space
from ccsim.resolve import parent_alive, resolve_parent

_MAX_TRIES = 20_000


class MutationError(ValueError):
    """A mutation request that cannot be applied (unknown template, no records, ...)."""


def mutate(
    ds: Dataset,
    target: str,
    *,
    insert: int = 0,
    update: int = 0,
    delete: int = 0,
    parent: str | None = None,
    update_ids: Sequence[int] = (),
    delete_ids: Sequence[int] = (),
    rename: bool = True,
    rng: random.Random,
) -> dict[str, Any]:
    """Apply changes to the space behind ``target`` (a template or a space name).

    ``insert``/``update``/``delete`` pick random live records (of ``parent`` when given, as
    path parameters joined by "/"); ``update_ids``/``delete_ids`` name records by id; deletes
    are applied first, then updates, then inserts. The result::

        {"space", "key", "epoch",
         "inserted": [id, ...], "updated": [id, ...], "deleted": [id, ...],
         "parents": {id: parent id},        # child spaces: the parent of each record above
         "orphaned": {space: [id, ...]}}    # children of deleted records (keyed child spaces)

    Records without an id are named by their internal slot. Orphaned children are gone from
    their parent's per-parent lists (404) and from the global lists, not from flat lists.
    """
    kind = Parent.NONE
    if target in ENDPOINT_BY_TEMPLATE:
        ep = ENDPOINT_BY_TEMPLATE[target]
        if ep.kind is Kind.OBJECT and ep.companion is not None:
            raise MutationError(f"{target} serves a fixed object and cannot be mutated")
        sp = ds[ep.space]
        kind = ep.parent
    elif target in SPACE_BY_NAME:
        sp = ds[target]
    else:
        raise MutationError(f"unknown template or space {target!r}")
    if min(insert, update, delete) < 0:
        raise MutationError("insert, update and delete must be >= 0")
    fixed_parent: int | None = None
    if parent is not None:
        if kind is Parent.NONE:
            raise MutationError(f"{target} has no parent parameter")
        fixed_parent = resolve_parent(ds, kind, tuple(parent.split("/")))
        if fixed_parent is None:
            raise MutationError(f"parent {parent!r} does not exist for {target}")
    chooser = _Chooser(ds, sp, kind, fixed_parent, rng)
    named_update = [_named(sp, rid) for rid in update_ids]
    named_delete = [_named(sp, rid) for rid in delete_ids]
    out: dict[str, list[Any]] = {"inserted": [], "updated": [], "deleted": []}
    orphaned: dict[str, list[int]] = {}
    touched: list[int] = []  # slots, for "parents"
    for slot in named_delete + [None] * delete:
        slot = chooser.existing() if slot is None else slot
        if slot is None:
            break
        if slot in sp.deleted:
            continue
        sp.deleted.add(slot)
        sp.override.pop(slot, None)
        sp.pinned_names.pop(slot, None)
        out["deleted"].append(_ident(sp, slot))
        touched.append(slot)
        _orphans(ds, sp, slot, orphaned)
        ds.bump(sp)
    for slot in named_update + [None] * update:
        slot = chooser.existing() if slot is None else slot
        if slot is None:
            break
        if slot in sp.deleted:
            raise MutationError(f"record {_ident(sp, slot)} of {sp.name} is deleted")
        if rename:
            sp.pinned_names.pop(slot, None)
        else:
            sp.pinned_names[slot] = sp.label_version(slot)
        sp.override[slot] = (sp.version_of(slot) + 1, sp.next_override_ts(ds.now_ms()))
        out["updated"].append(_ident(sp, slot))
        touched.append(slot)
        ds.bump(sp)
    for _ in range(insert):
        slot = chooser.insert_slot()
        if slot is None:
            break
        p, _k = sp.split(slot)
        sp.extra[p] = sp.extra.get(p, 0) + 1
        if not sp.is_root:
            o = sp.n_nat() + len(sp.ins_ord)
            sp.ins_ord[slot] = o
            sp.ord_slot[o] = slot
        sp.override[slot] = (0, sp.next_override_ts(ds.now_ms()))
        out["inserted"].append(_ident(sp, slot))
        touched.append(slot)
        ds.bump(sp)
    parents = {} if sp.parent is None else {_ident(sp, s): _parent_ident(sp, s) for s in touched}
    return {
        "space": sp.name,
        "key": sp.spec.key,
        "epoch": ds.epoch,
        **out,
        "parents": parents,
        "orphaned": orphaned,
    }


def _parent_ident(sp: Space, slot: int) -> int:
    """The id (or slot, for a keyless parent) of a child record's parent."""
    parent = sp.parent
    assert parent is not None
    ps = parent.slot_of_ordinal(sp.split(slot)[0])
    return _ident(parent, ps)


def _orphans(ds: Dataset, sp: Space, slot: int, into: dict[str, list[int]]) -> None:
    """Add the live children of a just-deleted record, per keyed child space."""
    o = sp.ordinal(slot)
    for child in ds.spaces.values():
        if child.parent is not sp or child.spec.key is None:
            continue
        first = o * child.maxc
        ids = [
            child.id_of(first + k) for k in range(child.count(o)) if first + k not in child.deleted
        ]
        if ids:
            into.setdefault(child.name, []).extend(ids)


def _named(sp: Space, rid: int) -> int:
    if sp.spec.key is None:
        raise MutationError(f"{sp.name} records have no id to name")
    slot = sp.slot_of_id(int(rid))
    if slot is None or not sp.exists(slot):
        raise MutationError(f"no record {rid} in {sp.name}")
    return slot


def _ident(sp: Space, slot: int) -> int:
    """The record's id, or its internal slot when the model has no id."""
    return sp.id_of(slot) if sp.spec.key else slot


class _Chooser:
    def __init__(
        self, ds: Dataset, sp: Space, kind: Parent, fixed: int | None, rng: random.Random
    ) -> None:
        self.ds, self.sp, self.kind, self.fixed, self.rng = ds, sp, kind, fixed, rng

    def _parent(self) -> int | None:
        sp = self.sp
        if sp.is_root:
            return 0
        if self.fixed is not None:
            return self.fixed
        n = sp.n_parents()
        if n == 0:
            return None
        p = self.rng.randrange(n)
        if self.kind is not Parent.NONE and not parent_alive(self.ds, self.kind, p):
            return None
        return p

    def existing(self) -> int | None:
        sp = self.sp
        for _ in range(_MAX_TRIES):
            p = self._parent()
            if p is None:
                continue
            c = sp.count(p)
            if c == 0:
                if self.fixed is not None or sp.is_root:
                    return None
                continue
            slot = (0 if sp.is_root else p * sp.maxc) + self.rng.randrange(c)
            if slot not in sp.deleted:
                return slot
        return None

    def insert_slot(self) -> int | None:
        sp = self.sp
        for _ in range(_MAX_TRIES):
            p = self._parent()
            if p is None:
                continue
            if sp.is_root:
                return sp.count(0)
            if sp.extra.get(p, 0) >= HEADROOM:
                if self.fixed is not None:
                    return None
                continue
            return p * sp.maxc + sp.count(p)
        return None
