"""Showing runs as they go: a live display on a terminal, log events otherwise, a summary.

On a terminal a rich ``Live`` region holds one line per running job. Log lines are printed
through the same console above it (``log.route_logs``), so neither overwrites the other; a job
that ends leaves the region and is printed once as a finished line. Off a terminal there is
no display, only a ``progress`` log event per heartbeat.

The words are the run row's (``db/runs.py`` ``RunProgress``) and the "run finished" event's:
*fetched* = records received from the API, *written* = inserted + updated (the run row's
``records_loaded``), *unchanged*, *deleted*, *requests* = HTTP attempts.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import TextIO

import structlog
from rich.console import Console, ConsoleOptions
from rich.live import Live
from rich.text import Text

from trialsync_async.api import ApiClient
from trialsync_async.cli.tables import format_table
from trialsync_async.engine.job_run import JobRun
from trialsync_async.engine.result import JobResult, RunProgress
from trialsync_async.log import route_logs
from trialsync_async.text import clock, cut, printable, shorten

log = structlog.get_logger(__name__)

REFRESH_SECONDS = 0.5
NAME_WIDTH = 28  # job names are padded to this when the terminal is wide enough
MIN_NAME = 6  # ... and shortened down to this before the line itself is cut
ELLIPSIS = "…"
STATUS_STYLE = {"success": "green", "failed": "bold red", "interrupted": "yellow"}


def fit_line(head: str, name: str, tail: str, width: int) -> str:
    """``head name tail`` in at most ``width`` columns, never more than one line.

    The name gives way first (padded to ``NAME_WIDTH`` when there is room, shortened with
    an ellipsis when not); on a very narrow terminal the line itself is cut."""
    room = min(width - len(head) - len(tail) - 2, NAME_WIDTH)
    shown = cut(name, max(room, MIN_NAME)).ljust(max(room, 0))
    return cut(f"{head} {shown} {tail}", width)


def eta(p: RunProgress, elapsed: float) -> str:
    """Time left at the pace so far, from units done of units total; ``-`` when unknown."""
    if not p.units_total or not p.units_done or p.units_done >= p.units_total:
        return "-"
    return clock(elapsed / p.units_done * (p.units_total - p.units_done))


def running_line(
    job_id: int,
    name: str,
    p: RunProgress,
    elapsed: float,
    width: int,
    *,
    phase: str | None = None,
    phase_seconds: float = 0.0,
) -> str:
    """A running job's live line: fetched and written are different counts, both shown; once
    the fetching is done (or while a lock is awaited) the phase and its time stand in for
    the ETA."""
    rate = p.requests / max(elapsed, 1e-6)
    total = "?" if p.units_total is None else f"{p.units_total:,}"
    doing = f"{phase} {clock(phase_seconds)}" if phase else f"ETA {eta(p, elapsed)}"
    tail = (
        f"fetched {p.fetched:,}  written {p.written:,}  requests {p.requests:,} ({rate:.1f}/s)"
        f"  units {p.units_done:,}/{total}  {doing}"
    )
    return fit_line(f"job {job_id:>3}", name, tail, width)


def instance_line(client: ApiClient, width: int) -> str:
    """An API instance's adaptive limits under the running jobs: the rate requests are held
    to now (of the configured ceiling), AIMD's decreases, requests in flight of the limit."""
    limiter, slots = client.limiter, client.slots
    rate = "not limited" if limiter.rate is None else f"{limiter.rate:.1f}/s"
    if limiter.ceiling is not None:
        rate += f" of {limiter.ceiling:g}/s"
    limit = int(slots.limit.limit)
    line = (
        f"api instance {client.instance_id}  rate {rate}  decreases {limiter.decreases:,}"
        f"  throttled {limiter.throttles:,}  in flight {slots.in_flight} of {limit}"
    )
    return cut(line, width)


def finished_line(result: JobResult, width: int) -> str:
    """The line a job leaves when it ends (the error, if any, last: cut first)."""
    p = result.progress
    tail = (
        f"{result.status}  fetched {p.fetched:,}  written {p.written:,}  "
        f"unchanged {p.unchanged:,}  requests {p.requests:,}  {result.seconds:.1f} s"
    )
    if result.error and not result.ok:
        tail += f"  {printable(result.error)}"
    return fit_line(f"job {result.job_id:>3}", named(result.name, result.instance_id), tail, width)


def named(name: str, instance_id: int | None) -> str:
    """A job's name in the live lines; a run for an instance other than 1 says which."""
    return name if instance_id in (None, 1) else f"{name} (instance {instance_id})"


class _RunningJobs:
    """The live region: rendered at the console's width at each refresh, so it always fits."""

    def __init__(self, display: ProgressDisplay) -> None:
        self.display = display

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        now = time.monotonic()
        for run in self.display.running():
            ctx = run.ctx
            line = running_line(
                run.job.id, named(run.job.name, run.job.source_instance_id), run.progress,
                now - run.started, options.max_width,
                phase=ctx.phase, phase_seconds=now - ctx.phase_since,
            )  # fmt: skip
            yield Text(line, no_wrap=True, overflow="ellipsis")
        clients = {id(r.api): r.api for r in self.display.running() if r.api is not None}
        for client in clients.values():
            line = instance_line(client, options.max_width)
            yield Text(line, style="dim", no_wrap=True, overflow="ellipsis")


class ProgressDisplay:
    """A live line per running job on a terminal; progress log events elsewhere."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        live: bool | None = None,
        console: Console | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.console = console or Console(
            file=self.stream, highlight=False, markup=False, emoji=False
        )
        self.active: dict[tuple[int, int | None], JobRun] = {}  # by (job, instance)

    def running(self) -> list[JobRun]:
        return [r for r in self.active.values() if r.run_id is not None and not r.finished]

    def started(self, run: JobRun) -> None:
        self.active[(run.job.id, run.job.source_instance_id)] = run

    def progressed(self, run: JobRun) -> None:
        if not self.live:
            p = run.progress
            log.info(
                "progress", job_id=run.job.id, run_id=run.run_id,
                instance_id=run.job.source_instance_id, units_done=p.units_done,
                units_total=p.units_total, fetched=p.fetched, written=p.written,
                requests=p.requests,
            )  # fmt: skip

    def finished(self, result: JobResult) -> None:
        """A job ended: off the live region, printed once above it."""
        self.active.pop((result.job_id, result.instance_id), None)
        if self.live:
            line = finished_line(result, self.console.width)
            style = STATUS_STYLE.get(result.status, "yellow")
            self.console.print(Text(line, style=style), no_wrap=True, crop=True)

    def _print_log(self, line: str) -> None:
        # soft_wrap: the line is written whole (the terminal wraps it), never cut or split.
        self.console.print(Text.from_ansi(line), soft_wrap=True)

    @asynccontextmanager
    async def shown(self) -> AsyncIterator[None]:
        """The live region redrawn while the block runs (a task, cancelled and awaited)."""
        refresher = asyncio.create_task(self.refresh())
        try:
            yield
        finally:
            refresher.cancel()
            await asyncio.gather(refresher, return_exceptions=True)

    async def refresh(self) -> None:
        """Run as a task while jobs run; cancel it when they are done."""
        if not self.live:
            return
        region = Live(
            _RunningJobs(self),
            console=self.console,
            auto_refresh=False,  # redrawn from this task: no thread racing the event loop
            transient=True,  # nothing of the region stays: finished jobs are printed lines
            redirect_stderr=True,  # stray prints (the signal notice) go above the region
            redirect_stdout=sys.stdout.isatty(),  # a piped stdout is not ours to take over
        )
        with region:
            route_logs(self._print_log)
            try:
                while True:
                    region.refresh()
                    await asyncio.sleep(REFRESH_SECONDS)
            finally:
                route_logs(None)


def summary_table(results: Sequence[JobResult]) -> str:
    rows = [
        (
            r.job_id,
            r.name[:30],
            r.status,
            r.progress.fetched,
            r.progress.written,
            r.progress.inserted,
            r.progress.updated,
            r.progress.unchanged,
            r.progress.deleted,
            r.progress.requests,
            r.progress.retries,
            r.progress.sanitized,
            f"{r.seconds:.1f}",
            shorten(r.error, 90),
        )
        for r in results
    ]
    headers = ["job", "name", "status", "fetched", "written", "inserted", "updated", "unchanged",
               "deleted", "requests", "retries", "sanitized", "seconds", "error"]  # fmt: skip
    if len({r.instance_id for r in results}) > 1:  # several API instances: say which
        headers.insert(1, "instance")
        by_instance: list[tuple[object, ...]] = [
            (row[0], r.instance_id, *row[1:]) for r, row in zip(results, rows, strict=True)
        ]
        return _summary(headers, by_instance, results)
    return _summary(headers, list(rows), results)


def _summary(
    headers: list[str], rows: list[tuple[object, ...]], results: Sequence[JobResult]
) -> str:
    ok = sum(r.ok for r in results)
    warnings = [
        f"warning: {printable(w)}" for r in results for w in r.progress.notes.get("warnings", [])
    ]
    notes = "\n\n" + "\n".join(warnings) if warnings else ""  # the runs' notes["warnings"]
    return format_table(headers, rows) + notes + f"\n\n{ok} of {len(results)} jobs succeeded"
