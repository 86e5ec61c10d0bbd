"""Parser for the OData query options the Clinical Conductor OData endpoints honour.

Supported: ``$top`` (default ``min(50, max_top)``; values above ``max_top``, at most 1000, are
silently truncated), ``$skip``, ``$count=true|false``, ``$orderby=<field> [asc|desc]``
(optionally followed by a second key, which never matters because the order is total; without
``$orderby`` the server's natural order applies, see :mod:`ordering`), and ``$filter`` made of
``<field> gt|ge|lt|le|eq <value>`` comparisons joined by ``and`` (parentheses allowed).
Fields: the endpoint's integer key (``id``/``Id``) and its timestamp field; timestamps are ISO
8601 literals, unquoted as OData v4 writes them (``lastUpdatedOn ge 2026-01-01T00:00:00Z``),
quoted, or as ``datetime'...'`` / ``datetimeoffset'...'``, naive ones meaning UTC. Anything else
raises :class:`ODataError` (HTTP 400); a field listed in ``reject_fields`` (the
``reject_filter_fields`` option) raises :class:`FilterFieldRejected`.

Filters are reduced to half-open integer intervals: ids ``[id_lo, id_hi)`` and timestamps in
milliseconds ``[ts_lo, ts_hi)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from ccsim.options import DEFAULT_TOP, MAX_TOP


class ODataError(ValueError):
    """A query the OData endpoint rejects with 400."""


class FilterFieldRejected(ODataError):
    """``$filter`` uses a field the server is configured to refuse (``reject_filter_fields``)."""

    def __init__(self, field: str) -> None:
        super().__init__(
            "The query specified in the URI is not valid. "
            f"The property '{field}' cannot be used in the $filter query option."
        )
        self.field = field


@dataclass(frozen=True, slots=True)
class Query:
    top: int = DEFAULT_TOP  # effective page size (after the cap)
    skip: int = 0
    count: bool = False
    order_by: str = "id"  # "id" (also: key order / default) or "ts"
    desc: bool = False
    explicit_order: bool = False  # $orderby given (else the server's natural order applies)
    id_lo: int | None = None
    id_hi: int | None = None
    ts_lo: int | None = None  # ms
    ts_hi: int | None = None  # ms

    @property
    def filtered(self) -> bool:
        return any(v is not None for v in (self.id_lo, self.id_hi, self.ts_lo, self.ts_hi))


ALLOWED = ("$top", "$skip", "$count", "$orderby", "$filter")
_OPS = ("gt", "ge", "lt", "le", "eq")
_TOKEN = re.compile(
    r"\s*(?:((?:datetimeoffset|datetime)'[^']*')|('(?:[^']|'')*')|(\()|(\))|([^\s()]+))"
)
_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_query(
    items: Iterable[tuple[str, str]],
    key_field: str | None,
    ts_field: str | None,
    *,
    max_top: int = MAX_TOP,
    reject_fields: frozenset[str] = frozenset(),
) -> Query:
    """Parse decoded query parameters for an OData endpoint (raises :class:`ODataError`);
    ``$top`` is silently capped at ``max_top``; ``$filter`` on a field in ``reject_fields``
    (lower-cased names) raises :class:`FilterFieldRejected`."""
    seen: dict[str, str] = {}
    for raw_name, value in items:
        name = raw_name.lower()
        if name not in ALLOWED:
            raise ODataError(f"unsupported query option {raw_name!r}")
        if name in seen:
            raise ODataError(f"query option {raw_name!r} given more than once")
        seen[name] = value
    top = min(DEFAULT_TOP, max_top)
    if "$top" in seen:
        top = min(_non_negative_int("$top", seen["$top"]), max_top)
    skip = _non_negative_int("$skip", seen["$skip"]) if "$skip" in seen else 0
    count = False
    if "$count" in seen:
        v = seen["$count"].strip().lower()
        if v not in ("true", "false"):
            raise ODataError(f"$count must be true or false, not {seen['$count']!r}")
        count = v == "true"
    fields = _Fields(key_field, ts_field)
    order_by, desc = "id", False
    if "$orderby" in seen:
        order_by, desc = _parse_orderby(seen["$orderby"], fields)
    bounds = _Bounds()
    if "$filter" in seen:
        _FilterParser(seen["$filter"], fields, bounds, reject_fields).parse()
    return Query(
        top=top,
        skip=skip,
        count=count,
        order_by=order_by,
        desc=desc,
        explicit_order="$orderby" in seen,
        id_lo=bounds.id_lo,
        id_hi=bounds.id_hi,
        ts_lo=bounds.ts_lo,
        ts_hi=bounds.ts_hi,
    )


def _non_negative_int(name: str, value: str) -> int:
    v = value.strip()
    if not v.isdigit():
        raise ODataError(f"{name} must be a non-negative integer, not {value!r}")
    return int(v)


@dataclass(frozen=True, slots=True)
class _Fields:
    key: str | None
    ts: str | None

    def kind(self, name: str) -> str:
        low = name.lower()
        if self.key is not None and low == self.key.lower():
            return "id"
        if self.ts is not None and low == self.ts.lower():
            return "ts"
        allowed = [f for f in (self.key, self.ts) if f]
        raise ODataError(
            f"field {name!r} cannot be filtered or sorted on here"
            + (f" (supported: {', '.join(allowed)})" if allowed else " (no sortable fields)")
        )


def _parse_orderby(value: str, fields: _Fields) -> tuple[str, bool]:
    parts = [p.strip() for p in value.split(",")]
    if not parts or len(parts) > 2 or any(not p for p in parts):
        raise ODataError(f"unsupported $orderby {value!r}")
    result: tuple[str, bool] | None = None
    for part in parts:
        words = part.split()
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ODataError(f"unsupported $orderby term {part!r}")
        kind = fields.kind(words[0])
        desc = len(words) == 2 and words[1].lower() == "desc"
        if result is None:
            result = (kind, desc)
    assert result is not None
    return result


class _Bounds:
    def __init__(self) -> None:
        self.id_lo: int | None = None
        self.id_hi: int | None = None
        self.ts_lo: int | None = None
        self.ts_hi: int | None = None

    def add(self, kind: str, lo: int | None, hi: int | None) -> None:
        cur_lo, cur_hi = (self.id_lo, self.id_hi) if kind == "id" else (self.ts_lo, self.ts_hi)
        if lo is not None:
            cur_lo = lo if cur_lo is None else max(cur_lo, lo)
        if hi is not None:
            cur_hi = hi if cur_hi is None else min(cur_hi, hi)
        if kind == "id":
            self.id_lo, self.id_hi = cur_lo, cur_hi
        else:
            self.ts_lo, self.ts_hi = cur_lo, cur_hi


class _FilterParser:
    def __init__(
        self, text: str, fields: _Fields, bounds: _Bounds, reject: frozenset[str] = frozenset()
    ) -> None:
        self.text = text
        self.fields = fields
        self.bounds = bounds
        self.reject = reject
        self.tokens = self._tokenize(text)
        self.pos = 0

    def _tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ODataError(f"cannot parse $filter {self.text!r}")
            out.append(next(g for g in m.groups() if g is not None))
            pos = m.end()
        if not out:
            raise ODataError("empty $filter")
        return out

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        tok = self._peek()
        if tok is None:
            raise ODataError(f"unexpected end of $filter {self.text!r}")
        self.pos += 1
        return tok

    def parse(self) -> None:
        self._expr()
        if self._peek() is not None:
            raise ODataError(f"unsupported $filter {self.text!r} near {self._peek()!r}")

    def _expr(self) -> None:
        self._primary()
        while (tok := self._peek()) is not None and tok.lower() == "and":
            self.pos += 1
            self._primary()

    def _primary(self) -> None:
        if self._peek() == "(":
            self.pos += 1
            self._expr()
            if self._take() != ")":
                raise ODataError(f"unbalanced parentheses in $filter {self.text!r}")
            return
        field_name = self._take()
        if field_name.lower() in self.reject:
            raise FilterFieldRejected(field_name)
        op = self._take().lower()
        value = self._take()
        if op not in _OPS:
            raise ODataError(f"unsupported operator {op!r} in $filter (supported: {_OPS})")
        kind = self.fields.kind(field_name)
        if kind == "id":
            self._add_id(op, value)
        else:
            self._add_ts(op, value)

    def _add_id(self, op: str, value: str) -> None:
        v = value.strip()
        if not re.fullmatch(r"[+-]?\d+", v):
            raise ODataError(f"not an integer in $filter: {value!r}")
        x = int(v)
        lo, hi = {
            "gt": (x + 1, None),
            "ge": (x, None),
            "lt": (None, x),
            "le": (None, x + 1),
            "eq": (x, x + 1),
        }[op]
        self.bounds.add("id", lo, hi)

    def _add_ts(self, op: str, value: str) -> None:
        us = parse_timestamp_us(value)
        floor_ms = us // 1000
        ceil_ms = -((-us) // 1000)
        exact = us % 1000 == 0
        lo, hi = {
            "gt": (floor_ms + 1, None),
            "ge": (ceil_ms, None),
            "lt": (None, ceil_ms),
            "le": (None, floor_ms + 1),
            "eq": (floor_ms, floor_ms + 1) if exact else (0, 0),
        }[op]
        self.bounds.add("ts", lo, hi)


def parse_timestamp_us(value: str) -> int:
    """Microseconds since the epoch of an ISO 8601 literal (quoted or not; naive = UTC)."""
    v = value.strip()
    low = v.lower()
    if low.startswith("datetimeoffset'") and v.endswith("'"):
        v = v[15:-1]
    elif low.startswith("datetime'") and v.endswith("'"):
        v = v[9:-1]
    elif len(v) >= 2 and v[0] == v[-1] == "'":
        v = v[1:-1]
    m = _ISO.match(v.strip())
    if not m:
        raise ODataError(f"not an ISO 8601 timestamp in $filter: {value!r}")
    y, mo, d, hh, mi, ss, frac, zone = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), tzinfo=UTC)
    except ValueError as exc:
        raise ODataError(f"invalid timestamp in $filter: {value!r}") from exc
    micros = int((frac or "0")[:6].ljust(6, "0"))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        dt = dt.replace(tzinfo=timezone(sign * offset))
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + micros
