"""The typed views of schema ``staging_typed``: their SQL, what differs from the database,
and the changes made (``migrate``, ``views``). What the columns are comes from the swagger
(trialsync_async/typed_views.py); this module only sees their names, types and JSON paths.

Each view carries a comment with the SHA-256 of its ``CREATE`` statement, so a view is left
alone when the statement would be the same. ``CREATE OR REPLACE VIEW`` can add columns at the
end but not drop, rename, reorder or retype them: then the view is dropped and created again
in one transaction, with a short ``lock_timeout`` so a long query reading the view makes the
change of that view fail (to be retried) instead of queueing the loader's readers behind it.
The staging tables themselves are only read (``CREATE VIEW`` takes no lock that would stop a
job writing them). Everything runs under the migration lock, so two ``migrate`` or ``views``
at once do not collide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import asyncpg

from trialsync_async.db.migrator import MIGRATION_LOCK_KEY, advisory_lock
from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection
from trialsync_async.identifiers import quote_ident, quote_literal, validate_staging_table

SCHEMA = "staging_typed"
COMMENT_PREFIX = "trialsync-async typed view"
LOCK_TIMEOUT = "2s"
STAGING_COLUMNS = ("source_instance_id", "loaded_at", "updated_at")

CASTS = {  # column type -> the staging_typed function reading a jsonb value as it
    "integer": "to_int",
    "bigint": "to_bigint",
    "numeric": "to_numeric",
    "boolean": "to_bool",
    "date": "to_date",
    "timestamptz": "to_timestamptz",
}
PG_TYPES = {  # column type -> its name in format_type()
    "integer": "integer",
    "bigint": "bigint",
    "numeric": "numeric",
    "boolean": "boolean",
    "date": "date",
    "timestamptz": "timestamp with time zone",
    "text": "text",
    "jsonb": "jsonb",
}

Action = Literal["unchanged", "create", "replace", "recreate", "drop"]


class ColumnLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def path(self) -> tuple[str, ...]: ...


class ViewLike(Protocol):
    @property
    def view(self) -> str: ...
    @property
    def table(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def columns(self) -> tuple[ColumnLike, ...]: ...


@dataclass(frozen=True, slots=True)
class ViewChange:
    """One view: what differs (``action``), why (``detail``), and the error if it failed."""

    view: str
    table: str
    action: Action
    detail: str = ""
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "view": f"{SCHEMA}.{self.view}",
            "table": self.table,
            "action": self.action,
            "detail": self.detail,
            "error": self.error or None,
        }


def column_expression(column: ColumnLike) -> str:
    """The SQL reading one column's value out of ``data``, NULL when it does not fit."""
    keys = [quote_literal(segment) for segment in column.path]
    if column.kind == "text":
        value = "data" + "".join(f"->{k}" for k in keys[:-1]) + f"->>{keys[-1]}"
    else:
        value = "data" + "".join(f"->{k}" for k in keys)
    if column.kind == "jsonb":
        value = f"NULLIF({value}, 'null'::jsonb)"
    elif column.kind in CASTS:
        value = f"{quote_ident(SCHEMA)}.{quote_ident(CASTS[column.kind])}({value})"
    elif column.kind != "text":
        raise ValueError(f"unknown column type {column.kind!r}")
    return f"{value} AS {quote_ident(column.name)}"


def qualified(view: str) -> str:
    return f"{quote_ident(SCHEMA)}.{quote_ident(view)}"


def create_statement(spec: ViewLike) -> str:
    """The ``CREATE OR REPLACE VIEW`` of one view."""
    columns = [column_expression(c) for c in spec.columns]
    columns += [quote_ident(c) for c in STAGING_COLUMNS]
    return query("typed_view_create").format(
        view=qualified(spec.view),
        table=quote_ident(validate_staging_table(spec.table)),
        columns=",\n       ".join(columns),
    )


def definition_hash(spec: ViewLike) -> str:
    return hashlib.sha256(create_statement(spec).encode()).hexdigest()


def comment_of(spec: ViewLike) -> str:
    return (
        f"{COMMENT_PREFIX} over {spec.table} ({spec.model}); "
        f"definition sha256 {definition_hash(spec)}"
    )


def wanted_columns(spec: ViewLike) -> list[tuple[str, str | None]]:
    """(name, format_type) of each column; None: the staging table's own type."""
    columns: list[tuple[str, str | None]] = [(c.name, PG_TYPES[c.kind]) for c in spec.columns]
    return columns + [(c, None) for c in STAGING_COLUMNS]


def compare(spec: ViewLike, existing: asyncpg.Record | dict[str, Any] | None) -> ViewChange:
    """What making ``spec`` would do to the view as it is (``existing``: a row of
    typed_views_existing, None when there is no such view)."""
    if existing is None:
        return ViewChange(spec.view, spec.table, "create", "missing")
    wanted = wanted_columns(spec)
    have = list(zip(existing["names"], existing["types"], strict=True))
    differs = len(have) != len(wanted) or any(
        name != want_name or (want_type is not None and kind != want_type)
        for (name, kind), (want_name, want_type) in zip(have, wanted, strict=False)
    )
    if differs:
        return ViewChange(spec.view, spec.table, "recreate", _column_diff(have, wanted))
    if existing["comment"] != comment_of(spec):
        return ViewChange(spec.view, spec.table, "replace", "definition differs")
    return ViewChange(spec.view, spec.table, "unchanged")


def _column_diff(have: list[tuple[str, str]], wanted: list[tuple[str, str | None]]) -> str:
    had = dict(have)
    want = dict(wanted)
    parts = []
    if added := [n for n in want if n not in had]:
        parts.append("added " + ", ".join(added))
    if dropped := [n for n in had if n not in want]:
        parts.append("dropped " + ", ".join(dropped))
    retyped = [f"{n} {had[n]} -> {t}" for n, t in want.items() if n in had and t and had[n] != t]
    if retyped:
        parts.append("retyped " + ", ".join(retyped))
    if not parts:
        parts.append("columns reordered")
    return "columns differ: " + "; ".join(parts)


async def plan_changes(conn: Connection, specs: Sequence[ViewLike]) -> list[ViewChange]:
    """Every view's change (``unchanged`` included), by view name; views of ours no spec
    wants any more are dropped; a spec whose table does not exist yet is left out."""
    existing = {r["view"]: r for r in await conn.fetch(query("typed_views_existing"))}
    tables = [s.table for s in specs]
    present = {r["name"] for r in await conn.fetch(query("typed_views_tables_existing"), tables)}
    changes = [compare(s, existing.get(s.view)) for s in specs if s.table in present]
    wanted = {s.view for s in specs}
    for name, row in existing.items():
        ours = (row["comment"] or "").startswith(COMMENT_PREFIX)
        if name not in wanted and ours:
            changes.append(ViewChange(name, "", "drop", "no staging table of the inventory"))
    return sorted(changes, key=lambda c: c.view)


async def sync_views(
    conn: Connection, specs: Sequence[ViewLike], *, apply: bool
) -> list[ViewChange]:
    """The changes to make; with ``apply``, made, each view in its own transaction (a view
    that fails says why in ``error``, the others go on)."""
    async with advisory_lock(conn, MIGRATION_LOCK_KEY):
        changes = await plan_changes(conn, specs)
        if not apply:
            return changes
        by_view = {s.view: s for s in specs}
        done = []
        for change in changes:
            if change.action == "unchanged":
                done.append(change)
                continue
            try:
                async with conn.transaction():
                    await conn.fetchval(query("typed_views_lock_timeout"), LOCK_TIMEOUT)
                    await _make(conn, change, by_view.get(change.view))
            except asyncpg.PostgresError as exc:
                done.append(_failed(change, exc))
            else:
                done.append(change)
        return done


async def _make(conn: Connection, change: ViewChange, spec: ViewLike | None) -> None:
    view = qualified(change.view)
    if change.action in ("recreate", "drop"):
        await conn.execute(query("typed_view_drop").format(view=view))
    if spec is None:
        return
    await conn.execute(create_statement(spec))
    comment = quote_literal(comment_of(spec))
    await conn.execute(query("typed_view_comment").format(view=view, comment=comment))


def _failed(change: ViewChange, exc: asyncpg.PostgresError) -> ViewChange:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, asyncpg.LockNotAvailableError):
        message = f"busy: a query held the view past lock_timeout {LOCK_TIMEOUT}; run again"
    elif isinstance(exc, asyncpg.DependentObjectsStillExistError):
        message = f"other objects depend on the view ({message}); drop them first"
    return ViewChange(change.view, change.table, change.action, change.detail, message)
