"""``validate``: the job inventory against the packaged swagger and itself, without a
database. Argument parsing and printing only; trialsync_async/validate.py does the work."""

from __future__ import annotations

import argparse
from pathlib import Path

from trialsync_async.cli.common import EXIT_FAILED, EXIT_OK, SubParsers, add_json, handles
from trialsync_async.cli.tables import print_json, print_table
from trialsync_async.settings import Settings
from trialsync_async.text import cut
from trialsync_async.validate import Report, validate_inventory

MESSAGE_WIDTH = 120
VALIDATE_HEADERS = ["job", "name", "severity", "check", "message"]


def add_commands(sub: SubParsers) -> None:
    validate = sub.add_parser(
        "validate",
        help="check the job inventory against the API's swagger and itself (no database)",
        description="Check every active job's endpoint, placeholders, paging, record key and "
        "parameter paths against the packaged swagger, and the inventory against itself "
        "(cycles, duplicate ids, parameter sources, parents, shared targets). Exit 1 on any "
        "error.",
    )
    validate.add_argument(
        "--jobs",
        type=Path,
        metavar="FILE",
        help="the inventory to check (default TRIALSYNC_JOBS_FILE, else the packaged one)",
    )
    add_json(validate)
    handles(validate, run_validate)


async def run_validate(settings: Settings, args: argparse.Namespace) -> int:
    """No database: the inventory and the packaged swagger only."""
    return print_validation(validate_inventory(args.jobs or settings.jobs_file), as_json=args.json)


def print_validation(report: Report, *, as_json: bool) -> int:
    """The findings, one row each; exit 1 when any is an error."""
    if as_json:
        print_json(report.to_json())
    else:
        rows = [
            (
                f.job_id if f.job_id is not None else "",
                f.job[:24],
                f.severity,
                f.check,
                cut(f.message, MESSAGE_WIDTH),
            )
            for f in report.findings
        ]
        if rows:
            print_table(VALIDATE_HEADERS, rows, title="inventory findings")
        counts = ", ".join(f"{report.count(s)} {s}" for s in ("error", "warning", "info"))
        verdict = "ok" if report.ok else "FAILED"
        print(f"\n{report.jobs_checked} jobs checked: {counts}: {verdict}")
    return EXIT_OK if report.ok else EXIT_FAILED
