"""Command line: argument parsing and printing only; all work is done by the library."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

import asyncpg

from trialsync_async import __version__, cli_history, cli_jobs, cli_tools, facts
from trialsync_async.app import TrialSync
from trialsync_async.cli_history import parse_since
from trialsync_async.db.catalog import InstanceRow
from trialsync_async.db.history import RUN_STATUSES
from trialsync_async.engine.job_run import JobResult
from trialsync_async.engine.plan import JobPlan
from trialsync_async.errors import (
    ConfigError,
    InvalidSettingError,
    NotMigratedError,
    TrialSyncError,
)
from trialsync_async.log import configure_logging
from trialsync_async.output import print_json, print_table, printable
from trialsync_async.progress import ProgressDisplay, summary_table
from trialsync_async.settings import Settings
from trialsync_async.validate import validate_inventory

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range ({bound})")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trialsync-async",
        description="Copy the Clinical Conductor API into PostgreSQL staging tables.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    run = parser.add_argument_group("running jobs (no COMMAND)")
    run.add_argument(
        "--job", type=int, action="append", metavar="ID", help="run this job (repeatable)"
    )
    run.add_argument("--all", action="store_true", help="run every active job once")
    run.add_argument(
        "--with-upstream", action="store_true",
        help="first run the jobs the given jobs depend on (transitively, in dependency order)",
    )  # fmt: skip
    _add_run_options(run)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("migrate", help="apply migrations, sync the job inventory, create tables")
    cli_tools.add_validate_command(sub)

    retry = sub.add_parser(
        "retry-failed", help="re-fetch only the failed units of a run, as a new run of its job"
    )
    retry.add_argument("run_id", type=int, metavar="RUN")

    plan = sub.add_parser("plan", help="what the next run would fetch and cost (no API request)")
    plan.add_argument(
        "--job", type=int, action="append", metavar="ID", help="this job (repeatable)"
    )
    plan.add_argument("--all", action="store_true", help="every active job (the default)")
    plan.add_argument("--full", action="store_true", help="as a --full run would fetch")
    plan.add_argument("--json", action="store_true", help="one JSON document")

    serve = sub.add_parser(
        "serve",
        help="run as a service: schedules, replicas, /healthz /readyz /metrics, status page",
        description="Run jobs on their schedules until SIGTERM; any number of replicas may share "
        "one database. See the README's 'serve' section for the environment variables.",
    )
    serve.add_argument(
        "--listen", metavar="HOST:PORT",
        help="HTTP address (default TRIALSYNC_LISTEN or 127.0.0.1:8080; port 0 = any free)",
    )  # fmt: skip

    cli_jobs.add_jobs_commands(sub)  # list, show, sync, enable, disable, set

    inst = sub.add_parser("instances", help="API instances (dw_api_credentials)")
    inst_sub = inst.add_subparsers(dest="instances_command", metavar="ACTION", required=True)
    inst_list = inst_sub.add_parser("list", help="list instances (keys are never shown)")
    inst_list.add_argument("--json", action="store_true", help="one JSON document")
    cli_tools.add_instance_test(inst_sub)
    inst_set = inst_sub.add_parser("set", help="create or update an instance")
    inst_set.add_argument("instance_id", type=int)
    inst_set.add_argument("--name")
    inst_set.add_argument("--base-url", help="e.g. https://host/CCSWEB")
    key = inst_set.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="read the key at run time from this environment variable (only its name is stored)",
    )
    key.add_argument(
        "--api-key-stdin",
        action="store_true",
        help="read the key from standard input (or a prompt) and store it in the database",
    )
    key.add_argument("--clear-key", action="store_true", help="forget the stored key")
    inst_set.add_argument(
        "--auth-header", help=f"header carrying the key (default {facts.AUTH_HEADER})"
    )
    inst_set.add_argument(
        "--rate-limit",
        type=float,
        help=f"requests/second for the instance (default {facts.RECOMMENDED_RATE:g}; 0 = none)",
    )
    active = inst_set.add_mutually_exclusive_group()
    active.add_argument("--active", dest="is_active", action="store_true", default=None)
    active.add_argument("--inactive", dest="is_active", action="store_false")

    # Listed for --help only: main() hands `simulate ...` to the simulator's own parser, so
    # the simulator package is imported only when it is asked for.
    sub.add_parser(
        "simulate", add_help=False,
        help="run the Clinical Conductor API simulator (see `simulate --help`)",
    )  # fmt: skip

    _add_history_commands(sub)

    demo = sub.add_parser(
        "demo", help="start the simulator (and PostgreSQL if needed) and run every active job"
    )
    demo.add_argument("--scale", type=float, default=None, help="simulator data scale")
    _add_run_options(demo)
    return parser


def _add_history_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``runs [show RUN]``, ``failures``, ``stats``: the run log (see cli_history.py)."""
    runs = sub.add_parser("runs", help="recent runs, newest first (`runs show RUN`: one run)")
    runs.add_argument("--job", type=int, metavar="ID", help="only this job's runs")
    runs.add_argument("--status", choices=RUN_STATUSES, help="only runs in this status")
    runs.add_argument(
        "--since", type=parse_since, metavar="SPAN",
        help="only runs started within SPAN: 30m, 24h, 7d",
    )  # fmt: skip
    runs.add_argument("--limit", type=_int_at_least(1), default=20, metavar="N", help="default 20")
    _add_json(runs)
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION")
    show = runs_sub.add_parser("show", help="one run in full")
    show.add_argument("run_id", type=int, metavar="RUN")
    _add_json(show, default=argparse.SUPPRESS)  # `runs --json show 5` keeps its --json

    failures = sub.add_parser("failures", help="failed runs and their failed units")
    which = failures.add_mutually_exclusive_group()
    which.add_argument("--run", type=int, metavar="RUN", help="this run's failures")
    which.add_argument("--job", type=int, metavar="ID", help="this job's failed runs")
    failures.add_argument(
        "--limit", type=_int_at_least(1), default=50, metavar="N",
        help="failed runs (and units still failed) shown, default 50",
    )  # fmt: skip
    _add_json(failures)

    stats = sub.add_parser("stats", help="per job: runs, success rate, records, requests")
    stats.add_argument(
        "--days", type=_int_at_least(1), default=7, metavar="N",
        help="runs started in the last N days (default 7)",
    )  # fmt: skip
    _add_json(stats)


def _add_json(parser: argparse.ArgumentParser, default: object = False) -> None:
    parser.add_argument(
        "--json", action="store_true", default=default, help="one JSON document, not a table"
    )


def _add_run_options(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--concurrency", type=_int_at_least(1), metavar="N",
        help="workers per job, at least 1 (default TRIALSYNC_CONCURRENCY or 8)",
    )  # fmt: skip
    group.add_argument(
        "--page-size", type=_int_at_least(1, facts.MAX_PAGE_SIZE), metavar="N",
        help=f"$top per request, 1..{facts.MAX_PAGE_SIZE} (default {facts.MAX_PAGE_SIZE})",
    )  # fmt: skip
    group.add_argument(
        "--parallel-jobs", type=_int_at_least(1), metavar="N",
        help="independent jobs run at once, at least 1 (default TRIALSYNC_PARALLEL_JOBS or 4)",
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


class Stoppable(Protocol):
    def stop(self) -> None: ...


class GracefulStop:
    """SIGINT (Ctrl-C) and SIGTERM (docker stop): stop taking work, commit what was fetched,
    record positions, print the summary, exit 130/143 (``serve``: 0). A second signal, or the
    grace period running out, cancels at once (runs still end 'interrupted')."""

    def __init__(self, grace: float) -> None:
        self.grace = grace  # then the task is cancelled
        self.margin = 0.0  # of that, time the service keeps beyond its own grace (not announced)
        self.signal: signal.Signals | None = None
        self.runners: list[Stoppable] = []
        self.clean_exit = False  # serve: a signal is how the service is meant to end
        self._task: asyncio.Task[int] | None = None

    def attach(self, runner: Stoppable) -> None:
        self.runners.append(runner)
        if self.signal is not None:
            runner.stop()

    def install(self, task: asyncio.Task[int]) -> None:
        self._task = task
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        assert self._task is not None
        if self.signal is not None:
            self._task.cancel()
            return
        self.signal = sig
        print(
            f"\n{sig.name}: stopping; committing what was fetched "
            f"(up to {self.grace - self.margin:g} s; again to abort)",
            file=sys.stderr,
        )
        for runner in self.runners:
            runner.stop()
        asyncio.get_running_loop().call_later(self.grace, self._task.cancel)

    @property
    def exit_code(self) -> int | None:
        if self.signal is None:
            return None
        return EXIT_OK if self.clean_exit else EXIT_SIGNAL.get(self.signal)


async def _main_task(coro: Coroutine[Any, Any, int], stop: GracefulStop) -> int:
    task = asyncio.ensure_future(coro)
    stop.install(task)
    try:
        code = await task
    except asyncio.CancelledError:
        print("interrupted", file=sys.stderr)
        return stop.exit_code or 130
    finally:
        stop.uninstall()
    return stop.exit_code or code


def _run(coro: Coroutine[Any, Any, int], stop: GracefulStop) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_main_task(coro, stop))
    return uvloop.run(_main_task(coro, stop))


def _print_instances(rows: Sequence[InstanceRow]) -> None:
    def key(r: InstanceRow) -> str:
        return f"env {r.api_key_env}" if r.api_key_env else ("stored" if r.has_key else "none")

    print_table(
        ["id", "name", "base_url", "header", "rate/s", "key", "active"],
        [
            (r.id, r.name, r.base_url, r.auth_header, r.rate_limit or "none", key(r), r.is_active)
            for r in rows
        ],
    )


def _hours(seconds: float | None) -> str:
    """0.4 s, 42 s, 43 min, 5.2 h, 9.4 d."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172_800 else f"{seconds / 86_400:.1f} d"


def _plan_row(p: JobPlan) -> tuple[object, ...]:
    by = (p.reasons.get(r, 0) if p.parents is not None else None for r in PLAN_REASONS)
    return (p.job_id, p.name[:30], p.parents, *by, p.requests, _hours(p.seconds))


PLAN_REASONS = ("new", "changed", "lost", "failed", "due", "full", "resume", "fresh")


def _plan_doc(p: JobPlan) -> dict[str, object]:
    return {**dataclasses.asdict(p), "fetched": p.fetched}


def _plan_total(plans: Sequence[JobPlan]) -> dict[str, object]:
    """The total line of ``plan``: requests, time at the rate limits, what has no estimate."""
    known = [p for p in plans if p.requests is not None]
    return {
        "requests": sum(p.requests or 0 for p in known),
        "seconds": sum(p.seconds or 0.0 for p in known),
        "never_ran": len(plans) - len(known),  # no estimate yet
        "unlimited": sum(1 for p in known if p.seconds is None and p.requests),  # no time
    }


def _print_plan(plans: Sequence[JobPlan]) -> None:
    headers = ["job", "name", "parents", *PLAN_REASONS, "requests", "time"]
    print_table(headers, [_plan_row(p) for p in plans])
    total = _plan_total(plans)
    notes = []
    if total["never_ran"]:
        notes.append(f"{total['never_ran']} never ran (no estimate)")
    if total["unlimited"]:
        notes.append(f"{total['unlimited']} on an instance without a rate limit (no time)")
    seconds = float(total["seconds"])  # type: ignore[arg-type]
    line = f"total: {total['requests']:,} requests"
    if seconds or not total["unlimited"]:
        line += f", {_hours(seconds)} at the instances' rate limits"
    print("\n" + line + (f"; jobs: {', '.join(notes)}" if notes else ""))


async def _history(ts: TrialSync, args: argparse.Namespace) -> int:
    if args.command == "runs" and args.runs_command == "show":
        cli_history.print_run(await ts.run_detail(args.run_id), as_json=args.json)
    elif args.command == "runs":
        rows = await ts.run_history(
            job_id=args.job, status=args.status, since=args.since, limit=args.limit
        )
        cli_history.print_runs(rows, as_json=args.json, limit=args.limit)
    elif args.command == "failures":
        report = await ts.run_failures(run_id=args.run, job_id=args.job, limit=args.limit)
        cli_history.print_failures(report, as_json=args.json)
    else:
        cli_history.print_stats(await ts.run_stats(days=args.days), as_json=args.json)
    return EXIT_OK


async def _migrate(ts: TrialSync) -> int:
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


_STOP = GracefulStop(grace=0.0)


async def run_with_progress(
    ts: TrialSync, args: argparse.Namespace, job_ids: Sequence[int] | None
) -> list[JobResult]:
    """Run jobs with the live display (terminal) or progress log events; print the summary."""
    display = ProgressDisplay()
    refresher = asyncio.create_task(display.refresh())
    try:
        results = await ts.run_jobs(
            job_ids,
            fresh=args.fresh,
            full=args.full,
            allow_deletes=getattr(args, "allow_deletes", False),
            with_upstream=getattr(args, "with_upstream", False),  # `demo` runs --all
            on_start=display.started,
            on_progress=display.progressed,
            on_finish=display.finished,
            on_runner=_STOP.attach,
        )
    finally:
        refresher.cancel()
        await asyncio.gather(refresher, return_exceptions=True)
    print(summary_table(results))
    return results


async def _retry_failed(ts: TrialSync, run_id: int) -> int:
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
        print(f"run {run_id}'s failed units were all fetched since by later runs: nothing to retry")
        return EXIT_OK
    display = ProgressDisplay()
    refresher = asyncio.create_task(display.refresh())
    try:
        results = await ts.run_jobs(
            [job_id], retry_of=run_id, on_start=display.started,
            on_progress=display.progressed, on_finish=display.finished, on_runner=_STOP.attach,
        )  # fmt: skip
    finally:
        refresher.cancel()
        await asyncio.gather(refresher, return_exceptions=True)
    print(summary_table(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


async def _serve(settings: Settings) -> int:
    from trialsync_async.service.daemon import Service

    service = Service(settings)
    _STOP.clean_exit = True
    _STOP.grace = settings.stop_grace_seconds + 2  # the service keeps its own grace first
    _STOP.margin = 2
    _STOP.attach(service)
    await service.run()
    return EXIT_OK


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        return await _serve(settings)
    if args.command == "validate":  # no database
        report = validate_inventory(args.jobs or settings.jobs_file)
        return cli_tools.print_validation(report, as_json=args.json)
    if args.command == "demo":
        from trialsync_async.demo import run_demo

        return await run_demo(settings, args, run_with_progress)
    async with TrialSync(settings, require_schema=args.command != "migrate") as ts:
        if args.command is None:
            results = await run_with_progress(ts, args, None if args.all else args.job)
            return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
        if args.command == "migrate":
            return await _migrate(ts)
        if args.command == "retry-failed":
            return await _retry_failed(ts, args.run_id)
        if args.command in ("runs", "failures", "stats"):
            return await _history(ts, args)
        if args.command == "plan":
            plans = await ts.plan(None if args.all or not args.job else args.job, full=args.full)
            if args.json:
                print_json(
                    {
                        "full": args.full,
                        "jobs": [_plan_doc(p) for p in plans],
                        "total": _plan_total(plans),
                    }
                )
            else:
                _print_plan(plans)
            return EXIT_OK
        if args.command == "jobs":
            await cli_jobs.dispatch(ts, args)
            return EXIT_OK
        if args.command == "instances":
            if args.instances_command == "list":
                instances = await ts.list_instances()
                if args.json:
                    print_json({"instances": [dataclasses.asdict(r) for r in instances]})
                else:
                    _print_instances(instances)
                return EXIT_OK
            if args.instances_command == "test":
                probe = await ts.test_instance(args.instance_id)
                return cli_tools.print_probe(probe, as_json=args.json)
            api_key = _read_key() if args.api_key_stdin else None
            instance_id = await ts.set_instance(
                args.instance_id,
                name=args.name,
                base_url=args.base_url,
                api_key=api_key,
                api_key_env=args.api_key_env,
                auth_header=args.auth_header,
                rate_limit=args.rate_limit,
                is_active=args.is_active,
                clear_key=args.clear_key,
            )
            print(f"instance {instance_id} saved")
            return EXIT_OK
    raise AssertionError(f"unhandled command {args.command!r}")


def _read_key() -> str:
    key = getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    if not key:
        raise TrialSyncError("no API key given on standard input")
    return key


def _simulate(argv: list[str]) -> int:
    try:
        from ccsim.cli import main as simulator_main
    except ImportError:
        print("error: the simulator (package ccsim) is not installed", file=sys.stderr)
        return EXIT_FAILED
    return simulator_main(argv, prog="trialsync-async simulate")


def unknown_option(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The first ``--option`` no parser on the command's path knows, if any.

    argparse alone takes the value after a mistyped option for the command (``--jobb 3`` says
    ``invalid choice: '3'``) and never names the option.
    """
    values: dict[str, bool] = {}  # option -> takes a value
    commands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        for option in action.option_strings:
            values[option] = action.nargs != 0
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            return None
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            if name not in values:  # argparse takes an unambiguous prefix
                prefixed = [option for option in values if option.startswith(name)]
                if len(prefixed) != 1:
                    return name
                name = prefixed[0]
            if values[name] and "=" not in token:
                next(tokens, None)
        elif token in commands:
            return unknown_option(commands[token], list(tokens))
    return None


def main(
    argv: Sequence[str] | None = None,
    *,
    settings_factory: Callable[[], Settings] = Settings.from_env,
) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:
        return _simulate(argv[1:])
    parser = build_parser()
    if option := unknown_option(parser, argv):
        parser.error(f"unrecognized option {option} (see --help)")
    args = parser.parse_args(argv)
    if args.command is None and args.with_upstream and not args.job:
        parser.error("--with-upstream goes with --job (--all runs every active job already)")
    if args.command is None and not (args.job or args.all):
        parser.print_help()
        return EXIT_USAGE
    if args.command is None and args.job and args.all:
        parser.error("give --job or --all, not both")
    if problem := cli_jobs.usage_problem(args):
        parser.error(problem)
    try:
        settings = settings_factory()
        if args.command == "serve":
            settings = settings.with_overrides(listen=args.listen)
        if args.command in (None, "demo"):
            settings = settings.with_overrides(
                concurrency=args.concurrency,
                page_size=args.page_size,
                parallel_jobs=args.parallel_jobs,
            )
    except ConfigError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        configure_logging(settings.log_level, settings.log_format)
        _STOP.grace = settings.stop_grace_seconds
        return _run(_dispatch(args, settings), _STOP)
    except InvalidSettingError as exc:  # a refused option value: nothing was changed
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TrialSyncError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except asyncpg.UndefinedTableError:  # a table dropped after the opening check
        print(f"error: {NotMigratedError(pending='')}", file=sys.stderr)
        return EXIT_FAILED
    except asyncpg.PostgresError as exc:  # one line, never a traceback (SQLSTATE for the search)
        print(f"error: the database refused a statement: {exc} (SQLSTATE {exc.sqlstate})",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
