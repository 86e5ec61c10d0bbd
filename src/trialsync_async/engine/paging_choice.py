"""Which paging strategy a job's units use, and the fallbacks a run records.

``auto``: keyset on ``id`` for OData lists whose records are keyed by id; ``$top``/``$skip``
otherwise (ordered by id when keyed by id); the server's links for lists that are not OData.
An endpoint that refuses ``$filter``/``$orderby`` with HTTP 400 falls back one step (keyset →
ordered offset → plain offset) for the rest of the run, noted as a warning on the run.
"""

from __future__ import annotations

from typing import Any

import structlog

from trialsync_async.api.paging import (
    KeysetPaging,
    LinkPaging,
    OffsetPaging,
    Paging,
    QueryItems,
    content_identity,
    id_identity,
)
from trialsync_async.engine import incremental
from trialsync_async.engine.units import Unit
from trialsync_async.inventory import JobSpec

log = structlog.get_logger(__name__)


class PagingChoice:
    """The job's strategy for this run; shared by all its units."""

    def __init__(self, job: JobSpec, page_size: int, notes: dict[str, Any]) -> None:
        self.job = job
        self.page_size = page_size
        self.notes = notes
        by_id = job.record_key.kind == "id"
        self.link = not job.paged or job.paging == "link"
        self.keyset = not self.link and by_id and job.paging in ("auto", "keyset")
        self.ordered = by_id
        self.count = True
        notes["paging"] = self.kind

    @property
    def kind(self) -> str:
        if self.link:
            return "link"
        if self.keyset:
            return "keyset"
        kind = "offset ordered by id" if self.ordered else "offset"
        return kind if self.count else f"{kind} without $count"

    def for_unit(self, unit: Unit) -> Paging:
        pos = unit.position or {}
        since = (unit.bounds or {}).get("since")
        where = incremental.where(self.job, since) if since else None
        if self.link:
            link: QueryItems | None = pos.get("link")
            start: QueryItems | None = [("$top", self.page_size)] if self.job.paged else None
            return LinkPaging(self.page_size, link=link or start)
        if self.keyset:
            bounds = unit.bounds or {}
            after = pos.get("after", bounds.get("after"))
            return KeysetPaging(
                self.page_size, after=after, upto=bounds.get("upto"), count=self.count,
                where=where,
            )  # fmt: skip
        keyless = self.job.record_key.kind == "none"
        return OffsetPaging(
            self.page_size,
            order_by="id" if self.ordered else None,
            identity=content_identity if keyless else id_identity,
            keyed=not keyless,
            skip=int(pos.get("skip", 0)) if not keyless else 0,
            count=self.count,
            where=where,
        )

    def refuse(self, detail: str) -> bool:
        """The endpoint answered 400 to the current strategy: step down; False if none left."""
        if self.keyset:
            self.keyset = False
        elif self.ordered and not self.link:
            self.ordered = False
        elif self.count and not self.link:
            self.count = False
        else:
            return False
        warning = f"endpoint refused the paging options ({detail}); now {self.kind}"
        self.notes.setdefault("warnings", []).append(warning)
        self.notes["paging"] = self.kind
        log.warning("paging fallback", job_id=self.job.id, now=self.kind, detail=detail)
        return True
