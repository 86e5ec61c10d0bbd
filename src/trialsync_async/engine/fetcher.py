"""Fetching one unit: every page through the job's paging strategy, parsed into rows.

Pages go to the page queue as chunks (rows plus the position after them), then the unit's
end with the walk's evidence (what the API claimed, what it gave). A 400 to the paging options
before any page steps the strategy down and starts the unit again; any other failure goes to
the unit-failure policy.
"""

from __future__ import annotations

from typing import Any

import structlog

from trialsync_async.api import ApiClient, Page
from trialsync_async.api.client import Params
from trialsync_async.api.pages import Expect
from trialsync_async.api.paging import Evidence, Paging, walk
from trialsync_async.engine.context import RunContext
from trialsync_async.engine.failures import UnitFailures
from trialsync_async.engine.paging_choice import PagingChoice
from trialsync_async.engine.pipeline import Chunk, TrackedQueue, UnitEnd
from trialsync_async.engine.units import Unit
from trialsync_async.errors import ClientRequestError, TrialSyncError
from trialsync_async.records import RowBuilder

log = structlog.get_logger(__name__)


class JobClient:
    """The instance's shared client, counting this job's attempts and retries; an OData
    endpoint's answers must be lists (a single object there is malformed, not a record)."""

    def __init__(self, client: ApiClient, ctx: RunContext) -> None:
        self.client = client
        self.ctx = ctx
        self.expect: Expect = "list" if ctx.job.paged else "any"

    async def get_page(self, path: str, params: Params | None = None) -> Page:
        return await self.client.get_page(path, params, tally=self.ctx.progress, expect=self.expect)


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
        self._noted: set[str] = set()  # warnings given once per run

    async def fetch(self, unit: Unit, out: TrackedQueue[Chunk | UnitEnd | None]) -> None:
        """Every page of one unit into ``out``, then its end; failures by policy."""
        if unit.refused is not None:
            await self.failures.refused(unit)
            return
        keyless = self.ctx.keyless
        job = self.ctx.job
        # A walk whose end settles deletions (a plain pass, not incremental, not `keep`; a
        # keyless list) has an end no count proves checked.
        plain = not job.parameters or job.fanout == "global"
        settles = keyless or (job.deletes != "keep" and not self.ctx.incremental_since)
        check_end = plain and settles
        seen: dict[str, int] = {}
        keys: list[str] | None = [] if keyless else None
        while True:
            paging = self.paging.for_unit(unit)
            emitted = 0
            try:
                async for records in walk(
                    self.client, unit.path, paging,
                    retry=self.client.client.retry, on_retry=self._answer_retried,
                    check_end=check_end,
                ):  # fmt: skip
                    emitted += 1
                    position = None if keyless or paging.done else paging.position()
                    await self._emit(out, unit, records, position, emitted, seen=seen, keys=keys)
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
        evidence = paging.evidence()
        self._note_walk(unit, paging, evidence)
        await out.put(UnitEnd(unit, keys, evidence))
        self.ctx.progress.units_done += 1

    async def _emit(
        self,
        out: TrackedQueue[Chunk | UnitEnd | None],
        unit: Unit,
        records: list[Any],
        position: dict[str, Any] | None,
        page_number: int,
        *,
        seen: dict[str, int],
        keys: list[str] | None,
    ) -> None:
        """Parse a page's records into rows and queue them for the batcher."""
        p = self.ctx.progress
        place = unit.scope or unit.key
        rows = self.rows.rows(
            records, scope=unit.scope, seen=seen,
            where=lambda i: f"#{i + 1} of page {page_number} ({place})",
        )  # fmt: skip
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

    def _answer_retried(self, detail: str) -> None:
        notes = self.ctx.progress.notes
        notes["answers_retried"] = notes.get("answers_retried", 0) + 1
        log.warning("deficient answer; asking again", job_id=self.ctx.job.id, detail=detail)

    def _note_walk(self, unit: Unit, paging: Paging, evidence: Evidence) -> None:
        """What the walk's answers said beyond their records: duplicates, caps, low counts."""
        p = self.ctx.progress
        place = unit.scope or unit.key
        if evidence.duplicates:
            p.duplicates_in_source += evidence.duplicates
            if "duplicates" not in self._noted:
                self._noted.add("duplicates")
                log.warning(
                    "duplicate ids in one answer: the last of each kept", job_id=self.ctx.job.id,
                    unit=place, ids=paging.duplicate_ids, records=evidence.duplicates,
                )  # fmt: skip
        if paging.capped_at is not None and "cap" not in self._noted:
            self._noted.add("cap")
            self._warn(
                f"the API answered {paging.capped_at:,} records where more were asked while its "
                f"count or next link said more remained ({place}): paged on at that size"
            )
        if evidence.low_counts and "low_count" not in self._noted:
            self._noted.add("low_count")
            self._warn(
                f"the API's count was below the records it returned ({place}): counts ignored, "
                "the list walked to its end"
            )

    def _warn(self, warning: str) -> None:
        self.ctx.progress.notes.setdefault("warnings", []).append(warning)
        log.warning("answer", job_id=self.ctx.job.id, detail=warning)
