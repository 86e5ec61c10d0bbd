"""Exact expected results per endpoint: record count and sum of top-level ids over all parents.

Computed from the same arithmetic that generates the data (closed-form id sums per parent), so
it costs O(parents) hash evaluations, not O(records): instant at test scales, a few seconds for
the per-patient-visit endpoints at scale 100. Results are cached until the next mutation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ccsim.catalog import (
    ENDPOINT_BY_TEMPLATE,
    ENDPOINTS,
    PARENT_LIST_TEMPLATE,
    EndpointSpec,
    Kind,
    Parent,
)
from ccsim.dataset import JIT_BLOCK_ROOT, Dataset, Space


def root_sums(sp: Space) -> tuple[int, int]:
    """(live records, sum of their ids) of a root space."""
    n = sp.count(0)
    total = n * sp.base_id + sp.stride * (n * (n - 1) // 2)
    jit = sp._jit
    full_blocks, rest = divmod(n, JIT_BLOCK_ROOT)
    total += JIT_BLOCK_ROOT * sum(jit(b) for b in range(full_blocks))
    if rest:
        total += rest * jit(full_blocks)
    for s in sp.deleted:
        total -= sp.id_of(s)
    return n - len(sp.deleted), total


def parent_sums(sp: Space, p: int) -> tuple[int, int]:
    """(live children, sum of their ids) of parent ordinal ``p`` in a child space."""
    c = sp.count(p)
    if c == 0:
        return 0, 0
    first = p * sp.maxc
    total = c * sp.base_id + sp.stride * (c * first + c * (c - 1) // 2) + c * sp._jit(p)
    exc = sp.exceptions_for_parent(p)
    for k in exc.deleted:
        total -= sp.id_of(first + k)
    return c - len(exc.deleted), total


def alive_slots(sp: Space) -> Iterator[int]:
    """Live slots of a space in slot order (roots) or parent order (children)."""
    dead = sp.deleted
    if sp.is_root:
        return (s for s in range(sp.count(0)) if s not in dead)
    return (
        p * sp.maxc + k
        for p in range(sp.n_parents())
        for k in range(sp.count(p))
        if p * sp.maxc + k not in dead
    )


def parent_ordinals(ds: Dataset, kind: Parent) -> Iterator[int]:
    """Parent ordinals (of the child space) for every parent value the parent list returns."""
    if kind is Parent.STUDY:
        return alive_slots(ds["studies"])
    if kind is Parent.PATIENT:
        return alive_slots(ds["patients"])
    if kind is Parent.PATIENT_VISIT:
        pv = ds["patient_visits"]
        dead = {pv.ordinal(s) for s in pv.deleted}
        return (o for o in range(pv.n_ordinals()) if o not in dead)
    child = ds["visits"] if kind is Parent.STUDY_VISIT else ds["subjects"]
    studies = ds["studies"]
    m = child.maxc

    def gen() -> Iterator[int]:
        for s in alive_slots(studies):
            for k in range(child.count(s)):
                slot = s * m + k
                if slot not in child.deleted:
                    yield child.ordinal(slot)

    return gen()


def endpoint_truth(ds: Dataset, ep: EndpointSpec) -> dict[str, Any]:
    sp = ds[ep.space]
    has_key = sp.spec.key is not None
    if ep.kind is Kind.OBJECT:
        if ep.parent is Parent.NONE:
            count, id_sum = 1, None
        else:
            count, total = 0, 0
            for s in alive_slots(sp):
                count += 1
                total += sp.id_of(s)
            id_sum = total if ep.companion is None else None
    else:
        if ep.parent is Parent.NONE and ep.query_parent is not None and not sp.is_root:
            # a global list: the per-study lists' records (children of live studies)
            count = total = 0
            for p in parent_ordinals(ds, Parent.STUDY):
                c, t = parent_sums(sp, p)
                count += c
                total += t
        elif ep.parent is Parent.NONE:
            if sp.is_root:
                count, total = root_sums(sp)
            else:
                count = total = 0
                for p in range(sp.n_parents()):
                    c, t = parent_sums(sp, p)
                    count += c
                    total += t
        else:
            count = total = 0
            for p in parent_ordinals(ds, ep.parent):
                c, t = parent_sums(sp, p)
                count += c
                total += t
        id_sum = total if has_key else None
    return {
        "template": ep.template,
        "count": count,
        "id_sum": id_sum,
        "key": (sp.spec.key if ep.companion is None else None),
        "parent": ep.parent.value,
        "parent_template": PARENT_LIST_TEMPLATE[ep.parent],
        "kind": ep.kind.value,
        "space": sp.name,
    }


class Truth:
    """Cached truth per template, invalidated by the dataset epoch."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self._cache: dict[str, dict[str, Any]] = {}
        self._epoch = ds.epoch

    def one(self, template: str) -> dict[str, Any]:
        if self._epoch != self.ds.epoch:
            self._cache.clear()
            self._epoch = self.ds.epoch
        got = self._cache.get(template)
        if got is None:
            ep = ENDPOINT_BY_TEMPLATE.get(template)
            if ep is None:
                raise KeyError(template)
            got = self._cache[template] = endpoint_truth(self.ds, ep)
        return got

    def all(self) -> dict[str, dict[str, Any]]:
        return {ep.template: self.one(ep.template) for ep in ENDPOINTS}
