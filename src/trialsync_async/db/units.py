"""Per-unit state (``dw_etl_unit_state``) and the keys a pass has seen (``dw_etl_seen_keys``).

A unit's state is written in the transaction of the batch that committed its rows: after a
crash, ``done`` means its rows are staged and ``partial`` says where to go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from trialsync_async.db.queries import query
from trialsync_async.identifiers import quote_ident, validate_staging_table

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
    conn: asyncpg.Connection,
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
    )
    finished = [u.key for u in updates if u.status in ("done", "missing")]
    if revisit is not None and finished:
        await conn.execute(
            query("unit_state_revisit"), job_id, instance_id, finished,
            revisit.min_refresh, revisit.max_refresh, revisit.now, revisit.initial,
        )  # fmt: skip


async def planned_units(
    conn: asyncpg.Connection, job_id: int, instance_id: int, pass_id: int
) -> list[PlannedUnit]:
    rows = await conn.fetch(query("units_of_pass"), job_id, instance_id, pass_id)
    return [PlannedUnit(r["unit_key"], r["status"], r["bounds"], r["position"]) for r in rows]


async def save_plan(
    conn: asyncpg.Connection,
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


async def settle_unseen(
    conn: asyncpg.Connection,
    *,
    table: str,
    instance_id: int,
    job_id: int,
    pass_id: int,
    by_id: bool,
    policy: str,
) -> int:
    """After a complete pass: mark or delete the job's rows the pass did not see; forget the
    pass's keys. Returns the rows marked or deleted."""
    quoted = quote_ident(validate_staging_table(table))
    count = 0
    async with conn.transaction():
        await conn.execute(query("seen_keys_analyze"))
        if policy in ("mark", "delete"):
            name = f"unseen_{policy}_by_{'id' if by_id else 'record_key'}"
            status = await conn.execute(
                query(name).format(table=quoted), instance_id, job_id, pass_id
            )
            count = int(status.split()[-1])
        await conn.execute(query("seen_keys_forget"), pass_id)
    return count
