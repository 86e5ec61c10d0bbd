"""Parameter tuples of a fan-out job, read from its source staging table.

DISTINCT and non-null, in keyset pages (never the whole table in memory, never a long
transaction), each with the state of its unit in the current pass so a resumed run skips what
is done. The SQL is built from the job's validated JSON paths and placeholder names only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg

from trialsync_async.db.queries import query
from trialsync_async.db.resilience import DbRetry, pooled
from trialsync_async.identifiers import quote_ident, quote_literal
from trialsync_async.inventory import JobSpec

PARAMETER_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ParameterTuple:
    """One parent's values, and its unit's state in the pass (None: not reached yet)."""

    values: dict[str, str]
    status: str | None
    position: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ParameterSql:
    count: str
    first: str
    next: str

    @classmethod
    def for_job(cls, job: JobSpec) -> ParameterSql:
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
            "tuple": exprs[0] if n == 1 else ", ".join(exprs),
            "after": ", ".join(f"${i + 5}" for i in range(n)),
            "scope": scope,
        }
        return cls(
            count=query("parameter_count").format(**parts),
            first=query("parameter_first_page").format(**parts),
            next=query("parameter_next_page").format(**parts),
        )


async def count_tuples(conn: asyncpg.Connection, job: JobSpec, instance_id: int) -> int:
    return int(await conn.fetchval(ParameterSql.for_job(job).count, instance_id))


async def finished_in_pass(
    conn: asyncpg.Connection, job_id: int, instance_id: int, pass_id: int
) -> int:
    return int(await conn.fetchval(query("units_finished_in_pass"), job_id, instance_id, pass_id))


async def _fetch(
    statement: str, args: tuple[Any, ...], conn: asyncpg.Connection
) -> list[asyncpg.Record]:
    return list(await conn.fetch(statement, *args))


async def iter_tuples(
    pool: asyncpg.Pool,
    retry: DbRetry,
    job: JobSpec,
    instance_id: int,
    pass_id: int,
    *,
    page: int = PARAMETER_PAGE,
) -> AsyncIterator[ParameterTuple]:
    sql = ParameterSql.for_job(job)
    names = [p.name for p in job.parameters]
    n = len(names)
    after: list[str] | None = None
    while True:
        args: tuple[Any, ...] = (instance_id, page, job.id, pass_id, *(after or ()))
        statement = sql.first if after is None else sql.next
        rows = await pooled(
            pool, retry, partial(_fetch, statement, args), what="reading parameter values"
        )
        for row in rows:
            values = [str(row[f"p{i}"]) for i in range(n)]
            yield ParameterTuple(
                dict(zip(names, values, strict=True)), row["status"], row["position"]
            )
        if len(rows) < page:
            return
        after = [rows[-1][f"p{i}"] for i in range(n)]
