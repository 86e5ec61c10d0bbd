"""Ticks (``dw_etl_ticks``): the due moments of each (job, API instance), claimed once each by
one replica.

A scheduled tick is inserted by whichever replica sees it due first (the insert is
idempotent); "run now" inserts a manual tick. A replica claims pending ticks with
``FOR UPDATE SKIP LOCKED``; a dependent's tick is claimable only once its parent's tick of
the same moment and instance has finished, so dependency order holds across replicas, and one
instance's chain never waits for (or is skipped by) another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection

TickSource = Literal["schedule", "manual", "resume"]


@dataclass(frozen=True, slots=True)
class Tick:
    tick_id: int
    job_id: int
    instance_id: int
    job_name: str
    due_at: datetime
    source: TickSource
    parent_status: str | None  # the parent job's tick of the same moment, if any


async def insert(
    conn: Connection,
    job_id: int,
    instance_id: int,
    due_at: datetime,
    source: TickSource = "schedule",
    *,
    status: Literal["pending", "skipped"] = "pending",
) -> int | None:
    """Add a tick of (job, instance); None when that tick exists already (another replica
    added it), or the pair has one of this source waiting or running.
    ``status="skipped"``: a baseline that only marks where a pair's schedule starts."""
    tick_id = await conn.fetchval(query("tick_insert"), job_id, instance_id, due_at, source, status)
    return int(tick_id) if tick_id is not None else None


async def last_scheduled(conn: Connection) -> dict[tuple[int, int], datetime]:
    """The latest scheduled tick of each (job, instance) (the baseline for the next one)."""
    rows = await conn.fetch(query("tick_last_scheduled"))
    return {(r["job_id"], r["instance_id"]): r["due_at"] for r in rows}


async def claim(conn: Connection, replica_id: str, limit: int) -> list[Tick]:
    async with conn.transaction():
        rows = await conn.fetch(query("tick_claim"), replica_id, limit)
    return [
        Tick(
            r["tick_id"],
            r["job_id"],
            r["instance_id"],
            r["job_name"],
            r["due_at"],
            r["source"],
            r["parent_status"],
        )
        for r in rows
    ]


async def finish(conn: Connection, tick_id: int, status: str, run_id: int | None) -> None:
    await conn.execute(query("tick_finish"), tick_id, status, run_id)


async def requeue(conn: Connection, tick_id: int) -> None:
    await conn.execute(query("tick_requeue"), tick_id)


async def release_orphans(conn: Connection) -> list[tuple[int, int]]:
    """Ticks whose claimer is no longer live: back to pending; returns their (job, instance)."""
    rows = await conn.fetch(query("tick_release_orphans"))
    return [(r["job_id"], r["instance_id"]) for r in rows]
