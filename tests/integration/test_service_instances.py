"""The service with two API instances (issue 22): each (job, instance) has its own ticks, so a
parent failing on one instance skips its dependents there only, and the other instance's
chain runs as scheduled."""

from __future__ import annotations

import pytest

from ccsim import SimulatorServer
from tests.engine_support import fetch
from tests.service_support import eventually, prepare, replica, rows, service_settings
from tests.sim_support import sim_options

pytestmark = pytest.mark.integration

EVERY_3S = "*/3 * * * * *"


async def _done(db_dsn: str, job_id: int, instance_id: int) -> list[dict]:
    return await rows(
        db_dsn,
        "SELECT t.*, r.run_status, r.credential_id, r.error_message FROM dw_etl_ticks t "
        "JOIN dw_etl_runs r USING (run_id) WHERE t.job_id = $1 AND t.instance_id = $2 "
        "ORDER BY t.due_at",
        job_id, instance_id,
    )  # fmt: skip


async def test_each_instance_has_its_own_ticks_and_dependency_chain(db_dsn: str) -> None:
    async with SimulatorServer(sim_options()) as sim1, SimulatorServer(sim_options()) as sim2:
        await prepare(db_dsn, sim1, {2: EVERY_3S, 11: EVERY_3S})
        # Instance 2's key is wrong: its studies (job 2) fail, so its visits (job 11) are
        # skipped; instance 1 runs both.
        await fetch(
            db_dsn,
            "INSERT INTO dw_api_credentials (id, name, base_url, api_key, auth_header, "
            "rate_limit_per_second) VALUES (2, 'second', $1, 'wrong key', $2, 5000) RETURNING id",
            sim2.base_url, sim2.options.api_key_header,
        )  # fmt: skip
        async with replica(service_settings(db_dsn)):

            async def both_chains() -> bool:
                ran = await _done(db_dsn, 11, 1)
                skipped = [t for t in await _done(db_dsn, 11, 2) if t["status"] == "skipped"]
                return any(t["run_status"] == "success" for t in ran) and bool(skipped)

            await eventually(both_chains, within=40, what="job 11 run on 1 and skipped on 2")
    studies_2 = await _done(db_dsn, 2, 2)
    assert studies_2 and all(t["status"] == "failed" for t in studies_2)
    assert all(t["credential_id"] == 2 for t in studies_2)
    [skip, *_] = [t for t in await _done(db_dsn, 11, 2) if t["status"] == "skipped"]
    assert skip["credential_id"] == 2 and "for instance 2 ended failed" in skip["error_message"]
    visits_1 = await _done(db_dsn, 11, 1)
    assert all(t["status"] == "success" and t["credential_id"] == 1 for t in visits_1)
    # A baseline tick per pair (first sight), then one tick per pair per due moment.
    pairs = await rows(
        db_dsn,
        "SELECT job_id, instance_id, count(*) FILTER (WHERE run_id IS NULL "
        "AND status = 'skipped') AS baselines FROM dw_etl_ticks GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert [(p["job_id"], p["instance_id"], p["baselines"]) for p in pairs] == [
        (2, 1, 1), (2, 2, 1), (11, 1, 1), (11, 2, 1),
    ]  # fmt: skip
    once = await rows(
        db_dsn,
        "SELECT count(*) AS n FROM dw_etl_runs r JOIN dw_etl_ticks t USING (run_id) "
        "GROUP BY t.job_id, t.instance_id, t.due_at HAVING count(*) > 1",
    )
    assert once == []  # each tick ran once
