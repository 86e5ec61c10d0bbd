"""``plan``: what the next run of each job would fetch and cost, from the database alone."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

from trialsync_async.app import TrialSync
from trialsync_async.cli.common import EXIT_OK, SubParsers, add_json, handles
from trialsync_async.cli.tables import print_json, print_table
from trialsync_async.db.parameters import REASONS
from trialsync_async.engine.estimate import JobPlan
from trialsync_async.settings import Settings
from trialsync_async.text import span

PLAN_REASONS = tuple(r for r in REASONS if r != "finished")


def add_commands(sub: SubParsers) -> None:
    plan = sub.add_parser("plan", help="what the next run would fetch and cost (no API request)")
    plan.add_argument(
        "--job", type=int, action="append", metavar="ID", help="this job (repeatable)"
    )
    plan.add_argument("--all", action="store_true", help="every active job (the default)")
    plan.add_argument("--full", action="store_true", help="as a --full run would fetch")
    plan.add_argument(
        "--instance", type=int, action="append", metavar="N",
        help="for this API instance (repeatable; default: every instance each job runs for)",
    )  # fmt: skip
    add_json(plan)
    handles(plan, run_plan)


async def run_plan(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        plans = await ts.plan(
            None if args.all or not args.job else args.job,
            full=args.full,
            instance_ids=args.instance,
        )
    if args.json:
        print_json({"full": args.full, "jobs": [_doc(p) for p in plans], "total": _total(plans)})
    else:
        _print(plans)
    return EXIT_OK


def _row(p: JobPlan, instances: bool = False) -> tuple[object, ...]:
    by = (p.reasons.get(r, 0) if p.parents is not None else None for r in PLAN_REASONS)
    where = (p.instance_id,) if instances else ()
    return (p.job_id, *where, p.name[:30], p.parents, *by, p.requests, span(p.seconds))


def _doc(p: JobPlan) -> dict[str, object]:
    return {**dataclasses.asdict(p), "fetched": p.fetched}


def _total(plans: Sequence[JobPlan]) -> dict[str, object]:
    """The total line of ``plan``: requests, time at the rate limits, what has no estimate."""
    known = [p for p in plans if p.requests is not None]
    return {
        "requests": sum(p.requests or 0 for p in known),
        "seconds": sum(p.seconds or 0.0 for p in known),
        "never_ran": len(plans) - len(known),  # no estimate yet
        "unlimited": sum(1 for p in known if p.seconds is None and p.requests),  # no time
    }


def _print(plans: Sequence[JobPlan]) -> None:
    # An instance column once the plan spans several API instances (one row per job and
    # instance, see README: Several API instances).
    instances = len({p.instance_id for p in plans}) > 1
    headers = ["job", *(["instance"] if instances else []), "name", "parents", *PLAN_REASONS,
               "requests", "time"]  # fmt: skip
    keep = ("job", "instance", "requests", "time") if instances else ("job", "requests", "time")
    print_table(headers, [_row(p, instances) for p in plans], keep=keep)
    total = _total(plans)
    notes = []
    if total["never_ran"]:
        notes.append(f"{total['never_ran']} never ran (no estimate)")
    if total["unlimited"]:
        notes.append(f"{total['unlimited']} on an instance without a rate limit (no time)")
    seconds = float(total["seconds"])  # type: ignore[arg-type]
    line = f"total: {total['requests']:,} requests"
    if seconds or not total["unlimited"]:
        line += f", {span(seconds)} at the instances' rate limits"
    print("\n" + line + (f"; jobs: {', '.join(notes)}" if notes else ""))
