"""``views [--check] [--json]``: the typed views of schema staging_typed (README "For analysts:
typed views"). Argument parsing and printing only; app.TrialSync.typed_views does the work."""

from __future__ import annotations

import argparse

from trialsync_async.app import TrialSync
from trialsync_async.cli.common import EXIT_FAILED, EXIT_OK, SubParsers, add_json, handles
from trialsync_async.cli.tables import print_json, print_table
from trialsync_async.settings import Settings
from trialsync_async.typed_views import SCHEMA, ViewsReport

CHANGE_HEADERS = ["view", "table", "action", "detail"]
SKIPPED_HEADERS = ["table", "jobs", "reason"]


def add_commands(sub: SubParsers) -> None:
    views = sub.add_parser(
        "views",
        help=f"create or replace the typed views of schema {SCHEMA} (--check: only compare)",
        description=f"One view per staging table whose records the swagger declares, in schema "
        f"{SCHEMA}: a typed column per property, deleted rows left out. Without --check, "
        "creates the missing views and replaces those that differ (migrate does it too). "
        "With --check, changes nothing and exits 1 when anything would change.",
    )
    views.add_argument(
        "--check",
        action="store_true",
        help="list what would change (missing views, differing columns) and the tables "
        "skipped; exit 1 if anything would change",
    )
    add_json(views)
    handles(views, run_views)


async def run_views(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        report = await ts.typed_views(apply=not args.check)
    return print_views(report, as_json=args.json)


def print_views(report: ViewsReport, *, as_json: bool) -> int:
    """Exit 1: with --check, anything would change; without, a view could not be made."""
    code = EXIT_FAILED if (report.failed or (report.pending and not report.applied)) else EXIT_OK
    if as_json:
        print_json({**report.to_json(), "ok": code == EXIT_OK})
        return code
    pending = report.pending
    if pending:
        rows = [(f"{SCHEMA}.{c.view}", c.table, c.action, c.error or c.detail) for c in pending]
        title = "typed views: changes made" if report.applied else "typed views: would change"
        print_table(CHANGE_HEADERS, rows, title=title)
    if report.plan.skipped:
        skipped = [(s.table, ", ".join(map(str, s.job_ids)), s.reason) for s in report.plan.skipped]
        print_table(SKIPPED_HEADERS, skipped, title="staging tables without a view (skipped)")
    unchanged = len(report.changes) - len(pending)
    verb = "changed" if report.applied else "would change"
    failed = f", {len(report.failed)} failed" if report.failed else ""
    print(
        f"\n{len(report.plan.views)} views ({SCHEMA}): {unchanged} unchanged, "
        f"{len(pending) - len(report.failed)} {verb}{failed}; "
        f"{len(report.plan.skipped)} tables skipped"
    )
    return code
