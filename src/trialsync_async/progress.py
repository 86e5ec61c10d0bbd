"""Showing runs as they go: a live display on a terminal, log events otherwise, a summary."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import TextIO

import structlog

from trialsync_async.engine.job_run import JobResult, JobRun
from trialsync_async.output import format_table

log = structlog.get_logger(__name__)

REFRESH_SECONDS = 0.5


def _eta(run: JobRun) -> str:
    p = run.progress
    if not p.units_total or not p.units_done or p.units_done >= p.units_total:
        return "-"
    elapsed = time.monotonic() - run.started
    seconds = int(elapsed / p.units_done * (p.units_total - p.units_done))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def describe(run: JobRun) -> str:
    p = run.progress
    elapsed = max(time.monotonic() - run.started, 1e-6)
    return (
        f"job {run.job.id:>3} {run.job.name[:28]:<28} "
        f"units {p.units_done}/{p.units_total if p.units_total is not None else '?'} "
        f"rows {p.fetched:,} req {p.requests:,} {p.requests / elapsed:.1f} req/s ETA {_eta(run)}"
    )


class ProgressDisplay:
    """Redraws one line per running job on a terminal; logs progress events elsewhere."""

    def __init__(self, stream: TextIO = sys.stderr, *, live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.active: dict[int, JobRun] = {}
        self._drawn = 0

    def started(self, run: JobRun) -> None:
        self.active[run.job.id] = run

    def progressed(self, run: JobRun) -> None:
        if not self.live:
            p = run.progress
            log.info(
                "progress", job_id=run.job.id, run_id=run.run_id, units_done=p.units_done,
                units_total=p.units_total, rows=p.fetched, requests=p.requests,
            )  # fmt: skip

    def draw(self) -> None:
        if not self.live:
            return
        lines = [
            describe(run)
            for run in self.active.values()
            if run.run_id is not None and not run.finished
        ]
        out = "\x1b[1A\x1b[2K" * self._drawn + "".join(line + "\n" for line in lines)
        self.stream.write(out)
        self.stream.flush()
        self._drawn = len(lines)

    def clear(self) -> None:
        if self.live and self._drawn:
            self.stream.write("\x1b[1A\x1b[2K" * self._drawn)
            self.stream.flush()
            self._drawn = 0

    async def refresh(self) -> None:
        """Run as a task while jobs run; cancel it when they are done."""
        try:
            while True:
                self.draw()
                await asyncio.sleep(REFRESH_SECONDS)
        finally:
            self.clear()


def summary_table(results: Sequence[JobResult]) -> str:
    rows = [
        (
            r.job_id,
            r.name[:30],
            r.status,
            r.progress.written,
            r.progress.inserted,
            r.progress.updated,
            r.progress.unchanged,
            r.progress.deleted,
            r.progress.requests,
            r.progress.retries,
            r.progress.sanitized,
            f"{r.seconds:.1f}",
            (r.error or "")[:90],
        )
        for r in results
    ]
    headers = ["job", "name", "status", "rows", "inserted", "updated", "unchanged", "deleted",
               "requests", "retries", "sanitized", "seconds", "error"]  # fmt: skip
    ok = sum(r.ok for r in results)
    return format_table(headers, rows) + f"\n\n{ok} of {len(results)} jobs succeeded"
