"""Request statistics of a running simulator (admin requests excluded)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

_KEEP_SECONDS = 3600


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started_at = time.time()
        self.requests = 0
        self.records = 0
        self.by_status: Counter[str] = Counter()
        self.by_template: dict[str, Counter[str]] = {}
        self.records_by_template: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.per_second: Counter[int] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    def arrived(self) -> None:
        self.requests += 1
        sec = int(time.time())
        self.per_second[sec] += 1
        if len(self.per_second) > _KEEP_SECONDS:
            for old in sorted(self.per_second)[: len(self.per_second) - _KEEP_SECONDS]:
                del self.per_second[old]

    def enter(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        self.in_flight -= 1

    def finished(self, template: str, status: str, records: int = 0) -> None:
        self.by_status[status] += 1
        per = self.by_template.get(template)
        if per is None:
            per = self.by_template[template] = Counter()
        per[status] += 1
        if records:
            self.records += records
            self.records_by_template[template] += records

    def fault(self, kind: str) -> None:
        self.faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        per_second = {str(k): v for k, v in sorted(self.per_second.items())}
        return {
            "since": self.started_at,
            "requests": self.requests,
            "records": self.records,
            "by_status": dict(self.by_status),
            "by_template": {
                t: {
                    "requests": sum(c.values()),
                    "by_status": dict(c),
                    "records": self.records_by_template.get(t, 0),
                }
                for t, c in self.by_template.items()
            },
            "faults": dict(self.faults),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "per_second": per_second,
            "max_per_second": max(self.per_second.values(), default=0),
        }
