"""Committing: a batch's rows, its units' state and the run's counters in one transaction.

The transaction runs on the run's own connection and is retried whole when the connection is
lost (a new connection gets its temp table first). After a complete pass of a keyed plain
job, the rows it did not see are settled by the job's ``deletes`` policy.
"""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import structlog

from trialsync_async.db import fanout_probes, parameters, runs
from trialsync_async.db import units as unit_state
from trialsync_async.db.staging import RecordCounts, StagingWriter
from trialsync_async.engine.context import RunContext
from trialsync_async.engine.global_probe import SHORT_LIST_RATIO
from trialsync_async.engine.pipeline import Batch
from trialsync_async.errors import GlobalListShort

log = structlog.get_logger(__name__)


class Committer:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        job = ctx.job
        self.writer = StagingWriter(
            table=job.target_table,
            keyed_by_id=job.record_key.kind == "id",
            instance_id=ctx.instance_id,
            job_id=job.id,
            run_id=ctx.run_id,
        )
        # Plain keyed jobs with a deletes policy remember the keys each pass saw.
        plain = not job.parameters or job.fanout == "global"  # a global list is walked whole
        tracks_seen = plain and job.deletes != "keep" and not ctx.keyless
        self._seen_pass = ctx.pass_id if tracks_seen else None
        self._prepared_generation = -1

    @property
    def seen_pass(self) -> int | None:
        """The pass whose seen keys the merges record; none for an incremental pass, which
        sees only what changed and so cannot tell what was deleted."""
        return None if self.ctx.incremental_since else self._seen_pass

    async def commit(self, batch: Batch) -> None:
        ctx = self.ctx
        revisit = ctx.revisit()

        async def transaction(conn: asyncpg.Connection) -> RecordCounts:
            if self._prepared_generation != ctx.conn.generation:
                await self.writer.prepare(conn)
                self._prepared_generation = ctx.conn.generation
            async with conn.transaction():
                counts, changed = await self.writer.copy_merge(
                    conn, batch.rows, seen_pass=self.seen_pass
                )
                for end in batch.ended_units:
                    if end.keys is not None:  # keyless: the scope now holds exactly its rows
                        gone = await self.writer.delete_unseen(conn, end.unit.scope, end.keys)
                        counts.deleted += gone
                        if gone:
                            changed.add(end.unit.scope)
                updates = [replace(u, changed=u.key in changed) for u in batch.unit_updates()]
                await unit_state.upsert(
                    conn, job_id=ctx.job.id, instance_id=ctx.instance_id, pass_id=ctx.pass_id,
                    run_id=ctx.run_id, updates=updates, revisit=revisit,
                )  # fmt: skip
                await runs.save_progress(conn, ctx.run_id, ctx.progress)
            return counts

        ctx.progress.add(await ctx.conn.run(transaction, what="writing a batch"))

    async def settle_deletions(self) -> None:
        """After a complete pass of a keyed plain job: rows it did not see, per policy. After
        a successful fan-out run: the children of parents that are gone."""
        ctx, job = self.ctx, self.ctx.job
        if job.parameters and job.fanout == "global":
            await self._refuse_short_global_list()
        elif job.parameters:
            await self._settle_gone_parents()
            return
        if self.seen_pass is None:
            return

        async def settle(conn: asyncpg.Connection) -> int:
            return await unit_state.settle_unseen(
                conn, table=job.target_table, instance_id=ctx.instance_id, job_id=job.id,
                pass_id=ctx.pass_id, by_id=job.record_key.kind == "id", policy=job.deletes,
            )  # fmt: skip

        gone = await ctx.conn.run(settle, what="settling deletions")
        ctx.progress.deleted += gone
        if gone:
            log.info("records gone upstream", policy=job.deletes, rows=gone)

    async def _settle_gone_parents(self) -> None:
        ctx, job = self.ctx, self.ctx.job

        async def settle(conn: asyncpg.Connection) -> parameters.GoneParents:
            return await parameters.settle_gone_parents(conn, job, ctx.instance_id)

        gone = await ctx.conn.run(settle, what="settling children of gone parents")
        ctx.progress.deleted += gone.rows
        if gone.units or gone.rows:
            ctx.progress.notes["gone_parents"] = {"units": gone.units, "rows": gone.rows}
            log.info("children of gone parents", policy=job.deletes, parents=gone.units,
                     rows=gone.rows)  # fmt: skip

    async def _refuse_short_global_list(self) -> None:
        """A global list clearly shorter than the last per-parent pass is not trusted: the run
        fails before anything is deleted (what it returned is merged all the same)."""
        ctx, job = self.ctx, self.ctx.job

        async def last(conn: asyncpg.Connection) -> int:
            return await fanout_probes.last_records(conn, job.id, ctx.instance_id)

        expected = await ctx.pooled(last, what="reading the last per-parent total")
        if expected and ctx.progress.fetched < expected * SHORT_LIST_RATIO:
            raise GlobalListShort(
                job_id=job.id, name=job.name,
                got=ctx.progress.fetched, expected=expected,
            )  # fmt: skip
