"""Parameter tuples of a fan-out job, read from its source staging table.

A run selects its parents once, in one set-based statement: every distinct, non-null tuple of
the parent table with its unit's state and the reason the run fetches it, a hash join (see
db/planning.py); the tuples it fetches go into the run's work list (an unlogged table in the
``trialsync_work`` schema, numbered in parameter order), which the planner reads in pages and
the run drops at its end. So the selection is linear in the parents whatever the statistics
say, never the whole table in memory, never a long transaction. The SQL is built from the
job's validated JSON paths and placeholder names only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import asyncpg

from trialsync_async.db.planning import hash_joins
from trialsync_async.db.queries import query
from trialsync_async.db.resilience import DbRetry, pooled
from trialsync_async.db.types import Connection
from trialsync_async.identifiers import quote_ident, quote_literal
from trialsync_async.inventory import JobSpec

PARAMETER_PAGE = 1000
WORK_SCHEMA = "trialsync_work"


FETCHED_REASONS = ("new", "changed", "lost", "failed", "due", "full", "resume")
"""Why a run fetches a parent (``parameter_reason`` in queries.sql says which applies); 'lost':
its rows vanished from staging since its last fetch (see ``mark_lost``)."""
REASONS = (*FETCHED_REASONS, "finished", "fresh")
"""Every reason, in the order ``plan`` and ``runs show`` list them; a parent 'finished' in this
pass or 'fresh' is not fetched."""


@dataclass(frozen=True, slots=True)
class ParameterTuple:
    """One parent's values, its rows' latest ``updated_at``, the position a partial unit of
    the pass reached, and the reason this run fetches it (see ``parameter_reason``)."""

    values: dict[str, str]
    version: datetime | None
    position: dict[str, Any] | None
    reason: str


def work_table(run_id: int) -> str:
    """The quoted name of a run's work list."""
    return f"{quote_ident(WORK_SCHEMA)}.{quote_ident(f'parents_{int(run_id)}')}"


@dataclass(frozen=True, slots=True)
class ParameterSql:
    selection: str
    count: str
    gone: str
    fill: str

    @classmethod
    def for_job(cls, job: JobSpec, run_id: int = 0) -> ParameterSql:
        if job.parameter_source_table is None:
            raise ValueError(f"job {job.id} has no parameter source table")
        exprs = [f'({p.sql_expr}) COLLATE "C"' for p in job.parameters]
        n = len(exprs)
        # The unit key, as records.scope_of writes it: name=value joined by "&".
        scope = " || '&' || ".join(
            f"{quote_literal(p.name + '=')} || p.p{i}" for i, p in enumerate(job.parameters)
        )
        parts = {
            "table": quote_ident(job.parameter_source_table),
            "columns": ", ".join(f"{e} AS p{i}" for i, e in enumerate(exprs)),
            "not_null": " AND ".join(f"({p.sql_expr}) IS NOT NULL" for p in job.parameters),
            "order": ", ".join(str(i + 1) for i in range(n)),
            "names": ", ".join(f"p{i}" for i in range(n)),
            "scope": scope,
            "reason": query("parameter_reason"),
        }
        selection = query("parameter_selection").format(**parts)
        return cls(
            selection=selection,
            count=query("parameter_count").format(selection=selection),
            gone=query("fanout_gone_units").format(**parts),
            fill=query("parameter_work_fill").format(
                selection=selection, work=work_table(run_id), names=parts["names"]
            ),
        )


@dataclass(frozen=True, slots=True)
class Selection:
    """Which parents a run fetches: ``full`` fetches all; ``now`` decides which are due."""

    pass_id: int
    full: bool
    now: datetime

    def args(self, job: JobSpec, instance_id: int) -> tuple[Any, ...]:
        return (instance_id, job.id, self.pass_id, self.full, self.now)


async def count_by_reason(
    conn: Connection, job: JobSpec, instance_id: int, selection: Selection
) -> dict[str, int]:
    """Parent tuples by the reason a run would fetch them (``fresh``: it would not)."""
    async with hash_joins(conn):
        rows = await conn.fetch(ParameterSql.for_job(job).count, *selection.args(job, instance_id))
    return {r["reason"]: int(r["n"]) for r in rows}


async def select_parents(
    conn: Connection, job: JobSpec, instance_id: int, selection: Selection, run_id: int
) -> dict[str, int]:
    """The run's selection: its work list filled with the parents it fetches; returns every
    parent tuple counted by reason. Idempotent (a retried call starts the list afresh)."""
    work = work_table(run_id)
    sql = ParameterSql.for_job(job, run_id)
    async with hash_joins(conn):
        await conn.execute(query("parameter_work_drop").format(work=work))
        await conn.execute(query("parameter_work_create").format(work=work))
        rows = await conn.fetch(sql.fill, *selection.args(job, instance_id), list(FETCHED_REASONS))
    return {r["reason"]: int(r["n"]) for r in rows}


async def _page(statement: str, args: tuple[Any, ...], conn: Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch(statement, *args))


async def selected(
    pool: asyncpg.Pool,
    retry: DbRetry,
    job: JobSpec,
    run_id: int,
    *,
    page: int = PARAMETER_PAGE,
) -> AsyncIterator[ParameterTuple]:
    """The run's work list, in pages (each a short statement on a pooled connection)."""
    names = [p.name for p in job.parameters]
    statement = query("parameter_work_page").format(work=work_table(run_id))
    after = 0
    while True:
        rows = await pooled(
            pool, retry, partial(_page, statement, (after, page)), what="reading parameter values"
        )
        for row in rows:
            yield ParameterTuple(
                dict(zip(names, row["vals"], strict=True)),
                row["version"],
                row["position"],
                row["reason"],
            )
        if len(rows) < page:
            return
        after = rows[-1]["seq"]


async def drop_selection(conn: Connection, run_id: int) -> None:
    """The run's work list, when the run ends."""
    await conn.execute(query("parameter_work_drop").format(work=work_table(run_id)))


async def drop_orphan_selections(conn: Connection) -> int:
    """Work lists of runs that no longer run (a process killed), dropped; returns how many."""
    names = [r["relname"] for r in await conn.fetch(query("parameter_work_orphans"))]
    for name in names:
        work = f"{quote_ident(WORK_SCHEMA)}.{quote_ident(name)}"
        await conn.execute(query("parameter_work_drop").format(work=work))
    return len(names)


@dataclass(frozen=True, slots=True)
class GoneParents:
    """What settling a fan-out's gone parents did (or, refused, would have done): units
    forgotten, child rows settled, the job's live rows before."""

    units: int = 0
    rows: int = 0
    live_before: int = 0
    applied: bool = True


class _Refused(Exception):
    """Rolls the settle back: it would remove more than the job's share."""


async def settle_gone_parents(
    conn: Connection, job: JobSpec, instance_id: int, *, max_share: float | None = None
) -> GoneParents:
    """Children of parents that left the parent table (or answered 404), by the job's
    ``deletes`` policy; the units of parents that left are forgotten. Nothing happens while
    the parent table holds no parent at all (an emptied table is not a mass deletion), and
    nothing when the children to remove are more than ``max_share`` of the job's live rows
    (rolled back: ``applied=False``)."""
    assert job.parameter_source_table is not None
    source = quote_ident(job.parameter_source_table)
    if not await conn.fetchval(query("fanout_parents_exist").format(table=source), instance_id):
        return GoneParents()
    async with hash_joins(conn):
        rows = await conn.fetch(ParameterSql.for_job(job).gone, job.id, instance_id)
    if not rows:
        return GoneParents()
    scopes = [r["unit_key"] for r in rows]
    left = [r["unit_key"] for r in rows if r["status"] != "missing"]
    table = quote_ident(job.target_table)
    settled = live_after = 0
    statement = {"mark": "fanout_children_mark", "delete": "fanout_children_delete"}
    try:
        async with conn.transaction():
            if job.deletes in statement:
                status = await conn.execute(
                    query(statement[job.deletes]).format(table=table), instance_id, job.id, scopes
                )
                settled = int(status.split()[-1])
                live_after = int(
                    await conn.fetchval(
                        query("staging_live_count").format(table=table), instance_id, job.id
                    )
                )
                if max_share is not None and settled > max_share * (settled + live_after):
                    raise _Refused
            if left:
                await conn.execute(query("fanout_units_forget"), job.id, instance_id, left)
    except _Refused:
        return GoneParents(len(left), settled, settled + live_after, applied=False)
    return GoneParents(units=len(left), rows=settled, live_before=settled + live_after)


async def mark_lost(conn: Connection, job: JobSpec, instance_id: int) -> int:
    """Mark the fan-out's units whose scope lost rows in staging since their last fetch (one
    set-based statement); returns how many were marked. Their parents are fetched as 'lost'."""
    sql = query("unit_state_mark_lost").format(table=quote_ident(job.target_table))
    async with hash_joins(conn):
        status = await conn.execute(sql, job.id, instance_id)
    return int(status.split()[-1])


async def has_parents(conn: Connection, job: JobSpec, instance_id: int) -> bool:
    """Whether the fan-out's source table holds any parent tuple of the instance."""
    if job.parameter_source_table is None:
        raise ValueError(f"job {job.id} has no parameter source table")
    sql = query("parameter_exists").format(
        table=quote_ident(job.parameter_source_table),
        not_null=" AND ".join(f"({p.sql_expr}) IS NOT NULL" for p in job.parameters),
    )
    return bool(await conn.fetchval(sql, instance_id))
