"""The run history behind ``runs``, ``runs show``, ``failures`` and ``stats``: the run log read
back with the words of the run summary (fetched, inserted, updated, unchanged, deleted,
requests). Read-only; the run rows and their failed units come from db/status.py's queries.

The dataclasses' field names are the keys of the commands' ``--json`` documents: keep them
stable. Times are timezone-aware; durations are the database's own arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from trialsync_async.db import status
from trialsync_async.db.queries import query
from trialsync_async.db.status import RunStatus, UnitFailure
from trialsync_async.db.types import Connection
from trialsync_async.errors import UnknownRunError

RUN_STATUSES = ("running", "success", "failed", "interrupted", "skipped")
UNITS_SHOWN = 5  # failed units listed per run


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run as ``runs`` lists it. ``requests`` counts HTTP attempts; ``planned_requests``
    is what the plan said before the run (None: no estimate, or a run older than plans)."""

    run_id: int
    job_id: int | None
    job_name: str | None
    status: str | None
    started_at: datetime | None
    completed_at: datetime | None
    seconds: float | None  # so far, for a running run
    fetched: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    requests: int
    planned_requests: int | None
    error: str | None
    continues_run_id: int | None
    pass_id: int | None
    heartbeat_age_seconds: float | None  # running runs: seconds since their last heartbeat
    dead: bool  # running, but the heartbeat is older than the lease (status.is_dead)
    instance_id: int | None  # the API instance it ran for (dw_etl_runs.credential_id)


@dataclass(frozen=True, slots=True)
class ChainRun:
    """A run of the same resume chain (linked by ``continues_run_id``)."""

    run_id: int
    status: str | None
    started_at: datetime | None
    completed_at: datetime | None
    seconds: float | None
    fetched: int
    requests: int
    error: str | None


@dataclass(frozen=True, slots=True)
class RunDetail(RunRow):
    """One run in full (``runs show``)."""

    worker: str | None
    written: int  # inserted + updated (records_loaded)
    retries: int
    sanitized: int
    duplicates: int  # records that repeated an id inside one answer (the last kept)
    units_total: int | None
    units_done: int
    units_failed: int
    units_missing: int
    planned_parents: int | None
    fanout: dict[str, Any] | None  # notes["fanout"]: mode, parents and parents by reason
    paging: str | None
    warnings: list[str]
    cancel_requested: bool
    unit_failures: list[UnitFailure]  # the first few rows of dw_etl_run_failures
    unit_failures_total: int
    continues: list[ChainRun]  # the runs this one continues, oldest first
    continued_by: list[ChainRun]  # the runs that continue it, in order
    retry_of: int | None = None  # retry-failed: the run whose failed units this one re-fetched
    # notes["pressure"]: rate, ceiling, decreases, throttled, in_flight_limit (engine/job_run.py)
    pressure: dict[str, Any] | None = None
    # notes["schema_drift"] (None: nothing drifted) and notes["schema_checked"] (None: the
    # records were not checked): schema_drift.py
    schema_drift: dict[str, Any] | None = None
    schema_checked: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FailedRunRow(RunRow):
    """A failed run with its first failed units (``dw_etl_run_failures``)."""

    units_failed: int
    units_missing: int
    unit_failures: list[UnitFailure]
    unit_failures_total: int


@dataclass(frozen=True, slots=True)
class FailedUnit:
    """A unit whose last attempt failed (``dw_etl_unit_state``): the job's next run retries it."""

    job_id: int
    job_name: str | None
    run_id: int
    pass_id: int
    unit_key: str
    parameters: dict[str, Any]
    error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class FailureReport:
    failures: list[FailedRunRow]
    failed_units: list[FailedUnit]  # the first ``limit``
    failed_units_total: int


@dataclass(frozen=True, slots=True)
class RunTotals:
    runs: int
    successes: int
    failures: int
    success_rate: float | None  # percent of runs that succeeded
    fetched: int
    written: int  # inserted + updated
    requests: int
    mean_seconds: float | None  # finished runs, skipped ones left out


@dataclass(frozen=True, slots=True)
class JobRunStats(RunTotals):
    job_id: int | None
    job_name: str | None


@dataclass(frozen=True, slots=True)
class RunStats:
    days: int
    jobs: list[JobRunStats]
    total: RunTotals


def _json(value: Any) -> Any:
    # A connection without the pool's jsonb codec returns text.
    return orjson.loads(value) if isinstance(value, str) else value


async def _notes(conn: Connection, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = await conn.fetch(query("history_run_notes"), run_ids)
    return {r["run_id"]: dict(_json(r["notes"]) or {}) for r in rows}


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def _planned(notes: dict[str, Any], key: str) -> int | None:
    value = (notes.get("planned") or {}).get(key)
    return int(value) if value is not None else None


def _row(s: RunStatus, notes: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``RunRow`` from a status row and its notes."""
    return {
        "run_id": s.run_id,
        "job_id": s.job_id,
        "job_name": s.job_name,
        "status": s.status,
        "started_at": s.started_at,
        "completed_at": s.completed_at,
        "seconds": s.seconds,
        "fetched": s.records_fetched,
        "inserted": s.records_inserted,
        "updated": s.records_updated,
        "unchanged": s.records_unchanged,
        "deleted": s.records_deleted,
        "requests": s.requests_made,
        "planned_requests": _planned(notes, "requests"),
        "error": s.error,
        "continues_run_id": s.continues_run_id,
        "pass_id": s.pass_id,
        "heartbeat_age_seconds": s.heartbeat_age_seconds if s.status == "running" else None,
        "dead": s.dead,
        "instance_id": s.instance_id,
    }


async def planned_requests(conn: Connection, run_ids: list[int]) -> dict[int, int]:
    """The requests each run's plan expected (``notes["planned"]``); runs without an
    estimate are left out."""
    found: dict[int, int] = {}
    for run_id, notes in (await _notes(conn, run_ids)).items():
        planned = _planned(notes, "requests")
        if planned is not None:
            found[run_id] = planned
    return found


async def list_runs(
    conn: Connection,
    *,
    job_id: int | None = None,
    status_is: str | None = None,
    since: timedelta | None = None,
    limit: int = 20,
    lease_seconds: float | None = None,
    instance_id: int | None = None,
) -> list[RunRow]:
    """Runs, newest first, filtered by job, status, start time and API instance when given;
    with ``lease_seconds``, running runs whose heartbeat is older are marked ``dead``."""
    found = await status.runs(
        conn, job_id=job_id, status=status_is, since=since, limit=limit,
        lease_seconds=lease_seconds, instance_id=instance_id,
    )  # fmt: skip
    notes = await _notes(conn, [s.run_id for s in found])
    return [RunRow(**_row(s, notes.get(s.run_id, {}))) for s in found]


async def _chain(conn: Connection, run_id: int) -> tuple[list[ChainRun], list[ChainRun]]:
    before: list[ChainRun] = []
    after: list[ChainRun] = []
    for r in await conn.fetch(query("history_resume_chain"), run_id):
        fields = dict(r)
        depth = fields.pop("depth")
        (before if depth < 0 else after).append(ChainRun(**fields))
    return before, after


async def run_detail(
    conn: Connection, run_id: int, *, lease_seconds: float | None = None
) -> RunDetail:
    """One run in full; ``UnknownRunError`` when there is no such run."""
    s = await status.run(conn, run_id, lease_seconds)
    if s is None:
        raise UnknownRunError(run_id=run_id)
    notes = (await _notes(conn, [run_id])).get(run_id, {})
    failures, failures_total = (await status.unit_failures(conn, [run_id], units=UNITS_SHOWN)).get(
        run_id, ([], 0)
    )
    continues, continued_by = await _chain(conn, run_id)
    fanout, pressure = notes.get("fanout"), notes.get("pressure")
    return RunDetail(
        **_row(s, notes),
        worker=s.worker,
        written=s.records_loaded or 0,
        retries=s.requests_retried,
        sanitized=s.records_sanitized,
        duplicates=s.duplicates_in_source,
        units_total=s.units_total,
        units_done=s.units_done,
        units_failed=s.units_failed,
        units_missing=s.units_missing,
        planned_parents=_planned(notes, "parents"),
        fanout=dict(fanout) if isinstance(fanout, dict) else None,
        paging=notes.get("paging"),
        pressure=dict(pressure) if isinstance(pressure, dict) else None,
        schema_drift=_dict_or_none(notes.get("schema_drift")),
        schema_checked=_dict_or_none(notes.get("schema_checked")),
        retry_of=notes["retry_of"] if isinstance(notes.get("retry_of"), int) else None,
        warnings=[str(w) for w in notes.get("warnings") or []],
        cancel_requested=s.cancel_requested,
        unit_failures=failures,
        unit_failures_total=failures_total,
        continues=continues,
        continued_by=continued_by,
    )


async def failures(
    conn: Connection,
    *,
    run_id: int | None = None,
    job_id: int | None = None,
    limit: int = 50,
) -> FailureReport:
    """Failed runs (newest first, at most ``limit``) with their first failed units, and the
    units still failed. ``run_id``: that run only (listed when it failed or has failed units;
    ``UnknownRunError`` when there is no such run); ``job_id``: that job's."""
    if run_id is not None:
        one = await status.run(conn, run_id)
        if one is None:
            raise UnknownRunError(run_id=run_id)
        found = [one]
    else:
        found = await status.runs(conn, job_id=job_id, status="failed", limit=limit)
    ids = [s.run_id for s in found]
    units = await status.unit_failures(conn, ids, units=UNITS_SHOWN)
    notes = await _notes(conn, ids)
    rows = [
        FailedRunRow(
            **_row(s, notes.get(s.run_id, {})),
            units_failed=s.units_failed,
            units_missing=s.units_missing,
            unit_failures=units.get(s.run_id, ([], 0))[0],
            unit_failures_total=units.get(s.run_id, ([], 0))[1],
        )
        for s in found
        if s.status == "failed" or s.run_id in units
    ]
    open_units = await conn.fetch(query("history_failed_units"), run_id, job_id, limit)
    total = int(open_units[0]["total"]) if open_units else 0
    listed = [_failed_unit(dict(r)) for r in open_units]
    return FailureReport(rows, listed, total)


def _failed_unit(fields: dict[str, Any]) -> FailedUnit:
    del fields["total"]
    fields["parameters"] = dict(_json(fields["parameters"]))
    return FailedUnit(**fields)


async def stats(conn: Connection, *, days: int = 7, instance_id: int | None = None) -> RunStats:
    """Per job over the runs started in the last ``days`` days (of one API instance, when
    given), and the total."""
    jobs: list[JobRunStats] = []
    total: RunTotals | None = None
    for r in await conn.fetch(query("history_stats"), days, instance_id):
        fields = dict(r)
        is_total = fields.pop("is_total")
        if is_total:
            del fields["job_id"], fields["job_name"]
            total = RunTotals(**fields)
        else:
            jobs.append(JobRunStats(**fields))
    assert total is not None  # ROLLUP's grand total is there even without runs
    return RunStats(days, jobs, total)
