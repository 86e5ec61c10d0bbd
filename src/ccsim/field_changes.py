"""Schema changes of records: make an endpoint's records change shape mid-life.

A :class:`FieldChange` ``{template, field, change, value?}`` applies to every record the API
renders for ``template`` (every page of a list, the object of an object endpoint, streamed
lists, and the ``__sim/records`` dump, which shows what the API serves), for as long as it is
configured:

* ``retype``: the field's value ``v`` becomes ``{"value": v}`` (a string turned into an object);
* ``drop``: the field is removed;
* ``add``: a field ``field`` with the JSON ``value`` (default ``"new"``) is added at the end
  (replacing the value if the record already has that field).

Records without the field are left alone by ``retype`` and ``drop``. The changes are applied
when a record is rendered, inside :class:`ccsim.api.Api`, and are part of its page-cache key,
so reconfiguring them never serves stale cached pages. They change what the records look like,
not what they are: ``$filter``/``$orderby`` and ``truth`` (count, id sum) still see the data
set's values.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ccsim.catalog import ENDPOINT_BY_TEMPLATE

FIELD_CHANGE_KINDS = ("retype", "drop", "add")
DEFAULT_ADDED_VALUE = "new"
_FIELD = re.compile(r"^[A-Za-z_@$][A-Za-z0-9_.@$-]*$")


@dataclass(frozen=True, kw_only=True, slots=True)
class FieldChange:
    """One field of one endpoint's records changed (see the module docstring)."""

    template: str
    field: str
    change: str
    value: Any = DEFAULT_ADDED_VALUE  # only for ``add``

    def __post_init__(self) -> None:
        if not isinstance(self.template, str) or self.template not in ENDPOINT_BY_TEMPLATE:
            raise ValueError(
                f"field change template {self.template!r} is not an endpoint of the catalog "
                "(see GET /CCSWEB/__sim/catalog)"
            )
        if not isinstance(self.field, str) or not _FIELD.match(self.field):
            raise ValueError(f"field change field {self.field!r} is not a field name")
        if self.change not in FIELD_CHANGE_KINDS:
            raise ValueError(f"field change {self.change!r} is not one of {FIELD_CHANGE_KINDS}")
        if self.change != "add" and self.value != DEFAULT_ADDED_VALUE:
            raise ValueError(f"field change {self.change!r} takes no value (only 'add' does)")
        try:
            orjson.dumps(self.value)
        except TypeError as exc:
            raise ValueError(f"field change value is not JSON: {exc}") from None

    @classmethod
    def from_value(cls, value: FieldChange | Mapping[str, Any]) -> FieldChange:
        """A :class:`FieldChange` from itself or from a mapping of its fields (JSON)."""
        if isinstance(value, FieldChange):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a field change must be a JSON object, not {value!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"unknown field change field(s) {unknown}; known: {sorted(names)}")
        for required in ("template", "field", "change"):
            if required not in value:
                raise ValueError(f"a field change needs {required!r}")
        if value["change"] != "add" and "value" in value:
            raise ValueError(f"field change {value['change']!r} takes no value (only 'add' does)")
        return cls(**dict(value))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; ``value`` only for ``add`` (the inverse of :meth:`from_value`)."""
        out: dict[str, Any] = {"template": self.template, "field": self.field}
        out["change"] = self.change
        if self.change == "add":
            out["value"] = self.value
        return out

    def apply(self, record: dict[str, Any]) -> None:
        if self.change == "add":
            record[self.field] = self.value
        elif self.field in record:
            if self.change == "drop":
                del record[self.field]
            else:
                record[self.field] = {"value": record[self.field]}


def parse_field_changes(values: object) -> tuple[FieldChange, ...]:
    """A list (or tuple) of field changes or mappings -> a validated tuple; None -> ()."""
    if values is None:
        return ()
    if isinstance(values, Mapping | str | bytes) or not isinstance(values, Sequence):
        raise ValueError("field_changes must be a list of field change objects")
    out: list[FieldChange] = []
    for n, value in enumerate(values):
        try:
            out.append(FieldChange.from_value(value))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"field_changes[{n}]: {exc}") from None
    return tuple(out)


def change_record(body: bytes, changes: Sequence[FieldChange]) -> bytes:
    """One rendered record (JSON bytes) with ``changes`` applied; non-objects unchanged."""
    if not changes:
        return body
    record = orjson.loads(body)
    if not isinstance(record, dict):
        return body
    for c in changes:
        c.apply(record)
    return orjson.dumps(record)


def changed_renderer(
    render: Callable[[int], bytes], changes: Sequence[FieldChange]
) -> Callable[[int], bytes]:
    """``render`` (slot -> record bytes) with ``changes`` applied to every record."""
    if not changes:
        return render
    return lambda slot: change_record(render(slot), changes)


def changes_by_template(changes: Sequence[FieldChange]) -> dict[str, tuple[FieldChange, ...]]:
    out: dict[str, list[FieldChange]] = {}
    for c in changes:
        out.setdefault(c.template, []).append(c)
    return {t: tuple(cs) for t, cs in out.items()}


def cache_key(changes: Sequence[FieldChange]) -> bytes:
    """A hashable identity of ``changes`` (their values may be unhashable JSON)."""
    return orjson.dumps([c.to_dict() for c in changes]) if changes else b""
