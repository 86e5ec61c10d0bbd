"""Committing: a batch's rows, its units' state and the run's counters in one transaction.

The transaction runs on the run's own connection and is retried whole when the connection is
lost (a new connection gets its temp table first). A keyless unit that ended in the batch
replaces its scope's rows — only when its walk proved complete, and within the pass's
deletion share (engine/deletions.py). Fan-out units record how many live rows their scope
holds, so a later run can tell that rows vanished from staging ('lost').
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import structlog

from trialsync_async.db import deletions, planning, runs
from trialsync_async.db import units as unit_state
from trialsync_async.db.run_connection import RunConnection
from trialsync_async.db.staging import RecordCounts, StagingWriter
from trialsync_async.db.types import Connection
from trialsync_async.engine.context import RunContext
from trialsync_async.engine.deletions import DeletionGuard
from trialsync_async.engine.pipeline import Batch, UnitEnd

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Written:
    """What one batch transaction did, applied to the run's counters once it committed."""

    counts: RecordCounts
    removed: int = 0  # keyless: rows the scopes lost net
    unproven: list[str] | None = None  # keyless scopes whose rows were kept: unproven walks


class Committer:
    """Commits batches on one connection: the run's own, or (``conn``) a further writer's.
    Only the run's own writes the run's counters with its batches (the row is one: further
    writers would queue on its lock at every commit); they reach it at the next of those
    commits, or the heartbeat, and the run's end."""

    def __init__(
        self, ctx: RunContext, guard: DeletionGuard, *, conn: RunConnection | None = None
    ) -> None:
        self.ctx = ctx
        self.guard = guard
        self.conn = conn or ctx.conn
        self._saves_progress = conn is None
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
        # Units whose scope's live rows are counted at their end (fan-outs, keyless jobs).
        self._counts_scopes = (bool(job.parameters) and job.fanout != "global") or ctx.keyless
        self._prepared_generation = -1

    @property
    def seen_pass(self) -> int | None:
        """The pass whose seen keys the merges record; none for an incremental pass, which
        sees only what changed and so cannot tell what was deleted."""
        return None if self.ctx.incremental_since else self._seen_pass

    async def commit(self, batch: Batch) -> None:
        ctx = self.ctx
        revisit = ctx.revisit()

        async def transaction(conn: Connection) -> _Written:
            if self._prepared_generation != self.conn.generation:
                await self.writer.prepare(conn)
                self._prepared_generation = self.conn.generation
            async with conn.transaction():
                await planning.key_lookups(conn)  # a batch's units and scopes by their keys
                counts, changed = await self.writer.copy_merge(
                    conn, batch.rows, seen_pass=self.seen_pass
                )
                written = _Written(counts)
                await self._replace_keyless(conn, batch.ended_units, written, changed)
                staged = await self._staged_rows(conn, batch.ended_units)
                updates = [
                    replace(u, changed=u.key in changed, staged_rows=staged.get(u.key))
                    for u in batch.unit_updates()
                ]
                await unit_state.upsert(
                    conn, job_id=ctx.job.id, instance_id=ctx.instance_id, pass_id=ctx.pass_id,
                    run_id=ctx.run_id, updates=updates, revisit=revisit,
                )  # fmt: skip
                if self._saves_progress:
                    await runs.save_progress(conn, ctx.run_id, ctx.progress)
            return written

        written = await self.conn.run(transaction, what="writing a batch")
        ctx.progress.add(written.counts)
        ctx.progress.removed += written.removed
        if written.unproven:
            self._note_unproven(written.unproven)

    async def _replace_keyless(
        self,
        conn: Connection,
        ended: list[UnitEnd],
        written: _Written,
        changed: set[str],
    ) -> None:
        """Keyless units that ended: their scope now holds exactly their rows — when the walk
        proved complete; what the scopes lose net is judged by the guard."""
        finished = [end for end in ended if end.keys is not None]
        if not finished:
            return
        proven = [end for end in finished if end.proven]
        written.unproven = [end.unit.scope or end.unit.key for end in finished if not end.proven]
        for end in proven:
            assert end.keys is not None
            gone = await self.writer.delete_unseen(conn, end.unit.scope, end.keys)
            written.counts.deleted += gone
            if gone:
                changed.add(end.unit.scope)
        # What the run's keyless scopes lost net: a changed record is one row out, one in.
        p = self.ctx.progress
        net = (p.deleted + written.counts.deleted) - (p.inserted + written.counts.inserted)
        written.removed = max(0, net) - p.removed
        await self.guard.check_keyless(conn, written.removed)

    async def _staged_rows(self, conn: Connection, ended: list[UnitEnd]) -> dict[str, int]:
        """Live rows of each ended unit's scope, by unit key (for the 'lost' check)."""
        if not self._counts_scopes or not ended:
            return {}
        counts = await self._scope_counts(conn, [end.unit.scope for end in ended])
        return {end.unit.key: counts.get(end.unit.scope, 0) for end in ended}

    async def _scope_counts(self, conn: Connection, scopes: list[str]) -> dict[str, int]:
        ctx = self.ctx
        return await deletions.scope_counts(
            conn, ctx.job.target_table, ctx.instance_id, ctx.job.id, scopes
        )

    def _note_unproven(self, scopes: list[str]) -> None:
        """Keyless scopes whose walk fell short of what the API claimed: rows kept."""
        notes = self.ctx.progress.notes
        kept = notes.setdefault("deletions_skipped", {"scopes": 0})
        first = not kept.get("scopes")
        kept["scopes"] = kept.get("scopes", 0) + len(scopes)
        if first:
            warning = (
                f"deletions skipped for scope {scopes[0] or '(the whole list)'}"
                + (f" and others ({len(scopes)} in this batch)" if len(scopes) > 1 else "")
                + ": its answers fell short of what the API reported, so its old rows were kept"
            )
            notes.setdefault("warnings", []).append(warning)
            log.warning("deletions skipped", job_id=self.ctx.job.id, detail=warning)
