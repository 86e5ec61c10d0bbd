"""Typed views for analysts: each staging table's records as columns, from the swagger.

For every staging table whose job's record model the swagger declares, one view
``staging_typed.<table without _staging>``: a column per top-level property of the model,
in the swagger's order, named in snake_case, typed from the property's type and format:

=====================================================  ===========================
swagger                                                column
=====================================================  ===========================
integer (int32 or no format)                           integer
integer int64                                          bigint
number (double, float, decimal, none)                  numeric
boolean                                                boolean
string date                                            date
string date-time                                       timestamptz (no offset: UTC)
any other string (uuid, …), any enum                   text
an object ($ref or type object), an array              jsonb
an object whose model has ``id``: also ``<name>_id``   the id's type
=====================================================  ===========================

then ``source_instance_id``, ``loaded_at`` and ``updated_at`` of the staging row; rows marked
deleted are left out. Pure: the swagger and the inventory in, :class:`ViewPlan` out;
``db/typed_views.py`` makes the SQL and runs it.

Names: ``firstName`` → ``first_name``, ``HTMLCode`` → ``html_code``, ``address1`` →
``address1``. A name already taken (two properties folding to one name, or a property named
like a staging column or like another property's ``_id`` column) gets ``_2``, ``_3``, … in a
fixed order: the staging columns first, then the properties in the swagger's order, then the
``_id`` columns; so the same swagger always gives the same view.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from trialsync_async.inventory import JobSpec
from trialsync_async.swagger import Swagger
from trialsync_async.validate import resolve_endpoint

if TYPE_CHECKING:
    from trialsync_async.db.typed_views import ViewChange

Kind = Literal["integer", "bigint", "numeric", "boolean", "date", "timestamptz", "text", "jsonb"]
SCHEMA = "staging_typed"
STAGING_COLUMNS = ("source_instance_id", "loaded_at", "updated_at")
"""The staging row's columns every view ends with (their names are taken first)."""
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names


@dataclass(frozen=True, slots=True)
class TypedColumn:
    """One column of a view: its name, type, and where in ``data`` its value is."""

    name: str
    kind: Kind
    path: tuple[str, ...]  # JSON path in the record, the swagger's spelling
    origin: Literal["property", "ref_id"] = "property"


@dataclass(frozen=True, slots=True)
class ViewSpec:
    view: str  # in SCHEMA
    table: str
    job_id: int  # the job whose model the view follows
    model: str
    columns: tuple[TypedColumn, ...]


@dataclass(frozen=True, slots=True)
class SkippedTable:
    """A staging table without a view, and why."""

    table: str
    job_ids: tuple[int, ...]
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "jobs": list(self.job_ids), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ViewPlan:
    views: tuple[ViewSpec, ...]
    skipped: tuple[SkippedTable, ...]


@dataclass(frozen=True, slots=True)
class ViewsReport:
    """``views``: what changed (or would, with ``--check``) and the tables without a view."""

    plan: ViewPlan
    changes: tuple[ViewChange, ...]
    applied: bool

    @property
    def pending(self) -> tuple[ViewChange, ...]:
        """The changes that are not ``unchanged`` (and, once applied, not done)."""
        return tuple(c for c in self.changes if c.action != "unchanged")

    @property
    def failed(self) -> tuple[ViewChange, ...]:
        return tuple(c for c in self.changes if c.error)

    def notes(self) -> list[str]:
        """What ``migrate`` says about the views: nothing when nothing changed."""
        if not self.pending:
            return []
        counts: dict[str, int] = {}
        for change in self.pending:
            if not change.error:
                counts[change.action] = counts.get(change.action, 0) + 1
        done = ", ".join(f"{n} {_PAST[a]}" for a, n in sorted(counts.items())) or "none made"
        lines = [
            f"typed views ({SCHEMA}): {done}; {len(self.plan.skipped)} staging tables without "
            "a declared model skipped (`views --check` lists them)"
        ]
        lines += [f"typed view {SCHEMA}.{c.view} not made: {c.error}" for c in self.failed]
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "views": len(self.plan.views),
            "changes": [c.to_json() for c in self.pending],
            "unchanged": sum(1 for c in self.changes if c.action == "unchanged"),
            "skipped": [s.to_json() for s in self.plan.skipped],
        }


_PAST = {"create": "created", "replace": "replaced", "recreate": "recreated", "drop": "dropped"}


def view_name(table: str) -> str:
    """``dim_patients_staging`` → ``dim_patients``."""
    return table.removesuffix("_staging")


_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_OTHER = re.compile(r"[^a-z0-9]+")


def snake_case(name: str) -> str:
    """``firstName`` → ``first_name``, ``HTMLCode`` → ``html_code``, ``Items`` → ``items``;
    anything but letters and digits becomes ``_``; a leading digit gets ``c_``."""
    text = _CAMEL.sub(r"\1_\2", _ACRONYM.sub(r"\1_\2", name)).lower()
    text = _OTHER.sub("_", text).strip("_") or "column"
    if text[0].isdigit():
        text = "c_" + text
    return text[:MAX_IDENTIFIER]


class _Names:
    """Unique column names, first come first served; later ones get ``_2``, ``_3``, …"""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)

    def claim(self, wanted: str) -> str:
        name, n = wanted, 1
        while name in self.taken:
            n += 1
            suffix = f"_{n}"
            name = wanted[: MAX_IDENTIFIER - len(suffix)] + suffix
        self.taken.add(name)
        return name


def _is_object(swagger: Swagger, schema: Mapping[str, Any]) -> bool:
    resolved = swagger.resolve(schema)
    if "enum" in resolved:
        return False
    return (
        resolved.get("type") == "object"
        or bool(swagger.properties(resolved))
        or ("$ref" in schema and resolved.get("type") in (None, "object"))
    )


def scalar_kind(schema: Mapping[str, Any]) -> Kind:
    """The column type of a scalar property (not an object or array)."""
    kind, fmt = schema.get("type"), schema.get("format")
    if "enum" in schema:
        return "text"
    if kind == "integer":
        return "bigint" if fmt == "int64" else "integer"
    if kind == "number":
        return "numeric"
    if kind == "boolean":
        return "boolean"
    if kind == "string" and fmt == "date":
        return "date"
    if kind == "string" and fmt == "date-time":
        return "timestamptz"
    if kind in ("array", "object"):
        return "jsonb"
    return "text"


def property_kind(swagger: Swagger, schema: Mapping[str, Any]) -> Kind:
    """The column type of a property: objects and arrays are jsonb, the rest by type."""
    if _is_object(swagger, schema):
        return "jsonb"
    return scalar_kind(swagger.resolve(schema))


def _id_of(swagger: Swagger, schema: Mapping[str, Any]) -> tuple[str, Kind] | None:
    """The ``id`` property of an object model and its column type, if it has a scalar one."""
    props = swagger.properties(schema)
    name = "id" if "id" in props else next((k for k in props if k.casefold() == "id"), None)
    if name is None or not isinstance(props[name], dict) or _is_object(swagger, props[name]):
        return None
    kind = property_kind(swagger, props[name])
    return (name, kind) if kind != "jsonb" else None


def columns_for(swagger: Swagger, record: Mapping[str, Any]) -> tuple[TypedColumn, ...]:
    """The columns of a record model (the staging columns not included), in view order: each
    property, followed by its ``_id`` column when it is an object with an id."""
    props = swagger.properties(record)
    names = _Names(STAGING_COLUMNS)
    direct = {prop: names.claim(snake_case(prop)) for prop in props}
    columns: list[TypedColumn] = []
    ids: list[tuple[int, str, str, Kind]] = []  # (position, property, id property, kind)
    for prop, schema in props.items():
        schema = schema if isinstance(schema, dict) else {}
        columns.append(TypedColumn(direct[prop], property_kind(swagger, schema), (prop,)))
        if _is_object(swagger, schema) and (found := _id_of(swagger, schema)):
            ids.append((len(columns), prop, *found))
    for offset, (position, prop, id_prop, kind) in enumerate(ids):
        name = names.claim(direct[prop][: MAX_IDENTIFIER - 3] + "_id")
        column = TypedColumn(name, kind, (prop, id_prop), "ref_id")
        columns.insert(position + offset, column)
    return tuple(columns)


def _reason(job: JobSpec, swagger: Swagger) -> tuple[str, Mapping[str, Any] | None, str]:
    """(why not, the record schema, the model's name) for one job."""
    where = resolve_endpoint(job, swagger)
    if where.swagger_path is None:
        if where.reference_section is not None:
            return "endpoint not in the swagger (valid per the API reference)", None, ""
        return "endpoint not in the swagger", None, ""
    records = swagger.records(where.swagger_path)
    if records.schema is None:
        return f"no record model declared ({records.model})", None, records.model
    if not swagger.properties(records.schema):
        item = swagger.resolve(records.schema)
        what = item.get("type") or "a free-form object"
        return f"records are {what}s, no properties declared", None, records.model
    return "", records.schema, records.model.removesuffix("[]")


def plan_views(jobs: Sequence[JobSpec], swagger: Swagger) -> ViewPlan:
    """A view per staging table the inventory names whose records the swagger declares.

    A table loaded by several jobs follows the first with a declared model: active jobs
    before disabled ones, then by id. Tables only named as a parameter source, or whose jobs
    have no declared model, are skipped with the reason (of the first job)."""
    tables = sorted(
        {t for job in jobs for t in (job.target_table, job.parameter_source_table) if t}
    )
    views, skipped = [], []
    for table in tables:
        loaders = sorted((j for j in jobs if j.target_table == table), key=_preference)
        if not loaders:
            skipped.append(SkippedTable(table, (), "no job loads it"))
            continue
        reasons = []
        for job in loaders:
            reason, schema, model = _reason(job, swagger)
            if schema is not None:
                columns = columns_for(swagger, schema)
                views.append(ViewSpec(view_name(table), table, job.id, model, columns))
                break
            reasons.append(f"job {job.id}: {reason}")
        else:
            ids = tuple(j.id for j in loaders)
            skipped.append(SkippedTable(table, ids, reasons[0]))
    return ViewPlan(tuple(views), tuple(skipped))


def _preference(job: JobSpec) -> tuple[bool, int]:
    return (not job.is_active, job.id)
