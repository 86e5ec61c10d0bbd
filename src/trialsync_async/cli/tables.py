"""Terminal output of the listing commands: tables for people, one JSON document for scripts.

A table fits its terminal: its key columns (the first, and any named in ``keep``: ids,
statuses) are never dropped or cut; when the row is too wide the other columns go, last
first, and what still does not fit wraps inside its cell. Piped output is never cut. ``--json``
prints one document: stable keys, ISO timestamps, the same document the status page's API
serves where there is one.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO

import orjson
from rich.console import Console
from rich.table import Table

from trialsync_async.text import printable

PIPED_WIDTH = 100_000  # a table written to a pipe or file is never cut
GAP = 2  # columns apart


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


def terminal_width(stream: TextIO | None = None) -> int | None:
    """The terminal's columns, or None when ``stream`` is not a terminal."""
    stream = stream or sys.stdout
    return shutil.get_terminal_size().columns if stream.isatty() else None


def fitting(
    headers: Sequence[str], rows: Sequence[Sequence[str]], width: int, keep: Sequence[str]
) -> list[int]:
    """The columns shown in ``width``: every key column, then the others from the left while
    the natural widths fit (a column that wraps, the last one kept, may be narrower)."""
    natural = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    key = [i for i, h in enumerate(headers) if i == 0 or h in keep]
    shown = list(key)
    used = sum(natural[i] for i in key) + GAP * (len(key) - 1)
    for i in range(len(headers)):
        if i in key:
            continue
        room = width - used - GAP
        if natural[i] <= room or (i == len(headers) - 1 and room >= max(len(headers[i]), 12)):
            shown.append(i)
            used += min(natural[i], room) + GAP
    return sorted(shown)


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    keep: Sequence[str] = ("id", "run", "job", "status"),
    stream: TextIO | None = None,
) -> None:
    """A table via rich; numbers right-aligned, ``None`` as an empty cell; fitted to the
    terminal (see the module docstring), whole when piped."""
    stream = stream or sys.stdout
    texts = [["" if v is None else cell_text(v) for v in row] for row in rows]
    width = terminal_width(stream)
    columns = list(range(len(headers)))
    if width is not None:
        columns = fitting(headers, texts, width, keep)
    table = Table(title=title, title_justify="left", header_style="bold", box=None)
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        for i in range(len(headers))
    ]
    key = {i for i, h in enumerate(headers) if i == 0 or h in keep}
    for i in columns:
        table.add_column(
            headers[i],
            justify="right" if numeric[i] else "left",
            no_wrap=i in key,
            min_width=len(headers[i]) if i in key else None,
            overflow="fold",
        )
    for row in texts:
        table.add_row(*(row[i] for i in columns))
    console = Console(file=stream, width=width or PIPED_WIDTH, highlight=False, markup=False)
    console.print(table, crop=False)
    dropped = [headers[i] for i in range(len(headers)) if i not in columns]
    if dropped:
        print(f"({', '.join(dropped)}: wider terminal, or --json)", file=stream)


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
