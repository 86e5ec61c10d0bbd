"""What a unit's failure means for its run.

* Fatal for the run: a rejected key (401/403), an endpoint missing as a whole (501, or 404 on
  a plain job), an unreachable instance (circuit breaker), and any other failure of a plain
  job but two: a record that cannot be stored and an answer short of its own count fail only
  their key range, so the job's other ranges go on (the run still ends ``failed``).
* A parameter value answering 404: its parent is gone upstream. Recorded as ``missing`` and
  not retried by a resumed run, but the run does not fail — otherwise every parent deleted in
  the API would fail its child jobs for good. An endpoint that answers 404 to its first 20
  values and serves none is dead: that fails the run.
* Any other failure of one parameter value (retries exhausted, malformed pages, a value that
  cannot be a path segment): recorded with its values and error; the other units go on and
  the run ends ``failed``; the next run retries exactly these units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from trialsync_async.db import planning, runs
from trialsync_async.db import units as unit_state
from trialsync_async.db.types import Connection
from trialsync_async.errors import (
    ApiError,
    AuthError,
    EndpointNotFound,
    IncompleteAnswer,
    InstanceUnreachable,
    RecordRejected,
    TrialSyncError,
)

UNIT_LEVEL = (RecordRejected, IncompleteAnswer)
"""Failures that end only their unit, on a plain job's key range too."""

if TYPE_CHECKING:
    from trialsync_async.db.units import UnitStatus
    from trialsync_async.engine.context import RunContext
    from trialsync_async.engine.units import Unit

log = structlog.get_logger(__name__)

FAILURES_IN_SUMMARY = 3
DEAD_ENDPOINT_UNITS = 20


class UnitFailures:
    """The policy above, for one run: records failed and missing units, decides the outcome."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.first: list[str] = []

    async def handle(self, unit: Unit, exc: TrialSyncError) -> None:
        """Record a unit's failure, or raise it when it ends the run."""
        job = self.ctx.job
        if isinstance(exc, (AuthError, InstanceUnreachable)) or not isinstance(exc, ApiError):
            raise exc
        if isinstance(exc, UNIT_LEVEL):
            await self._record(unit, "failed", str(exc))
            return
        if not job.parameters:
            raise exc
        if isinstance(exc, EndpointNotFound):
            if exc.context.get("status") != 404:
                raise exc  # 501: the whole endpoint is missing
            await self.missing(unit, exc)
            return
        await self.failed(unit, exc)

    async def failed(self, unit: Unit, exc: TrialSyncError) -> None:
        if not self.ctx.job.parameters:
            raise exc
        await self._record(unit, "failed", str(exc))

    async def refused(self, unit: Unit) -> None:
        await self._record(unit, "failed", f"refused parameter value: {unit.refused}")

    async def missing(self, unit: Unit, exc: EndpointNotFound) -> None:
        p = self.ctx.progress
        await self._record(unit, "missing", f"missing: {exc}")
        if p.units_ok == 0 and p.units_missing >= DEAD_ENDPOINT_UNITS:
            endpoint = self.ctx.job.source_endpoint
            raise EndpointNotFound(
                status=404, endpoint=f"{endpoint} (all of the first {p.units_missing} values)"
            )

    async def _record(self, unit: Unit, status: UnitStatus, error: str) -> None:
        ctx = self.ctx
        p = ctx.progress
        p.units_done += 1
        if status == "missing":
            p.units_missing += 1
            log.warning("parameter value not found", parameters=unit.scope)
        else:
            p.units_failed += 1
            if len(self.first) < FAILURES_IN_SUMMARY:
                self.first.append(f"{unit.scope or unit.key}: {error}")
            log.warning("unit failed", unit=unit.scope or unit.key, error=error)

        async def record(conn: Connection) -> None:
            async with conn.transaction():
                await planning.key_lookups(conn)
                await runs.record_failure(conn, ctx.run_id, unit.parameters, error)
                await unit_state.upsert(
                    conn, job_id=ctx.job.id, instance_id=ctx.instance_id, pass_id=ctx.pass_id,
                    run_id=ctx.run_id, updates=[unit.update(status)], revisit=ctx.revisit(),
                )  # fmt: skip

        await ctx.pooled(record, what="recording a failed unit")

    def outcome(self) -> tuple[str, str | None]:
        p = self.ctx.progress
        if p.units_missing and p.units_ok == 0 and not p.units_failed:
            return "failed", f"every parameter value answered 404 on {self.ctx.job.source_endpoint}"
        if not p.units_failed:
            return "success", None
        first = "; ".join(self.first)
        return "failed", f"{p.units_failed} of {p.units_total} units failed; first: {first}"
