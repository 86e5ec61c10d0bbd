"""Parse one response body into a :class:`Page`.

Shapes understood:

* OData: ``{"@odata.context": ..., "@odata.count"?: n, "value": [...], "@odata.nextLink"?: url}``
  (OData v3 names ``odata.count``/``odata.nextLink`` too);
* swagger ``PageResultOf…``: ``{"Items": [...], "NextPageLink": url | null, "Count": n}``;
* a bare JSON array (records may be objects or scalars, e.g. lookup lists of strings);
* any other JSON object: one record.

Everything else — invalid or truncated JSON, an HTML page, a JSON scalar — raises
MalformedResponse, which the client treats as retryable. Error details never quote the
body: it may hold patient data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from trialsync_async.errors import MalformedResponse

PageKind = Literal["odata", "swagger", "array", "object"]

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


def _is_odata(obj: dict[str, Any]) -> bool:
    if not isinstance(obj.get("value"), list):
        return False
    return all(k == "value" or k.startswith(("@odata.", "odata.", "@")) for k in obj)


def _is_swagger(obj: dict[str, Any]) -> bool:
    keys = {k.lower() for k in obj}
    return "items" in keys and keys <= _SWAGGER_KEYS and isinstance(_get_ci(obj, "items"), list)


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


def parse_page(body: bytes, *, endpoint: str = "?") -> Page:
    """Parse a response body; ``endpoint`` only names the request in errors."""
    if not body.strip():
        raise MalformedResponse(endpoint=endpoint, detail="empty body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
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
    if _is_odata(data):
        link = next((data[k] for k in _ODATA_NEXT if k in data), None)
        count = next((data[k] for k in _ODATA_COUNT if k in data), None)
        return Page(
            records=data["value"],
            next_link=_next_link(link, endpoint),
            total=_total(count),
            kind="odata",
        )
    if _is_swagger(data):
        return Page(
            records=_get_ci(data, "items"),
            next_link=_next_link(_get_ci(data, "nextpagelink"), endpoint),
            total=_total(_get_ci(data, "count")),
            kind="swagger",
        )
    return Page(records=[data], kind="object")
