"""A run's schema drift noted on its run row as the run closes (schema_drift.py samples the
records; db/schema_drift.py reads earlier runs): ``notes["schema_checked"]``,
``notes["schema_drift"]`` and a warning for drift the previous checked run of the same (job,
API instance) did not have.

Best effort: whatever goes wrong here is logged, never the run's outcome. Idempotent, since
closing a run may be tried again."""

from __future__ import annotations

import structlog

from trialsync_async.db import schema_drift as drift_log
from trialsync_async.db.types import Connection
from trialsync_async.engine.context import RunContext
from trialsync_async.schema_drift import DriftSampler, new_drift_warning

log = structlog.get_logger(__name__)


async def note_drift(ctx: RunContext, sampler: DriftSampler | None) -> None:
    """Note what ``sampler`` saw on ``ctx.progress.notes``. The first checked run of a job for
    an API instance sets that pair's baseline: drift warns only when the pair's run before had
    not drifted so (each instance's API may drift on its own)."""
    notes = ctx.progress.notes
    if sampler is None or "schema_checked" in notes:
        return
    try:
        checked = sampler.checked()
        if checked is None:  # no record: nothing to say, not even "missing"
            return
        drift = sampler.report()
        if drift is not None:
            notes["schema_drift"] = drift
        notes["schema_checked"] = checked
        if not ctx.run_id:
            return
        job_id, instance_id, run_id = ctx.job.id, ctx.instance_id, ctx.run_id

        async def previous(conn: Connection) -> tuple[int, dict[str, object] | None] | None:
            return await drift_log.previous_drift(conn, job_id, instance_id, run_id)

        before = await ctx.pooled(previous, what="reading the previous run's schema drift")
        if before is None:
            return  # the first checked run: the baseline
        warning = new_drift_warning(drift, before[1], sampler.model.name)
        if warning is not None:
            warning += f" (not in run {before[0]})"
            notes.setdefault("warnings", []).append(warning)
            log.warning("schema drift", detail=warning)
    except Exception as exc:  # the run's outcome never depends on this
        log.warning("schema drift not noted", error=f"{type(exc).__name__}: {exc}")
