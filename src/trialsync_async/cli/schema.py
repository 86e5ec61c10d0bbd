"""``schema``: each job's schema drift over its recent runs (the records against the swagger's
record model: schema_drift.py), and the ``schema drift`` section of ``runs show``. A table per
job (per job and API instance, once runs of several instances are shown) for people; with
``--json`` one document."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from trialsync_async.app import TrialSync
from trialsync_async.cli.common import EXIT_OK, SubParsers, add_json, handles, int_at_least
from trialsync_async.cli.tables import cell_text, print_json, print_table
from trialsync_async.inventory import JobSpec
from trialsync_async.schema_drift import (
    FieldDrift,
    JobDrift,
    history,
    packaged_swagger,
    unchecked_reason,
)
from trialsync_async.settings import Settings
from trialsync_async.text import plural

DEFAULT_RUNS = 20
DRIFT_HEADERS = ["kind", "field", "declared", "seen", "records", "example id"]
FIELD_HEADERS = ["kind", "field", "type", "first seen", "last seen", "runs", "now",
                 "records", "example id"]  # fmt: skip


def add_commands(sub: SubParsers) -> None:
    schema = sub.add_parser(
        "schema",
        help="schema drift per job over recent runs (records against the swagger)",
        description="Per job and field: the drift its recent runs met against the swagger's "
        "record model (undeclared fields, declared fields missing, type mismatches), when it "
        "was first and last seen, an example record id. Jobs whose record model the swagger "
        "does not declare have no drift check: listed as such.",
    )
    schema.add_argument("--job", type=int, metavar="ID", help="only this job")
    schema.add_argument("--instance", type=int, metavar="N", help="only runs for this API instance")
    schema.add_argument(
        "--runs", type=int_at_least(1), default=DEFAULT_RUNS, metavar="N",
        help=f"the newest N checked runs of each job and instance (default {DEFAULT_RUNS})",
    )  # fmt: skip
    add_json(schema)
    handles(schema, show_schema)


async def show_schema(settings: Settings, args: argparse.Namespace) -> int:
    async with TrialSync(settings) as ts:
        jobs = [j for j in ts.inventory() if args.job is None or j.id == args.job]
        runs = await ts.schema_drift_runs(
            job_id=args.job, per_job=args.runs, instance_id=args.instance
        )
    print_schema(history(runs), unchecked(jobs), as_json=args.json, per_job=args.runs)
    return EXIT_OK


def unchecked(jobs: Sequence[JobSpec]) -> list[dict[str, Any]]:
    """The active jobs without a drift check, and why."""
    swagger = packaged_swagger()
    found = []
    for job in sorted(jobs, key=lambda j: j.id):
        if job.is_active and (reason := unchecked_reason(job, swagger)) is not None:
            found.append({"job_id": job.id, "job_name": job.name, "reason": reason})
    return found


def _id(value: Any) -> str | None:
    """A record id as the record wrote it (not a number with thousands separators)."""
    return None if value is None else str(value)


def _seen(run: int, at: Any) -> str:
    return f"run {run}, {cell_text(at)}" if at is not None else f"run {run}"


def _field_cells(f: FieldDrift) -> list[Any]:
    return [f.kind.replace("_", " "), f.field, f.detail, _seen(f.first_run, f.first_at),
            _seen(f.last_run, f.last_at), f.runs, "yes" if f.current else "no", f.count,
            _id(f.example_id)]  # fmt: skip


def print_schema(
    jobs: Sequence[JobDrift],
    not_checked: Sequence[Mapping[str, Any]],
    *,
    as_json: bool,
    per_job: int = DEFAULT_RUNS,
) -> None:
    if as_json:
        print_json({"runs_per_job": per_job, "jobs": [asdict(j) for j in jobs],
                    "unchecked": list(not_checked)})  # fmt: skip
        return
    if not jobs:
        print("no run checked for schema drift yet")
    several = len({job.instance_id for job in jobs}) > 1  # several API instances: say which
    for job in jobs:
        name = f"job {job.job_id} {job.job_name or ''}".rstrip()
        where = f", instance {job.instance_id}" if several else ""
        title = (
            f"{name}{where}: {job.model or '?'}, "
            f"{plural(job.checked_runs, 'checked run')} (latest: run {job.latest_run})"
        )
        if not job.fields:
            print(f"{title}: no drift")
            continue
        print_table(FIELD_HEADERS, [_field_cells(f) for f in job.fields], title=title)
    if not_checked:
        print_table(
            ["job", "name", "reason"],
            [[u["job_id"], u["job_name"], u["reason"]] for u in not_checked],
            title=f"no drift check ({plural(len(not_checked), 'job')}: "
            "the swagger declares no record model)",
        )


def drift_rows(drift: Mapping[str, Any] | None) -> list[list[Any]]:
    """One run's ``notes["schema_drift"]`` as rows of ``DRIFT_HEADERS``."""
    drift = drift or {}
    rows: list[list[Any]] = []
    for name, u in sorted((drift.get("undeclared") or {}).items()):
        rows.append(["undeclared", name, None, None, u.get("count"), _id(u.get("example_id"))])
    for name in sorted(drift.get("missing") or []):
        rows.append(["missing", name, None, None, None, None])
    for name, m in sorted((drift.get("type_mismatch") or {}).items()):
        rows.append(["type mismatch", name, m.get("declared"), m.get("seen"), m.get("count"),
                     _id(m.get("example_id"))])  # fmt: skip
    return rows


def print_run_drift(drift: Mapping[str, Any] | None, checked: Mapping[str, Any]) -> None:
    """``runs show``'s ``schema drift`` section: a table, or a line saying there was none."""
    against = (
        f"against {checked.get('model')} ({plural(int(checked.get('records') or 0), 'record')}, "
        f"{checked.get('type_checked')} type-checked)"
    )
    if not drift:
        print(f"schema drift: none {against}")
        return
    print(f"schema drift {against}:")
    print_table(DRIFT_HEADERS, drift_rows(drift))
