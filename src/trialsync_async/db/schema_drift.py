"""Schema drift as the run log keeps it (``notes["schema_drift"]`` and ``notes["schema_checked"]``
of ``dw_etl_runs``; schema_drift.py says what they hold). Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection


@dataclass(frozen=True, slots=True)
class CheckedRun:
    """A run whose records were checked against the job's record model."""

    run_id: int
    job_id: int
    job_name: str | None
    status: str | None
    started_at: datetime | None
    drift: dict[str, Any] | None  # None: nothing drifted
    checked: dict[str, Any]  # model, records, type_checked
    instance_id: int = 1  # the API instance the run was for


def _json(value: Any) -> Any:
    # A connection without the pool's jsonb codec returns text.
    return orjson.loads(value) if isinstance(value, str) else value


async def previous_drift(
    conn: Connection, job_id: int, instance_id: int, run_id: int
) -> tuple[int, dict[str, Any] | None] | None:
    """The latest checked run of the job for the API instance before ``run_id`` and its drift
    (None: nothing drifted); None when no earlier run of that pair was checked."""
    row = await conn.fetchrow(query("schema_drift_previous"), job_id, run_id, instance_id)
    if row is None:
        return None
    drift = _json(row["drift"])
    return int(row["run_id"]), dict(drift) if isinstance(drift, dict) else None


async def checked_runs(
    conn: Connection,
    *,
    job_id: int | None = None,
    per_job: int = 20,
    instance_id: int | None = None,
) -> list[CheckedRun]:
    """The newest ``per_job`` checked runs of each (job, API instance) (or of ``job_id``, of
    ``instance_id``), by job and instance, newest first."""
    found = []
    for r in await conn.fetch(query("schema_drift_runs"), job_id, per_job, instance_id):
        drift, checked = _json(r["drift"]), _json(r["checked"])
        found.append(
            CheckedRun(
                run_id=r["run_id"],
                job_id=r["job_id"],
                job_name=r["job_name"],
                status=r["status"],
                started_at=r["started_at"],
                drift=dict(drift) if isinstance(drift, dict) else None,
                checked=dict(checked) if isinstance(checked, dict) else {},
                instance_id=r["instance_id"],
            )
        )
    return found
