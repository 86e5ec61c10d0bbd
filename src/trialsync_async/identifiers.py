"""Validation and quoting of identifiers and JSON paths that come from configuration.

Configuration text never reaches SQL as it is: table names must match a strict pattern and
are quoted where used; JSON paths are split into segments that must be plain names, and
the SQL expression is built from those segments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from trialsync_async.errors import IdentifierError

STAGING_TABLE_RE = re.compile(r"^(dim|fact|ghl)_[a-z0-9_]+_staging$")
PATH_SEGMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PLACEHOLDER_NAME_RE = PATH_SEGMENT_RE
# PostgreSQL truncates identifiers at 63 bytes; index names are the table name plus a suffix.
MAX_TABLE_NAME = 40
INDEX_SUFFIXES = ("instance_entity", "record_key", "scope", "source_id", "data_gin")


def validate_staging_table(name: str) -> str:
    """Return ``name`` if it is an acceptable staging table name, else raise."""
    if not isinstance(name, str) or not STAGING_TABLE_RE.fullmatch(name):
        raise IdentifierError(
            value=name,
            what="staging table",
            reason="must match ^(dim|fact|ghl)_[a-z0-9_]+_staging$",
        )
    if len(name) > MAX_TABLE_NAME:
        raise IdentifierError(
            value=name, what="staging table", reason=f"longer than {MAX_TABLE_NAME} characters"
        )
    return name


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (double quotes, embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote an SQL string literal (single quotes doubled; no backslash escapes)."""
    return "'" + text.replace("'", "''") + "'"


def staging_index_name(table: str, suffix: str) -> str:
    """Name of a standard index of a staging table, e.g. ``idx_dim_x_instance_entity``."""
    if suffix not in INDEX_SUFFIXES:
        raise ValueError(f"unknown index suffix {suffix!r}")
    base = validate_staging_table(table).removesuffix("_staging")
    return f"idx_{base}_{suffix}"


def parse_json_path(path: str | Sequence[str], *, what: str = "JSON path") -> tuple[str, ...]:
    """Split a dotted path such as ``study.id`` into validated segments."""
    segments = tuple(path.split(".")) if isinstance(path, str) else tuple(path)
    if not segments:
        raise IdentifierError(value=path, what=what, reason="empty path")
    for segment in segments:
        if not isinstance(segment, str) or not PATH_SEGMENT_RE.fullmatch(segment):
            raise IdentifierError(
                value=path,
                what=what,
                reason="each segment must match ^[A-Za-z_][A-Za-z0-9_]*$",
            )
    return segments


def json_text_expr(segments: Sequence[str], *, column: str = "data") -> str:
    """SQL for the text value at a validated path: ``data->'study'->>'id'``."""
    checked = parse_json_path(list(segments))
    parts = [quote_ident(column) if column != "data" else "data"]
    for segment in checked[:-1]:
        parts.append("->" + quote_literal(segment))
    parts.append("->>" + quote_literal(checked[-1]))
    return "".join(parts)


def validate_placeholder(name: str) -> str:
    if not isinstance(name, str) or not PLACEHOLDER_NAME_RE.fullmatch(name):
        raise IdentifierError(
            value=name, what="endpoint placeholder", reason="must match ^[A-Za-z_][A-Za-z0-9_]*$"
        )
    return name
