"""Planning a run: the units it fetches, in the order the workers take them.

A fan-out job's units are its parameter tuples not yet finished in the pass, streamed from
the parent table. A plain job's units are the key ranges its unfinished pass left, or a new
plan: an id probe splits a large keyset job into ranges the workers walk side by side. The
plan of a plain job is saved before any range is fetched, so a resumed run walks the same ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog

from trialsync_async.api.paging import PageFetcher, probe_ids
from trialsync_async.db import deletions, runs
from trialsync_async.db import units as unit_state
from trialsync_async.db.parameters import FETCHED_REASONS, Selection, mark_lost
from trialsync_async.db.types import Connection
from trialsync_async.engine import incremental
from trialsync_async.engine.context import RunContext
from trialsync_async.engine.incremental import IncrementalPass
from trialsync_async.engine.paging_choice import PagingChoice
from trialsync_async.engine.units import (
    GLOBAL_UNIT,
    Unit,
    fanout_selection,
    fanout_unit,
    fanout_units,
    range_count,
    range_units,
    resumed_plain_units,
)
from trialsync_async.errors import ClientRequestError, IncrementalFilterRejected, MalformedResponse
from trialsync_async.records import scope_of

log = structlog.get_logger(__name__)


class Planner:
    def __init__(self, ctx: RunContext, fetcher: PageFetcher, paging: PagingChoice) -> None:
        self.ctx = ctx
        self.fetcher = fetcher
        self.paging = paging

    async def units(self, workers: int) -> AsyncIterator[Unit]:
        """Every unit of the run; sets ``units_total``/``units_done`` first."""
        ctx = self.ctx
        if ctx.options.retry_of is not None:
            ctx.progress.notes["retry_of"] = ctx.options.retry_of
        if ctx.job.parameters and ctx.job.fanout == "global" and ctx.options.retry_of is None:
            yield self._global_unit()
        elif ctx.job.parameters and ctx.options.retry_of is not None:
            for unit in await self._retried_units(ctx.options.retry_of):
                yield unit
        elif ctx.job.parameters:
            await self._mark_lost()
            selection = Selection(ctx.pass_id, ctx.full, ctx.clock())
            counts = await fanout_selection(
                ctx.pool, ctx.retry, ctx.job, ctx.instance_id, selection, ctx.run_id
            )
            self._note_selection(selection, counts)
            async for unit in fanout_units(ctx.pool, ctx.retry, ctx.job, ctx.run_id):
                yield unit
        else:
            for unit in await self._plain_units(workers):
                yield unit

    def _global_unit(self) -> Unit:
        """``fanout = global``: one walk of the job's global list instead of a call per
        parent (not resumable mid-walk; the per-parent unit state is left as it is)."""
        ctx = self.ctx
        assert ctx.job.global_endpoint is not None
        ctx.progress.units_total = 1
        ctx.progress.notes["fanout"] = {"mode": "global", "endpoint": ctx.job.global_endpoint}
        return Unit(GLOBAL_UNIT, ctx.job.global_endpoint, {}, bounds={"after": None, "upto": None})

    async def _mark_lost(self) -> None:
        """Parents whose rows vanished from staging since their last fetch are fetched again
        ('lost'), however fresh their unit state says they are."""
        ctx = self.ctx

        async def mark(conn: Connection) -> int:
            return await mark_lost(conn, ctx.job, ctx.instance_id)

        lost = await ctx.pooled(mark, what="checking the unit state against staging")
        if lost:
            log.warning("parents whose rows vanished from staging", job_id=ctx.job.id,
                        parents=lost)  # fmt: skip

    async def _retried_units(self, run_id: int) -> list[Unit]:
        """``retry-failed RUN``: the failed parameter tuples of that run that are still failed
        (a later run may have fetched some since: those are not fetched twice)."""
        ctx = self.ctx

        async def read(conn: Connection) -> list[dict[str, str]]:
            found = await runs.failed_units(conn, run_id)
            if not found:
                return []
            by_key = {scope_of(values): values for values in found[1]}
            failed = await unit_state.still_failed(conn, ctx.job.id, ctx.instance_id, list(by_key))
            return [by_key[key] for key in failed]

        failed = await ctx.pooled(read, what="reading the failed units")
        names = {p.name for p in ctx.job.parameters}
        units = [fanout_unit(ctx.job, v, None) for v in failed if set(v) == names]
        ctx.progress.units_total = len(units)
        ctx.progress.notes["fanout"] = {
            "mode": "retry",
            "parents": len(units),
            "failed": len(units),
        }
        log.info("retrying failed units", of_run=run_id, units=len(units))
        return units

    def _note_selection(self, selection: Selection, counts: dict[str, int]) -> None:
        """Units to do, and on the run row the mode and how many parents for each reason."""
        p = self.ctx.progress
        fetched = sum(counts.get(r, 0) for r in FETCHED_REASONS)
        p.units_done = counts.get("finished", 0)
        # The job's first pass over its parents (maybe resumed): first revisits are spread.
        self.ctx.initial_load = set(counts) <= {"new", "finished", "resume"}
        p.units_total = fetched + p.units_done
        reasons = {r: counts.get(r, 0) for r in (*FETCHED_REASONS, "finished", "fresh")}
        mode = "full" if selection.full else "changed"
        if selection.full and not self.ctx.options.full:
            p.notes["full_because"] = "it continues a full pass"
        p.notes["fanout"] = {"mode": mode, "parents": sum(counts.values()), **reasons}
        log.info("fan-out plan", mode=mode, fetch=fetched, skipped=reasons["fresh"])

    async def _plain_units(self, workers: int) -> list[Unit]:
        """The ranges of a plain job: those its unfinished pass left, or a new plan."""
        ctx, job = self.ctx, self.ctx.job

        async def planned(conn: Connection) -> list[unit_state.PlannedUnit]:
            return await unit_state.planned_units(conn, job.id, ctx.instance_id, ctx.pass_id)

        previous = await ctx.pooled(planned, what="reading the plan")
        if previous and any(p.status == "done" for p in previous):
            previous = await self._unless_lost(previous)
        if previous:
            todo = resumed_plain_units(job, previous)
            ctx.progress.units_total = len(previous)
            ctx.progress.units_done = len(previous) - len(todo)
            if job.incremental_field:
                sinces = [(p.bounds or {}).get("since") for p in previous]
                since = next((str(s) for s in sinces if s), None)
                self._note_incremental(
                    IncrementalPass("incremental" if since else "full", "resume", since)
                )
            return todo
        since = await self._incremental_since() if job.incremental_field else None
        ranges: list[tuple[int | None, int | None]] = (
            [(None, None)] if since else await self._ranges(workers)
        )
        plan = range_units(job.source_endpoint, ranges, since=since)

        async def save(conn: Connection) -> None:
            await unit_state.save_plan(
                conn, job_id=job.id, instance_id=ctx.instance_id, pass_id=ctx.pass_id,
                run_id=ctx.run_id, units=[u.update("pending") for u in plan],
            )  # fmt: skip

        await ctx.pooled(save, what="saving the plan")
        ctx.progress.units_total = len(plan)
        return plan

    async def _unless_lost(
        self, previous: list[unit_state.PlannedUnit]
    ) -> list[unit_state.PlannedUnit]:
        """A pass goes on from its done ranges only while their rows are still staged; when
        most of the job's rows vanished since (a TRUNCATE, a restore), it starts over whole."""
        ctx, job = self.ctx, self.ctx.job

        async def check(conn: Connection) -> str | None:
            lost = await deletions.rows_lost(conn, job.target_table, ctx.instance_id, job.id)
            if lost is not None:
                await unit_state.forget_plan(conn, job.id, ctx.instance_id, ctx.pass_id)
            return lost

        lost = await ctx.pooled(check, what="checking the pass against staging")
        if lost is None:
            return previous
        warning = f"its unfinished pass started over: {lost}"
        ctx.progress.notes.setdefault("warnings", []).append(warning)
        log.warning("rows lost from staging", job_id=job.id, detail=warning)
        return []

    def _note_incremental(self, chosen: IncrementalPass) -> None:
        ctx = self.ctx
        assert ctx.job.incremental_field is not None
        ctx.incremental_since = chosen.since
        ctx.progress.notes["incremental"] = chosen.note(ctx.job.incremental_field, ctx.clock())
        log.info("incremental plan", mode=chosen.mode, reason=chosen.reason, since=chosen.since)

    async def _incremental_since(self) -> str | None:
        """Full or incremental (see engine/incremental.py); an incremental pass first checks
        with one 1-record request that the endpoint takes the filter."""
        ctx, job = self.ctx, self.ctx.job

        async def choose(conn: Connection) -> IncrementalPass:
            return await incremental.decide(
                conn, job, ctx.instance_id, full=ctx.options.full, now=ctx.clock(),
                overlap_seconds=ctx.options.incremental_overlap_seconds,
            )  # fmt: skip

        try:
            chosen = await ctx.pooled(choose, what="reading the watermark")
        except ValueError as exc:  # a staged value that is not a timestamp
            raise IncrementalFilterRejected(
                job_id=job.id, name=job.name, field=job.incremental_field, detail=str(exc)
            ) from exc
        self._note_incremental(chosen)
        if chosen.since is None:
            return None
        try:
            await self.fetcher.get_page(
                job.source_endpoint,
                [("$top", 1), ("$filter", incremental.where(job, chosen.since))],
            )
        except ClientRequestError as exc:
            if exc.context.get("status") != 400:
                raise
            raise IncrementalFilterRejected(
                job_id=job.id, name=job.name, field=job.incremental_field, detail=str(exc)
            ) from exc
        return chosen.since

    async def _ranges(self, workers: int) -> list[tuple[int | None, int | None]]:
        """Id ranges for keyset paging (one open range otherwise, or when the probe fails)."""
        if not self.paging.keyset:
            return [(None, None)]
        try:
            probe = await probe_ids(self.fetcher, self.ctx.job.source_endpoint)
        except ClientRequestError as exc:
            if exc.context.get("status") != 400 or not self.paging.refuse(str(exc)):
                raise
            return [(None, None)]
        except MalformedResponse as exc:  # ids that are not integers
            self.paging.refuse(str(exc))
            return [(None, None)]
        return probe.split(range_count(probe.total, self.ctx.page_size, workers))
