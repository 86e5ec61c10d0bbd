"""``migrate``: the packaged migrations, instance 1, the inventory, the staging tables, the
retention."""

from __future__ import annotations

import argparse

from trialsync_async.app import TrialSync
from trialsync_async.cli.common import EXIT_OK, SubParsers, handles
from trialsync_async.settings import Settings


def add_commands(sub: SubParsers) -> None:
    migrate = sub.add_parser(
        "migrate", help="apply migrations, sync the job inventory, create tables"
    )
    handles(migrate, run_migrate)


async def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings, require_schema=False) as ts:
        report = await ts.migrate()
    print(
        f"migrations applied: {len(report.applied)} "
        f"(already applied: {len(report.already_applied)}); "
        f"jobs synced: {report.jobs_synced}; staging tables: {len(report.staging_tables)}; "
        f"job overrides applied: {report.overrides}"
    )
    for note in report.notes:  # settings edited in dw_etl_jobs, kept as overrides
        print(note)
    if (p := report.pruned).total:
        print(
            f"retention (TRIALSYNC_RETENTION_DAYS): {p.runs:,} runs, {p.ticks:,} ticks, "
            f"{p.probes:,} probes and {p.seen_keys:,} seen keys of settled passes removed"
        )
    return EXIT_OK
