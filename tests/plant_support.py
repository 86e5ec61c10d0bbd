"""Run the command line in a real process with an unexpected exception planted in one stage
of a run (``PLANT_STAGE``): ``python -c "from tests.plant_support import main; main()" ARGS``.

The stages are where a record's path passes: ``plan`` (the planner), ``fetch`` (a request),
``parse`` (a record into a row), ``write`` (COPY and merge), ``settle`` (after the pass) and
``finish`` (closing the run row, once: the run then closes it bare).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from trialsync_async import cli
from trialsync_async.db import runs
from trialsync_async.db.staging import StagingWriter
from trialsync_async.engine import job_run
from trialsync_async.engine.fetcher import JobClient
from trialsync_async.engine.planner import Planner
from trialsync_async.records import RowBuilder

STAGES = ("plan", "fetch", "parse", "write", "settle", "finish")


class Planted(RuntimeError):
    """An exception nobody expects."""


def _raise(stage: str) -> Any:
    def planted(*args: Any, **kwargs: Any) -> Any:
        raise Planted(f"planted in {stage}")

    return planted


def plant(stage: str) -> None:
    if stage == "plan":

        async def units(self: Planner, workers: int) -> AsyncIterator[Any]:
            raise Planted("planted in plan")
            yield  # type: ignore[unreachable]  # an async generator, like the real one

        Planner.units = units  # type: ignore[method-assign]
    elif stage == "fetch":

        async def get_page(self: JobClient, *args: Any, **kwargs: Any) -> Any:
            raise Planted("planted in fetch")

        JobClient.get_page = get_page  # type: ignore[method-assign]
    elif stage == "parse":
        RowBuilder.row = _raise("parse")  # type: ignore[method-assign]
    elif stage == "write":

        async def copy_merge(self: StagingWriter, *args: Any, **kwargs: Any) -> Any:
            raise Planted("planted in write")

        StagingWriter.copy_merge = copy_merge  # type: ignore[method-assign]
    elif stage == "settle":

        async def settle(*args: Any, **kwargs: Any) -> None:
            raise Planted("planted in settle")

        job_run.settle = settle  # type: ignore[attr-defined]
    elif stage == "finish":
        real = runs.finish_run
        calls = 0

        async def finish_run(*args: Any, **kwargs: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise Planted("planted in finish")
            await real(*args, **kwargs)

        runs.finish_run = finish_run
    elif stage != "none":
        raise SystemExit(f"unknown stage {stage!r}: one of {', '.join(STAGES)} or none")


def main() -> None:
    plant(os.environ["PLANT_STAGE"])
    raise SystemExit(cli.main(sys.argv[1:]))
