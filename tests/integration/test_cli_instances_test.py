"""`instances test N` as operators run it: a real process, a migrated PostgreSQL, the simulator
checking the key over a socket. Keys are never printed."""

from __future__ import annotations

from functools import partial

import orjson
import pytest

from ccsim import SimulatorServer
from tests import cli_support

pytestmark = pytest.mark.integration

KEY_VAR = "TRIALSYNC_TEST_SIM_KEY"

cli = partial(cli_support.cli, unset=[KEY_VAR])  # the key only where a test passes it


async def point_at(sim: SimulatorServer, db_dsn: str, base_url: str | None = None) -> None:
    rc, _, err = await cli(
        "instances", "set", "1", "--base-url", base_url or sim.base_url, "--api-key-env",
        KEY_VAR, "--auth-header", sim.options.api_key_header, "--rate-limit", "250",
        env={"DATABASE_URL": db_dsn},
    )  # fmt: skip
    assert rc == 0, err


async def test_a_good_key_is_accepted(db_dsn: str, sim: SimulatorServer) -> None:
    await point_at(sim, db_dsn)
    env = {"DATABASE_URL": db_dsn, KEY_VAR: sim.api_key}
    rc, out, err = await cli("instances", "test", "1", env=env)
    assert rc == 0, err
    assert "accepted" in out and " ms" in out and sim.base_url in out
    assert sim.api_key not in out + err
    rc, out, err = await cli("instances", "test", "1", "--json", env=env)
    assert rc == 0, err
    doc = orjson.loads(out)
    assert set(doc) == {"instance_id", "name", "base_url", "auth_header", "rate_limit",
                        "endpoint", "ok", "reachable", "key_accepted", "status", "latency_ms",
                        "detail"}  # fmt: skip
    assert (doc["ok"], doc["reachable"], doc["key_accepted"], doc["status"]) == (
        True, True, True, 200,
    )  # fmt: skip
    assert doc["rate_limit"] == 250 and 0 < doc["latency_ms"] < 10_000
    assert doc["endpoint"] == "/api/v1/studies/odata"
    assert doc["auth_header"] == sim.options.api_key_header
    assert sim.api_key not in out


async def test_a_wrong_key_is_rejected(db_dsn: str, sim: SimulatorServer) -> None:
    await point_at(sim, db_dsn)
    wrong = "not-the-key-" + "x" * 12
    env = {"DATABASE_URL": db_dsn, KEY_VAR: wrong}
    rc, out, err = await cli("instances", "test", "1", env=env)
    assert rc == 1, err
    assert "rejected" in out and "Traceback" not in err
    rc, out, err = await cli("instances", "test", "1", "--json", env=env)
    assert rc == 1
    doc = orjson.loads(out)
    assert (doc["ok"], doc["reachable"], doc["key_accepted"]) == (False, True, False)
    assert doc["status"] in (401, 403)
    assert wrong not in out + err


async def test_an_unset_key_variable_is_named(db_dsn: str, sim: SimulatorServer) -> None:
    await point_at(sim, db_dsn)
    env = {"DATABASE_URL": db_dsn}
    message = f"API instance 1 reads its key from {KEY_VAR}, which is not set"
    rc, out, err = await cli("instances", "test", "1", env=env)
    assert rc == 1
    assert err.strip() == f"error: {message}" and out == ""
    rc, out, err = await cli("--job", "1", env=env)  # a run says it too
    assert rc == 1
    assert message in out + err and "has no key" not in out + err


async def test_an_unreachable_instance_exits_1(db_dsn: str, sim: SimulatorServer) -> None:
    await point_at(sim, db_dsn, base_url="http://127.0.0.1:9/CCSWEB")
    rc, out, err = await cli(
        "instances", "test", "1", "--json", env={"DATABASE_URL": db_dsn, KEY_VAR: sim.api_key}
    )
    assert rc == 1, err
    doc = orjson.loads(out)
    assert (doc["reachable"], doc["key_accepted"], doc["status"]) == (False, None, None)
    assert "connection" in doc["detail"]
