"""Prometheus metrics of one ``serve`` replica, in a registry of its own (not the global
default one, so two services in one process, as in the tests, never collide).

Two sources. The daemon reports runs as they start and finish (``run_started``,
``run_finished``): counters, a duration histogram, the last-success gauge. Everything else is
read from the live service when scraped (``_LiveCollector``): the API clients' counters, the
limiters' waits, queue depths, the pool, the replica count. Those values already live in
their objects; copying them into metrics on every change would only make them stale. Each
job's freshness (freshness.py) and its running run's heartbeat are read from the database
with the last-success timestamps, at most every ``REFRESH_SECONDS``.

The freshness gauges and the last-success gauge are per (job, instance) (a run is one (job,
instance)): labelled ``job_id``, ``job_name`` and ``api_instance``.

Labels say ``job_id``/``job_name`` and ``api_instance``, never ``job`` or ``instance``:
Prometheus sets those two on every scraped series, and a clash renames ours.
"""

from __future__ import annotations

import math
import time
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trialsync_async import __version__, freshness
from trialsync_async.db import status
from trialsync_async.db.types import Connection
from trialsync_async.engine.result import JobResult
from trialsync_async.freshness import Freshness
from trialsync_async.inventory import DEFAULT_INSTANCE_ID
from trialsync_async.service.schema_metrics import SchemaDriftCollector
from trialsync_async.service.view import ServiceView
from trialsync_async.settings import Settings

RECORD_KINDS = ("inserted", "updated", "unchanged", "deleted")
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)
"""Seconds: a lookup list takes a second, a big fan-out hours."""
REFRESH_SECONDS = 30.0
"""How stale the last-success timestamps read from the database may get (other replicas'
runs); this replica's own successes are exposed at once."""

JOB_LABELS = ("job_id", "job_name")
PAIR_LABELS = (*JOB_LABELS, "api_instance")
"""A (job, instance): the freshness and last-success gauges' labels."""

Pair = tuple[int, int]
"""(job id, API instance id)."""


class ServiceMetrics:
    """The metrics the daemon reports and ``/metrics`` exposes (``registry``).

    ``view`` is read at scrape time only, so it may be the daemon still being built.
    """

    def __init__(self, view: ServiceView | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._started = Counter(
            "trialsync_runs_started", "Runs started by this replica.", JOB_LABELS, registry=r
        )
        self._finished = Counter(
            "trialsync_runs_finished",
            "Runs finished by this replica, by final status "
            "(success, failed, interrupted, skipped, not started).",
            (*JOB_LABELS, "status"),
            registry=r,
        )
        self._duration = Histogram(
            "trialsync_run_duration_seconds",
            "Wall-clock seconds of the runs this replica finished (skipped runs left out).",
            JOB_LABELS,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self._records = Counter(
            "trialsync_records",
            "Staging rows the runs of this replica inserted, updated, left unchanged or "
            "deleted (marked).",
            (*JOB_LABELS, "kind"),
            registry=r,
        )
        Info("trialsync_build", "The loader's version.", registry=r).info({"version": __version__})
        self._last_success: dict[Pair, tuple[str, float]] = {}
        self._refreshed_at: float | None = None
        self._view = view
        self.jobs = _JobsSnapshot()
        r.register(_LiveCollector(view, self._last_success, self.jobs))
        self.schema_drift = SchemaDriftCollector()
        r.register(self.schema_drift)

    # --- called by the daemon ---------------------------------------------------------

    def run_started(self, job_id: int, job_name: str) -> None:
        self._started.labels(str(job_id), job_name).inc()

    def run_finished(self, result: JobResult) -> None:
        labels = (str(result.job_id), result.name)
        self._finished.labels(*labels, result.status).inc()
        if result.status not in ("skipped", "not started"):
            self._duration.labels(*labels).observe(result.seconds)
        for kind in RECORD_KINDS:  # inc(0) too: the series exists from the first run on
            self._records.labels(*labels, kind).inc(getattr(result.progress, kind))
        if result.ok:
            instance = result.instance_id or DEFAULT_INSTANCE_ID
            self._last_success[(result.job_id, instance)] = (result.name, time.time())

    # --- called by /metrics -----------------------------------------------------------

    def refresh_due(self) -> bool:
        """Whether ``refresh`` last ran more than ``REFRESH_SECONDS`` ago (or never)."""
        return (
            self._refreshed_at is None or time.monotonic() - self._refreshed_at >= REFRESH_SECONDS
        )

    async def refresh(self, conn: Connection) -> None:
        """Last-success timestamps from the run log: a fresh replica exposes them too, and
        other replicas' successes show up. A newer time already known is kept."""
        for row in await status.last_successes(conn):
            pair = (row.job_id, row.instance_id)
            known = self._last_success.get(pair)
            if known is None or row.at > known[1]:
                self._last_success[pair] = (row.job_name, row.at)
        s = self._view.settings if self._view is not None else Settings()
        overdue = self._view.parents_overdue() if self._view is not None else None
        found = await freshness.read(
            conn, default_schedule=s.default_schedule, lease_seconds=s.lease_seconds,
            overdue=overdue,
        )  # fmt: skip
        self.jobs.update(freshness.pairs(found))
        await self.schema_drift.refresh(conn)
        self._refreshed_at = time.monotonic()


class _JobsSnapshot:
    """Every (job, instance)'s freshness as last read, and when (monotonic): a heartbeat's age is
    exposed as read plus the time since."""

    def __init__(self) -> None:
        self.jobs: list[Freshness] = []
        self.read_at = 0.0

    def update(self, jobs: list[Freshness]) -> None:
        self.jobs, self.read_at = jobs, time.monotonic()


def _finite_or_inf(rate: float | None) -> float:
    return math.inf if rate is None else rate


class _Families:
    """The scrape-time metric families, empty until filled."""

    def __init__(self) -> None:
        self.last_success = GaugeMetricFamily(
            "trialsync_last_success_timestamp_seconds",
            "When each job last succeeded for the API instance (seconds since the epoch), on "
            "any replica.",
            labels=PAIR_LABELS,
        )
        self.requests = CounterMetricFamily(
            "trialsync_api_requests",
            "HTTP attempts to each API instance by outcome (ok, http_<status>, timeout, "
            "connection, malformed, client_error).",
            labels=("api_instance", "outcome"),
        )
        self.retries = CounterMetricFamily(
            "trialsync_api_retries", "Retried HTTP attempts.", labels=("api_instance",)
        )
        self.throttled = CounterMetricFamily(
            "trialsync_api_throttled",
            "HTTP 429 (Too Many Requests) answers.",
            labels=("api_instance",),
        )
        self.waited = CounterMetricFamily(
            "trialsync_api_limiter_wait_seconds",
            "Seconds requests spent waiting in the instance's rate limiter, all told.",
            labels=("api_instance",),
        )
        self.rate = GaugeMetricFamily(
            "trialsync_api_rate_requests_per_second",
            "The rate each instance's requests are held to now (AIMD); +Inf: not limited.",
            labels=("api_instance",),
        )
        self.rate_ceiling = GaugeMetricFamily(
            "trialsync_api_rate_ceiling_requests_per_second",
            "The configured rate limit (this replica's share); +Inf: none configured.",
            labels=("api_instance",),
        )
        self.rate_decreases = CounterMetricFamily(
            "trialsync_api_rate_decreases",
            "How often a 429 or 503 lowered the instance's rate.",
            labels=("api_instance",),
        )
        self.concurrency = GaugeMetricFamily(
            "trialsync_api_concurrency_limit",
            "Requests the instance may have in flight now (the adaptive limit).",
            labels=("api_instance",),
        )
        self.in_flight = GaugeMetricFamily(
            "trialsync_api_in_flight",
            "Requests to the instance in flight now.",
            labels=("api_instance",),
        )
        self.queues = GaugeMetricFamily(
            "trialsync_queue_depth",
            "Items waiting in a running job's page queue (parsed pages) and batch queue "
            "(batches for the writer).",
            labels=(*JOB_LABELS, "queue"),
        )
        self.in_progress = GaugeMetricFamily(
            "trialsync_runs_in_progress", "Runs this replica executes now."
        )
        self.pool_in_use = GaugeMetricFamily(
            "trialsync_db_pool_connections_in_use", "Pool connections checked out now."
        )
        self.pool_size = GaugeMetricFamily(
            "trialsync_db_pool_connections", "Pool connections open now."
        )
        self.replicas = GaugeMetricFamily(
            "trialsync_replicas_live", "Live replicas as this one last saw them (itself too)."
        )
        self.lag = GaugeMetricFamily(
            "trialsync_scheduler_loop_lag_seconds",
            "Seconds since the scheduler loop last completed a turn.",
        )
        self.stale = GaugeMetricFamily(
            "trialsync_job_stale",
            "1 when the job's last success for the API instance is past its bound (2 x "
            "schedule interval + usual duration; freshness.py), whatever the job does now; "
            "else 0 (disabled jobs: 0).",
            labels=PAIR_LABELS,
        )
        self.state = GaugeMetricFamily(
            "trialsync_job_freshness_state",
            "1 for each job and API instance it runs for, labelled with its freshness state: "
            "failing, stale, running, never, fresh or disabled.",
            labels=(*PAIR_LABELS, "state"),
        )
        self.overdue = GaugeMetricFamily(
            "trialsync_job_parents_overdue_ratio",
            "Per-parent fan-outs, per API instance: the share of their parents last fetched "
            "longer than the job's max_refresh ago.",
            labels=PAIR_LABELS,
        )
        self.heartbeat_age = GaugeMetricFamily(
            "trialsync_run_heartbeat_age_seconds",
            "Seconds since the heartbeat of the job's run marked running for the API instance "
            "(any replica or process); absent when none runs. Above the lease: the run is dead.",
            labels=PAIR_LABELS,
        )

    def all(self) -> list[Metric]:
        return list(vars(self).values())


class _LiveCollector(Collector):
    """Reads the service when scraped."""

    def __init__(
        self,
        view: ServiceView | None,
        last_success: dict[Pair, tuple[str, float]],
        jobs: _JobsSnapshot | None = None,
    ):
        self._view = view
        self._last_success = last_success
        self._jobs = jobs or _JobsSnapshot()

    def describe(self) -> Iterable[Metric]:
        return _Families().all()  # no samples: registering must not touch the view

    def collect(self) -> Iterable[Metric]:
        f = _Families()
        for (job_id, instance), (name, at) in sorted(self._last_success.items()):
            f.last_success.add_metric([str(job_id), name, str(instance)], at)
        self._freshness(f)
        if self._view is not None:
            self._clients(self._view, f)
            self._runs(self._view, f)
            pool = self._view.pool
            f.pool_in_use.add_metric([], pool.get_size() - pool.get_idle_size())
            f.pool_size.add_metric([], pool.get_size())
            f.replicas.add_metric([], self._view.live_replicas())
            f.lag.add_metric([], self._view.loop_lag())
        return f.all()

    def _freshness(self, f: _Families) -> None:
        since = time.monotonic() - self._jobs.read_at
        for job in self._jobs.jobs:
            labels = [str(job.job_id), job.job_name, str(job.instance_id)]
            f.stale.add_metric(labels, 1.0 if job.stale else 0.0)
            f.state.add_metric([*labels, job.state], 1.0)
            if job.parents_overdue_ratio is not None:
                f.overdue.add_metric(labels, job.parents_overdue_ratio)
            if job.running_run_id is not None and job.heartbeat_age_seconds is not None:
                f.heartbeat_age.add_metric(labels, job.heartbeat_age_seconds + since)

    @staticmethod
    def _clients(view: ServiceView, f: _Families) -> None:
        # One client per instance; summed all the same, as a duplicate sample is invalid.
        outcomes: defaultdict[str, Tally[str]] = defaultdict(Tally)
        retries: defaultdict[str, int] = defaultdict(int)
        throttled: defaultdict[str, int] = defaultdict(int)
        waited: defaultdict[str, float] = defaultdict(float)
        for client in view.clients():
            instance = str(client.instance_id)
            outcomes[instance].update(client.stats.outcomes)
            retries[instance] += client.stats.retries
            throttled[instance] += client.stats.outcomes.get("http_429", 0)
            waited[instance] += client.limiter.waited_seconds
        for instance in sorted(outcomes):
            for outcome, n in sorted(outcomes[instance].items()):
                f.requests.add_metric([instance, outcome], n)
            f.retries.add_metric([instance], retries[instance])
            f.throttled.add_metric([instance], throttled[instance])
            f.waited.add_metric([instance], waited[instance])
        for client in view.clients():
            instance, limiter, slots = str(client.instance_id), client.limiter, client.slots
            f.rate.add_metric([instance], _finite_or_inf(limiter.rate))
            f.rate_ceiling.add_metric([instance], _finite_or_inf(limiter.ceiling))
            f.rate_decreases.add_metric([instance], limiter.decreases)
            f.concurrency.add_metric([instance], slots.limit.limit)
            f.in_flight.add_metric([instance], slots.in_flight)

    @staticmethod
    def _runs(view: ServiceView, f: _Families) -> None:
        running = view.running()
        f.in_progress.add_metric([], len(running))
        depths: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        for run in running:
            if run.stages is None:  # not started yet
                continue
            job = (str(run.job.id), run.job.name)
            depths[(*job, "pages")] += run.stages.pages_waiting()
            depths[(*job, "batches")] += run.stages.batches_waiting()
        for labels, size in sorted(depths.items()):
            f.queues.add_metric(list(labels), size)
