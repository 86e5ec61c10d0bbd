"""From API records to staging rows: serialisation and record keys (no I/O)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from trialsync_async.errors import MalformedResponse, RecordRejected
from trialsync_async.inventory import RecordKey

KEY_SEPARATOR = "|"


@dataclass(frozen=True, slots=True)
class Row:
    """One record ready for COPY: its JSON text, computed key and scope (None when unused)."""

    data: str
    key: str | None
    scope: str | None = None
    sanitized: bool = False
    ident: str | None = None  # id jobs: the id as ``data->>'id'`` reads it (one row per id)


def _strip_nul(value: Any) -> Any:
    # PostgreSQL's jsonb refuses \u0000 inside strings; replace it rather than lose the record.
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip_nul(v) for k, v in value.items()}
    return value


NUL_REPLACEMENT = "\ufffd"


def serialize(record: Any) -> tuple[str, bool]:
    """The record's JSON text, and whether NUL characters had to be replaced (by U+FFFD).

    Raises TypeError for a record orjson cannot write (nested past 254 levels)."""
    text = orjson.dumps(record).decode()
    if "\\u0000" in text:
        return orjson.dumps(_strip_nul(record)).decode(), True
    return text, False


def _id_problem(value: Any) -> str | None:
    """Why a top-level id cannot key a staging row (``data->>'id'``), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        return f"its id is a JSON {type(value).__name__}, not a number or string"
    if value == "":
        return "its id is an empty string"
    return None


def _first_segment(record: Mapping[str, Any], segment: str) -> str | None:
    """The key of ``record`` that matches ``segment``: exactly, else ignoring case."""
    if segment in record:
        return segment
    folded = segment.casefold()
    return next((k for k in record if isinstance(k, str) and k.casefold() == folded), None)


def _at_path(record: Any, path: tuple[str, ...], casings: Counter[str] | None = None) -> Any:
    """The value at ``path``; its first segment matches any casing (``Id``, ``id``, ``ID``)."""
    if not isinstance(record, Mapping):
        return None
    first = _first_segment(record, path[0])
    if first is None:
        return None
    if casings is not None:
        casings[first] += 1
    value = record[first]
    for segment in path[1:]:
        if not isinstance(value, Mapping) or segment not in value:
            return None
        value = value[segment]
    return value


def _key_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


def content_hash(record: Any) -> str:
    return hashlib.sha1(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()


class RowBuilder:
    """Turns a job's records into rows, computing the record key its strategy asks for.

    ``id`` jobs are keyed by PostgreSQL itself (``data->>'id'``); a record without an id is
    refused, since it could never be matched again and would duplicate on every run.
    Keyless (``none``) jobs get ``scope|content-hash|n`` keys, n counting identical records
    inside one scope, so a re-run of an unchanged scope matches row for row.
    """

    def __init__(self, key: RecordKey, *, endpoint: str) -> None:
        self.key = key
        self.endpoint = endpoint
        self.casings: Counter[str] = Counter()  # first key segments as the records spell them
        self.id_kinds: Counter[str] = Counter()  # "number" / "string": how ids were written
        # Shown each page's records before they become rows (schema_drift.DriftSampler).
        self.observe: Callable[[list[Any]], None] | None = None

    def casing_report(self) -> tuple[dict[str, int], str | None]:
        """Record keys match any casing: the casings the records used, and a warning when
        they are not the configured one."""
        configured = self.key.paths[0][0] if self.key.paths else None
        other = sorted(c for c in self.casings if c != configured)
        warning = f"record key {configured!r} met as {', '.join(map(repr, other))}"
        return dict(self.casings), warning if other else None

    def id_kind_report(self) -> str | None:
        """A warning when one run met ids both as numbers and as strings (``17``, ``"17"``):
        one key in staging, but the API changed how it writes them."""
        if self.id_kinds["number"] and self.id_kinds["string"]:
            return (
                f"ids came as numbers ({self.id_kinds['number']:,} records) and as strings "
                f"({self.id_kinds['string']:,}): staged under one key, data->>'id'"
            )
        return None

    def rows(
        self,
        records: list[Any],
        *,
        scope: str = "",
        seen: dict[str, int] | None = None,
        where: Callable[[int], str] | None = None,
    ) -> list[Row]:
        """The rows of one page's records; ``where(i)`` names record ``i``'s place, asked
        only for a record that is refused (a name per record would cost more than its row)."""
        row = self.row
        if self.observe is not None:
            self.observe(records)
        try:
            return [row(record, scope=scope, seen=seen) for record in records]
        except RecordRejected as exc:
            if where is None:
                raise
            at = next(i for i, r in enumerate(records) if _refused(row, r, scope))
            raise RecordRejected(
                where=where(at), endpoint=self.endpoint, detail=exc.context["detail"]
            ) from None

    def row(
        self,
        record: Any,
        *,
        scope: str = "",
        seen: dict[str, int] | None = None,
        where: str = "?",
    ) -> Row:
        """The row of one record; ``where`` names its place for an error (``#3 of page 2``).

        Raises RecordRejected for a record that cannot be stored whatever is retried: nested
        past what orjson writes, or (``id`` jobs) an id of the wrong kind."""
        kind = self.key.kind
        rid = record.get("id") if isinstance(record, Mapping) else None
        try:
            text, sanitized = serialize(record)
        except TypeError as exc:  # orjson: recursion limit (254 levels) or a foreign type
            shown = f"{where} (id {rid})" if isinstance(rid, int | str) else where
            raise RecordRejected(
                where=shown, endpoint=self.endpoint, detail=f"JSON that cannot be written: {exc}"
            ) from None
        if kind == "id":
            problem = _id_problem(rid)
            if problem is not None:
                raise RecordRejected(where=where, endpoint=self.endpoint, detail=problem)
            if rid is None:
                other = _first_segment(record, "id") if isinstance(record, Mapping) else None
                hint = f" (it has {other!r}: set record_key = {other!r})" if other else ""
                raise MalformedResponse(
                    endpoint=self.endpoint,
                    detail=f"a record has no top-level 'id'{hint}; set record_key for this job",
                )
            self.id_kinds["string" if isinstance(rid, str) else "number"] += 1
            # A fan-out's rows carry their unit's scope, so a merge can say which units changed.
            ident = rid if isinstance(rid, str) else str(rid)
            return Row(text, None, scope or None, sanitized=sanitized, ident=ident)
        if kind == "paths":
            parts = [_at_path(record, path, self.casings) for path in self.key.paths]
            if any(p is None for p in parts):
                raise MalformedResponse(
                    endpoint=self.endpoint, detail=f"a record lacks its key {self.key}"
                )
            key = KEY_SEPARATOR.join(_key_text(p) for p in parts)
            return Row(text, key, scope or None, sanitized=sanitized)
        if kind == "value":
            key = record if isinstance(record, str) else content_hash(record)
            return Row(text, key, scope or None, sanitized=sanitized)
        digest = content_hash(record)
        if seen is None:
            seen = {}
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        return Row(
            text, f"{scope}{KEY_SEPARATOR}{digest}{KEY_SEPARATOR}{n}", scope, sanitized=sanitized
        )


def _refused(row: Callable[..., Row], record: Any, scope: str) -> bool:
    try:
        row(record, scope=scope)
    except RecordRejected:
        return True
    return False


def scope_of(parameters: Mapping[str, str]) -> str:
    """The scope key of a unit: ``studyId=12&visitId=7`` (empty for a plain job)."""
    return "&".join(f"{name}={value}" for name, value in parameters.items())
