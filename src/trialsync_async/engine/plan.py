"""Work units of a job: one for a plain job, one per parameter tuple for the others.

Parameter tuples are read from the source staging table of the same instance, DISTINCT and
non-null, in keyset pages: never the whole table in memory, never a long transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg

from trialsync_async.api.urls import render_path
from trialsync_async.db.queries import query
from trialsync_async.identifiers import quote_ident
from trialsync_async.inventory import JobSpec
from trialsync_async.records import scope_of

PARAMETER_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Unit:
    """One call sequence: the rendered path and the parameter values behind it.

    A plain paged job whose size the API tells (``$count``) is split into page units so its
    pages are fetched in parallel: ``skip`` is the unit's first ``$skip``; every page unit but
    the last fetches one page, the last (``open_ended``) pages on until a short page, which
    picks up records added while the job runs.
    """

    path: str
    parameters: dict[str, str]
    skip: int = 0
    open_ended: bool = True

    @property
    def scope(self) -> str:
        return scope_of(self.parameters)


@dataclass(frozen=True, slots=True)
class ParameterSql:
    """The SQL reading a job's parameter tuples, built from its validated JSON paths."""

    count: str
    first: str
    next: str

    @classmethod
    def for_job(cls, job: JobSpec) -> ParameterSql:
        assert job.parameter_source_table is not None
        exprs = [f'({p.sql_expr}) COLLATE "C"' for p in job.parameters]
        n = len(exprs)
        parts = {
            "table": quote_ident(job.parameter_source_table),
            "columns": ", ".join(f"{e} AS p{i}" for i, e in enumerate(exprs)),
            "not_null": " AND ".join(f"({p.sql_expr}) IS NOT NULL" for p in job.parameters),
            "order": ", ".join(str(i + 1) for i in range(n)),
            "tuple": ", ".join(exprs),
            "after": ", ".join(f"${i + 3}" for i in range(n)),
        }
        if n == 1:  # a one-element "row" comparison is a plain comparison
            parts["tuple"] = exprs[0]
        return cls(
            count=query("parameter_count").format(**parts),
            first=query("parameter_first_page").format(**parts),
            next=query("parameter_next_page").format(**parts),
        )


def page_units(path: str, *, first_page: int, total: int, page_size: int) -> list[Unit]:
    """Units for the pages after the first of a plain job with ``total`` records."""
    if first_page < page_size:
        return []
    skips = list(range(first_page, max(total, first_page + 1), page_size))
    return [
        Unit(path, {}, skip=skip, open_ended=(i == len(skips) - 1)) for i, skip in enumerate(skips)
    ]


async def count_units(pool: asyncpg.Pool, job: JobSpec, instance_id: int) -> int:
    if not job.parameters:
        return 1
    async with pool.acquire() as conn:
        return int(await conn.fetchval(ParameterSql.for_job(job).count, instance_id))


async def iter_units(
    pool: asyncpg.Pool, job: JobSpec, instance_id: int, *, page: int = PARAMETER_PAGE
) -> AsyncIterator[Unit]:
    """Yield the job's units; values are URL-encoded into the path, one segment each."""
    if not job.parameters:
        yield Unit(job.source_endpoint, {})
        return
    sql = ParameterSql.for_job(job)
    names = [p.name for p in job.parameters]
    after: list[str] | None = None
    while True:
        async with pool.acquire() as conn:
            if after is None:
                rows = await conn.fetch(sql.first, instance_id, page)
            else:
                rows = await conn.fetch(sql.next, instance_id, page, *after)
        for row in rows:
            values = dict(zip(names, (str(v) for v in row.values()), strict=True))
            yield Unit(render_path(job.source_endpoint, values), values)
        if len(rows) < page:
            return
        after = list(rows[-1].values())
