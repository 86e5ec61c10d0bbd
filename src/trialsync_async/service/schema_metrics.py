"""``trialsync_schema_drift_fields``: per job, API instance and kind, the fields that drifted in
the latest checked run of the (job, instance) (schema_drift.py), read from the run log when
``/metrics`` refreshes (service/metrics.py, every ``REFRESH_SECONDS``). A gauge, not a counter:
drift is a state the next run may end; every kind is exposed, 0 included, for each (job,
instance) checked at least once."""

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
            "latest checked run for the API instance, by kind: undeclared, missing, "
            "type_mismatch.",
            labels=("job_id", "job_name", "api_instance", "kind"),
        )

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        for run in self.latest:
            counts = summarize(run.drift)
            for kind in KINDS:
                labels = [str(run.job_id), run.job_name or "", str(run.instance_id), kind]
                family.add_metric(labels, counts[kind])
        return [family]
