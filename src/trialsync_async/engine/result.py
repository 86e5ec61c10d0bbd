"""What a run counts as it goes and what it ends with: ``RunProgress`` (the run row's counters)
and ``JobResult``. The display, the metrics, the service and the demo read these; nothing here
runs anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trialsync_async.db.staging import RecordCounts


@dataclass(slots=True)
class RunProgress(RecordCounts):
    """A run's counters, as the run row holds them. ``requests`` counts HTTP attempts."""

    fetched: int = 0
    requests: int = 0
    retries: int = 0
    sanitized: int = 0
    throttled: int = 0  # 429 and 503 answers (kept in notes["pressure"])
    duplicates_in_source: int = 0  # records that repeated an id inside one answer
    removed: int = 0  # rows marked or deleted for good, net (the mass-deletion guard's count)
    units_total: int | None = None
    units_done: int = 0
    units_failed: int = 0
    units_missing: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def units_ok(self) -> int:
        return self.units_done - self.units_failed - self.units_missing


@dataclass(slots=True)
class JobResult:
    job_id: int
    name: str
    status: str  # success | failed | interrupted | skipped | not started
    run_id: int | None = None
    error: str | None = None
    progress: RunProgress = field(default_factory=RunProgress)
    seconds: float = 0.0
    continues_run_id: int | None = None
    page_queue_high_water: int = 0
    batch_queue_high_water: int = 0
    instance_id: int | None = None  # the API instance the run was for

    @property
    def ok(self) -> bool:
        return self.status == "success"
