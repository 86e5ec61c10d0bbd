"""The three list shapes, assembled from already-rendered record bytes.

* ``array``: a bare JSON array.
* ``envelope``: OData v4 ``{"@odata.context", "@odata.count" (only with $count=true), "value",
  "@odata.nextLink" (only when more rows follow)}``.
* ``pageresult``: the swagger ``PageResultOf<T>`` ``{"Items", "NextPageLink" (absolute URL of the
  next page or null), "Count" (total with $count=true, else null)}``.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from ccsim.catalog import EndpointSpec, Kind

ARRAY, ENVELOPE, PAGERESULT = "array", "envelope", "pageresult"


def shape_for(
    ep: EndpointSpec | None, kind: Kind, template: str, overrides: Mapping[str, str]
) -> str:
    """Shape of a list endpoint: per-template override, then group override, then default."""
    if template in overrides:
        return overrides[template]
    group = "odata" if kind is Kind.ODATA else "list"
    if group in overrides:
        return overrides[group]
    if ep is not None:
        return ep.default_shape
    return PAGERESULT if kind is Kind.ODATA else ARRAY


def list_body(
    shape: str,
    records: list[bytes],
    *,
    count: int | None = None,
    next_link: str | None = None,
    context: str = "",
) -> bytes:
    items = b",".join(records)
    if shape == ARRAY:
        return b"[" + items + b"]"
    if shape == ENVELOPE:
        parts = [b'{"@odata.context":', orjson.dumps(context)]
        if count is not None:
            parts.append(b',"@odata.count":%d' % count)
        parts += [b',"value":[', items, b"]"]
        if next_link is not None:
            parts += [b',"@odata.nextLink":', orjson.dumps(next_link)]
        parts.append(b"}")
        return b"".join(parts)
    if shape == PAGERESULT:
        return b"".join(
            (
                b'{"Items":[',
                items,
                b'],"NextPageLink":',
                orjson.dumps(next_link),
                b',"Count":',
                b"null" if count is None else b"%d" % count,
                b"}",
            )
        )
    raise ValueError(f"unknown shape {shape!r}")


def list_prefix_suffix(shape: str, context: str = "") -> tuple[bytes, bytes]:
    """Opening and closing bytes of a streamed (whole-list) body."""
    if shape == ARRAY:
        return b"[", b"]"
    if shape == ENVELOPE:
        return b'{"@odata.context":' + orjson.dumps(context) + b',"value":[', b"]}"
    return b'{"Items":[', b'],"NextPageLink":null,"Count":null}'
