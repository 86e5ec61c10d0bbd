"""``instances set --if-unconfigured``: the init step of compose and Kubernetes configures
instance 1 on a new database and never again, so an operator's later changes survive restarts.

The init scripts are taken from docker-compose.yml and deploy/kubernetes.yaml and run for real
(``/bin/sh -ec``, the venv's ``trialsync-async`` on PATH) against a fresh database.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.cli_support import REPO, cli, cli_env
from tests.engine_support import fetch

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
REAL = "https://cc.example.com/CCSWEB"
PLACEHOLDER = "http://127.0.0.1:8800/CCSWEB"  # what `migrate` gives instance 1 by default
LEFT = "instance 1 is configured already (it has a key or a key variable): left as it is"


async def _instance(dsn: str, instance_id: int = 1) -> dict[str, Any] | None:
    rows = await fetch(
        dsn,
        "SELECT base_url, api_key IS NOT NULL AS has_key, api_key_env, "
        "rate_limit_per_second::float AS rate FROM dw_api_credentials WHERE id = $1",
        instance_id,
    )
    return dict(rows[0]) if rows else None


def _init_step(*args: str, url: str = REAL, rate: str = "10") -> tuple[str, ...]:
    return (
        "instances", "set", *args, "--if-unconfigured", "--base-url", url,
        "--api-key-env", "CC_API_KEY", "--rate-limit", rate,
    )  # fmt: skip


async def test_the_placeholder_is_configured_once_and_an_operators_change_survives(
    db_dsn: str,
) -> None:
    env = {"DATABASE_URL": db_dsn}
    assert await _instance(db_dsn) == {
        "base_url": PLACEHOLDER, "has_key": False, "api_key_env": None, "rate": 10.0,
    }  # fmt: skip
    rc, out, err = await cli(*_init_step("1", rate="7"), env=env)
    assert (rc, out.strip()) == (0, "instance 1 saved"), err
    configured = {"base_url": REAL, "has_key": False, "api_key_env": "CC_API_KEY", "rate": 7.0}
    assert await _instance(db_dsn) == configured

    # The operator lowers the rate; the next start's init step (other values) changes nothing.
    rc, _, err = await cli("instances", "set", "1", "--rate-limit", "2", env=env)
    assert rc == 0, err
    rc, out, err = await cli(*_init_step("1", url="https://other.example.com/CCSWEB"), env=env)
    assert (rc, out.strip()) == (0, LEFT), err
    assert await _instance(db_dsn) == {**configured, "rate": 2.0}

    # A stored key counts as configured just as a key variable does.
    rc, _, err = await cli("instances", "set", "1", "--api-key-stdin", env=env, stdin=b"k\n")
    assert rc == 0, err
    rc, out, _ = await cli(*_init_step("1"), env=env)
    assert (rc, out.strip()) == (0, LEFT)
    assert (await _instance(db_dsn) or {})["has_key"] is True

    # An instance that does not exist yet is created with the settings.
    assert await _instance(db_dsn, 7) is None
    rc, out, err = await cli(*_init_step("7"), env=env)
    assert (rc, out.strip()) == (0, "instance 7 saved"), err
    assert await _instance(db_dsn, 7) == {**configured, "rate": 10.0}


async def test_init_steps_starting_together_apply_the_settings_once(db_dsn: str) -> None:
    env = {"DATABASE_URL": db_dsn}
    results = await asyncio.gather(
        *(cli(*_init_step("1", rate=str(rate)), env=env) for rate in (3, 4, 5, 6))
    )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    outs = sorted(r.stdout.strip() for r in results)
    assert outs == [LEFT, LEFT, LEFT, "instance 1 saved"]
    row = await _instance(db_dsn)
    assert row is not None and row["api_key_env"] == "CC_API_KEY" and row["rate"] in (3, 4, 5, 6)


# --- the deployment files' init steps, run as the containers run them -----------------------


def _compose_init() -> tuple[str, dict[str, str]]:
    service = YAML(typ="safe").load((REPO / "docker-compose.yml").read_text())["services"]
    migrate = service["migrate"]
    assert migrate["entrypoint"] == ["/bin/sh", "-ec"]
    (script,) = migrate["command"]
    return script.replace("$$", "$"), {"CC_BASE_URL": REAL, "CC_RATE_LIMIT": "10"}


def _kubernetes_init() -> tuple[str, dict[str, str]]:
    docs = [d for d in YAML(typ="safe").load_all((REPO / "deploy/kubernetes.yaml").read_text())]
    by_kind = {d["kind"]: d for d in docs if d}
    (init,) = by_kind["Deployment"]["spec"]["template"]["spec"]["initContainers"]
    assert init["command"] == ["/bin/sh", "-ec"]
    (script,) = init["args"]
    config = by_kind["ConfigMap"]["data"]
    return script, {"CC_BASE_URL": config["CC_BASE_URL"], "CC_RATE_LIMIT": config["CC_RATE_LIMIT"]}


async def _sh(script: str, env: dict[str, str]) -> tuple[int, str]:
    full = cli_env({**env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-ec", script, env=full, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.mark.parametrize("init", [_compose_init, _kubernetes_init], ids=["compose", "kubernetes"])
async def test_the_deployment_init_step_configures_instance_1_on_the_first_start_only(
    empty_db_dsn: str, init: Any
) -> None:
    script, env = init()
    env = {**env, "DATABASE_URL": empty_db_dsn}
    rc, out = await _sh(script, env)  # first start: a new database
    assert rc == 0 and "instance 1 saved" in out, out[-3000:]
    row = await _instance(empty_db_dsn)
    assert row is not None and row["api_key_env"] == "CC_API_KEY"
    assert row["base_url"] == env["CC_BASE_URL"].rstrip("/")
    assert row["rate"] == float(env["CC_RATE_LIMIT"])

    rc, out = await _sh(f"trialsync-async instances set 1 --rate-limit 3 --base-url {REAL}", env)
    assert rc == 0, out
    rc, out = await _sh(script, {**env, "CC_RATE_LIMIT": "20"})  # a restart
    assert rc == 0 and LEFT in out, out[-3000:]
    row = await _instance(empty_db_dsn)
    assert row is not None and (row["base_url"], row["rate"]) == (REAL, 3.0)
