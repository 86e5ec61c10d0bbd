"""Timestamp incrementals: a plain job with ``incremental_field`` asks only for records whose
field is at least the staged watermark minus an overlap (``$filter=<field> ge <since>``).

The watermark comes from the staged data, never from the wall clock, so a loader whose clock
is off, or whose last run committed only part of a pass, still asks for everything it lacks.
A full pass runs on the first run, with ``--full``, and once ``max_refresh`` has passed since
the last full pass: only a full pass can tell which records were deleted upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from trialsync_async.db import deletions
from trialsync_async.db import incremental as db
from trialsync_async.db.types import Connection
from trialsync_async.inventory import JobSpec


@dataclass(frozen=True, slots=True)
class IncrementalPass:
    mode: Literal["full", "incremental"]
    reason: str  # first run | --full | lost | max_refresh | watermark
    since: str | None = None  # the filter's lower bound (incremental mode)
    watermark: str | None = None

    def note(self, field: str, at: datetime) -> dict[str, Any]:
        """What the run row keeps (``notes["incremental"]``); ``at`` dates full passes."""
        return {
            "mode": self.mode, "reason": self.reason, "field": field, "since": self.since,
            "watermark": self.watermark, "at": at.isoformat(),
        }  # fmt: skip


def odata_field(job: JobSpec) -> str:
    """The inventory's JSON path as an OData property path (``a.b`` → ``a/b``)."""
    assert job.incremental_field is not None
    return job.incremental_field.replace(".", "/")


def where(job: JobSpec, since: str) -> str:
    return f"{odata_field(job)} ge {since}"


def since_from(watermark: str, overlap_seconds: float) -> str:
    """``watermark`` minus the overlap, as an OData datetime literal (UTC when unzoned)."""
    try:
        moment = datetime.fromisoformat(watermark.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"staged value {watermark!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = (moment - timedelta(seconds=overlap_seconds)).astimezone(UTC)
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


async def decide(
    conn: Connection,
    job: JobSpec,
    instance_id: int,
    *,
    full: bool,
    now: datetime,
    overlap_seconds: float,
) -> IncrementalPass:
    """Full or incremental, and from when. A staging table that lost most of its rows (a
    TRUNCATE, a restore) gets a full pass: a watermark over what is left would ask too little."""
    assert job.incremental_field is not None
    if full:
        return IncrementalPass("full", "--full")
    mark = await db.watermark(conn, job.target_table, instance_id, job.incremental_field)
    if mark is None:
        return IncrementalPass("full", "first run")
    if await deletions.rows_lost(conn, job.target_table, instance_id, job.id) is not None:
        return IncrementalPass("full", "lost", watermark=mark)
    last_full = await db.last_full_pass(conn, job.id, instance_id)
    if last_full is None or now - last_full >= timedelta(seconds=job.max_refresh):
        return IncrementalPass("full", "max_refresh", watermark=mark)
    return IncrementalPass("incremental", "watermark", since_from(mark, overlap_seconds), mark)
