"""Lazily generated, deterministic record spaces with mutations.

Every record lives at a *slot*: root spaces use slot = index; child spaces use
slot = parent_ordinal * maxc + k (k-th child of that parent; ``maxc`` leaves headroom for
inserts). A record's id, timestamp and content derive from (seed, space, slot) alone, so nothing
is materialised up front and scale 100 starts instantly.

Ids are monotone in the slot (``base + slot * stride + jitter(block)``, jitter < stride), hence
non-contiguous, unique, invertible, and ascending id order = slot order. Base timestamps are
monotone in the slot too, so id and timestamp filters both become slot ranges; inserted and
updated records carry an override timestamp newer than any base timestamp of their space.

An *ordinal* is a stable dense index of a record within its space (natural records: rank in the
unmutated data; inserted records: appended), used as the parent index of child spaces so that
child slots stay well inside int32 at scale 100.
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ccsim.catalog import SPACES, SpaceSpec
from ccsim.hashing import h, salt

T0_MS = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp() * 1000)
T_END_MS = int(datetime(2025, 6, 30, tzinfo=UTC).timestamp() * 1000)
HEADROOM = 16  # inserts a parent can take beyond its largest natural child count
JIT_BLOCK_ROOT = 16  # root spaces: id jitter is shared by blocks of this many slots


@dataclass(slots=True)
class Exceptions:
    """Deleted and overridden (inserted/updated) records of one view, by rank."""

    deleted: list[int] = field(default_factory=list)  # sorted ranks
    overrides: dict[int, int] = field(default_factory=dict)  # rank -> override ts (ms)


class Space:
    """One record set (see module docstring)."""

    def __init__(
        self, spec: SpaceSpec, parent: Space | None, seed: int, scale: float, size: float
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.parent = parent
        self.is_root = parent is None
        self._salt_count = salt(seed, spec.name, "count")
        self.salt_rec = salt(seed, spec.name, "record")
        self._salt_jit = salt(seed, spec.name, "jitter")
        s = salt(seed, spec.name, "ids")
        self.stride = 3 + s % 5
        self.base_id = 1000 * (1 + (s >> 8) % 90) + (s >> 16) % 1000
        if self.is_root:
            n = size * scale if spec.scaled else size
            self.n_root_nat = 0 if size <= 0 else max(1, round(n))
            self.maxc = 0
            self._zero_thresh = 0
            self._span = 0
            capacity = max(1, self.n_root_nat)
        else:
            assert parent is not None
            z = min(max(spec.zero_frac, 1.0 - size if size < 1 else 0.0), 1.0)
            nonzero_mean = size / (1.0 - z) if z < 1.0 else 0.0
            self._zero_thresh = round(z * 65536) if size > 0 else 65536
            self._span = max(1, round(2 * nonzero_mean - 1))
            self.maxc = self._span + HEADROOM
            capacity = max(1, round(parent.expected_total())) * self.maxc
        self.ts_step = max(1, (T_END_MS - T0_MS) // capacity)
        self._prefix: array[int] | None = None
        # mutation state
        self.extra: dict[int, int] = {}  # parent ordinal (0 for roots) -> inserted children
        self.deleted: set[int] = set()  # slots
        self.override: dict[int, tuple[int, int]] = {}  # slot -> (version, ts_ms)
        self.pinned_names: dict[int, int] = {}  # slot -> label version kept by a quiet update
        self.ins_ord: dict[int, int] = {}  # inserted child slot -> ordinal
        self.ord_slot: dict[int, int] = {}  # ordinal -> inserted child slot
        self.epoch = 0
        self._last_override_ts = 0
        self._exc_epoch = -1
        self._exc_by_parent: dict[int, Exceptions] = {}
        self._flat_epoch = -1
        self._flat_ext: tuple[list[int], list[int]] | None = None
        self._flat_exc: Exceptions | None = None

    # --- sizes ---------------------------------------------------------------------------------
    def expected_total(self) -> float:
        if self.is_root:
            return float(self.n_root_nat)
        assert self.parent is not None
        return self.parent.expected_total() * self.spec.size

    def nat_count(self, p: int) -> int:
        """Natural child count of parent ordinal ``p`` (child spaces)."""
        if p >= self.parent_nat():
            return 0
        x = h(self._salt_count, p)
        if (x & 0xFFFF) < self._zero_thresh:
            return 0
        return 1 + (x >> 16) % self._span

    def count(self, p: int) -> int:
        if self.is_root:
            return self.n_root_nat + self.extra.get(0, 0)
        return self.nat_count(p) + self.extra.get(p, 0)

    def parent_nat(self) -> int:
        assert self.parent is not None
        return self.parent.n_nat()

    def prefix(self) -> array[int]:
        """prefix[p] = natural children of parent ordinals < p (computed once, lazily)."""
        if self._prefix is None:
            n = self.parent_nat()
            pre = array("q", [0]) * (n + 1)
            acc = 0
            nat = self.nat_count
            for p in range(n):
                pre[p] = acc
                acc += nat(p)
            pre[n] = acc
            self._prefix = pre
        return self._prefix

    def n_nat(self) -> int:
        """Natural ordinals (records of the unmutated data)."""
        if self.is_root:
            return self.n_root_nat
        return self.prefix()[-1]

    def n_ordinals(self) -> int:
        if self.is_root:
            return self.n_root_nat + self.extra.get(0, 0)
        return self.n_nat() + len(self.ins_ord)

    def n_parents(self) -> int:
        assert self.parent is not None
        return self.parent.n_ordinals()

    # --- slots, ids, ordinals ------------------------------------------------------------------
    def split(self, slot: int) -> tuple[int, int]:
        if self.is_root:
            return 0, slot
        return divmod(slot, self.maxc)

    def exists(self, slot: int) -> bool:
        if slot < 0:
            return False
        if self.is_root:
            return slot < self.n_root_nat + self.extra.get(0, 0)
        p, k = divmod(slot, self.maxc)
        return p < self.n_parents() and k < self.count(p)

    def alive(self, slot: int) -> bool:
        return slot not in self.deleted and self.exists(slot)

    def _jit(self, block: int) -> int:
        return h(self._salt_jit, block) % self.stride

    def id_of(self, slot: int) -> int:
        b = slot // JIT_BLOCK_ROOT if self.is_root else slot // self.maxc
        return self.base_id + slot * self.stride + h(self._salt_jit, b) % self.stride

    def slot_of_id(self, rid: int) -> int | None:
        s = (rid - self.base_id) // self.stride
        if s < 0 or self.id_of(s) != rid:
            return None
        return s

    def slot_ceil_id(self, rid: int) -> int:
        """Smallest slot whose id is >= ``rid``."""
        s = max(0, (rid - self.base_id) // self.stride)
        return s if self.id_of(s) >= rid else s + 1

    def base_ts(self, slot: int) -> int:
        return T0_MS + slot * self.ts_step

    def slot_ceil_ts(self, ts_ms: int) -> int:
        """Smallest slot whose base timestamp is >= ``ts_ms``."""
        return max(0, -((T0_MS - ts_ms) // self.ts_step))

    def ts_of(self, slot: int) -> int:
        o = self.override.get(slot)
        return o[1] if o is not None else T0_MS + slot * self.ts_step

    def version_of(self, slot: int) -> int:
        o = self.override.get(slot)
        return o[0] if o is not None else 0

    def label_version(self, slot: int) -> int:
        """The version names and other head fields are drawn from: the record's version, unless
        an update with ``rename=False`` pinned the previous one (see :mod:`ccsim.mutations`)."""
        pinned = self.pinned_names.get(slot)
        return self.version_of(slot) if pinned is None else pinned

    def ordinal(self, slot: int) -> int:
        if self.is_root:
            return slot
        p, k = divmod(slot, self.maxc)
        if p < self.parent_nat() and k < self.nat_count(p):
            return self.prefix()[p] + k
        return self.ins_ord[slot]

    def slot_of_ordinal(self, o: int) -> int:
        if self.is_root:
            return o
        pre = self.prefix()
        if o < pre[-1]:
            p = bisect_right(pre, o) - 1
            return p * self.maxc + (o - pre[p])
        return self.ord_slot[o]

    def nat_slot(self, o: int) -> int:
        """Slot of natural ordinal ``o % n_nat`` (for references to 'some record')."""
        n = self.n_nat()
        return self.slot_of_ordinal(o % n) if n else -1

    # --- mutation bookkeeping ------------------------------------------------------------------
    def next_override_ts(self, now_ms: int) -> int:
        top = self.base_ts(self._max_slot() + 1)
        ts = max(now_ms, top + 1000, self._last_override_ts + 1)
        self._last_override_ts = ts
        return ts

    def _max_slot(self) -> int:
        if self.is_root:
            return self.n_ordinals()
        return self.n_parents() * self.maxc

    def bump(self) -> None:
        self.epoch += 1

    def exceptions_for_parent(self, p: int) -> Exceptions:
        """Deleted/overridden children of parent ordinal ``p`` (rank = k); roots use p=0."""
        if self._exc_epoch != self.epoch:
            by: dict[int, Exceptions] = {}
            for s in self.deleted:
                q, k = self.split(s)
                by.setdefault(q, Exceptions()).deleted.append(k)
            for s, (_, ts) in self.override.items():
                q, k = self.split(s)
                by.setdefault(q, Exceptions()).overrides[k] = ts
            for e in by.values():
                e.deleted.sort()
            self._exc_by_parent = by
            self._exc_epoch = self.epoch
        return self._exc_by_parent.get(p) or _NO_EXC

    def flat_ext(self) -> tuple[list[int], list[int]]:
        """Parents with inserted children (sorted) and the inserts before each (cumulative)."""
        if self._flat_epoch != self.epoch or self._flat_ext is None:
            ext = sorted(p for p, n in self.extra.items() if n)
            cum: list[int] = []
            acc = 0
            for p in ext:
                cum.append(acc)
                acc += self.extra[p]
            cum.append(acc)
            self._flat_ext = (ext, cum)
            self._flat_exc = None
            self._flat_epoch = self.epoch
        return self._flat_ext

    def flat_exceptions(self) -> Exceptions:
        """Exceptions of the flat view (all parents), by flat rank."""
        self.flat_ext()
        if self._flat_exc is None:
            view = FlatView(self)
            self._flat_exc = Exceptions(
                sorted(view.rank_lb(s) for s in self.deleted),
                {view.rank_lb(s): ts for s, (_, ts) in self.override.items()},
            )
        return self._flat_exc


_NO_EXC = Exceptions()


class View:
    """An ordered sequence of ranks 0..n-1 over slots of one space (slot monotone in rank)."""

    space: Space
    n: int

    def slot_of(self, r: int) -> int:
        raise NotImplementedError

    def rank_lb(self, slot: int) -> int:
        """Number of ranks whose slot is < ``slot``."""
        raise NotImplementedError

    def slots(self, ranks: list[int]) -> list[int]:
        """Slots of ascending ``ranks``."""
        return [self.slot_of(r) for r in ranks]

    def exceptions(self) -> Exceptions:
        raise NotImplementedError

    def order_key(self) -> Hashable:
        """Identifies the view's record set within its space (for caches of its orderings)."""
        return -1


class ParentView(View):
    """Children of one parent ordinal (or a whole root space, p=0)."""

    def __init__(self, space: Space, p: int) -> None:
        self.space = space
        self.p = p
        self.n = space.count(p)
        self.off = 0 if space.is_root else p * space.maxc

    def slot_of(self, r: int) -> int:
        return self.off + r

    def rank_lb(self, slot: int) -> int:
        return min(max(slot - self.off, 0), self.n)

    def slots(self, ranks: list[int]) -> list[int]:
        off = self.off
        return [off + r for r in ranks]

    def exceptions(self) -> Exceptions:
        return self.space.exceptions_for_parent(self.p)

    def order_key(self) -> Hashable:
        return self.p


class FlatView(View):
    """All records of a child space across all parents (e.g. /patient-visits/odata)."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.pre = space.prefix()
        self.n_par = space.n_parents()
        self.ext, self.cum = space.flat_ext()
        self.n = self.pre[-1] + self.cum[-1]

    def exceptions(self) -> Exceptions:
        return self.space.flat_exceptions()

    def flat_prefix(self, p: int) -> int:
        pre = self.pre
        nat = pre[p] if p < len(pre) else pre[-1]
        i = bisect_left(self.ext, p)
        return nat + self.cum[i]

    def _locate(self, r: int) -> tuple[int, int]:
        lo, hi = 0, self.n_par - 1
        while lo < hi:  # largest p with flat_prefix(p) <= r
            mid = (lo + hi + 1) // 2
            if self.flat_prefix(mid) <= r:
                lo = mid
            else:
                hi = mid - 1
        return lo, r - self.flat_prefix(lo)

    def slot_of(self, r: int) -> int:
        p, k = self._locate(r)
        return p * self.space.maxc + k

    def rank_lb(self, slot: int) -> int:
        sp = self.space
        p, k = divmod(slot, sp.maxc)
        if p >= self.n_par:
            return self.n
        return self.flat_prefix(p) + min(k, sp.count(p))

    def slots(self, ranks: list[int]) -> list[int]:
        if not ranks:
            return []
        sp = self.space
        m = sp.maxc
        out: list[int] = []
        p, k = self._locate(ranks[0])
        r_cur = ranks[0]
        c = sp.count(p)
        for r in ranks:
            while r_cur < r:  # walk forward (gaps between requested ranks are small)
                k += 1
                r_cur += 1
                while k >= c:
                    p += 1
                    k = 0
                    c = sp.count(p)
            out.append(p * m + k)
        return out


class Dataset:
    """All spaces of one (seed, scale, sizes) configuration plus their mutation state."""

    def __init__(
        self, seed: int, scale: float, size_overrides: dict[str, float] | None = None
    ) -> None:
        self.seed = seed
        self.scale = scale
        self.epoch = 0  # bumped by every mutation (page caches key on it)
        self.spaces: dict[str, Space] = {}
        sizes = size_overrides or {}
        for spec in SPACES:  # SPACES lists parents before children
            parent = self.spaces[spec.parent] if spec.parent else None
            size = float(sizes.get(spec.name, spec.size))
            self.spaces[spec.name] = Space(spec, parent, seed, scale, size)

    def __getitem__(self, name: str) -> Space:
        return self.spaces[name]

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def bump(self, space: Space) -> None:
        space.bump()
        self.epoch += 1


def iso_ms(ms: int) -> str:
    """``2024-01-15T10:11:12.347`` (UTC, no zone suffix, always milliseconds)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:23]


__all__ = [
    "HEADROOM",
    "T0_MS",
    "T_END_MS",
    "Dataset",
    "Exceptions",
    "FlatView",
    "ParentView",
    "Space",
    "View",
    "iso_ms",
]
