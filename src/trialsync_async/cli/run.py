"""Running jobs: ``--job ID`` / ``--all`` and ``retry-failed RUN``, with the live display and
the summary, under a stop that SIGINT/SIGTERM trigger."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from trialsync_async import facts
from trialsync_async.app import TrialSync
from trialsync_async.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    GracefulStop,
    SubParsers,
    UsageError,
    handles,
    int_at_least,
)
from trialsync_async.cli.live import ProgressDisplay, summary_table
from trialsync_async.engine.result import JobResult
from trialsync_async.settings import Settings

_DEFAULTS = Settings()  # the one place a default lives


def add_run_options(group: argparse._ActionsContainer) -> None:
    """The options of a run (``--job``/``--all`` and ``demo``)."""
    group.add_argument(
        "--concurrency", type=int_at_least(1), metavar="N",
        help="workers per job, a ceiling (requests in flight adapt below it), at least 1 "
        f"(default TRIALSYNC_CONCURRENCY or {_DEFAULTS.concurrency})",
    )  # fmt: skip
    group.add_argument(
        "--page-size", type=int_at_least(1, facts.MAX_PAGE_SIZE), metavar="N",
        help=f"$top per request, 1..{facts.MAX_PAGE_SIZE} (default {facts.MAX_PAGE_SIZE})",
    )  # fmt: skip
    group.add_argument(
        "--parallel-jobs", type=int_at_least(1), metavar="N",
        help="independent jobs run at once, at least 1 "
        f"(default TRIALSYNC_PARALLEL_JOBS or {_DEFAULTS.parallel_jobs})",
    )  # fmt: skip
    group.add_argument(
        "--fresh", action="store_true",
        help="start a new pass instead of continuing an unfinished one",
    )  # fmt: skip
    group.add_argument(
        "--full", action="store_true",
        help="fan-outs fetch every parent, not only new, changed, failed and due ones",
    )  # fmt: skip
    group.add_argument(
        "--allow-deletes", action="store_true",
        help="confirm a mass deletion: apply what the job's max_deletes share would refuse",
    )  # fmt: skip


def add_commands(parser: argparse.ArgumentParser, sub: SubParsers) -> None:
    run = parser.add_argument_group("running jobs (no COMMAND)")
    run.add_argument(
        "--job", type=int, action="append", metavar="ID", help="run this job (repeatable)"
    )
    run.add_argument("--all", action="store_true", help="run every active job once")
    run.add_argument(
        "--instance", type=int, action="append", metavar="N",
        help="for this API instance (repeatable; default: every instance each job runs for)",
    )  # fmt: skip
    run.add_argument(
        "--with-upstream", action="store_true",
        help="first run the jobs the given jobs depend on (transitively, in dependency order)",
    )  # fmt: skip
    add_run_options(run)
    handles(parser, run_jobs)
    retry = sub.add_parser(
        "retry-failed", help="re-fetch only the failed units of a run, as a new run of its job"
    )
    retry.add_argument("run_id", type=int, metavar="RUN")
    handles(retry, retry_failed)


def run_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """The run options given on the command line, over the settings."""
    return settings.with_overrides(
        concurrency=getattr(args, "concurrency", None),
        page_size=getattr(args, "page_size", None),
        parallel_jobs=getattr(args, "parallel_jobs", None),
    )


def check_usage(args: argparse.Namespace) -> None:
    if args.with_upstream and not args.job:
        raise UsageError("--with-upstream goes with --job (--all runs every active job already)")
    if args.job and args.all:
        raise UsageError("give --job or --all, not both")
    if getattr(args, "instance", None) and not (args.job or args.all):
        raise UsageError("--instance goes with --job or --all")


async def run_jobs(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(run_settings(settings, args)) as ts:
        results, stop = await run_with_progress(ts, args, None if args.all else args.job)
    code = EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
    return stop.exit_code or code


async def run_with_progress(
    ts: TrialSync,
    args: argparse.Namespace,
    job_ids: Sequence[int] | None,
    *,
    retry_of: int | None = None,
    instance_ids: Sequence[int] | None = None,
) -> tuple[list[JobResult], GracefulStop]:
    """Run jobs with the live display (terminal) or progress log events, under a stop that
    SIGINT/SIGTERM trigger; print the summary."""
    display = ProgressDisplay()
    async with GracefulStop(ts.settings.stop_grace_seconds) as stop, display.shown():
        results = await ts.run_jobs(
            job_ids,
            fresh=getattr(args, "fresh", False),
            full=getattr(args, "full", False),
            allow_deletes=getattr(args, "allow_deletes", False),
            with_upstream=getattr(args, "with_upstream", False),
            retry_of=retry_of,
            instance_ids=instance_ids or getattr(args, "instance", None),
            on_start=display.started,
            on_progress=display.progressed,
            on_finish=display.finished,
            on_runner=stop.attach,
        )
    print(summary_table(results))
    return results, stop


async def retry_failed(settings: Settings, args: argparse.Namespace) -> int:
    run_id = args.run_id
    async with TrialSync(settings) as ts:
        job_id, failed = await ts.failed_units_of(run_id)
        if not failed:
            print(f"run {run_id} has no failed units to retry")
            return EXIT_OK
        if retries := await ts.retries_of(run_id):
            # Its failed units stay listed; a second retry would fetch those done since.
            latest, status = retries[0]
            if status == "success":
                print(f"run {run_id}'s failed units were retried by run {latest} (success)")
                return EXIT_OK
            print(
                f"error: run {run_id}'s failed units were retried by run {latest} ({status}):"
                f" retry that run's instead (trialsync-async retry-failed {latest})",
                file=sys.stderr,
            )
            return EXIT_FAILED
        if not await ts.still_failed_of(run_id):
            print(f"run {run_id}'s failed units were all fetched since by later runs: "
                  "nothing to retry")  # fmt: skip
            return EXIT_OK
        instance_id = await ts.instance_of_run(run_id)  # the retry runs for the same instance
        results, stop = await run_with_progress(
            ts, args, [job_id], retry_of=run_id, instance_ids=[instance_id]
        )
    code = EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
    return stop.exit_code or code
