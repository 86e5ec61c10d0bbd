"""The ``jobs`` commands: ``list``, ``show``, ``sync``, ``enable``, ``disable``, ``set``,
``probe``.

Argument parsing and printing only; the work is done by ``TrialSync`` (db/overrides.py,
commands/). The ``jobs set`` options come from ``overrides.SETTINGS``, so a new settable
setting is one row there.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from trialsync_async.app import TrialSync
from trialsync_async.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    SubParsers,
    UsageError,
    add_json,
    handles,
)
from trialsync_async.cli.tables import cell_text, print_json, print_table
from trialsync_async.commands.job_views import JobDetail, list_document
from trialsync_async.commands.probe import ProbeReport
from trialsync_async.db.overrides import SETTINGS, SettingState
from trialsync_async.errors import ConfigError
from trialsync_async.freshness import STATES, Freshness, several, worst
from trialsync_async.inventory import JobSpec
from trialsync_async.settings import Settings
from trialsync_async.text import duration, shorten, span

ERROR_WIDTH = 60


def _parsed(parse: Callable[[object], Any]) -> Callable[[str], Any]:
    """A setting's parser as an argparse type: a refused value is a usage error (exit 2)."""

    def check(text: str) -> Any:
        try:
            return parse(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc.context.get("detail", exc))) from None

    return check


def add_commands(sub: SubParsers) -> None:
    jobs = sub.add_parser("jobs", help="the jobs (dw_etl_jobs) and operator overrides")
    actions = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list jobs")
    listing.add_argument("--active", action="store_true", help="only active jobs")
    listing.add_argument(
        "--state", choices=STATES, action="append", metavar="S",
        help=f"only jobs in this freshness state (repeatable): {', '.join(STATES)}",
    )  # fmt: skip
    listing.add_argument(
        "--stale", action="store_true",
        help="only jobs whose last success is past its bound (whatever they do now)",
    )  # fmt: skip
    listing.add_argument(
        "--instance", type=int, metavar="N",
        help="only jobs that run for this API instance, with its freshness only",
    )  # fmt: skip
    add_json(listing)
    handles(listing, list_jobs)
    sync = actions.add_parser(
        "sync",
        help="load the job inventory (TRIALSYNC_JOBS_FILE, else the packaged one); "
        "operator overrides stay on top",
    )
    handles(sync, sync_jobs)
    show = actions.add_parser("show", help="one job: settings and their source, schedule, runs")
    show.add_argument("job_id", type=int, metavar="ID")
    add_json(show)
    handles(show, show_job)
    enable = actions.add_parser("enable", help="enable a job (an override of the inventory)")
    enable.add_argument("job_id", type=int, metavar="ID")
    handles(enable, enable_job)
    disable = actions.add_parser("disable", help="disable a job: its runs are refused")
    disable.add_argument("job_id", type=int, metavar="ID")
    disable.add_argument("--reason", required=True, help="why (shown when a run is refused)")
    handles(disable, disable_job)
    change = actions.add_parser(
        "set", help="override settings of a job (kept across `jobs sync`), or --reset them"
    )
    change.add_argument("job_id", type=int, metavar="ID")
    for setting in SETTINGS.values():
        if setting.flag is not None:
            change.add_argument(
                setting.flag, dest=f"set_{setting.name}", type=_parsed(setting.parse),
                metavar=setting.metavar, help=setting.help,
            )  # fmt: skip
    change.add_argument(
        "--reset", action="append", default=[], choices=sorted(SETTINGS), metavar="SETTING",
        help=f"back to the inventory's value (repeatable): {', '.join(SETTINGS)}",
    )  # fmt: skip
    change.add_argument("--reason", help="a note kept with the override")
    handles(change, set_job)
    probe = actions.add_parser(
        "probe",
        help="compare a fan-out's global list with its per-parent calls for a sample, on each "
        "API instance the job runs for",
    )
    probe.add_argument("job_id", type=int, metavar="ID")
    probe.add_argument("--sample", type=int, default=20, metavar="N", help="parents (default 20)")
    probe.add_argument(
        "--instance", type=int, action="append", metavar="N",
        help="probe this API instance (repeatable; default: every instance the job runs for)",
    )  # fmt: skip
    add_json(probe)
    handles(probe, probe_job)


def _values(args: argparse.Namespace) -> dict[str, Any]:
    return {
        name: getattr(args, f"set_{name}")
        for name in SETTINGS
        if getattr(args, f"set_{name}", None) is not None
    }


async def list_jobs(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        rows = [r for r in await ts.list_jobs() if r.spec.is_active or not args.active]
        overrides = await ts.job_overrides()
        freshness = await ts.job_freshness()
        runs_for = await ts.job_instances()  # the API instances each job runs for
    many = several(freshness)  # the output's shape follows the database, not the filter
    if args.instance is not None:
        rows = [r for r in rows if args.instance in runs_for.get(r.spec.id, ())]
        freshness = {
            job_id: [f for f in listed if f.instance_id == args.instance]
            for job_id, listed in freshness.items()
        }  # --state/--stale and the freshness shown: that instance's
    rows = [r for r in rows if _wanted(freshness.get(r.spec.id), args)]
    if args.json:
        doc = list_document(rows, overrides, freshness, several_instances=many)
        for job in doc["jobs"]:
            job["instances"] = runs_for.get(job["id"], [])
        print_json(doc)
    else:
        _print_list(rows, overrides, freshness, runs_for, several_instances=many)
    return EXIT_OK


def _wanted(listed: list[Freshness] | None, args: argparse.Namespace) -> bool:
    """Whether ``--state``/``--stale`` keep a job: when one of its instances matches."""
    candidates: list[Freshness | None] = list(listed) if listed else [None]
    return any(_matches(f, args) for f in candidates)


def _matches(f: Freshness | None, args: argparse.Namespace) -> bool:
    if args.state and (f is None or f.state not in args.state):
        return False
    return not args.stale or (f is not None and f.stale)


def freshness_text(f: Freshness | None) -> str:
    """The ``freshness`` cell: the state, ``, stale`` when a running or failing job's last
    success is past its bound too, ``, dead run`` when its running run has no heartbeat."""
    if f is None:
        return ""
    text = f.state
    if f.stale and f.state != "stale":
        text += ", stale"
    if f.dead:
        text += ", dead run"
    return text


def freshness_cell(listed: list[Freshness] | None, per_instance: bool) -> str:
    """The ``freshness`` cell of ``jobs list``: with several API instances each instance's,
    ``1 fresh; 2 failing, stale``."""
    if not per_instance:
        return freshness_text(worst(listed))
    return "; ".join(f"{f.instance_id} {freshness_text(f)}" for f in listed or [])


async def sync_jobs(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        report = await ts.sync_jobs()
    print(f"jobs synced: {report.jobs_synced}; overrides applied: {report.overrides}")
    for note in report.notes:
        print(note)
    return EXIT_OK


async def show_job(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        detail = await ts.show_job(args.job_id)
    if args.json:
        print_json(detail.to_json())
    else:
        print_detail(detail)
    return EXIT_OK


async def probe_job(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        probes = await ts.probe_global_list(
            args.job_id, sample=max(1, args.sample), instance_ids=args.instance
        )
    passed = bool(probes) and all(p.passed for p in probes)
    if args.json:
        name = probes[0].name if probes else None
        print_json({"job_id": args.job_id, "name": name, "passed": passed,
                    "probes": [p.to_json() for p in probes]})  # fmt: skip
    else:
        which = len(probes) > 1 or bool(args.instance)  # say which instance
        for probe in probes:
            _print_probe(probe, which)
        if passed:
            print(f"switch with: trialsync-async jobs set {args.job_id} --fanout global")
    return EXIT_OK if passed else EXIT_FAILED


async def enable_job(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        _print_changed(*await ts.enable_job(args.job_id), ["is_active"])
    return EXIT_OK


async def disable_job(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        _print_changed(*await ts.disable_job(args.job_id, args.reason), ["is_active"])
    return EXIT_OK


async def set_job(settings: Settings, args: argparse.Namespace) -> int:
    values = _values(args)
    if not (values or args.reset):
        flags = [s.flag for s in SETTINGS.values() if s.flag]
        raise UsageError(f"jobs set: give at least one of {', '.join(flags)} or --reset SETTING")
    async with TrialSync(settings) as ts:
        job, states = await ts.set_job(
            args.job_id, values=values, resets=args.reset, reason=args.reason
        )
    _print_changed(job, states, [*values, *args.reset])
    return EXIT_OK


def _print_list(
    rows: Sequence[Any],
    overrides: dict[int, Any],
    freshness: dict[int, list[Freshness]],
    runs_for: dict[int, list[int]] | None = None,
    *,
    several_instances: bool | None = None,
) -> None:
    headers = ["id", "name", "freshness", "endpoint", "target", "active", "schedule",
               "overrides", "last run"]  # fmt: skip
    per_instance = several(freshness) if several_instances is None else several_instances
    cells = [
        [r.spec.id, r.spec.name, freshness_cell(freshness.get(r.spec.id), per_instance),
         r.spec.source_endpoint, r.spec.target_table, r.spec.is_active, r.spec.schedule,
         ", ".join(sorted(overrides.get(r.spec.id, {}))), r.last_run_status]
        for r in rows
    ]  # fmt: skip
    known = runs_for or {}
    if any(len(known.get(r.spec.id, ())) > 1 for r in rows):  # several API instances
        headers.insert(2, "instances")
        for r, row in zip(rows, cells, strict=True):
            row.insert(2, ", ".join(map(str, known.get(r.spec.id, ()))))
    print_table(headers, cells, keep=("id", "freshness"))
    active = sum(1 for r in rows if r.spec.is_active)
    print(f"\n{len(rows)} jobs: {active} active, {len(rows) - active} disabled")


def _when(at: datetime | None) -> str:
    return "" if at is None else cell_text(at)


def _source(state: SettingState) -> str:
    o = state.override
    return "inventory" if o is None else f"override, set {_when(o.set_at)}"


def _short(text: str | None) -> str:
    return shorten(text, ERROR_WIDTH)


def print_detail(d: JobDetail) -> None:
    j, s = d.job, d.schedule
    if s.cron is None:
        cron = "none (disabled)"
    else:
        cron = s.cron + (" (TRIALSYNC_DEFAULT_SCHEDULE)" if s.is_default else "")
    if s.next_run_at is not None:
        next_run = _when(s.next_run_at)
    else:
        next_run = s.error or "not scheduled: the job is disabled"
    params = ", ".join(p.name for p in j.parameters)
    print_table(
        ["field", "value"],
        [
            ("active", "yes" if j.is_active else f"no: {j.disabled_reason}"),
            ("endpoint", j.source_endpoint),
            ("target", j.target_table),
            ("parameters", f"{params} from {j.parameter_source_table}" if params else "none"),
            ("parent", "none" if d.parent is None else f"{d.parent.id} ({d.parent.name})"),
            ("schedule", cron),
            ("next run", next_run),
            *_freshness_rows(d.freshness, d.by_instance),
        ],
        title=f"job {j.id}: {j.name}",
    )
    print()
    print_table(
        ["setting", "value", "source", "inventory", "reason"],
        [
            (st.name, st.shown(st.value), _source(st), st.shown(st.inventory),
             _short(st.override.reason if st.override else None))
            for st in d.settings
        ],
        title="settings",
    )  # fmt: skip
    print()
    if not d.runs:
        print("no runs yet")
        return
    print_table(
        ["run", "status", "started", "duration", "fetched", "written", "requests", "error"],
        [
            (r.run_id, r.status, _when(r.started_at), duration(r.seconds), r.records_fetched,
             r.records_loaded, r.requests_made, _short(r.error))
            for r in d.runs
        ],
        title="the last run" if len(d.runs) == 1 else f"the last {len(d.runs)} runs",
    )  # fmt: skip


def _freshness_rows(
    f: Freshness | None, by_instance: list[Freshness] | None = None
) -> list[tuple[str, str]]:
    """The freshness rows of ``jobs show``; with several API instances, each instance's, their
    fields named ``… (instance N)``."""
    if by_instance:
        return [
            (f"{field} (instance {g.instance_id})", value)
            for g in by_instance
            for field, value in _freshness_rows(g)
        ]
    if f is None:
        return []
    rows = [("freshness", f"{freshness_text(f)}: {f.summary()}")]
    if f.last_success_at is not None:
        rows.append(("last success", f"run {f.last_success_run_id}, {_when(f.last_success_at)}"))
    if f.stale_at is not None:
        rows.append(("stale " + ("since" if f.stale else "after"), _when(f.stale_at)))
    if f.usual_seconds is not None:
        rows.append(("usual run", duration(f.usual_seconds)))
    if f.dead and f.heartbeat_age_seconds is not None:
        rows.append(("dead run", f"run {f.running_run_id}: no heartbeat for "
                                 f"{span(f.heartbeat_age_seconds)}"))  # fmt: skip
    if f.parents is not None and f.parents_overdue is not None:
        share = f.parents_overdue_ratio or 0.0
        overdue = f"{f.parents_overdue:,} of {f.parents:,} ({share:.1%})"
        rows.append(("parents overdue", f"{overdue} fetched longer than max_refresh ago"))
    return rows


def _print_changed(job: JobSpec, states: list[SettingState], names: Sequence[str]) -> None:
    by_name = {st.name: st for st in states}
    for name in dict.fromkeys(names):
        st = by_name[name]
        why = f": {job.disabled_reason}" if name == "is_active" and not job.is_active else ""
        print(f"job {job.id} ({job.name}): {name} {st.shown(st.value)} ({st.source}){why}")


def _print_probe(report: ProbeReport, which: bool = False) -> None:
    verdict = "passed" if report.passed else "FAILED"
    where = f", instance {report.instance_id}" if which else ""
    print(
        f"job {report.job_id} ({report.name}){where}: {report.global_endpoint} probe {verdict}: "
        f"{report.parents_matching}/{report.parents_sampled} sampled parents match "
        f"({report.per_parent_records:,} per-parent records, {report.global_records:,} "
        f"from the global list); global total {report.global_total}, last per-parent pass "
        f"{report.last_per_parent_total:,}"
    )
    if report.mismatches:
        print_table(
            ["parent", "per_parent", "global", "missing", "extra", "different"],
            [tuple(m[k] for k in ("parent", "per_parent", "global", "missing", "extra",
                                  "different")) for m in report.mismatches[:20]],
        )  # fmt: skip
