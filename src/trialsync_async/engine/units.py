"""Work units of a run: the key ranges of a plain job, or the parameter tuples of a fan-out.

A unit is what the run tracks in ``dw_etl_unit_state``: it is done when all its rows are
merged. A run that continues an unfinished pass gets only the units the pass has not finished,
each with the position its last committed batch recorded.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from trialsync_async.api.urls import render_path
from trialsync_async.db import parameters, units
from trialsync_async.db.resilience import DbRetry, pooled
from trialsync_async.db.types import Connection
from trialsync_async.inventory import JobSpec
from trialsync_async.records import scope_of

PLAIN_UNIT = "all"
"""Unit key of a plain job walked in one piece."""
GLOBAL_UNIT = "global"
"""Unit key of a fan-out job's walk of its global list."""
MAX_RANGES = 64


@dataclass(frozen=True, slots=True)
class Unit:
    """One call sequence: the rendered path, its parameter values, its range and position.

    ``refused`` says why the values cannot be put into a path (``..``, empty): such a unit
    fails on its own without a request.
    """

    key: str
    path: str
    parameters: dict[str, str]
    bounds: dict[str, Any] | None = None
    position: dict[str, Any] | None = None
    refused: str | None = None
    parent_version: datetime | None = None

    @property
    def scope(self) -> str:
        return scope_of(self.parameters)

    def update(self, status: units.UnitStatus, **fields: Any) -> units.UnitUpdate:
        return units.UnitUpdate(
            self.key, status, self.parameters, bounds=self.bounds,
            parent_version=self.parent_version, **fields,
        )  # fmt: skip


def range_units(
    path: str, ranges: list[tuple[int | None, int | None]], *, since: str | None = None
) -> list[Unit]:
    """A plain job's units; ``since`` (timestamp incrementals) is kept in their bounds, so a
    resumed run asks from the same point."""
    extra = {"since": since} if since else {}
    if len(ranges) == 1:
        return [Unit(PLAIN_UNIT, path, {}, bounds={"after": None, "upto": None, **extra})]
    width = len(str(len(ranges)))
    return [
        Unit(f"range {i:0{width}d}", path, {}, bounds={"after": lo, "upto": hi, **extra})
        for i, (lo, hi) in enumerate(ranges)
    ]


def range_count(total: int | None, page_size: int, workers: int) -> int:
    """How many keyset ranges a plain job of ``total`` records is split into."""
    if not total or total <= 2 * page_size:
        return 1
    return max(1, min(math.ceil(total / page_size), 2 * workers, MAX_RANGES))


def resumed_plain_units(job: JobSpec, planned: list[units.PlannedUnit]) -> list[Unit]:
    return [
        Unit(p.key, job.source_endpoint, {}, bounds=p.bounds, position=p.position)
        for p in planned
        if p.status != "done"
    ]


def fanout_unit(
    job: JobSpec,
    values: dict[str, str],
    position: dict[str, Any] | None,
    version: datetime | None = None,
) -> Unit:
    scope = scope_of(values)
    try:
        path = render_path(job.source_endpoint, values)
    except ValueError as exc:
        return Unit(scope, job.source_endpoint, values, refused=str(exc), parent_version=version)
    return Unit(scope, path, values, position=position, parent_version=version)


async def fanout_selection(
    pool: asyncpg.Pool,
    retry: DbRetry,
    job: JobSpec,
    instance_id: int,
    selection: parameters.Selection,
    run_id: int,
) -> dict[str, int]:
    """Select the parents this run fetches (new, changed, lost, failed, due, or all with
    ``full``) into its work list; returns every parent tuple counted by reason."""

    async def select(conn: Connection) -> dict[str, int]:
        return await parameters.select_parents(conn, job, instance_id, selection, run_id)

    return await pooled(pool, retry, select, what="selecting parameter values")


async def fanout_units(
    pool: asyncpg.Pool, retry: DbRetry, job: JobSpec, run_id: int
) -> AsyncIterator[Unit]:
    """The run's selected parents as units, each with the position a partial unit of the pass
    reached."""
    async for item in parameters.selected(pool, retry, job, run_id):
        position = item.position if item.reason == "resume" else None
        yield fanout_unit(job, item.values, position, item.version)
