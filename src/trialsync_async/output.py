"""Terminal output of the listing commands: rich tables for people, one JSON document for
scripts (``--json``: stable keys, ISO timestamps, the same document the status page's API
serves where there is one)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO

import orjson
from rich.console import Console
from rich.table import Table

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
"""C0, DEL and C1 control characters, shown as ``\\x1b``: API text (an error body, a
record field) reaches the terminal without the bytes that would move the cursor, colour it
or ring it."""


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (newlines and tabs too: a table cell
    is one line) written as ``\\x1b``. JSON output keeps text exact instead."""
    return text.translate(_CONTROL)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (no colour, no box): for summaries written into logs and tests."""
    cells = [[("" if v is None else printable(str(v))) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, rule, *body])


def _console(stream: TextIO | None) -> Console:
    # Off a terminal rich would wrap at 80 columns; a table piped to a file keeps its width.
    stream = stream or sys.stdout
    return Console(file=stream, width=None if stream.isatty() else 200, highlight=False)


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """A table via rich; numbers right-aligned, ``None`` as an empty cell."""
    table = Table(title=title, title_justify="left", header_style="bold", box=None)
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        for i in range(len(headers))
    ]
    for header, right in zip(headers, numeric, strict=True):
        table.add_column(header, justify="right" if right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*("" if v is None else cell_text(v) for v in row))
    _console(stream).print(table)


def cell_text(value: Any) -> str:
    """How a table shows a value (counts with separators, aware times in UTC)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):  # every command shows the same clock: UTC, and says so
        if value.tzinfo is None:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return printable(str(value))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(document: Any) -> bytes:
    """One JSON document: sorted keys, ISO 8601 times (``datetime``/``date`` as orjson writes
    them), Decimals as numbers."""
    return orjson.dumps(
        document, default=_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
    )


def print_json(document: Any, *, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(to_json(document).decode() + "\n")
    stream.flush()


def shorten(text: str | None, width: int) -> str:
    """One line of at most ``width`` characters, an ellipsis where it was cut."""
    if not text:
        return ""
    line = printable(" ".join(text.split()))
    return line if len(line) <= width else line[: width - 1] + "…"


def plural(n: int, noun: str) -> str:
    """``1 run``, ``2 runs``: a count and its noun."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
