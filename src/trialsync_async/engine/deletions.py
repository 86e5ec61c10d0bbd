"""When a run may remove staged rows, and how much: proof first, then the mass-deletion guard.

A run removes rows on three occasions, and each rests on evidence:

* a complete pass of a keyed plain job (or a global list) marks or deletes the rows it did not
  see — only when every unit of the pass proved its walk complete (the API's counts met, no id
  repeated inside an answer: ``pass_evidence``); otherwise the deletions are skipped and the
  run says so (``deletions skipped: …``);
* a keyless unit replaces its scope's rows at its end — only when its own walk is proven
  (engine/committer.py);
* a fan-out settles the children of parents gone from the parent table.

Whatever is removed must also stay within the job's ``max_deletes`` share of its live rows for
the instance (default 10%), judged over the whole pass: a pass that would remove more is
refused — the run fails with ``refused to mark 400 of 600 rows deleted (67% > 10%)`` and the
command that confirms it (``--allow-deletes``). Keyless scopes count what they lose net (a
record whose content changed is one row out and one in).
"""

from __future__ import annotations

import structlog

from trialsync_async.db import deletions, fanout_probes, parameters
from trialsync_async.db.types import Connection
from trialsync_async.engine.context import RunContext
from trialsync_async.errors import DeletionRefused, GlobalListShort
from trialsync_async.inventory import format_share

log = structlog.get_logger(__name__)

SHORT_LIST_RATIO = 0.9
"""A global list returning less than this share of the last per-parent pass is not trusted
(no deletion on its word; ``jobs probe`` fails on it too)."""


def _percent(rows: int, live: int) -> str:
    return f"{100 * rows / live:.0f}%" if live else "100%"


class DeletionGuard:
    """The mass-deletion guard of one run (see the module docstring)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._pass_live: int | None = None  # keyless: the job's live rows when the pass began
        self._before = 0  # keyless: rows earlier runs of the pass removed

    @property
    def limit(self) -> float | None:
        """The share a pass may remove; None when this run was told ``--allow-deletes``."""
        return None if self.ctx.options.allow_deletes else self.ctx.job.max_deletes

    def refusal(self, rows: int, live: int, *, verb: str, scope: str = "") -> DeletionRefused:
        job = self.ctx.job
        limit = self.ctx.job.max_deletes
        wanted = format_share(min(1.0, round(rows / live, 2) if live else 1.0))
        what = f"{verb} {rows:,} of {live:,} rows" + (" deleted" if verb == "mark" else "")
        return DeletionRefused(
            what=what + scope, share=_percent(rows, live), limit=format_share(limit),
            advice=(
                f"if the API really removed them, confirm with `trialsync-async --job {job.id} "
                f"--allow-deletes`, or raise the job's limit (`trialsync-async jobs set "
                f"{job.id} --max-deletes {wanted}`)"
            ),
        )  # fmt: skip

    async def check_keyless(self, conn: Connection, rows: int) -> None:
        """Keyless scopes of this batch are losing ``rows`` net (inside the batch's
        transaction, after its deletes): raise DeletionRefused, rolling the batch back, when
        the pass would go past its share. The caller adds ``rows`` to ``progress.removed``
        once the transaction committed."""
        limit = self.limit
        if rows <= 0 or limit is None:
            return
        ctx = self.ctx
        removed = ctx.progress.removed
        if self._pass_live is None:  # the live rows when the pass began, once per run
            self._before = await deletions.removed_before(conn, ctx.pass_id, ctx.run_id)
            job = ctx.job
            live = await deletions.live_rows(conn, job.target_table, ctx.instance_id, job.id)
            self._pass_live = live + rows + removed + self._before
        total = self._before + removed + rows
        if total > limit * self._pass_live:
            raise self.refusal(total, self._pass_live, verb="delete", scope=" of keyless scopes")


async def settle(ctx: RunContext, guard: DeletionGuard, *, seen_pass: int | None) -> None:
    """After a successful run: the deletions its job's kind calls for (see the module)."""
    job = ctx.job
    if job.parameters and job.fanout == "global":
        await _refuse_short_global_list(ctx)
    elif job.parameters:
        await _settle_gone_parents(ctx, guard)
        return
    if seen_pass is None:
        return
    await _settle_unseen(ctx, guard, seen_pass)


async def _settle_unseen(ctx: RunContext, guard: DeletionGuard, pass_id: int) -> None:
    job, p = ctx.job, ctx.progress

    async def evidence(conn: Connection) -> deletions.PassEvidence:
        return await deletions.pass_evidence(conn, job.id, ctx.instance_id, pass_id)

    proof = await ctx.conn.run(evidence, what="reading the pass's evidence")
    if proof.short_units:
        units = ", ".join(proof.examples) + ("…" if proof.short_units > len(proof.examples) else "")
        warning = (
            f"deletions skipped: the API reported {proof.reported:,} records but the pass "
            f"received {proof.received:,} ({proof.shortfall:,} unproven in {proof.short_units} "
            f"unit(s): {units}); nothing is marked deleted on an incomplete answer"
        )
        p.notes["deletions_skipped"] = {
            "reported": proof.reported, "received": proof.received, "shortfall": proof.shortfall,
        }  # fmt: skip
        p.notes.setdefault("warnings", []).append(warning)
        log.warning("deletions skipped", job_id=job.id, detail=warning)

        async def forget_keys(conn: Connection) -> None:
            await deletions.forget_keys(conn, pass_id)

        await ctx.conn.run(forget_keys, what="forgetting the pass's keys")
        return
    ctx.enter_phase("settling deletions")

    async def run_settle(conn: Connection) -> deletions.Settled:
        return await deletions.settle_unseen(
            conn, table=job.target_table, instance_id=ctx.instance_id, job_id=job.id,
            pass_id=pass_id, by_id=job.record_key.kind == "id", policy=job.deletes,
            max_share=guard.limit,
        )  # fmt: skip

    settled = await ctx.conn.run(run_settle, what="settling deletions")
    if not settled.applied:

        async def forget(conn: Connection) -> None:
            await deletions.forget_pass(conn, job.id, ctx.instance_id, pass_id)

        await ctx.conn.run(forget, what="starting the refused pass over")
        verb = "mark" if job.deletes == "mark" else "delete"
        raise guard.refusal(settled.rows, settled.live_before, verb=verb)
    p.deleted += settled.rows
    p.removed += settled.rows
    p.notes["staged_rows"] = settled.live_before - settled.rows
    if settled.rows:
        log.info("records gone upstream", policy=job.deletes, rows=settled.rows)


async def _settle_gone_parents(ctx: RunContext, guard: DeletionGuard) -> None:
    job = ctx.job
    ctx.enter_phase("settling gone parents")

    async def settle_gone(conn: Connection) -> parameters.GoneParents:
        return await parameters.settle_gone_parents(
            conn, job, ctx.instance_id, max_share=guard.limit
        )

    gone = await ctx.conn.run(settle_gone, what="settling children of gone parents")
    if not gone.applied:
        verb = "mark" if job.deletes == "mark" else "delete"
        raise guard.refusal(gone.rows, gone.live_before, verb=verb, scope=" of gone parents")
    ctx.progress.deleted += gone.rows
    ctx.progress.removed += gone.rows
    if gone.units or gone.rows:
        ctx.progress.notes["gone_parents"] = {"units": gone.units, "rows": gone.rows}
        log.info("children of gone parents", policy=job.deletes, parents=gone.units,
                 rows=gone.rows)  # fmt: skip


async def _refuse_short_global_list(ctx: RunContext) -> None:
    """A global list clearly shorter than the last per-parent pass is not trusted: the run
    fails before anything is deleted (what it returned is merged all the same)."""
    job = ctx.job

    async def last(conn: Connection) -> int:
        return await fanout_probes.last_records(conn, job.id, ctx.instance_id)

    expected = await ctx.pooled(last, what="reading the last per-parent total")
    if expected and ctx.progress.fetched < expected * SHORT_LIST_RATIO:
        raise GlobalListShort(
            job_id=job.id, name=job.name, got=ctx.progress.fetched, expected=expected,
        )  # fmt: skip
