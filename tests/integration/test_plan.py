"""Planning units from a real staging table: DISTINCT, non-null, per instance, the work list."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from trialsync_async.db.catalog import get_job, set_instance
from trialsync_async.db.connect import create_pool
from trialsync_async.db.parameters import Selection, count_by_reason
from trialsync_async.db.resilience import DbRetry
from trialsync_async.engine.units import fanout_selection, fanout_units

pytestmark = pytest.mark.integration

FIRST = Selection(pass_id=0, full=False, now=datetime.now(UTC))


async def _insert(db: asyncpg.Connection, table: str, records: list[dict], instance: int = 1):
    await db.executemany(
        f'INSERT INTO "{table}" (data, source_instance_id) VALUES ($1::text::jsonb, $2)',
        [(orjson.dumps(r).decode(), instance) for r in records],
    )


async def test_units_are_distinct_non_null_and_per_instance(db: asyncpg.Connection, db_dsn: str):
    await set_instance(db, 2, name="other", base_url="http://other/CCSWEB")
    await _insert(db, "dim_studies_staging", [{"id": i} for i in range(2500)])
    await _insert(db, "dim_studies_staging", [{"name": "no id"}])
    await _insert(db, "dim_studies_staging", [{"id": 999_999}], instance=2)
    job = await get_job(db, 10)  # subjects per study
    pool = await create_pool(db_dsn)
    try:
        async with pool.acquire() as conn:
            assert await count_by_reason(conn, job, 1, FIRST) == {"new": 2500}
        assert await fanout_selection(pool, DbRetry(60.0), job, 1, FIRST, 7) == {"new": 2500}
        units = [u async for u in fanout_units(pool, DbRetry(60.0), job, 7)]
    finally:
        await pool.close()
    assert len(units) == 2500
    assert len({u.path for u in units}) == 2500
    assert {u.parameters["studyId"] for u in units} == {str(i) for i in range(2500)}
    assert units[0].path == "/api/v1/studies/0/subjects/odata"


async def test_nested_pairs_and_hostile_values_stay_one_segment(db: asyncpg.Connection, db_dsn):
    await _insert(
        db,
        "dim_visits_staging",
        [
            {"id": 7, "study": {"id": 1}},
            {"id": 8, "study": {"id": 1}},
            {"id": "../x", "study": {"id": "1?$top=5"}},
            {"id": 9, "study": None},
        ],
    )
    job = await get_job(db, 175)
    pool = await create_pool(db_dsn)
    try:
        await fanout_selection(pool, DbRetry(60.0), job, 1, FIRST, 8)
        units = [u async for u in fanout_units(pool, DbRetry(60.0), job, 8)]
    finally:
        await pool.close()
    paths = sorted(u.path for u in units)
    assert paths == [
        "/api/v1/studies/1%3F%24top%3D5/visits/..%2Fx/elements/odata",
        "/api/v1/studies/1/visits/7/elements/odata",
        "/api/v1/studies/1/visits/8/elements/odata",
    ]
    assert {u.scope for u in units} >= {"studyId=1&visitId=7"}
