"""Answer transforms: precise, reproducible bad answers to chosen list requests.

An :class:`AnswerTransform` names an endpoint ``template`` (a list endpoint of the catalog,
optionally one ``parent``: ``"12"``, ``"12/34"`` for two path parameters, a global list's query
parent value, as in ``fail_parents``) and a ``kind`` of damage done to its 200 answers:

* ``empty_page`` / ``short_page``: the page's records removed / only the first ``len // 2``
  kept; the count and next link stay as computed (the answer claims more than it returns).
* ``count_low`` / ``count_high``: ``@odata.count`` or ``Count`` lowered (not below 0) / raised
  by ``amount``; no-op when the answer carries no count.
* ``null_list`` / ``missing_list``: the list member becomes ``null`` / is removed (a bare
  array answers ``null`` / ``{}``).
* ``duplicate_id``: the record at ``index`` gets the id of the record before it.
* ``id_as_string``: every numeric id rendered as a string (``17`` -> ``"17"``).
* ``null_id`` / ``missing_id``: the record at ``index`` gets ``null`` as id / loses its id.
* ``deep_record``: the record at ``index`` gets a field ``"nested"`` nested ``depth`` levels
  deep (``{"a":{"a":...1...}}``), spliced in as bytes so any depth works.
* ``slow_drip``: the body bytes are unchanged but sent in ``chunk``-byte pieces spread over
  ``seconds`` seconds.

The id field is the endpoint's key (``id``, or ``Id`` for arms and organizations); the id kinds
are refused for keyless endpoints. Record kinds are no-ops when the page has too few records.

Which requests are transformed: *data requests* only, i.e. 200 answers of an OData or plain
list whose ``$top`` is absent or at least 2 (one-record probes, ``$top=1``, are never touched and
never counted), not streamed and not hit by an injected fault. Per transform, the first
``after`` matching data requests are answered normally; then it fires on at most ``times``
answers (None: without end). With ``same_page`` (the default) it is pinned, once it has fired,
to the page it first transformed (the same parent and query string): retries of that page get
the same bad answer, every other page is served normally. The counters live in
:class:`TransformRuntime`, which the server rebuilds whenever its configuration changes.

The body functions (:func:`transform_body`) are pure functions over body bytes in any of the
three list shapes (see :mod:`ccsim.shapes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ccsim.catalog import ENDPOINT_BY_TEMPLATE, EndpointSpec, Kind

TRANSFORM_KINDS = (
    "empty_page",
    "short_page",
    "count_low",
    "count_high",
    "null_list",
    "missing_list",
    "duplicate_id",
    "id_as_string",
    "null_id",
    "missing_id",
    "deep_record",
    "slow_drip",
)
ID_KINDS = frozenset({"duplicate_id", "id_as_string", "null_id", "missing_id"})
DEFAULT_AMOUNT = 400
DEFAULT_INDEX = 1
DEFAULT_DEPTH = 300
DEFAULT_DRIP_SECONDS = 5.0
DEFAULT_DRIP_CHUNK = 64
NESTED_FIELD = "nested"  # the field deep_record adds

Doc = Any  # a parsed JSON answer body
QueryItems = Sequence[tuple[str, str]]


@dataclass(frozen=True, kw_only=True, slots=True)
class AnswerTransform:
    """One configured bad answer (see the module docstring); validated on construction."""

    kind: str
    template: str
    parent: str | None = None
    after: int = 0  # matching data requests answered normally before it starts firing
    times: int | None = None  # answers transformed in all; None = without end
    same_page: bool = True  # once fired, only the page (parent + query) it first transformed
    amount: int = DEFAULT_AMOUNT  # count_low / count_high
    index: int = DEFAULT_INDEX  # duplicate_id / null_id / missing_id / deep_record
    depth: int = DEFAULT_DEPTH  # deep_record
    seconds: float = DEFAULT_DRIP_SECONDS  # slow_drip: total time to send the body
    chunk: int = DEFAULT_DRIP_CHUNK  # slow_drip: bytes per write

    def __post_init__(self) -> None:
        # JSON gives ints where strings or floats are meant: "parent": 12, "seconds": 2
        parent: object = self.parent
        if isinstance(parent, int) and not isinstance(parent, bool):
            object.__setattr__(self, "parent", str(parent))
        seconds: object = self.seconds
        if isinstance(seconds, int) and not isinstance(seconds, bool):
            object.__setattr__(self, "seconds", float(seconds))
        self._validate()

    @classmethod
    def from_value(cls, value: AnswerTransform | Mapping[str, Any]) -> AnswerTransform:
        """An :class:`AnswerTransform` from itself or from a mapping of its fields (JSON)."""
        if isinstance(value, AnswerTransform):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a transform must be a JSON object, not {value!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"unknown transform field(s) {unknown}; known: {sorted(names)}")
        for required in ("kind", "template"):
            if required not in value:
                raise ValueError(f"a transform needs {required!r}")
        return cls(**dict(value))

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-able (the inverse of :meth:`from_value`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def _validate(self) -> None:
        if self.kind not in TRANSFORM_KINDS:
            raise ValueError(f"transform kind {self.kind!r} is not one of {TRANSFORM_KINDS}")
        ep = ENDPOINT_BY_TEMPLATE.get(self.template) if isinstance(self.template, str) else None
        if ep is None or ep.kind is Kind.OBJECT:
            raise ValueError(
                f"transform template {self.template!r} is not a list endpoint of the catalog "
                "(see GET /CCSWEB/__sim/catalog)"
            )
        check_parent(ep, self.parent, "transform")
        if self.kind in ID_KINDS and ep.key is None:
            raise ValueError(f"transform {self.kind}: {self.template} has no id field")
        _check_int("after", self.after, 0)
        if self.times is not None:
            _check_int("times", self.times, 1)
        if not isinstance(self.same_page, bool):
            raise ValueError(f"transform same_page must be true or false, not {self.same_page!r}")
        _check_int("amount", self.amount, 0)
        _check_int("index", self.index, 1 if self.kind == "duplicate_id" else 0)
        _check_int("depth", self.depth, 1)
        _check_int("chunk", self.chunk, 1)
        if not isinstance(self.seconds, float) or not 0.0 <= self.seconds < float("inf"):
            raise ValueError(f"transform seconds must be a number >= 0, not {self.seconds!r}")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"transform {name} must be an integer >= {minimum}, not {value!r}")


def check_parent(ep: EndpointSpec, parent: object, what: str) -> None:
    """``parent`` must fit ``ep``: one non-empty value per path parameter (``"12/34"``), any
    value for a global list (its query parent, ``""`` when absent), None for the others."""
    if parent is None:
        return
    if not isinstance(parent, str):
        raise ValueError(f"{what} parent must be a string such as '12' or '12/34'")
    arity = ep.template.count("{")
    if arity:
        parts = parent.split("/")
        if len(parts) != arity or not all(parts):
            raise ValueError(
                f"{what} parent {parent!r} does not fit {ep.template} ({arity} path parameter(s))"
            )
    elif ep.query_parent is None:
        raise ValueError(f"{what} parent given, but {ep.template} has no parent")


def parse_transforms(values: object) -> tuple[AnswerTransform, ...]:
    """A list (or tuple) of transforms or mappings -> a validated tuple; None -> ()."""
    if values is None:
        return ()
    if isinstance(values, Mapping | str | bytes) or not isinstance(values, Sequence):
        raise ValueError("transforms must be a list of transform objects")
    out: list[AnswerTransform] = []
    for n, value in enumerate(values):
        try:
            out.append(AnswerTransform.from_value(value))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"transforms[{n}]: {exc}") from None
    return tuple(out)


# --- which requests ------------------------------------------------------------------------------
def is_data_query(query: QueryItems) -> bool:
    """False for one-record probes: ``$top`` (any case) below 2."""
    for name, value in query:
        if name.lower() == "$top":
            try:
                return int(value) >= 2
            except ValueError:
                return True  # not a number: the request is not a probe
    return True


@dataclass(slots=True)
class _Progress:
    seen: int = 0  # matching data requests that counted toward ``after``
    fired: int = 0  # answers transformed
    page: tuple[str, tuple[tuple[str, str], ...]] | None = None  # pinned (parent, query)


class TransformRuntime:
    """Per-configuration counters of the transforms (all on one event loop: no locks)."""

    def __init__(self, transforms: Sequence[AnswerTransform]) -> None:
        self._entries = [(t, _Progress()) for t in transforms]
        self.templates = frozenset(t.template for t in transforms)

    def pick(self, template: str, parent: str | None, query: QueryItems) -> list[AnswerTransform]:
        """The transforms firing on this data request, in configuration order (and count it).

        ``parent`` is the request's parent value (``"12/34"``; None for unparented lists)."""
        if template not in self.templates:
            return []
        page = (parent or "", tuple(query))
        out: list[AnswerTransform] = []
        for t, progress in self._entries:
            if t.template != template or (t.parent is not None and t.parent != parent):
                continue
            if t.same_page and progress.page is not None and progress.page != page:
                continue
            if progress.seen < t.after:
                progress.seen += 1
                continue
            if t.times is not None and progress.fired >= t.times:
                continue
            progress.fired += 1
            if progress.page is None:
                progress.page = page
            out.append(t)
        return out


# --- what they do to a body ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Drip:
    """Send the body in ``chunk``-byte writes spread over ``seconds``."""

    chunk: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Transformed:
    body: bytes
    records: int | None  # records in the transformed body; None: the body is unchanged
    drip: Drip | None = None


def transform_body(
    body: bytes, transforms: Sequence[AnswerTransform], key: str = "id"
) -> Transformed:
    """Apply ``transforms`` in order to a list answer body (any of the three shapes).

    ``key`` is the records' id field. The body is parsed once; ``deep_record`` leaves a
    placeholder that is replaced by the nested bytes after serialising, because orjson can
    neither dump nor load such depths."""
    drip: Drip | None = None
    doc: Doc = None
    parsed = False
    deep: list[bytes] = []
    for t in transforms:
        if t.kind == "slow_drip":
            drip = Drip(t.chunk, t.seconds)
            continue
        if not parsed:
            doc, parsed = orjson.loads(body), True
        doc = _BODY_STEPS[t.kind](doc, t, key, deep)
    if not parsed:
        return Transformed(body, None, drip)
    out = orjson.dumps(doc)
    for n, nested in enumerate(deep):
        out = out.replace(orjson.dumps(_placeholder(n)), nested, 1)
    return Transformed(out, _count(doc), drip)


def nested_bytes(depth: int) -> bytes:
    """``{"a":{"a":...1...}}``, ``depth`` objects deep, built without recursion."""
    return b'{"a":' * depth + b"1" + b"}" * depth


def _placeholder(n: int) -> str:
    return f"\x00ccsim-deep-{n}\x00"  # a NUL cannot occur in rendered records


def _member(doc: Doc) -> str | None:
    """The list member of an envelope (``value``) or page result (``Items``)."""
    if isinstance(doc, dict):
        for name in ("value", "Items"):
            if name in doc:
                return name
    return None


def _records(doc: Doc) -> list[Any] | None:
    if isinstance(doc, list):
        return doc
    member = _member(doc)
    value = doc[member] if member is not None else None
    return value if isinstance(value, list) else None


def _count(doc: Doc) -> int:
    records = _records(doc)
    return len(records) if records is not None else 0


def _replace_records(doc: Doc, records: list[Any]) -> Doc:
    if isinstance(doc, list):
        return records
    member = _member(doc)
    if member is not None and isinstance(doc[member], list):
        doc[member] = records
    return doc


def _record_at(doc: Doc, index: int) -> dict[str, Any] | None:
    records = _records(doc)
    if records is None or len(records) <= index or not isinstance(records[index], dict):
        return None
    record: dict[str, Any] = records[index]
    return record


def _empty_page(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    return _replace_records(doc, [])


def _short_page(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    records = _records(doc)
    return doc if records is None else _replace_records(doc, records[: len(records) // 2])


def _shift_count(doc: Doc, delta: int) -> Doc:
    if isinstance(doc, dict):
        for name in ("@odata.count", "Count"):
            value = doc.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                doc[name] = max(0, value + delta)
    return doc


def _count_low(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    return _shift_count(doc, -t.amount)


def _count_high(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    return _shift_count(doc, t.amount)


def _null_list(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    member = _member(doc)
    if member is not None:
        doc[member] = None
        return doc
    return None if isinstance(doc, list) else doc


def _missing_list(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    member = _member(doc)
    if member is not None:
        del doc[member]
        return doc
    return {} if isinstance(doc, list) else doc


def _duplicate_id(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    record, before = _record_at(doc, t.index), _record_at(doc, t.index - 1)
    if record is not None and before is not None and key in before:
        record[key] = before[key]
    return doc


def _id_as_string(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    for record in _records(doc) or ():
        if isinstance(record, dict):
            value = record.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                record[key] = str(value)
    return doc


def _null_id(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    record = _record_at(doc, t.index)
    if record is not None:
        record[key] = None
    return doc


def _missing_id(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    record = _record_at(doc, t.index)
    if record is not None:
        record.pop(key, None)
    return doc


def _deep_record(doc: Doc, t: AnswerTransform, key: str, deep: list[bytes]) -> Doc:
    record = _record_at(doc, t.index)
    if record is not None:
        record[NESTED_FIELD] = _placeholder(len(deep))
        deep.append(nested_bytes(t.depth))
    return doc


_BODY_STEPS: dict[str, Callable[[Doc, AnswerTransform, str, list[bytes]], Doc]] = {
    "empty_page": _empty_page,
    "short_page": _short_page,
    "count_low": _count_low,
    "count_high": _count_high,
    "null_list": _null_list,
    "missing_list": _missing_list,
    "duplicate_id": _duplicate_id,
    "id_as_string": _id_as_string,
    "null_id": _null_id,
    "missing_id": _missing_id,
    "deep_record": _deep_record,
}
