"""Plans that stay linear whatever PostgreSQL's statistics say.

A run joins its work against tables that grow with the data and that it may just have filled
(autovacuum has not analysed them yet): parent tuples against the unit state, the unit state
against the rows each scope holds, staged rows against the keys a pass saw. With statistics
that say "a few rows", the planner picks a nested loop, and without an index on the inner side
that is one scan per outer row: quadratic. Each such statement runs inside :func:`hash_joins`,
a transaction with nested loops turned off, so its joins are hash (or merge) joins: linear, or
n log n, on any statistics.

The statements of a batch (a few hundred units or scopes, by key) have the opposite risk: with
statistics that say the job has five units, the planner reaches them by scanning all of the
job's rows, once per batch: quadratic over a run. A batch's transaction calls
:func:`key_lookups`, which leaves the planner only index scans on the key. The README's
architecture section lists which rule each statement follows;
tests/integration/test_scale_plans.py checks the plans on tables whose statistics are stale.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection


async def key_lookups(conn: Connection) -> None:
    """In the caller's transaction (``SET LOCAL``): no sequential or bitmap scan, so rows are
    found through the index on their key. A temporary table without index is still read
    whole (the planner has no other way), which is what a batch's COPY target needs."""
    await conn.execute(query("planner_key_lookups"))


@asynccontextmanager
async def hash_joins(conn: Connection) -> AsyncIterator[None]:
    """A transaction whose statements plan no nested loop (``SET LOCAL``: it ends with it)."""
    async with conn.transaction():
        await conn.execute(query("planner_hash_joins"))
        yield
