"""What the status page, the JSON API and ``/readyz`` read: jobs, runs, failures, queued
ticks, pending migrations. Read-only; every value typed, no ``asyncpg.Record`` leaves here.

Times are timezone-aware (the queries cast the run log's TIMESTAMP columns); ages and
durations are computed by the database, so a replica's clock does not skew them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from trialsync_async.db.migrator import migration_files
from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One job, its latest finished run (``last_*``) and its running run, if any."""

    id: int
    name: str
    active: bool
    schedule_cron: str | None
    disabled_reason: str | None
    source_endpoint: str
    target_table: str
    parent_job_id: int | None
    running_run_id: int | None
    last_run_id: int | None
    last_status: str | None
    last_records: int | None
    last_started_at: datetime | None
    last_completed_at: datetime | None
    last_seconds: float | None
    last_fetched: int | None  # records the latest finished run fetched (last_records: written)
    instance_id: int | None = None  # per_instance rows: the API instance (else None: any)


@dataclass(frozen=True, slots=True)
class RunStatus:
    """One run row. Its field names are the keys of ``GET /api/runs``: keep them stable."""

    run_id: int
    job_id: int | None
    job_name: str | None
    status: str | None
    started_at: datetime | None
    completed_at: datetime | None
    seconds: float | None  # so far, for a running run
    heartbeat_age_seconds: float | None
    worker: str | None
    records_loaded: int | None
    records_inserted: int
    records_updated: int
    records_unchanged: int
    records_deleted: int
    records_fetched: int
    records_sanitized: int
    duplicates_in_source: int
    requests_made: int
    requests_retried: int
    units_total: int | None
    units_done: int
    units_failed: int
    units_missing: int
    error: str | None
    cancel_requested: bool
    continues_run_id: int | None
    pass_id: int | None
    dead: bool = False  # running, but its heartbeat is older than the lease: see is_dead
    instance_id: int | None = None  # the API instance it ran for (credential_id)


def is_dead(status: str | None, heartbeat_age_seconds: float | None, lease_seconds: float) -> bool:
    """A run marked running whose heartbeat is older than the lease (``TRIALSYNC_LEASE_SECONDS``):
    its process is gone or stuck. A live run beats every ``progress_seconds`` (2 s); the service
    closes a dead one whose job lock nobody holds as abandoned at its next heartbeat."""
    return (
        status == "running"
        and heartbeat_age_seconds is not None
        and heartbeat_age_seconds > lease_seconds
    )


@dataclass(frozen=True, slots=True)
class UnitFailure:
    run_id: int
    parameters: dict[str, Any]
    error: str
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class FailedRun:
    run: RunStatus
    failures: list[UnitFailure]  # the first few
    failures_total: int
    resolved_by: int | None = None  # the job's first later run that succeeded


@dataclass(frozen=True, slots=True)
class QueuedTick:
    tick_id: int
    job_id: int
    instance_id: int
    job_name: str
    due_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class JobState:
    id: int
    name: str
    active: bool
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class LastSuccess:
    job_id: int
    job_name: str
    instance_id: int  # the API instance the run was for
    at: float  # seconds since the epoch


async def ping(conn: Connection) -> None:
    """Raises unless the database answers a trivial query (bound it with asyncio.timeout)."""
    await conn.fetchval(query("status_ping"))


async def pending_migrations(
    conn: Connection, directory: Path | Traversable | None = None
) -> list[str]:
    """Migration files (``None``: the packaged ones) not recorded as applied, in order; all of
    them when the database was never migrated."""
    wanted = [f.name for f in migration_files(directory)]
    try:
        applied = {r["version"] for r in await conn.fetch(query("schema_versions"))}
    except asyncpg.UndefinedTableError:
        return wanted
    return [name for name in wanted if name not in applied]


async def jobs(conn: Connection, *, per_instance: bool = False) -> list[JobStatus]:
    """Every job with its latest finished run and its running run; ``per_instance``: one row
    per (job, instance) the job runs for, each with that instance's runs."""
    name = "status_job_instances" if per_instance else "status_jobs"
    return [JobStatus(**dict(r)) for r in await conn.fetch(query(name))]


async def job_state(conn: Connection, job_id: int) -> JobState | None:
    row = await conn.fetchrow(query("status_job_state"), job_id)
    return JobState(**dict(row)) if row is not None else None


async def run_state(conn: Connection, run_id: int) -> str | None:
    """The run's status; None when there is no such run."""
    row = await conn.fetchrow(query("status_run_state"), run_id)
    return None if row is None else str(row["run_status"])


async def runs(
    conn: Connection,
    *,
    job_id: int | None = None,
    status: str | None = None,
    since: timedelta | None = None,
    limit: int = 50,
    lease_seconds: float | None = None,
    instance_id: int | None = None,
) -> list[RunStatus]:
    """Runs, newest first, of one job and/or in one status and/or started within ``since``
    and/or for one API instance when given. ``lease_seconds``: mark running runs whose
    heartbeat is older ``dead``."""
    rows = await conn.fetch(query("status_runs"), job_id, status, limit, since, None, instance_id)
    return [_run_status(r, lease_seconds) for r in rows]


async def run(
    conn: Connection, run_id: int, lease_seconds: float | None = None
) -> RunStatus | None:
    """One run row; None when there is no such run."""
    rows = await conn.fetch(query("status_runs"), None, None, 1, None, run_id, None)
    return _run_status(rows[0], lease_seconds) if rows else None


def _run_status(row: Any, lease_seconds: float | None) -> RunStatus:
    fields = dict(row)
    dead = lease_seconds is not None and is_dead(
        fields["status"], fields["heartbeat_age_seconds"], lease_seconds
    )
    return RunStatus(**fields, dead=dead)


async def unit_failures(
    conn: Connection, run_ids: list[int], *, units: int = 5
) -> dict[int, tuple[list[UnitFailure], int]]:
    """Each run's first ``units`` failed units (``dw_etl_run_failures``) and how many it has;
    runs without any are left out."""
    found: dict[int, tuple[list[UnitFailure], int]] = {}
    for r in await conn.fetch(query("status_run_failures"), run_ids, units):
        parameters = r["parameters"]
        if isinstance(parameters, str):  # a connection without the pool's jsonb codec
            parameters = orjson.loads(parameters)
        listed, _ = found.get(r["run_id"], ([], 0))
        listed.append(UnitFailure(r["run_id"], dict(parameters), r["error"], r["failed_at"]))
        found[r["run_id"]] = (listed, int(r["total"]))
    return found


async def recent_failures(conn: Connection, *, limit: int = 20, units: int = 5) -> list[FailedRun]:
    """The latest ``limit`` failed runs, each with its first ``units`` failed units."""
    failed = await runs(conn, status="failed", limit=limit)
    found = await unit_failures(conn, [r.run_id for r in failed], units=units)
    resolved = await resolved_by(conn, [r.run_id for r in failed])
    return [
        FailedRun(r, *found.get(r.run_id, ([], 0)), resolved_by=resolved.get(r.run_id))
        for r in failed
    ]


async def resolved_by(conn: Connection, run_ids: list[int]) -> dict[int, int]:
    """Of the failed runs ``run_ids``: failed run → the job's first later successful run;
    those not resolved yet are left out."""
    rows = await conn.fetch(query("status_resolved_by"), run_ids)
    return {int(r["run_id"]): int(r["resolved_by"]) for r in rows}


async def queued_ticks(conn: Connection, *, limit: int = 100) -> list[QueuedTick]:
    """Pending ticks (scheduled, manual or resumed), the next due first."""
    return [QueuedTick(**dict(r)) for r in await conn.fetch(query("status_ticks_pending"), limit)]


async def last_successes(conn: Connection) -> list[LastSuccess]:
    """When each job last succeeded for each API instance it runs for (pairs that never did
    are left out)."""
    return [LastSuccess(**dict(r)) for r in await conn.fetch(query("status_last_success"))]
