"""Named SQL statements, read once from ``queries.sql``."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

_HEADER = re.compile(r"^-- name: ([a-z0-9_]+)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split a file of ``-- name: x`` blocks into {name: sql}; comment lines are dropped."""
    queries: dict[str, str] = {}
    matches = list(_HEADER.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = "\n".join(
            line
            for line in text[match.end() : end].splitlines()
            if line.strip() and not line.lstrip().startswith("--")
        )
        if match.group(1) in queries:
            raise ValueError(f"query {match.group(1)!r} defined twice")
        queries[match.group(1)] = body.strip()
    return queries


@cache
def _all() -> dict[str, str]:
    text = (files("trialsync_async.db") / "queries.sql").read_text(encoding="utf-8")
    return parse_queries(text)


def names() -> frozenset[str]:
    """Every statement's name."""
    return frozenset(_all())


def query(name: str) -> str:
    """The SQL text of one named statement."""
    try:
        return _all()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in queries.sql") from None
