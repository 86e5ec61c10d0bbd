"""migrate on a real PostgreSQL: idempotent, serialised, and complete."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest

from tests.pg_support import migrate_database
from trialsync_async.db.catalog import get_instance, get_job, list_jobs, set_instance
from trialsync_async.db.connect import connect
from trialsync_async.db.migrator import migration_files
from trialsync_async.db.staging_schema import KEY_COLUMNS, STANDARD_COLUMNS
from trialsync_async.errors import ConfigError, UnknownJobError
from trialsync_async.inventory import PACKAGED_INVENTORY, load_inventory

pytestmark = pytest.mark.integration


async def test_migrations_apply_twice(empty_db_dsn: str) -> None:
    first = await migrate_database(empty_db_dsn)
    second = await migrate_database(empty_db_dsn)
    assert first.applied and not first.already_applied
    assert not second.applied and second.already_applied == first.applied
    assert first.jobs_synced == second.jobs_synced == 90


async def test_migrations_from_two_processes_at_once(empty_db_dsn: str, tmp_path: Path) -> None:
    """Run from an empty directory: migrations and inventory come from the package."""
    env = {**os.environ, "DATABASE_URL": empty_db_dsn, "TRIALSYNC_LOG_FORMAT": "json"}
    for name in ("TRIALSYNC_JOBS_FILE", "TRIALSYNC_MIGRATIONS_DIR"):
        env.pop(name, None)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "trialsync_async",
            "migrate",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [await p.communicate() for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
    conn = await asyncpg.connect(empty_db_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM trialsync_schema_migrations") == len(
            migration_files()
        )
        assert await conn.fetchval("SELECT count(*) FROM dw_etl_jobs") == 90
    finally:
        await conn.close()


async def test_inventory_rows(db: asyncpg.Connection) -> None:
    rows = {r["id"]: r for r in await db.fetch("SELECT * FROM dw_etl_jobs")}
    assert len(rows) == 90
    assert sum(r["is_active"] for r in rows.values()) == 68
    assert rows[11]["parameter_source_column"] == "data->>'id'"
    assert rows[11]["requires_parameters"] and rows[11]["parameter_name"] == "studyId"
    assert rows[11]["parent_job_id"] == 2  # Studies loads dim_studies_staging
    assert rows[175]["parameters"] == [
        {"name": "studyId", "path": ["study", "id"]},
        {"name": "visitId", "path": ["id"]},
    ]
    assert rows[175]["parent_job_id"] == 11
    assert rows[160]["parent_job_id"] == 10
    assert rows[166]["parent_job_id"] == 9
    assert rows[132]["source_endpoint"] == "/api/v1/system/study-statuses"
    assert not rows[132]["paged"] and rows[2]["paged"]
    assert rows[174]["is_active"] is False and "141" in rows[174]["disabled_reason"]
    assert rows[3]["source_instance_id"] == 1
    # Rows read back validate into the same specs as the file.
    from_file = {j.id: j for j in load_inventory()}
    for job_id in (2, 11, 127, 133, 141, 160, 165, 175, 174):
        from_db = await get_job(db, job_id)
        assert replace(from_db, parent_job_id=None) == from_file[job_id]
    with pytest.raises(UnknownJobError):
        await get_job(db, 9999)
    listed = {row.spec.id: row for row in await list_jobs(db)}
    assert listed[11].spec == await get_job(db, 11) and listed[11].last_run_status is None


async def test_sync_keeps_run_columns(db_dsn: str) -> None:
    conn = await connect(db_dsn)
    try:
        await conn.execute(
            "UPDATE dw_etl_jobs SET last_run_status='success', last_run_records=7 WHERE id=3"
        )
    finally:
        await conn.close()
    await migrate_database(db_dsn)
    conn = await connect(db_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT last_run_status, last_run_records FROM dw_etl_jobs WHERE id=3"
        )
        assert row is not None
        assert tuple(row) == ("success", 7)
    finally:
        await conn.close()


async def test_every_staging_table_has_the_standard_shape(db: asyncpg.Connection) -> None:
    jobs = load_inventory()
    tables = {j.target_table for j in jobs} | {
        j.parameter_source_table for j in jobs if j.parameter_source_table
    }
    columns = await db.fetch(
        "SELECT table_name, array_agg(column_name::text) AS cols FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = ANY($1) GROUP BY table_name",
        list(tables),
    )
    assert {r["table_name"] for r in columns} == tables
    for row in columns:
        assert set(STANDARD_COLUMNS) | set(KEY_COLUMNS) == set(row["cols"]), row["table_name"]
    indexes = await db.fetch(
        "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname='public' "
        "AND tablename = ANY($1)",
        list(tables),
    )
    by_table: dict[str, list[str]] = {}
    for r in indexes:
        by_table.setdefault(r["tablename"], []).append(r["indexdef"])
    for table in tables:
        defs = by_table[table]
        assert any(
            "UNIQUE" in d and "(source_instance_id, ((data ->> 'id'::text)))" in d for d in defs
        ), table
        assert any("(source_id)" in d for d in defs), table
        assert any("USING gin (data)" in d for d in defs), table


BAD_JOBS = [
    'id = 999\nname = "Evil"\nsource_endpoint = "/api/v1/x/odata"\n'
    'target_table = "dim_x_staging; DROP TABLE dw_etl_jobs"\n',
    'id = 999\nname = "Evil"\nsource_endpoint = "/api/v1/studies/{studyId}/x"\n'
    'target_table = "dim_x_staging"\nparameter_source_table = "dim_studies_staging"\n'
    'parameters = [{ name = "studyId", path = "study\'.id" }]\n',
]


@pytest.mark.parametrize("bad_job", BAD_JOBS, ids=["table", "path"])
async def test_bad_identifier_creates_nothing(empty_db_dsn: str, tmp_path: Path, bad_job) -> None:
    bad = tmp_path / "jobs.toml"
    bad.write_text(PACKAGED_INVENTORY.read_text() + "\n[[jobs]]\n" + bad_job)
    with pytest.raises(ConfigError, match="job 999"):
        await migrate_database(empty_db_dsn, bad)
    conn = await asyncpg.connect(empty_db_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname='public'") == 0
    finally:
        await conn.close()


MONITORING_QUERIES = [
    """SELECT j.id, j.name, r.run_status, r.records_loaded, r.started_at, r.completed_at,
        EXTRACT(EPOCH FROM (r.completed_at - r.started_at)) as duration_seconds
    FROM dw_etl_runs r JOIN dw_etl_jobs j ON r.job_id = j.id
    WHERE r.started_at > NOW() - INTERVAL '24 hours' ORDER BY r.started_at DESC""",
    """SELECT j.id, j.name, r.run_status, r.error_message, r.started_at
    FROM dw_etl_runs r JOIN dw_etl_jobs j ON r.job_id = j.id
    WHERE r.run_status = 'failed' ORDER BY r.started_at DESC LIMIT 20""",
    """SELECT j.id, j.name, COUNT(*) as total_runs,
        SUM(CASE WHEN r.run_status = 'success' THEN 1 ELSE 0 END) as successful_runs,
        SUM(CASE WHEN r.run_status = 'failed' THEN 1 ELSE 0 END) as failed_runs,
        ROUND(100.0 * SUM(CASE WHEN r.run_status = 'success' THEN 1 ELSE 0 END) / COUNT(*), 2)
            as success_rate
    FROM dw_etl_jobs j LEFT JOIN dw_etl_runs r ON j.id = r.job_id
    WHERE r.started_at > NOW() - INTERVAL '7 days'
    GROUP BY j.id, j.name ORDER BY success_rate DESC""",
]


async def test_design_doc_monitoring_queries_run(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO dw_etl_runs (job_id, run_status, records_loaded, started_at, completed_at,"
        " error_message, credential_id) VALUES"
        " (3, 'success', 10, now() - interval '1 minute', now(), NULL, 1),"
        " (2, 'failed', 0, now() - interval '2 minutes', now(), 'HTTP 500', 1)"
    )
    recent, failed, rates = [await db.fetch(q) for q in MONITORING_QUERIES]
    assert len(recent) == 2
    assert failed[0]["error_message"] == "HTTP 500"
    assert {r["id"]: float(r["success_rate"]) for r in rates} == {3: 100.0, 2: 0.0}


async def test_instances(db: asyncpg.Connection) -> None:
    default = await get_instance(db, 1)
    assert default.api_key is None and default.auth_header == "CCAPIKey"
    assert default.rate_limit == 10.0
    await set_instance(db, 1, api_key_env="TS_TEST_KEY", auth_header="X-ApiKey", rate_limit=4)
    inst = await get_instance(db, 1, environ={"TS_TEST_KEY": "k-123"})
    assert inst.api_key == "k-123" and inst.auth_header == "X-ApiKey" and inst.rate_limit == 4
    assert "k-123" not in repr(inst)
    await set_instance(db, 1, rate_limit=0)
    assert (await get_instance(db, 1)).rate_limit is None  # 0 = no limit
    with pytest.raises(ConfigError):
        await set_instance(db, 1, auth_header="Bad Header: x")
    with pytest.raises(ConfigError):
        await set_instance(db, 7, name="no url")


async def test_a_job_naming_a_missing_instance_is_a_clear_error(
    db_dsn: str, tmp_path: Path
) -> None:
    text = PACKAGED_INVENTORY.read_text().replace("id = 3\n", "id = 3\nsource_instance_id = 7\n", 1)
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(text)
    before = await _job_rows(db_dsn)
    with pytest.raises(ConfigError, match=r"job 3 .* names API instance 7, which does not exist"):
        await migrate_database(db_dsn, jobs_file)
    assert await _job_rows(db_dsn) == before  # the inventory was left as it was
    conn = await connect(db_dsn)
    try:
        await set_instance(conn, 7, name="seven", base_url="http://seven/CCSWEB")
    finally:
        await conn.close()
    await migrate_database(db_dsn, jobs_file)
    rows = await _job_rows(db_dsn)
    assert dict(rows)[3] == 7


async def _job_rows(dsn: str) -> list[tuple[int, int]]:
    conn = await connect(dsn)
    try:
        return [
            (r["id"], r["source_instance_id"])
            for r in await conn.fetch("SELECT id, source_instance_id FROM dw_etl_jobs ORDER BY id")
        ]
    finally:
        await conn.close()
