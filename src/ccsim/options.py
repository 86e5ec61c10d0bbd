"""Typed knobs of the simulator, with named module-level defaults.

Paging-fault knobs (see :mod:`ccsim.ordering` and ``overlap``):

* ``natural_order``: ``"id"`` (records in id order) or ``"shuffled"``: OData lists without
  ``$orderby`` and plain lists answer in a stable, seeded hash order of the records instead.
* ``page_overlap``: probability that an OData page not starting at the beginning of its sequence
  repeats the record preceding it at its head (``$top`` + 1 records, a real-API bug).
* ``max_top``: the server's silent cap on ``$top`` (1..1000).

Request-economy knobs (see :mod:`ccsim.global_lists`):

* ``global_list_drop``: the fraction (0..1) of records missing from the global lists
  (``/subjects/odata``, ``/visits/odata``), chosen by a stable seeded hash; 1.0 = empty.
* ``reject_filter_fields``: fields whose use in ``$filter`` answers 400 with an OData error
  (given as a tuple or a comma-separated string, matched case-insensitively).

Bad-answer knobs (see :mod:`ccsim.transforms` and :mod:`ccsim.field_changes`):

* ``transforms``: :class:`~ccsim.transforms.AnswerTransform` values, each damaging chosen 200
  answers of one list endpoint in a precise, reproducible way (empty or short pages, wrong
  counts, null or missing lists, duplicate/null/missing/string ids, a deeply nested record, a
  slowly dripped body), after a number of requests, a number of times, pinned to one page.
* ``field_changes``: :class:`~ccsim.field_changes.FieldChange` values, reshaping every record
  of one endpoint (a field retyped to an object, dropped, or added) for as long as configured.

Both are given as tuples of the dataclasses or, in :meth:`SimulatorOptions.with_changes`,
``POST /CCSWEB/__sim/config`` and on the command line, as lists of JSON objects of their fields;
``public_dict`` shows them as lists of such objects and ``[]`` clears them.

Options are immutable; :meth:`SimulatorOptions.with_changes` returns a validated copy, which is
how ``POST /CCSWEB/__sim/config`` and :meth:`SimulatorServer.configure` change knobs at runtime.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccsim.field_changes import FieldChange, parse_field_changes
from ccsim.transforms import AnswerTransform, parse_transforms

DEFAULT_SEED = 1729
DEFAULT_SCALE = 1.0
DEFAULT_API_KEY = "sim-3f1c2a9e-test-key"  # not a secret: the simulator's own test key
DEFAULT_API_KEY_HEADER = "CCAPIKey"  # the swagger's securityDefinitions header name
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 0  # 0 = pick a free port
DEFAULT_LATENCY_MEAN_S = 0.0
DEFAULT_LATENCY_JITTER_S = 0.0
DEFAULT_PER_RECORD_COST_S = 0.0
DEFAULT_RATE_LIMIT_RPS: float | None = None  # None = unlimited
DEFAULT_RATE_LIMIT_BURST: int | None = None  # None = ceil(rate), at least 1
DEFAULT_MAX_CONCURRENCY: int | None = None  # None = unlimited
DEFAULT_HANG_SECONDS = 300.0
DEFAULT_CHURN = 0.0
DEFAULT_PAGE_CACHE_SIZE = 256
DEFAULT_TOP = 50  # OData page size when $top is absent (at most max_top)
MAX_TOP = 1000  # the largest allowed max_top (the real API's cap)
DEFAULT_MAX_TOP = MAX_TOP  # larger $top values are silently truncated to max_top
DEFAULT_NATURAL_ORDER = "id"
DEFAULT_PAGE_OVERLAP = 0.0
DEFAULT_GLOBAL_LIST_DROP = 0.0
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

NATURAL_ORDERS = ("id", "shuffled")

SHAPES = ("array", "envelope", "pageresult")
SHAPE_GROUPS = ("odata", "list")

FAULT_KINDS = ("p_500", "p_503", "p_429", "p_reset", "p_hang", "p_truncated", "p_html")


@dataclass(frozen=True, kw_only=True, slots=True)
class FaultOptions:
    """Per-request probabilities of each injected fault (mutually exclusive; sum <= 1)."""

    p_500: float = 0.0
    p_503: float = 0.0
    p_429: float = 0.0
    p_reset: float = 0.0  # status + headers + part of the body, then the connection is aborted
    p_hang: float = 0.0  # no answer for ``hang_seconds``, then the connection is aborted
    p_truncated: float = 0.0  # status 200, JSON body cut in half (Content-Length matches the cut)
    p_html: float = 0.0  # status 200, an HTML error page
    hang_seconds: float = DEFAULT_HANG_SECONDS

    def total(self) -> float:
        return sum(float(getattr(self, k)) for k in FAULT_KINDS)

    def validate(self) -> None:
        for k in FAULT_KINDS:
            v = getattr(self, k)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"fault probability {k}={v} is not within [0, 1]")
        if self.total() > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {self.total():.3f} > 1")
        if self.hang_seconds < 0:
            raise ValueError("hang_seconds must be >= 0")


@dataclass(frozen=True, kw_only=True, slots=True)
class SimulatorOptions:
    """Everything that shapes the simulator's data and behaviour.

    Paging faults:

    * ``natural_order`` (``"id"`` | ``"shuffled"``, default ``"id"``): order of OData lists
      queried without ``$orderby`` and of plain lists. ``"shuffled"`` sorts the live records by a
      seeded hash of their slot: stable across requests, an insert lands at a random position,
      a delete shifts the later records left, an update keeps its place. ``$filter`` then
      filters that order; ``$orderby`` keeps its exact semantics.
    * ``page_overlap`` (probability in [0, 1], default 0): an OData page not starting at the
      beginning of its sequence gets, at its head, the record preceding its first record in the
      same order (``$skip`` > 0: the record at ``$skip`` - 1; ``$skip`` = 0 with a bound on the
      ordering field in ``$filter`` -- ``id gt X`` ascending, ``id lt X`` descending, same for
      the timestamp -- the nearest record beyond that bound). Next links and ``$count`` ignore
      the repeated record. Drawn per OData list request from a seeded RNG.
    * ``max_top`` (1..1000, default 1000): silent cap on ``$top``; the default page size is
      ``min(50, max_top)``.

    Request economy:

    * ``global_list_drop`` (fraction in [0, 1], default 0): records missing from the global
      lists only (a stable hash of seed, space and record; the per-study lists stay complete).
    * ``reject_filter_fields`` (default none): ``$filter`` on one of these fields answers 400
      with an OData error body; ``"lastUpdatedOn,createdOn"`` or a tuple.

    Bad answers:

    * ``transforms`` (default none): answer transforms, applied in order to the data requests
      they match (see :mod:`ccsim.transforms`); their counters restart whenever the
      configuration changes.
    * ``field_changes`` (default none): record schema changes per template (see
      :mod:`ccsim.field_changes`).
    """

    seed: int = DEFAULT_SEED
    scale: float = DEFAULT_SCALE
    api_key: str = DEFAULT_API_KEY
    api_key_header: str = DEFAULT_API_KEY_HEADER
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    latency_mean_s: float = DEFAULT_LATENCY_MEAN_S
    latency_jitter_s: float = DEFAULT_LATENCY_JITTER_S  # std-dev of a normal around the mean
    per_record_cost_s: float = DEFAULT_PER_RECORD_COST_S  # extra delay per record returned
    rate_limit_rps: float | None = DEFAULT_RATE_LIMIT_RPS  # per API key; beyond -> 429
    rate_limit_burst: int | None = DEFAULT_RATE_LIMIT_BURST
    max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY  # beyond -> 503
    # a 429 or an overload 503 says when to come back (Retry-After); False: bare statuses
    retry_after_hints: bool = True
    load_latency_s: float = 0.0  # extra delay per other request already in flight (queueing)
    faults: FaultOptions = field(default_factory=FaultOptions)
    # template -> parent values ("123", or "12/34" for two path parameters) answered with 500
    fail_parents: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # "odata" | "list" | a template -> "array" | "envelope" | "pageresult"
    shape_overrides: Mapping[str, str] = field(default_factory=dict)
    # template or space name -> records per parent (or total) at scale 1
    size_overrides: Mapping[str, float] = field(default_factory=dict)
    churn: float = DEFAULT_CHURN  # probability that a data request mutates one record of its space
    page_cache_size: int = DEFAULT_PAGE_CACHE_SIZE
    natural_order: str = DEFAULT_NATURAL_ORDER  # "id" | "shuffled" (lists without $orderby)
    page_overlap: float = DEFAULT_PAGE_OVERLAP  # probability a page repeats its predecessor
    max_top: int = DEFAULT_MAX_TOP  # silent cap on $top, 1..MAX_TOP
    global_list_drop: float = DEFAULT_GLOBAL_LIST_DROP  # fraction missing from global lists
    reject_filter_fields: tuple[str, ...] = ()  # $filter on these fields -> 400
    transforms: tuple[AnswerTransform, ...] = ()  # bad answers to chosen data requests
    field_changes: tuple[FieldChange, ...] = ()  # reshaped records per template
    access_log: bool = False

    def __post_init__(self) -> None:
        # accept any iterables/ints from callers; store normalised copies
        fail = {str(t): frozenset(str(v) for v in vals) for t, vals in self.fail_parents.items()}
        object.__setattr__(self, "fail_parents", fail)
        object.__setattr__(self, "shape_overrides", dict(self.shape_overrides))
        object.__setattr__(self, "size_overrides", dict(self.size_overrides))
        object.__setattr__(self, "reject_filter_fields", field_names(self.reject_filter_fields))
        object.__setattr__(self, "transforms", parse_transforms(self.transforms))
        object.__setattr__(self, "field_changes", parse_field_changes(self.field_changes))
        if isinstance(self.faults, Mapping):
            object.__setattr__(self, "faults", FaultOptions(**self.faults))

    def validate(self) -> SimulatorOptions:
        if self.scale <= 0:
            raise ValueError("scale must be > 0")
        if not self.api_key or not self.api_key_header:
            raise ValueError("api_key and api_key_header must be non-empty")
        for name in ("latency_mean_s", "latency_jitter_s", "per_record_cost_s", "load_latency_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.rate_limit_rps is not None and self.rate_limit_rps <= 0:
            raise ValueError("rate_limit_rps must be > 0 (or None for unlimited)")
        if self.rate_limit_burst is not None and self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst must be >= 1")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1 (or None for unlimited)")
        if not 0.0 <= self.churn <= 1.0:
            raise ValueError("churn must be within [0, 1]")
        if self.page_cache_size < 0:
            raise ValueError("page_cache_size must be >= 0")
        if self.natural_order not in NATURAL_ORDERS:
            raise ValueError(f"natural_order {self.natural_order!r} is not one of {NATURAL_ORDERS}")
        if isinstance(self.page_overlap, bool) or not 0.0 <= self.page_overlap <= 1.0:
            raise ValueError("page_overlap must be within [0, 1]")
        if (
            isinstance(self.max_top, bool)
            or not isinstance(self.max_top, int)
            or not 1 <= self.max_top <= MAX_TOP
        ):
            raise ValueError(f"max_top must be an integer within [1, {MAX_TOP}]")
        drop = self.global_list_drop
        if isinstance(drop, bool) or not isinstance(drop, int | float) or not 0.0 <= drop <= 1.0:
            raise ValueError("global_list_drop must be within [0, 1]")
        for name in self.reject_filter_fields:
            if not _FIELD_NAME.match(name):
                raise ValueError(f"reject_filter_fields: {name!r} is not a field name")
        for key, shape in self.shape_overrides.items():
            if shape not in SHAPES:
                raise ValueError(f"shape {shape!r} for {key!r} is not one of {SHAPES}")
        for key, size in self.size_overrides.items():
            if size < 0:
                raise ValueError(f"size override for {key!r} must be >= 0")
        self.faults.validate()
        return self

    def with_changes(self, **changes: Any) -> SimulatorOptions:
        """A validated copy; ``faults`` may be a mapping of the fields to change;
        ``transforms`` and ``field_changes`` replace the configured ones (lists of mappings or
        of the dataclasses; ``[]`` or None clears them)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown option(s): {sorted(unknown)}")
        if isinstance(changes.get("faults"), Mapping):
            fchanges = dict(changes["faults"])
            bad = set(fchanges) - {f.name for f in dataclasses.fields(FaultOptions)}
            if bad:
                raise ValueError(f"unknown fault option(s): {sorted(bad)}")
            changes["faults"] = dataclasses.replace(self.faults, **fchanges)
        if "fail_parents" in changes:
            changes["fail_parents"] = {
                str(t): frozenset(str(v) for v in vals)
                for t, vals in dict(changes["fail_parents"] or {}).items()
            }
        for name in ("shape_overrides", "size_overrides"):
            if name in changes:
                changes[name] = dict(changes[name] or {})
        return dataclasses.replace(self, **changes).validate()

    def public_dict(self) -> dict[str, Any]:
        """JSON-able view with the API key redacted."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "api_key":
                v = "***"
            elif f.name == "faults":
                v = dataclasses.asdict(v)
            elif f.name == "fail_parents":
                v = {t: sorted(vals) for t, vals in v.items()}
            elif f.name in ("transforms", "field_changes"):
                v = [item.to_dict() for item in v]
            elif isinstance(v, Mapping):
                v = dict(v)
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


def field_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a, b"`` or ``["a", "b"]`` -> ``("a", "b")`` (blanks and duplicates dropped)."""
    parts = value.split(",") if isinstance(value, str) else list(value or ())
    out: list[str] = []
    for part in parts:
        name = str(part).strip()
        if name and name not in out:
            out.append(name)
    return tuple(out)
