"""The monitoring files in deploy/ with the real tools: promtool checks the alerting rules, runs
their unit tests and checks the example configuration; every metric the alerts and the Grafana
dashboard use is on a live ``serve`` replica's /metrics; and a real Prometheus scrapes a live
replica through the example configuration's relabelling, loads the alerts and answers every
query of the dashboard.

promtool and prometheus are Debian's ``prometheus`` package (.ci/run installs it). Debian
builds Prometheus without Kubernetes service discovery, so where ``kubernetes_sd_configs`` is
unknown the configuration is checked with each such block replaced by static targets carrying
the same ``__meta_kubernetes_*`` labels a pod would have; the relabelling itself then runs in
the real Prometheus (``test_prometheus_scrapes_a_live_replica_and_evaluates_the_alerts``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML  # check-jsonschema's YAML parser, so always installed with it

from ccsim import SimulatorServer
from tests.cli_support import REPO
from tests.pg_support import free_tcp_port
from tests.service_support import eventually, prepare, replica, rows, service_settings
from trialsync_async.app import TrialSync
from trialsync_async.service.daemon import Service

pytestmark = pytest.mark.integration

PROM_DIR = REPO / "deploy" / "prometheus"
ALERTS, ALERTS_TEST, CONFIG = (PROM_DIR / n for n in ("alerts.yml", "alerts_test.yml",
                                                     "prometheus.yml"))  # fmt: skip
DASHBOARD = REPO / "deploy" / "grafana" / "trialsync.json"

METRIC = re.compile(r"\btrialsync_[a-z_]+")
SAMPLE_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_info")
"""A sample's name is its family's plus one of these (counters, histograms, info)."""
NEW_JOB_METRICS = {
    "trialsync_job_stale",
    "trialsync_job_freshness_state",
    "trialsync_job_parents_overdue_ratio",
    "trialsync_run_heartbeat_age_seconds",
}
DASHBOARD_TOPICS = {
    "trialsync_runs_finished", "trialsync_job_freshness_state",
    "trialsync_last_success_timestamp_seconds", "trialsync_records", "trialsync_api_requests",
    "trialsync_api_throttled", "trialsync_api_rate_requests_per_second",
    "trialsync_api_rate_ceiling_requests_per_second", "trialsync_api_concurrency_limit",
    "trialsync_api_in_flight", "trialsync_api_limiter_wait_seconds", "trialsync_queue_depth",
    "trialsync_runs_in_progress", "trialsync_replicas_live", "trialsync_run_heartbeat_age_seconds",
}  # fmt: skip
GRAFANA_VARIABLES = {  # what Grafana puts in place of its variables, for Prometheus to parse
    "$job_name": ".*", "$api_instance": ".*", "$__rate_interval": "1m", "$__interval": "1m",
    "$__range": "1h",
}  # fmt: skip
LABEL_VALUES = re.compile(r"label_values\((?P<metric>\w+),\s*(?P<label>\w+)\)")
FAN_OUT = 152  # Patient Medications: one request per patient, so a run lasts a few seconds
FETCHED_FAN_OUT = 153  # Patient Immunizations, per patient too: fetched before, so its parents
# have a last fetch (trialsync_job_parents_overdue_ratio) when the replica first reads them


# --- the tools ------------------------------------------------------------------------------


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} missing (apt-get install --no-install-recommends prometheus)"
    if os.environ.get("CI"):
        pytest.fail(f"monitoring test cannot run under CI: {reason}")
    pytest.skip(reason)


def promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path)


# --- what the files use -------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in load_yaml(ALERTS)["groups"] for r in g["rules"] if "alert" in r]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    out: list[dict[str, Any]] = []
    for panel in model["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def dashboard_queries(model: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the panels, and the variables' queries."""
    exprs = [t["expr"] for p in panels(model) for t in p.get("targets", [])]
    return exprs + [v["definition"] for v in model["templating"]["list"] if v["type"] == "query"]


def family(name: str) -> str:
    for suffix in SAMPLE_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def used_families(exprs: Iterable[str]) -> set[str]:
    return {family(m) for expr in exprs for m in METRIC.findall(expr)}


def alert_families() -> set[str]:
    return used_families(r["expr"] for r in alert_rules())


def dashboard_families() -> set[str]:
    return used_families(dashboard_queries(dashboard()))


def as_grafana_would(expr: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    assert "$" not in expr, expr
    return expr


# --- promtool -------------------------------------------------------------------------------


def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    checked = promtool("check", "rules", str(ALERTS.relative_to(REPO)))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout
    tested = promtool("test", "rules", str(ALERTS_TEST.relative_to(REPO)))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_tested_firing_and_silent_and_says_what_to_do() -> None:
    tests = load_yaml(ALERTS_TEST)["tests"]
    evaluated = [c for t in tests for c in t["alert_rule_test"]]
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {
        "TrialsyncJobFailing", "TrialsyncJobStale", "TrialsyncApiInstanceUnreachable",
        "TrialsyncNoLiveReplica", "TrialsyncApiThrottled", "TrialsyncRunStuck",
    }  # fmt: skip
    for rule in rules:
        name = rule["alert"]
        cases = [c for c in evaluated if c["alertname"] == name]
        assert any(c.get("exp_alerts") for c in cases), f"{name}: no test where it fires"
        assert any(not c.get("exp_alerts") for c in cases), f"{name}: no test where it is silent"
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert (
            "trialsync-async " in annotations["description"]
            or "GET /" in annotations["description"]
        ), f"{name}: the description names no command"
        # one alert per (job, API instance), not per replica: the replicas export the same
        # database gauges, per (job, instance) as a run is one job for one instance
        if "job_id" in annotations["summary"]:
            assert "max by (job_id, job_name, api_instance)" in rule["expr"], name


def test_promtool_checks_the_example_configuration(tmp_path: Path) -> None:
    checked = promtool("check", "config", str(CONFIG.relative_to(REPO)))
    config = load_yaml(CONFIG)
    assert config["rule_files"] == ["alerts.yml"]
    sd = [c for c in config["scrape_configs"] if "kubernetes_sd_configs" in c]
    assert [c["job_name"] for c in sd] == ["trialsync"]
    assert [k["role"] for k in sd[0]["kubernetes_sd_configs"]] == ["pod"]
    assert any("static_configs" in c for c in config["scrape_configs"])
    if checked.returncode != 0:
        # Debian's promtool has no Kubernetes discovery: that, and only that, may fail.
        assert "field kubernetes_sd_configs not found" in checked.stdout + checked.stderr, (
            checked.stdout + checked.stderr
        )
        derived = tmp_path / "prometheus.yml"
        derived.write_text(json.dumps(without_kubernetes_sd(config, pods=example_pods(8080))))
        checked = promtool("check", "config", str(derived))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout + checked.stderr


def example_pods(port: int) -> dict[str, dict[str, str]]:
    """Pods as Kubernetes discovery describes them (container port 8080), by expected fate."""
    pod = {
        "__meta_kubernetes_namespace": "trialsync",
        "__meta_kubernetes_pod_label_app": "trialsync",
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
        "__meta_kubernetes_pod_annotation_prometheus_io_port": str(port),
        "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_container_init": "false",
    }
    return {
        "trialsync-a": pod,
        "other-app": {**pod, "__meta_kubernetes_pod_label_app": "other"},
        "not-annotated": {**pod, "__meta_kubernetes_pod_annotation_prometheus_io_scrape": ""},
        "migrate-init": {**pod, "__meta_kubernetes_pod_container_init": "true"},
        "pending": {**pod, "__meta_kubernetes_pod_phase": "Pending"},
    }


def without_kubernetes_sd(
    config: dict[str, Any],
    *,
    pods: dict[str, dict[str, str]],
    static_target: str | None = None,
    rule_file: Path = ALERTS,
    interval: str | None = None,
) -> dict[str, Any]:
    """``config`` with each Kubernetes discovery replaced by static targets that carry the
    discovery's labels (the pod's address on port 8080 and its ``__meta_kubernetes_*``
    labels), so the relabelling can be checked and run by a Prometheus without it. The static
    job's targets become ``static_target`` when given."""
    out = json.loads(json.dumps(config))
    out["rule_files"] = [str(rule_file)]
    if interval is not None:
        out["global"] = {"scrape_interval": interval, "evaluation_interval": interval}
    for scrape in out["scrape_configs"]:
        if scrape.pop("kubernetes_sd_configs", None) is not None:
            scrape["static_configs"] = [
                {"targets": ["127.0.0.1:8080"],
                 "labels": {**labels, "__meta_kubernetes_pod_name": name}}
                for name, labels in pods.items()
            ]  # fmt: skip
        elif static_target is not None:
            for static in scrape["static_configs"]:
                static["targets"] = [static_target]
    return out


# --- the dashboard --------------------------------------------------------------------------


def test_the_dashboard_model_is_well_formed() -> None:
    model = dashboard()
    assert model["schemaVersion"] >= 39 and model["uid"] and model["title"]
    assert [(i["name"], i["type"], i["pluginId"]) for i in model["__inputs"]] == [
        ("DS_PROMETHEUS", "datasource", "prometheus")
    ]
    datasource = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    ids = [p["id"] for p in panels(model)]
    assert len(ids) == len(set(ids))
    for panel in panels(model):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == datasource, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for t in panel["targets"]:
            assert t["datasource"] == datasource and t["expr"].strip(), panel["title"]
    for variable in model["templating"]["list"]:
        assert variable["datasource"] == datasource
        assert LABEL_VALUES.fullmatch(variable["definition"]), variable["definition"]
    missing = DASHBOARD_TOPICS - dashboard_families()
    assert not missing, f"the dashboard shows nothing of {sorted(missing)}"


# --- against a live replica ---------------------------------------------------------------


async def metrics_text(http: aiohttp.ClientSession, service: Service) -> str:
    async with http.get(f"http://127.0.0.1:{service.port}/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


def sampled_families(*texts: str) -> tuple[set[str], set[str]]:
    """(families declared, families with at least one sample) over the scrapes ``texts``."""
    declared: set[str] = set()
    sampled: set[str] = set()
    for text in texts:
        for f in text_string_to_metric_families(text):
            declared.add(f.name)
            if f.samples:
                sampled.add(f.name)
    return declared, sampled


async def test_every_metric_the_alerts_and_dashboard_use_is_exported(
    db_dsn: str, sim: SimulatorServer
) -> None:
    """A replica runs a fan-out: /metrics is read during the run (queues, heartbeats) and after
    it (runs, records, durations, API counters). Every family the alerts and the dashboard
    name must be declared there, and have a series. The first scrape waits for the run to be
    under way, so values the replica reads from the database at a scrape (and keeps for a
    while) are read while it runs."""
    used = alert_families() | dashboard_families()
    assert used >= NEW_JOB_METRICS | {"trialsync_api_requests", "trialsync_run_duration_seconds"}
    await prepare(db_dsn, sim, {3: "0 0 1 1 *", FETCHED_FAN_OUT: "0 0 1 1 *"})
    async with TrialSync(service_settings(db_dsn)) as ts:
        done = await ts.run_jobs([3, FETCHED_FAN_OUT])  # the fan-outs' parents first
    assert [r.ok for r in done] == [True, True], done
    await prepare(db_dsn, sim, {FETCHED_FAN_OUT: "0 0 1 1 *", FAN_OUT: "*/2 * * * * *"}, rate=10)
    async with replica(service_settings(db_dsn)) as service, aiohttp.ClientSession() as http:

        async def running() -> list[dict[str, Any]]:
            return await rows(
                db_dsn,
                "SELECT run_id FROM dw_etl_runs WHERE job_id = $1 AND run_status = 'running'",
                FAN_OUT,
            )

        await eventually(running, within=30, what="the fan-out's run to start")

        async def mid_run() -> str | None:
            text = await metrics_text(http, service)
            running = f'trialsync_queue_depth{{job_id="{FAN_OUT}"' in text
            return text if running else None

        during = await eventually(mid_run, within=10, what="a scrape during the fan-out's run")

        async def finished() -> list[dict[str, Any]]:
            return await rows(
                db_dsn,
                "SELECT run_id FROM dw_etl_runs WHERE job_id = $1 AND run_status = 'success'",
                FAN_OUT,
            )

        await eventually(finished, within=60, what="the fan-out's run to succeed")
        after = await metrics_text(http, service)
    declared, sampled = sampled_families(during, after)
    missing = sorted(used - declared)
    assert not missing, f"used by deploy/ but not on /metrics: {missing}"
    empty = sorted(used - sampled)
    assert not empty, f"on /metrics without a single series: {empty}"


@asynccontextmanager
async def prometheus(config: dict[str, Any], tmp_path: Path) -> AsyncIterator[str]:
    """A real Prometheus with ``config`` on a free loopback port; yields its base URL."""
    binary = require_tool("prometheus")
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(json.dumps(config, indent=1))  # JSON is YAML
    port = free_tcp_port()
    log_file = tmp_path / "prometheus.log"
    with log_file.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            binary, f"--config.file={config_file}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
            stdout=log, stderr=log,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                assert proc.returncode is None, log_file.read_text()[-3000:]
                try:
                    async with http.get(f"{base}/-/ready") as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(ready, within=15, what="prometheus to be ready")
        yield base
    except BaseException:
        print(log_file.read_text()[-3000:])  # in the failed test's report
        raise
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def api(http: aiohttp.ClientSession, url: str, **params: str) -> Any:
    async with http.get(url, params=params) as resp:
        body = await resp.json()
    assert body["status"] == "success", (url, params, body)
    return body["data"]


async def test_prometheus_scrapes_a_live_replica_and_evaluates_the_alerts(
    db_dsn: str, sim: SimulatorServer, tmp_path: Path
) -> None:
    """The example configuration's two scrape jobs, pointed at one live replica: the pod job
    through its relabelling (only the annotated trialsync pod is kept, on its annotated port),
    the static job directly, as two replicas would be. Both targets are up, every rule group
    is loaded and healthy, the job gauges count once per job under the alerts' aggregation,
    the service alerts stay silent, and every dashboard query is valid PromQL that Prometheus
    answers."""
    require_tool("prometheus")
    await prepare(db_dsn, sim, {})  # a quiet replica: no job due
    async with replica(service_settings(db_dsn)) as service, aiohttp.ClientSession() as http:
        assert service.port is not None
        address = f"127.0.0.1:{service.port}"
        config = without_kubernetes_sd(
            load_yaml(CONFIG), pods=example_pods(service.port), static_target=address,
            interval="1s",
        )  # fmt: skip
        async with prometheus(config, tmp_path) as base:

            async def targets_up() -> Any:
                data = await api(http, f"{base}/api/v1/targets")
                active = data["activeTargets"]
                return data if active and all(t["health"] == "up" for t in active) else None

            data = await eventually(targets_up, within=15, what="every target up")
            active = sorted(data["activeTargets"], key=lambda t: t["labels"]["job"])
            assert [(t["labels"]["job"], t["labels"]["instance"]) for t in active] == [
                ("trialsync", address), ("trialsync-static", address),
            ]  # fmt: skip
            assert active[0]["labels"]["pod"] == "trialsync-a"
            assert active[0]["labels"]["namespace"] == "trialsync"
            assert active[0]["scrapeUrl"] == f"http://{address}/metrics"
            dropped = {t["discoveredLabels"]["__meta_kubernetes_pod_name"]
                       for t in data["droppedTargets"]}  # fmt: skip
            assert dropped == {"other-app", "not-annotated", "migrate-init", "pending"}

            want_groups = {g["name"] for g in load_yaml(ALERTS)["groups"]}

            async def rules_healthy() -> Any:
                groups = (await api(http, f"{base}/api/v1/rules"))["groups"]
                healthy = {g["name"] for g in groups
                           if all(r["health"] == "ok" for r in g["rules"])}  # fmt: skip
                return groups if healthy == want_groups else None

            groups = await eventually(rules_healthy, within=10, what="every rule group healthy")
            loaded = {r["name"] for g in groups for r in g["rules"]}
            assert loaded == {r["alert"] for r in alert_rules()}

            async def value(query: str) -> float:
                [sample] = (await api(http, f"{base}/api/v1/query", query=query))["result"]
                return float(sample["value"][1])

            assert await value("max(trialsync_replicas_live)") == 1
            # two targets export the same job gauges; the alerts' max by keeps one per job and
            # API instance (one instance here: one per job)
            jobs = len(await rows(db_dsn, "SELECT id FROM dw_etl_jobs"))
            state = "trialsync_job_freshness_state == 1"
            assert await value(f"count({state})") == 2 * jobs
            by_pair = f"count(max by (job_id, job_name, api_instance) ({state}))"
            assert await value(by_pair) == jobs

            async def service_alerts_silent() -> bool:
                alerts = (await api(http, f"{base}/api/v1/alerts"))["alerts"]
                names = {a["labels"]["alertname"] for a in alerts}
                return not names & {"TrialsyncNoLiveReplica", "TrialsyncReplicaDown"}

            await eventually(service_alerts_silent, within=10, what="no service alert")

            for expr in dashboard_queries(dashboard()):
                if m := LABEL_VALUES.fullmatch(expr):
                    url = f"{base}/api/v1/label/{m['label']}/values"
                    await api(http, url, **{"match[]": m["metric"]})
                else:
                    await api(http, f"{base}/api/v1/query", query=as_grafana_would(expr))
