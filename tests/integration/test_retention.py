"""Bounded bookkeeping: old runs, ticks, probes and seen keys go; what decisions rest on stays."""

from __future__ import annotations

import asyncpg
import pytest

from trialsync_async.db import retention

pytestmark = pytest.mark.integration


async def _run(db: asyncpg.Connection, job: int, status: str, days_ago: int,
               pass_id: int | None = None, continues: int | None = None) -> int:  # fmt: skip
    run_id = await db.fetchval(
        "INSERT INTO dw_etl_runs (job_id, run_status, started_at, completed_at, credential_id, "
        "pass_id, continues_run_id) VALUES ($1, $2, LOCALTIMESTAMP - make_interval(days => $3),"
        " LOCALTIMESTAMP - make_interval(days => $3), 1, $4, $5) RETURNING run_id",
        job, status, days_ago, pass_id, continues,
    )  # fmt: skip
    if pass_id is None:
        await db.execute("UPDATE dw_etl_runs SET pass_id = run_id WHERE run_id = $1", run_id)
    return int(run_id)


async def test_retention_keeps_what_decisions_rest_on(db: asyncpg.Connection) -> None:
    old = [await _run(db, 3, "success", 200 - d) for d in range(100)]  # 101..200 days ago
    await db.execute("INSERT INTO dw_etl_run_failures (run_id, parameters, error_message) "
                     "SELECT unnest($1::int[]), '{}', 'x'", old)  # fmt: skip
    recent = await _run(db, 3, "success", 5)
    lone = await _run(db, 25, "success", 400)  # job 25's latest success: kept
    opened = await _run(db, 2, "failed", 300)  # an open pass of job 2 ...
    goes_on = await _run(db, 2, "failed", 299, pass_id=opened, continues=opened)  # ... kept
    stale_pass = await _run(db, 11, "success", 200)
    latest_11 = await _run(db, 11, "interrupted", 100)
    await db.execute("INSERT INTO dw_etl_seen_keys (pass_id, k) VALUES ($1, 'a'), ($2, 'b')",
                     stale_pass, latest_11)  # fmt: skip
    await db.execute(
        "INSERT INTO dw_etl_ticks (job_id, instance_id, due_at, status, finished_at) VALUES "
        "(3, 1, now() - interval '100 days', 'success', now() - interval '100 days'), "
        "(3, 1, now() - interval '1 day', 'success', now() - interval '1 day')"
    )
    pruned = await retention.prune(db, 90)
    kept = {r["run_id"] for r in await db.fetch("SELECT run_id FROM dw_etl_runs")}
    assert kept == {recent, lone, opened, goes_on, stale_pass, latest_11}  # latest success
    assert pruned.runs == 100 and pruned.ticks == 1 and pruned.seen_keys == 1
    assert await db.fetchval("SELECT count(*) FROM dw_etl_run_failures") == 0
    assert await db.fetchval("SELECT k FROM dw_etl_seen_keys") == "b"  # its pass is open
    assert await retention.prune(db, 90) == retention.Pruned()  # idempotent
    sizes = await retention.sizes(db)
    assert sizes["dw_etl_runs"][0] == 6 and sizes["dw_etl_runs"][1] > 0
