"""One job graph: `--all` and the service's tick claims order job 166 (patient visit elements,
over dim_patient_visits_staging) after both jobs that load that table, 9 and 160."""

from __future__ import annotations

import asyncpg
import pytest

from trialsync_async.db.catalog import list_jobs
from trialsync_async.jobgraph import check_acyclic, dependencies

pytestmark = pytest.mark.integration


async def test_the_runner_and_the_service_wait_for_the_same_jobs(db: asyncpg.Connection) -> None:
    active = [row.spec for row in await list_jobs(db) if row.spec.is_active]
    graph = dependencies(active)
    assert graph[166] == {9, 160}
    order = check_acyclic(graph)
    assert order.index(166) > max(order.index(9), order.index(160))  # --all
    stored = {
        r["id"]: set(r["depends_on"])
        for r in await db.fetch("SELECT id, depends_on FROM dw_etl_jobs WHERE is_active")
    }
    # what the service's tick claims read (tick_claim): over every job, a disabled loader
    # (164 loads studies too) included, whose ticks never come, so waiting on it is moot
    everything = dependencies([row.spec for row in await list_jobs(db)])
    assert stored == {job: everything[job] for job in stored}
    assert all(graph[job] <= stored[job] for job in graph)
    assert await db.fetchval("SELECT parent_job_id FROM dw_etl_jobs WHERE id = 166") == 9
