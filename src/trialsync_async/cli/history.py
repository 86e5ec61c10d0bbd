"""The run-history commands (``runs``, ``runs show``, ``failures``, ``stats``): a table for
people; with ``--json`` one document, db/history.py's dataclasses as objects with sorted keys.
The library (db/history.py via ``TrialSync``) does the work."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from trialsync_async.app import TrialSync
from trialsync_async.cli.common import EXIT_OK, SubParsers, add_json, handles, int_at_least
from trialsync_async.cli.schema import print_run_drift
from trialsync_async.cli.tables import cell_text, print_json, print_table
from trialsync_async.db.history import (
    RUN_STATUSES,
    ChainRun,
    FailureReport,
    RunDetail,
    RunRow,
    RunStats,
    RunTotals,
)
from trialsync_async.db.parameters import REASONS
from trialsync_async.db.status import UnitFailure
from trialsync_async.settings import Settings
from trialsync_async.text import duration, plural, printable, shorten, span

ERROR_WIDTH = 60
_SPAN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FANOUT_REASONS = REASONS


def add_commands(sub: SubParsers) -> None:
    runs = sub.add_parser("runs", help="recent runs, newest first (`runs show RUN`: one run)")
    runs.add_argument("--job", type=int, metavar="ID", help="only this job's runs")
    runs.add_argument("--status", choices=RUN_STATUSES, help="only runs in this status")
    runs.add_argument(
        "--since", type=parse_since, metavar="SPAN",
        help="only runs started within SPAN: 30m, 24h, 7d",
    )  # fmt: skip
    runs.add_argument("--limit", type=int_at_least(1), default=20, metavar="N", help="default 20")
    runs.add_argument("--instance", type=int, metavar="N", help="only runs for this API instance")
    add_json(runs)
    handles(runs, list_runs)
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION")
    show = runs_sub.add_parser("show", help="one run in full")
    show.add_argument("run_id", type=int, metavar="RUN")
    add_json(show, default=argparse.SUPPRESS)  # `runs --json show 5` keeps its --json
    handles(show, show_run)

    failures = sub.add_parser("failures", help="failed runs and their failed units")
    which = failures.add_mutually_exclusive_group()
    which.add_argument("--run", type=int, metavar="RUN", help="this run's failures")
    which.add_argument("--job", type=int, metavar="ID", help="this job's failed runs")
    failures.add_argument(
        "--limit", type=int_at_least(1), default=50, metavar="N",
        help="failed runs (and units still failed) shown, default 50",
    )  # fmt: skip
    add_json(failures)
    handles(failures, list_failures)

    stats = sub.add_parser("stats", help="per job: runs, success rate, records, requests")
    stats.add_argument(
        "--days", type=int_at_least(1), default=7, metavar="N",
        help="runs started in the last N days (default 7)",
    )  # fmt: skip
    stats.add_argument("--instance", type=int, metavar="N", help="only runs for this API instance")
    add_json(stats)
    handles(stats, show_stats)


async def list_runs(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        rows = await ts.run_history(
            job_id=args.job, status=args.status, since=args.since, limit=args.limit,
            instance_id=args.instance,
        )  # fmt: skip
    print_runs(rows, as_json=args.json, limit=args.limit)
    return EXIT_OK


async def show_run(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        print_run(await ts.run_detail(args.run_id), as_json=args.json)
    return EXIT_OK


async def list_failures(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        report = await ts.run_failures(run_id=args.run, job_id=args.job, limit=args.limit)
    print_failures(report, as_json=args.json)
    return EXIT_OK


async def show_stats(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        stats = await ts.run_stats(days=args.days, instance_id=args.instance)
        print_stats(stats, as_json=args.json)
    return EXIT_OK


def parse_since(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d`` (also ``s`` and ``w``) → a timedelta; argparse's error otherwise."""
    match = _SPAN.match(text)
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time span: give a whole number and s, m, h, d or w (30m, 24h, 7d)"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _short(text: str | None, width: int = ERROR_WIDTH) -> str:
    return shorten(text, width)


def _local(at: datetime | None) -> datetime | None:
    return at  # output shows aware times in UTC, as jobs show and the status page do


def _parameters(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in parameters.items())


RUN_HEADERS = ["run", "job", "name", "status", "started", "duration", "fetched", "inserted",
               "updated", "unchanged", "deleted", "requests", "planned", "error"]  # fmt: skip


def status_text(r: RunRow) -> str | None:
    """A run's status; a dead one (running, its heartbeat older than the lease) says so:
    ``running (no heartbeat for 4 min)``."""
    if r.dead and r.heartbeat_age_seconds is not None:
        return f"{r.status} (no heartbeat for {span(r.heartbeat_age_seconds)})"
    return r.status


def _run_cells(r: RunRow) -> list[Any]:
    return [r.run_id, r.job_id, (r.job_name or "")[:30], status_text(r), _local(r.started_at),
            duration(r.seconds), r.fetched, r.inserted, r.updated, r.unchanged, r.deleted,
            r.requests, r.planned_requests, _short(r.error)]  # fmt: skip


def print_runs(rows: Sequence[RunRow], *, as_json: bool, limit: int | None = None) -> None:
    if as_json:
        print_json({"runs": [asdict(r) for r in rows]})
        return
    title = f"the newest {plural(len(rows), 'run')}" if rows else "no runs"
    if limit is not None and len(rows) == limit:
        title += f" (--limit {limit}: there may be more)"
    if len({r.instance_id for r in rows}) > 1:  # several API instances: say which
        headers = [*RUN_HEADERS[:2], "instance", *RUN_HEADERS[2:]]
        cells = [[*c[:2], r.instance_id, *c[2:]] for r, c in ((r, _run_cells(r)) for r in rows)]
        print_table(headers, cells, title=title)
        return
    print_table(RUN_HEADERS, [_run_cells(r) for r in rows], title=title)


def _unit_failures(failures: Sequence[UnitFailure], total: int, *, title: str) -> None:
    if not total:
        return
    shown = f"{total}" if total == len(failures) else f"{total}, first {len(failures)}"
    print_table(
        ["parameters", "failed at", "error"],
        [(_parameters(f.parameters), _local(f.failed_at), _short(f.error, 100)) for f in failures],
        title=f"{title} ({shown})",
    )


def _chain_rows(relation: str, runs: Sequence[ChainRun]) -> list[list[Any]]:
    return [[c.run_id, relation, c.status, _local(c.started_at), duration(c.seconds), c.fetched,
             c.requests, _short(c.error)] for c in runs]  # fmt: skip


def print_run(run: RunDetail, *, as_json: bool) -> None:
    if as_json:
        print_json({"run": asdict(run)})
        return
    started = _local(run.started_at)
    completed = _local(run.completed_at)
    print(f"run {run.run_id}: job {run.job_id} {run.job_name or ''}, {status_text(run)}")
    print(f"  started    {cell_text(started)}" if started else "  started    -")
    print(f"  completed  {cell_text(completed)}" if completed else "  completed  -")
    print(f"  duration   {duration(run.seconds)}")
    print(f"  instance   {run.instance_id if run.instance_id is not None else '-'}")
    print(f"  worker     {run.worker or '-'}")
    if run.heartbeat_age_seconds is not None:
        beat = f"{span(run.heartbeat_age_seconds)} ago"
        if run.dead:
            beat += " (older than the lease: serve closes the run unless a process holds its lock)"
        print(f"  heartbeat  {beat}")
    print(f"  pass       {run.pass_id}" + (f" (continues run {run.continues_run_id})"
                                           if run.continues_run_id else ""))  # fmt: skip
    if run.retry_of is not None:
        print(f"  retry of   run {run.retry_of} (its failed units)")
    if run.paging:
        print(f"  paging     {run.paging}")
    if run.pressure:
        print(f"  pressure   {pressure_text(run.pressure)}")
    if run.cancel_requested:
        print("  cancel     requested")
    if run.error:
        print(f"  error      {printable(run.error)}")
    print()
    print_table(
        ["fetched", "inserted", "updated", "unchanged", "deleted", "written", "requests",
         "planned", "retries", "sanitized", "duplicates"],
        [[run.fetched, run.inserted, run.updated, run.unchanged, run.deleted, run.written,
          run.requests, run.planned_requests, run.retries, run.sanitized, run.duplicates]],
        title="records and requests (planned: what the plan said before the run)",
    )  # fmt: skip
    print_table(
        ["total", "ended", "failed", "missing", "planned parents"],
        [[run.units_total, run.units_done, run.units_failed, run.units_missing,
          run.planned_parents]],
        title="units",
    )  # fmt: skip
    if run.fanout is not None:
        reasons = [r for r in FANOUT_REASONS if r in run.fanout]
        counts = [run.fanout[r] for r in reasons]
        print_table(
            ["mode", "parents", *reasons],
            [[run.fanout.get("mode"), run.fanout.get("parents"), *counts]],
            title="fan-out parents by reason",
        )
    if run.schema_checked is not None:
        print_run_drift(run.schema_drift, run.schema_checked)
    if run.warnings:
        print("warnings:")
        for warning in run.warnings:
            print(f"  - {printable(warning)}")
    _unit_failures(run.unit_failures, run.unit_failures_total, title="failed units")
    chain = _chain_rows("continued", run.continues) + _chain_rows("continues it", run.continued_by)
    if chain:
        print_table(
            ["run", "relation", "status", "started", "duration", "fetched", "requests", "error"],
            chain,
            title="resume chain",
        )


def pressure_text(pressure: dict[str, Any]) -> str:
    """``notes["pressure"]`` in words: the rate the instance was held to when the run ended
    (of its ceiling), the decreases and throttled answers during the run, the in-flight limit."""
    rate, ceiling = pressure.get("rate"), pressure.get("ceiling")
    held = "not limited" if rate is None else f"{rate:g}/s"
    if ceiling is not None:
        held += f" of {ceiling:g}/s"
    decreases, throttled = pressure.get("decreases") or 0, pressure.get("throttled") or 0
    in_flight = pressure.get("in_flight_limit")
    return (
        f"rate {held}, {plural(decreases, 'decrease')}, "
        f"{plural(throttled, 'answer')} 429/503, at most {in_flight} in flight"
    )


def print_failures(report: FailureReport, *, as_json: bool) -> None:
    if as_json:
        print_json(asdict(report))
        return
    if not report.failures and not report.failed_units_total:
        print("no failed runs")
        return
    print_table(
        ["run", "job", "name", "status", "started", "failed", "missing", "error"],
        [[r.run_id, r.job_id, (r.job_name or "")[:30], r.status, _local(r.started_at),
          r.units_failed, r.units_missing, _short(r.error, 100)] for r in report.failures],
        title=f"{plural(len(report.failures), 'failed run')}, newest first",
    )  # fmt: skip
    for r in report.failures:
        _unit_failures(r.unit_failures, r.unit_failures_total, title=f"run {r.run_id}: units")
    if report.failed_units_total:
        shown = len(report.failed_units)
        more = "" if shown == report.failed_units_total else f", first {shown}"
        print_table(
            ["job", "name", "run", "parameters", "since", "error"],
            [[u.job_id, (u.job_name or "")[:30], u.run_id, _parameters(u.parameters),
              _local(u.updated_at), _short(u.error, 80)] for u in report.failed_units],
            title=f"units still failed: the next run retries them "
            f"({report.failed_units_total}{more})",
        )  # fmt: skip


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}%"


def _stats_cells(t: RunTotals) -> list[Any]:
    return [t.runs, t.successes, t.failures, _rate(t.success_rate), t.fetched, t.written,
            t.requests, duration(t.mean_seconds)]  # fmt: skip


def print_stats(stats: RunStats, *, as_json: bool) -> None:
    if as_json:
        print_json(asdict(stats))
        return
    rows = [[j.job_id, (j.job_name or "")[:30], *_stats_cells(j)] for j in stats.jobs]
    rows.append(["total", "", *_stats_cells(stats.total)])
    print_table(
        ["job", "name", "runs", "successes", "failures", "success rate", "fetched", "written",
         "requests", "mean duration"],
        rows,
        title=f"runs started in the last {stats.days} days",
    )  # fmt: skip
