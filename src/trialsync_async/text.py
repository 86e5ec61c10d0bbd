"""Text for people, one home for each rule: terminal-safe text, one-line shortening, counts with
their noun, and durations (the CLI's tables, the live display, the status page and console
logs all use these, so the same value reads the same everywhere)."""

from __future__ import annotations

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
"""C0, DEL and C1 control characters, shown as ``\\x1b``: API text (an error body, a record
field) reaches the terminal without the bytes that would move the cursor, colour it or ring
it."""

ELLIPSIS = "…"


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (newlines and tabs too: a table cell
    is one line) written as ``\\x1b``. JSON output keeps text exact instead."""
    return text.translate(_CONTROL)


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, an ellipsis where it was cut."""
    if len(text) <= width:
        return text
    return text[: width - 1] + ELLIPSIS if width > 0 else ""


def shorten(text: str | None, width: int) -> str:
    """One terminal-safe line of at most ``width`` characters, an ellipsis where it was cut."""
    if not text:
        return ""
    return cut(printable(" ".join(text.split())), width)


def plural(n: int, noun: str) -> str:
    """``1 run``, ``2 runs``: a count and its noun."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def duration(seconds: float | None) -> str:
    """How long something took: ``12.3 s``, ``4m 05s``, ``2h 07m`` (empty when unknown)."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole // 60 % 60:02d}m"


def span(seconds: float | None) -> str:
    """How long something will take, coarsely: ``0.4 s``, ``42 s``, ``43 min``, ``5.2 h``,
    ``9.4 d`` (``plan``'s estimates)."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172_800 else f"{seconds / 86_400:.1f} d"


def clock(seconds: float) -> str:
    """``h:mm:ss`` (the live display's elapsed times and ETAs)."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
