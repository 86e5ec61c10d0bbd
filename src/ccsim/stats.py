"""Request statistics of a running simulator (admin requests excluded).

``snapshot()["by_parameters"]`` counts requests per parent: ``{template: {value: requests}}``
for every template with path parameters, the value being the path parameters joined by ","
(``["/api/v1/studies/{studyId}/subjects/odata"]["123"]``,
``["/api/v1/studies/{studyId}/visits/{visitId}/elements/odata"]["123,456"]``), and for the
global lists their parent query parameter's value (``["/api/v1/subjects/odata"]["123"]`` for
``?studyId=123``, ``[""]`` without one). Every request to the template counts, whatever its
answer (401, 429, 404 ... included), as in ``by_template``. At most ``MAX_PARAMETER_KEYS``
values are kept; requests for further new values are counted in ``by_parameters_overflow``.

``snapshot()["transforms"]`` counts the answers changed by answer transforms, per kind
(``{"empty_page": 2}``); an answer changed by two transforms counts once for each.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

_KEEP_SECONDS = 3600
MAX_PARAMETER_KEYS = 1_000_000  # distinct (template, value) pairs kept in by_parameters


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
        self.transforms: Counter[str] = Counter()
        self.per_second: Counter[int] = Counter()
        self.served_per_second: Counter[int] = Counter()  # answered 200, by second
        self.in_flight = 0
        self.max_in_flight = 0
        self.by_parameters: dict[str, Counter[str]] = {}
        self.parameter_keys = 0
        self.parameters_overflow = 0

    def arrived(self) -> None:
        self.requests += 1
        sec = int(time.time())
        self.per_second[sec] += 1
        if len(self.per_second) > _KEEP_SECONDS:
            for old in sorted(self.per_second)[: len(self.per_second) - _KEEP_SECONDS]:
                del self.per_second[old]

    def parameters(self, template: str, value: str) -> None:
        """Count one request of ``template`` for parent ``value`` (see the module docstring)."""
        per = self.by_parameters.get(template)
        if per is None:
            per = self.by_parameters[template] = Counter()
        if value not in per:
            if self.parameter_keys >= MAX_PARAMETER_KEYS:
                self.parameters_overflow += 1
                return
            self.parameter_keys += 1
        per[value] += 1

    def enter(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        self.in_flight -= 1

    def finished(self, template: str, status: str, records: int = 0) -> None:
        self.by_status[status] += 1
        if status == "200":
            sec = int(time.time())
            self.served_per_second[sec] += 1
            if len(self.served_per_second) > _KEEP_SECONDS:
                del self.served_per_second[min(self.served_per_second)]
        per = self.by_template.get(template)
        if per is None:
            per = self.by_template[template] = Counter()
        per[status] += 1
        if records:
            self.records += records
            self.records_by_template[template] += records

    def fault(self, kind: str) -> None:
        self.faults[kind] += 1

    def transformed(self, kind: str) -> None:
        """Count one answer changed by an answer transform of ``kind``."""
        self.transforms[kind] += 1

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
            "by_parameters": {t: dict(c) for t, c in self.by_parameters.items()},
            "by_parameters_overflow": self.parameters_overflow,
            "faults": dict(self.faults),
            "transforms": dict(self.transforms),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "per_second": per_second,
            "served_per_second": {str(k): v for k, v in sorted(self.served_per_second.items())},
            "max_per_second": max(self.per_second.values(), default=0),
        }
