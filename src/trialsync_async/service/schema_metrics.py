"""``trialsync_schema_drift_fields``: per job and kind, the fields that drifted in the job's
latest checked run (schema_drift.py), read from the run log when ``/metrics`` refreshes
(service/metrics.py, every ``REFRESH_SECONDS``). A gauge, not a counter: drift is a state the
next run may end; every kind is exposed, 0 included, for each job checked at least once."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trialsync_async.db.schema_drift import CheckedRun, checked_runs
from trialsync_async.db.types import Connection
from trialsync_async.schema_drift import KINDS, summarize

NAME = "trialsync_schema_drift_fields"


class SchemaDriftCollector(Collector):
    def __init__(self) -> None:
        self.latest: list[CheckedRun] = []

    async def refresh(self, conn: Connection) -> None:
        self.latest = await checked_runs(conn, per_job=1)

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            NAME,
            "Fields of the job's records that drifted from the swagger's record model in its "
            "latest checked run, by kind: undeclared, missing, type_mismatch.",
            labels=("job_id", "job_name", "kind"),
        )

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for run in self.latest:
            counts = summarize(run.drift)
            for kind in KINDS:
                family.add_metric([str(run.job_id), run.job_name or "", kind], counts[kind])
        return [family]
