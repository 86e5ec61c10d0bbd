"""Fetching one unit: every page through the job's paging strategy, parsed into rows.

Pages go to the page queue as chunks (rows plus the position after them), then the unit's
end. A 400 to the paging options before any page steps the strategy down and starts the unit
again; any other failure goes to the unit-failure policy.
"""

from __future__ import annotations

from typing import Any

import structlog

from trialsync_async.api import ApiClient, Page
from trialsync_async.api.client import Params
from trialsync_async.api.paging import walk
from trialsync_async.engine.context import RunContext
from trialsync_async.engine.failures import UnitFailures
from trialsync_async.engine.paging_choice import PagingChoice
from trialsync_async.engine.pipeline import Chunk, TrackedQueue, UnitEnd
from trialsync_async.engine.units import Unit
from trialsync_async.errors import ClientRequestError, TrialSyncError
from trialsync_async.records import RowBuilder

log = structlog.get_logger(__name__)


class JobClient:
    """The instance's shared client, counting this job's attempts and retries."""

    def __init__(self, client: ApiClient, ctx: RunContext) -> None:
        self.client = client
        self.ctx = ctx

    async def get_page(self, path: str, params: Params | None = None) -> Page:
        return await self.client.get_page(path, params, tally=self.ctx.progress)


class UnitFetcher:
    def __init__(
        self,
        ctx: RunContext,
        client: JobClient,
        paging: PagingChoice,
        rows: RowBuilder,
        failures: UnitFailures,
    ) -> None:
        self.ctx = ctx
        self.client = client
        self.paging = paging
        self.rows = rows
        self.failures = failures
        self._sanitized_logged = False

    async def fetch(self, unit: Unit, out: TrackedQueue[Chunk | UnitEnd | None]) -> None:
        """Every page of one unit into ``out``, then its end; failures by policy."""
        if unit.refused is not None:
            await self.failures.refused(unit)
            return
        keyless = self.ctx.keyless
        seen: dict[str, int] = {}
        keys: list[str] | None = [] if keyless else None
        while True:
            paging = self.paging.for_unit(unit)
            emitted = 0
            try:
                async for records in walk(self.client, unit.path, paging):
                    emitted += 1
                    position = None if keyless or paging.done else paging.position()
                    await self._emit(out, unit, records, position, seen=seen, keys=keys)
            except ClientRequestError as exc:
                refused = exc.context.get("status") == 400 and emitted == 0
                if refused and self.paging.refuse(str(exc)):
                    continue  # the same unit again with the next strategy
                await self.failures.failed(unit, exc)
                return
            except TrialSyncError as exc:
                await self.failures.handle(unit, exc)
                return
            break
        await out.put(UnitEnd(unit, keys))
        self.ctx.progress.units_done += 1

    async def _emit(
        self,
        out: TrackedQueue[Chunk | UnitEnd | None],
        unit: Unit,
        records: list[Any],
        position: dict[str, Any] | None,
        *,
        seen: dict[str, int],
        keys: list[str] | None,
    ) -> None:
        """Parse a page's records into rows and queue them for the batcher."""
        p = self.ctx.progress
        rows = [self.rows.row(r, scope=unit.scope, seen=seen) for r in records]
        if keys is not None:
            keys.extend(row.key for row in rows if row.key is not None)
        sanitized = sum(row.sanitized for row in rows)
        if sanitized:
            p.sanitized += sanitized
            if not self._sanitized_logged:
                self._sanitized_logged = True
                log.warning(
                    "NUL characters replaced by U+FFFD", job=self.ctx.job.name,
                    unit=unit.scope or unit.key, records=sanitized,
                )  # fmt: skip
        p.fetched += len(rows)
        await out.put(Chunk(unit, rows, position))
