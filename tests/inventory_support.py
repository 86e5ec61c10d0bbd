"""The job inventory as tests change it: the packaged tables as dicts, a changed copy written
back as TOML."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from trialsync_async.inventory import read_job_tables

Jobs = dict[int, dict[str, Any]]
"""The inventory's tables by job id, for a test to change in place."""


def job_tables() -> list[dict[str, Any]]:
    """The packaged inventory's job tables, each a dict of its own."""
    return [dict(t) for t in read_job_tables()]


def inventory_toml(tables: list[dict[str, Any]]) -> str:
    """The inventory written back as TOML (strings, ints, bools and {name, path} lists)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join("{ " + ", ".join(f"{k} = {value(x)}" for k, x in item.items())
                                   + " }" for item in v) + "]"  # fmt: skip
        return orjson.dumps(v).decode()

    return "\n".join(
        "[[jobs]]\n" + "".join(f"{k} = {value(v)}\n" for k, v in table.items()) for table in tables
    )


def write_copy(tmp_path: Path, change: Callable[[Jobs], None] | None = None) -> Path:
    """``tmp_path/jobs.toml``: the packaged inventory, changed by ``change``."""
    tables = job_tables()
    if change is not None:
        change({t["id"]: t for t in tables})
    path = tmp_path / "jobs.toml"
    path.write_text(inventory_toml(tables))
    return path
