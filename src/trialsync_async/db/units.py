"""Per-unit state (``dw_etl_unit_state``) and the keys a pass has seen (``dw_etl_seen_keys``).

A unit's state is written in the transaction of the batch that committed its rows: after a
crash, ``done`` means its rows are staged and ``partial`` says where to go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection

UnitStatus = Literal["pending", "partial", "done", "failed", "missing"]
"""``missing``: the parent answered 404 (gone upstream); not retried by a resumed run."""


@dataclass(frozen=True, slots=True)
class UnitUpdate:
    """What one committed batch (or a failure) says about one unit."""

    key: str
    status: UnitStatus
    parameters: dict[str, str]
    bounds: dict[str, Any] | None = None
    position: dict[str, Any] | None = None
    records: int = 0
    parent_version: datetime | None = None  # fan-outs: the parent rows' version fetched
    changed: bool = False  # this batch changed the unit's staged rows
    reported: int | None = None  # done units: the records the API claimed for the walk
    shortfall: int = 0  # ... and those it could not prove it received
    staged_rows: int | None = None  # fan-outs, done units: live rows of the scope right after


@dataclass(frozen=True, slots=True)
class Revisit:
    """A fan-out job's refresh bounds (seconds), the clock its revisits are counted on, and
    whether the run is the job's initial load (first intervals then spread: see
    ``unit_state_revisit``)."""

    min_refresh: int
    max_refresh: int
    now: datetime
    initial: bool = False


@dataclass(frozen=True, slots=True)
class PlannedUnit:
    """A plain job's range as the pass planned it, with its state."""

    key: str
    status: UnitStatus
    bounds: dict[str, Any] | None
    position: dict[str, Any] | None


async def upsert(
    conn: Connection,
    *,
    job_id: int,
    instance_id: int,
    pass_id: int,
    run_id: int,
    updates: Sequence[UnitUpdate],
    revisit: Revisit | None = None,
) -> None:
    """Write the units' state; with ``revisit`` (fan-outs), finished units get their next
    revisit (see ``unit_state_revisit``)."""
    if not updates:
        return
    await conn.execute(
        query("unit_state_upsert"),
        job_id,
        instance_id,
        pass_id,
        run_id,
        [u.key for u in updates],
        [u.status for u in updates],
        [u.parameters for u in updates],
        [u.bounds for u in updates],
        [u.position for u in updates],
        [u.records for u in updates],
        [u.parent_version for u in updates],
        [u.changed for u in updates],
        [u.reported for u in updates],
        [u.shortfall for u in updates],
        [u.staged_rows for u in updates],
    )
    finished = [u.key for u in updates if u.status in ("done", "missing")]
    if revisit is not None and finished:
        await conn.execute(
            REVISIT, job_id, instance_id, finished,
            revisit.min_refresh, revisit.max_refresh, revisit.now, revisit.initial,
        )  # fmt: skip


REVISIT = query("unit_state_revisit").format(refresh=query("unit_state_refresh"))


async def planned_units(
    conn: Connection, job_id: int, instance_id: int, pass_id: int
) -> list[PlannedUnit]:
    rows = await conn.fetch(query("units_of_pass"), job_id, instance_id, pass_id)
    return [PlannedUnit(r["unit_key"], r["status"], r["bounds"], r["position"]) for r in rows]


async def save_plan(
    conn: Connection,
    *,
    job_id: int,
    instance_id: int,
    pass_id: int,
    run_id: int,
    units: Sequence[UnitUpdate],
) -> None:
    """A plain job's ranges for a new pass (the previous passes' ranges are dropped)."""
    async with conn.transaction():
        await conn.execute(query("units_forget_other_passes"), job_id, instance_id, pass_id)
        await upsert(
            conn,
            job_id=job_id,
            instance_id=instance_id,
            pass_id=pass_id,
            run_id=run_id,
            updates=units,
        )


async def still_failed(
    conn: Connection, job_id: int, instance_id: int, keys: Sequence[str]
) -> list[str]:
    """Of these unit keys, those whose last attempt failed (a later run fetched the others)."""
    rows = await conn.fetch(query("units_still_failed"), job_id, instance_id, list(keys))
    return [r["unit_key"] for r in rows]


async def forget_plan(conn: Connection, job_id: int, instance_id: int, pass_id: int) -> None:
    """A plain pass's ranges, to plan it again (its rows vanished from staging)."""
    await conn.execute(query("pass_units_forget"), job_id, instance_id, pass_id)
