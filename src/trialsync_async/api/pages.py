"""Parse one response body into a :class:`Page`.

Shapes understood:

* OData: ``{"@odata.context": ..., "@odata.count"?: n, "value": [...], "@odata.nextLink"?: url}``
  (OData v3 names ``odata.count``/``odata.nextLink`` too);
* swagger ``PageResultOf…``: ``{"Items": [...], "NextPageLink": url | null, "Count": n}``;
* a bare JSON array (records may be objects or scalars, e.g. lookup lists of strings);
* any other JSON object: one record — unless the caller expects a list (an OData endpoint).

An object that looks like a list envelope (only ``value`` and OData annotations, or only the
``PageResultOf`` members) but whose list is null, missing or not a list is malformed, never a
record. Everything else that is not a page — invalid or truncated JSON, an HTML page, a JSON
scalar — raises MalformedResponse too, which the client treats as retryable. A body that is
valid JSON but nested deeper than the parser takes is not a transient fault: it raises
RecordRejected, naming where it is, and is not retried. Error details never quote the body:
it may hold patient data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from trialsync_async.errors import MalformedResponse, RecordRejected

PageKind = Literal["odata", "swagger", "array", "object"]
Expect = Literal["list", "any"]
MAX_DEPTH = 1024
"""orjson's nesting limit when parsing."""
_ID_BEFORE = re.compile(rb'"[Ii][Dd]"\s*:\s*("(?:[^"\\]|\\.){0,64}"|-?[0-9]{1,20})')

_ODATA_NEXT = ("@odata.nextLink", "odata.nextLink")
_ODATA_COUNT = ("@odata.count", "odata.count")
_SWAGGER_KEYS = frozenset({"items", "nextpagelink", "count"})


@dataclass(frozen=True, slots=True)
class Page:
    """Records of one response, the server's next-page link and total count if given."""

    records: list[Any] = field(default_factory=list)
    next_link: str | None = None
    total: int | None = None
    kind: PageKind = "array"

    @property
    def single(self) -> bool:
        """True when the endpoint returned one object rather than a list."""
        return self.kind == "object"


def _is_annotation(key: str) -> bool:
    return key.startswith(("@odata.", "odata.", "@"))


def _odata_envelope(obj: dict[str, Any]) -> bool:
    """Only ``value`` and OData annotations, with at least one annotation or ``value``."""
    return (
        bool(obj)
        and all(k == "value" or _is_annotation(k) for k in obj)
        and (
            "value" in obj or any(k.lower().endswith(("count", "nextlink", "context")) for k in obj)
        )
    )


def _swagger_envelope(obj: dict[str, Any]) -> bool:
    """Only ``Items``, ``NextPageLink`` and ``Count`` (any casing), and ``Items`` or both others."""
    keys = {k.lower() for k in obj}
    return bool(keys) and keys <= _SWAGGER_KEYS and ("items" in keys or len(keys) == 2)


def _list_of(obj: dict[str, Any], name: str, endpoint: str) -> list[Any]:
    """The envelope's list, or MalformedResponse when it is null, missing or not a list."""
    value = _get_ci(obj, name) if name == "items" else obj.get(name)
    if isinstance(value, list):
        return value
    what = (
        "missing"
        if value is None and not any(k.lower() == name for k in obj)
        else ("null" if value is None else f"a JSON {type(value).__name__}")
    )
    raise MalformedResponse(
        endpoint=endpoint, detail=f"a list answer whose {name!r} is {what}, not a list"
    )


def _get_ci(obj: dict[str, Any], name: str) -> Any:
    for key, value in obj.items():
        if key.lower() == name:
            return value
    return None


def _next_link(value: Any, endpoint: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedResponse(endpoint=endpoint, detail="next-page link is not a string")
    return value


def _total(value: Any) -> int | None:
    """Lenient: some servers send the count as a string (IEEE754Compatible)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def parse_page(body: bytes, *, endpoint: str = "?", expect: Expect = "any") -> Page:
    """Parse a response body; ``endpoint`` only names the request in errors. With ``expect``
    ``"list"`` (an OData endpoint) a single object is malformed rather than one record."""
    if not body.strip():
        raise MalformedResponse(endpoint=endpoint, detail="empty body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        _refuse_deep(body, endpoint)
        hint = "HTML page" if body.lstrip()[:1] == b"<" else "invalid or truncated JSON"
        raise MalformedResponse(
            endpoint=endpoint, detail=f"{hint} ({len(body)} bytes): {exc.msg} at {exc.pos}"
        ) from exc
    if isinstance(data, list):
        return Page(records=data, kind="array")
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise MalformedResponse(
            endpoint=endpoint, detail=f"JSON {kind} where a list or object was expected"
        )
    if _odata_envelope(data):
        link = next((data[k] for k in _ODATA_NEXT if k in data), None)
        count = next((data[k] for k in _ODATA_COUNT if k in data), None)
        return Page(
            records=_list_of(data, "value", endpoint),
            next_link=_next_link(link, endpoint),
            total=_total(count),
            kind="odata",
        )
    if _swagger_envelope(data):
        return Page(
            records=_list_of(data, "items", endpoint),
            next_link=_next_link(_get_ci(data, "nextpagelink"), endpoint),
            total=_total(_get_ci(data, "count")),
            kind="swagger",
        )
    if expect == "list":
        raise MalformedResponse(
            endpoint=endpoint, detail="a single object where a list was expected"
        )
    return Page(records=[data], kind="object")


def nesting_depth(body: bytes) -> tuple[int, int, bool]:
    """The deepest nesting of ``[``/``{`` in a JSON text (outside strings), the byte offset
    where it first goes past ``MAX_DEPTH`` (-1 if it never does), and whether every bracket
    closes (a whole body, not one cut short). Only called when parsing failed, to tell a body
    nested too deep (deterministic) from a broken one (retryable)."""
    depth = deepest = 0
    past = -1
    in_string = escaped = False
    for i, byte in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth > MAX_DEPTH and past < 0:
                    past = i
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest, past, depth == 0 and not in_string


def _refuse_deep(body: bytes, endpoint: str) -> None:
    """A syntactically whole body nested past the parser's limit: RecordRejected, naming the
    nearest record id before the spot (the id is a key, not patient data)."""
    deepest, past, whole = nesting_depth(body)
    if past < 0 or not whole:
        return
    ids = list(_ID_BEFORE.finditer(body, 0, past))
    after = f", after id {ids[-1].group(1).decode(errors='replace')}" if ids else ""
    raise RecordRejected(
        where=f"at byte {past}{after}",
        endpoint=endpoint,
        detail=f"nested {deepest} levels deep, past the {MAX_DEPTH} the JSON parser takes",
    )
