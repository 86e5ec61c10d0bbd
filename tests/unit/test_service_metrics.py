"""ServiceMetrics without a database: what the daemon reports, what is read at scrape time,
all parsed back from the exposition text (never grepped)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.service_support import StubView
from trialsync_async.api import ApiClient
from trialsync_async.engine.clients import make_client
from trialsync_async.engine.pipeline import TrackedQueue
from trialsync_async.engine.result import JobResult, RunProgress
from trialsync_async.service.metrics import RECORD_KINDS, ServiceMetrics
from trialsync_async.settings import Settings

pytestmark = pytest.mark.unit

API_KEY = "very-secret-api-key"


@dataclass
class FakePool:
    size: int = 5
    idle: int = 2

    def get_size(self) -> int:
        return self.size

    def get_idle_size(self) -> int:
        return self.idle


def FakeView(**changes: Any) -> StubView:
    """The ServiceView protocol, no database behind it."""
    values: dict[str, Any] = {"pool": FakePool(), "replica_id": "r1", "lag": 0.25, "replicas": 3}
    return StubView(**{**values, **changes})


def scrape(metrics: ServiceMetrics) -> dict[str, Any]:
    text = generate_latest(metrics.registry).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(families: dict[str, Any], family: str, sample: str | None = None) -> list[Sample]:
    name = sample or family
    return [s for s in families[family].samples if s.name == name]


def value(families: dict[str, Any], family: str, sample: str | None = None, **labels: str) -> float:
    found = [s.value for s in samples(families, family, sample) if s.labels == labels]
    assert len(found) == 1, (family, labels, samples(families, family, sample))
    return float(found[0])


def client(instance_id: int) -> ApiClient:
    return make_client(
        Settings(),
        instance_id=instance_id,
        base_url="http://127.0.0.1:9/CCSWEB",
        api_key=API_KEY,
        auth_header="CCAPIKey",
        rate_limit=10,
    )


def result(status: str, **kw: Any) -> JobResult:
    return JobResult(**{"job_id": 7, "name": "studies", "status": status, "run_id": 11, **kw})


def test_runs_reported_by_the_daemon() -> None:
    metrics = ServiceMetrics()
    metrics.run_started(7, "studies")
    metrics.run_started(7, "studies")
    progress = RunProgress(inserted=5, updated=2, unchanged=40, deleted=1)
    before = time.time()
    metrics.run_finished(result("success", progress=progress, seconds=3.5))
    metrics.run_finished(result("failed", seconds=100.0))
    metrics.run_finished(result("skipped", run_id=None))
    f = scrape(metrics)
    job = {"job_id": "7", "job_name": "studies"}

    assert value(f, "trialsync_runs_started", "trialsync_runs_started_total", **job) == 2
    for status in ("success", "failed", "skipped"):
        assert value(f, "trialsync_runs_finished", "trialsync_runs_finished_total",
                     **job, status=status) == 1  # fmt: skip
    assert f["trialsync_run_duration_seconds"].type == "histogram"
    count = "trialsync_run_duration_seconds_count"
    assert value(f, "trialsync_run_duration_seconds", count, **job) == 2  # skipped: not timed
    assert value(f, "trialsync_run_duration_seconds", "trialsync_run_duration_seconds_sum",
                 **job) == 103.5  # fmt: skip
    le_5 = value(f, "trialsync_run_duration_seconds", "trialsync_run_duration_seconds_bucket",
                 **job, le="5.0")  # fmt: skip
    assert le_5 == 1
    records = {kind: value(f, "trialsync_records", "trialsync_records_total", **job, kind=kind)
               for kind in RECORD_KINDS}  # fmt: skip
    assert records == {"inserted": 5, "updated": 2, "unchanged": 40, "deleted": 1}
    at = value(f, "trialsync_last_success_timestamp_seconds", **job, api_instance="1")
    assert before <= at <= time.time()
    assert f["trialsync_last_success_timestamp_seconds"].type == "gauge"


def test_last_success_is_per_api_instance() -> None:
    metrics = ServiceMetrics()
    metrics.run_finished(result("success", instance_id=1))
    first = time.time()
    metrics.run_finished(result("failed", instance_id=2))
    f = scrape(metrics)
    [only] = samples(f, "trialsync_last_success_timestamp_seconds")
    assert only.labels == {"job_id": "7", "job_name": "studies", "api_instance": "1"}
    metrics.run_finished(result("success", instance_id=2))
    f = scrape(metrics)
    job = {"job_id": "7", "job_name": "studies"}
    assert value(f, "trialsync_last_success_timestamp_seconds", **job, api_instance="1") <= first
    assert value(f, "trialsync_last_success_timestamp_seconds", **job, api_instance="2") >= first


def test_failed_run_sets_no_last_success() -> None:
    metrics = ServiceMetrics()
    metrics.run_finished(result("failed"))
    f = scrape(metrics)
    assert samples(f, "trialsync_last_success_timestamp_seconds") == []
    # the records series exist from the first run on, at 0
    assert value(f, "trialsync_records", "trialsync_records_total",
                 job_id="7", job_name="studies", kind="inserted") == 0  # fmt: skip


async def test_live_values_read_when_scraped() -> None:
    one, two = client(1), client(2)
    one.stats.outcomes.update({"ok": 90, "http_429": 4, "http_503": 2, "timeout": 1})
    one.stats.retries = 7
    one.limiter.waited_seconds = 12.5
    two.stats.outcomes.update({"ok": 3})
    pages: TrackedQueue[Any] = TrackedQueue(16)
    batches: TrackedQueue[Any] = TrackedQueue(2)
    for _ in range(3):
        await pages.put(object())
    await batches.put(object())
    running = [
        SimpleNamespace(job=SimpleNamespace(id=20, name="subjects"),
                        stages=SimpleNamespace(pages_waiting=pages.qsize,
                                               batches_waiting=batches.qsize)),
        SimpleNamespace(job=SimpleNamespace(id=21, name="visits"), stages=None),  # starting
    ]  # fmt: skip
    view = FakeView(api_clients=[one, two], runs=running)
    metrics = ServiceMetrics(view)
    f = scrape(metrics)

    requests = "trialsync_api_requests_total"
    assert f["trialsync_api_requests"].type == "counter"
    assert value(f, "trialsync_api_requests", requests, api_instance="1", outcome="ok") == 90
    assert value(f, "trialsync_api_requests", requests, api_instance="1",
                 outcome="http_429") == 4  # fmt: skip
    assert value(f, "trialsync_api_requests", requests, api_instance="2", outcome="ok") == 3
    assert value(f, "trialsync_api_retries", "trialsync_api_retries_total", api_instance="1") == 7
    throttled = "trialsync_api_throttled_total"
    assert value(f, "trialsync_api_throttled", throttled, api_instance="1") == 4
    assert value(f, "trialsync_api_throttled", throttled, api_instance="2") == 0
    waited = "trialsync_api_limiter_wait_seconds_total"
    assert value(f, "trialsync_api_limiter_wait_seconds", waited, api_instance="1") == 12.5
    job = {"job_id": "20", "job_name": "subjects"}
    assert value(f, "trialsync_queue_depth", **job, queue="pages") == 3
    assert value(f, "trialsync_queue_depth", **job, queue="batches") == 1
    assert {s.labels["job_id"] for s in samples(f, "trialsync_queue_depth")} == {"20"}
    assert value(f, "trialsync_runs_in_progress") == 2
    assert value(f, "trialsync_db_pool_connections_in_use") == 3
    assert value(f, "trialsync_db_pool_connections") == 5
    assert value(f, "trialsync_replicas_live") == 3
    assert value(f, "trialsync_scheduler_loop_lag_seconds") == 0.25

    # read again at the next scrape, not copied once
    one.stats.outcomes["ok"] += 10
    view.replicas = 1
    f = scrape(metrics)
    assert value(f, "trialsync_api_requests", requests, api_instance="1", outcome="ok") == 100
    assert value(f, "trialsync_replicas_live") == 1


def test_every_metric_is_prefixed_and_explained_and_no_key_leaks() -> None:
    metrics = ServiceMetrics(FakeView(api_clients=[client(1)]))
    metrics.run_finished(result("success"))
    text = generate_latest(metrics.registry).decode()
    assert API_KEY not in text
    families = list(text_string_to_metric_families(text))
    assert len(families) >= 15
    for family in families:
        assert family.name.startswith("trialsync_"), family.name
        assert family.documentation.strip(), family.name
        for s in family.samples:  # Prometheus's own target labels are never ours
            assert not {"job", "instance"} & set(s.labels), s
    assert value({f.name: f for f in families}, "trialsync_build_info",
                 version=__import__("trialsync_async").__version__) == 1  # fmt: skip


def test_registries_are_separate_and_registering_leaves_the_view_alone() -> None:
    class Exploding:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the view was read at registration: {name}")

    first = ServiceMetrics(Exploding())
    first.run_started(1, "a")
    second = ServiceMetrics()  # the same names again: no "Duplicated timeseries"
    assert scrape(second)["trialsync_runs_started"].samples == []
    assert ServiceMetrics().refresh_due()
