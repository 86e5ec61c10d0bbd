"""The guard against quadratic plans: every statement that joins a run's work against a table
that grows with the data is planned on tables whose statistics are stale (analysed while they
held a few rows of other jobs, then filled with this job's, autovacuum off: what a run meets
right after filling a table, when the planner believes this job has almost no rows), hash
joins made unattractive to the planner (as stale estimates can make them: this is how the
settle of issue 18 turned into a nested-loop anti-join), with the planner settings the loader
uses for it (db/planning.py), and must not scan a whole table once per row of another: no
nested loop with a sequential scan on its inner side, no subplan re-run per row. It reads plans
(EXPLAIN), not clocks, so it does not depend on timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import pytest

from trialsync_async.db import parameters
from trialsync_async.db.catalog import get_job
from trialsync_async.db.parameters import FETCHED_REASONS, ParameterSql, Selection, work_table
from trialsync_async.db.planning import hash_joins, key_lookups
from trialsync_async.db.queries import query
from trialsync_async.db.units import REVISIT
from trialsync_async.identifiers import quote_ident

pytestmark = pytest.mark.integration

ROWS = 3000
CONFIGURATION = frozenset({"dw_etl_jobs", "dw_api_credentials"})
"""Tables of tens of rows that grow with the configuration, not the data: scanning them per
row is no risk."""
TABLES = (
    "dim_studies_staging", "dim_subjects_staging", "dim_patient_visits_staging",
    "dw_etl_unit_state", "dw_etl_seen_keys", "dw_etl_runs", "dw_etl_run_failures",
)  # fmt: skip


def per_row_scans(plan: dict[str, Any], path: str = "") -> Iterator[str]:
    """Where a plan scans a whole table once per row of something else."""
    here = f"{path}/{plan['Node Type']}"
    children = plan.get("Plans", [])
    if plan["Node Type"] == "Nested Loop" and len(children) == 2:
        inner = children[1]
        if any(scanned(inner)):
            yield f"{here}: inner {', '.join(scanned(inner))}"
    if plan.get("Subplan Name", "").startswith("SubPlan") and any(scanned(plan)):
        if "hashed" not in plan["Subplan Name"]:
            yield f"{here}: {plan['Subplan Name']} scans {', '.join(scanned(plan))}"
    for child in children:
        yield from per_row_scans(child, here)


def unkeyed_scans(plan: dict[str, Any], table: str, key: str) -> Iterator[str]:
    """Scans of ``table`` that do not find its rows by ``key`` in an index condition."""
    if plan.get("Relation Name") == table and plan["Node Type"] != "ModifyTable":
        by_index = plan["Node Type"] in ("Index Scan", "Index Only Scan")
        keyed = plan["Node Type"] == "Tid Scan" or (by_index and key in plan.get("Index Cond", ""))
        if not keyed:
            yield f"{plan['Node Type']} on {table} ({plan.get('Index Cond', 'no index condition')})"
    for child in plan.get("Plans", []):
        yield from unkeyed_scans(child, table, key)


def scanned(plan: dict[str, Any]) -> list[str]:
    """Whole-table scans in a subtree (of tables that grow with the data)."""
    table = plan.get("Relation Name", "?")
    found = [table] if plan["Node Type"] == "Seq Scan" and table not in CONFIGURATION else []
    for child in plan.get("Plans", []):
        found += scanned(child)
    return found


async def explain(conn: asyncpg.Connection, sql: str, *args: Any, linear: bool) -> list[str]:
    """The per-row scans of ``sql``'s plan, planned by a hostile planner (no hash joins unless
    the statement leaves no other way), inside ``hash_joins`` when ``linear`` (as the loader
    runs it)."""

    async def plan() -> dict[str, Any]:
        raw = await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
        return orjson.loads(raw)[0]["Plan"]

    async with conn.transaction():
        await conn.execute("SET LOCAL enable_hashjoin = off")  # hostile
        if linear:
            async with hash_joins(conn):
                return list(per_row_scans(await plan()))
        return list(per_row_scans(await plan()))


@pytest.fixture
async def stale(db: asyncpg.Connection) -> asyncpg.Connection:
    """The tables a run joins, analysed while they held 20 rows of other jobs and instances,
    then filled with ``ROWS`` rows of this job each."""
    await old_rows(db)
    for table in TABLES:
        await db.execute(f"ALTER TABLE {quote_ident(table)} SET (autovacuum_enabled = false)")
        await db.execute(f"ANALYZE {quote_ident(table)}")
    await db.execute(
        "INSERT INTO dim_studies_staging (data, source_instance_id) "
        "SELECT jsonb_build_object('id', i), 1 FROM generate_series(1, $1) AS i",
        ROWS,
    )
    await db.execute(
        "INSERT INTO dim_subjects_staging (data, source_instance_id, etl_job_id, scope_key) "
        "SELECT jsonb_build_object('id', i, 'study', jsonb_build_object('id', i)), 1, 10, "
        "'studyId=' || i FROM generate_series(1, $1) AS i",
        ROWS,
    )
    await db.execute(
        "INSERT INTO dim_patient_visits_staging (data, source_instance_id, etl_job_id) "
        "SELECT jsonb_build_object('id', i), 1, 9 FROM generate_series(1, $1) AS i",
        ROWS,
    )
    await db.execute(
        "INSERT INTO dw_etl_unit_state (job_id, instance_id, unit_key, pass_id, run_id, status,"
        " parameters, records, staged_rows, refresh_seconds, due_at) "
        "SELECT 10, 1, 'studyId=' || i, 1, 1, 'done', jsonb_build_object('studyId', i::text),"
        " 1, 1, 86400, now() + interval '1 day' FROM generate_series(1, $1) AS i",
        ROWS,
    )
    await db.execute(
        "INSERT INTO dw_etl_seen_keys (pass_id, k) SELECT 77, i::text "
        "FROM generate_series(1, $1) AS i",
        ROWS,
    )
    await db.execute(
        "INSERT INTO dw_etl_runs (job_id, run_status, started_at, completed_at, pass_id, "
        "credential_id, notes) SELECT 1 + i % 3, 'failed', now() - i * interval '1 minute', "
        "now(), i, 1, '{}' FROM generate_series(1, $1) AS i",
        ROWS,
    )
    await db.execute(
        "INSERT INTO dw_etl_run_failures (run_id, parameters, error_message) "
        "SELECT run_id, jsonb_build_object('studyId', run_id::text), 'x' FROM dw_etl_runs"
    )
    return db


async def old_rows(db: asyncpg.Connection) -> None:
    """What the statistics remember: a few rows of job 2, instance 2 and pass 1."""
    await db.execute("INSERT INTO dw_api_credentials (id, name, base_url) "
                     "VALUES (2, 'other', 'http://other/CCSWEB')")  # fmt: skip
    for table in ("dim_studies_staging", "dim_subjects_staging", "dim_patient_visits_staging"):
        await db.execute(
            f"INSERT INTO {quote_ident(table)} (data, source_instance_id, etl_job_id, scope_key) "
            "SELECT jsonb_build_object('id', -i), 2, 2, 'x' FROM generate_series(1, 20) AS i"
        )
    await db.execute(
        "INSERT INTO dw_etl_unit_state (job_id, instance_id, unit_key, pass_id, run_id, status) "
        "SELECT 2, 2, 'k' || i, 1, 1, 'done' FROM generate_series(1, 20) AS i"
    )
    await db.execute("INSERT INTO dw_etl_seen_keys (pass_id, k) "
                     "SELECT 1, i::text FROM generate_series(1, 20) AS i")  # fmt: skip


async def test_statements_that_grow_with_the_data_plan_no_per_row_scans(
    stale: asyncpg.Connection,
) -> None:
    db = stale
    job = await get_job(db, 10)  # subjects per study
    now = datetime.now(UTC)
    selection = Selection(0, False, now).args(job, 1)
    sql = ParameterSql.for_job(job, 4242)
    await db.execute(query("parameter_work_create").format(work=work_table(4242)))
    keys = [f"studyId={i}" for i in range(1, 501)]
    children = quote_ident("dim_subjects_staging")
    visits = quote_ident("dim_patient_visits_staging")
    checks: dict[str, tuple[str, tuple[Any, ...], bool]] = {
        # (sql, args, run inside hash_joins as the loader does)
        "selection (plan)": (sql.count, selection, True),
        "selection (run)": (sql.fill, (*selection, list(FETCHED_REASONS)), True),
        "lost parents": (
            query("unit_state_mark_lost").format(table=children), (10, 1), True
        ),
        "gone parents": (sql.gone, (10, 1), True),
        "settle (mark)": (
            query("unseen_mark_by_id").format(table=visits), (1, 9, 77), True
        ),
        "settle (delete)": (
            query("unseen_delete_by_id").format(table=visits), (1, 9, 77), True
        ),
        "revisits of a batch": (
            REVISIT, (10, 1, keys, 86400, 28 * 86400, now, False), False
        ),
        "gone children (mark)": (
            query("fanout_children_mark").format(table=children), (1, 10, keys), False
        ),
        "status page": (query("status_jobs"), (), False),
        "status page per instance": (query("status_job_instances"), (), False),
        "runs": (query("status_runs"), (None, None, 20, None, None, None), False),
        "failures": (query("history_failed_units"), (None, None, 50), False),
        "stats": (query("history_stats"), (7, None), False),
        "resume chain": (query("history_resume_chain"), (1500,), False),
        "freshness": (query("freshness_jobs"), (), False),
        "parents overdue": (query("freshness_parents_overdue"), (), True),
        "resolved by": (query("status_resolved_by"), (list(range(1, 21)),), False),
    }  # fmt: skip
    found = {
        name: problems
        for name, (statement, args, linear) in checks.items()
        if (problems := await explain(db, statement, *args, linear=linear))
    }
    assert not found, found


async def test_a_batch_reaches_its_units_and_scopes_by_key(stale: asyncpg.Connection) -> None:
    """Per-batch statements touch a few hundred keys: they must not scan every row of the job
    (statistics that say the job has five rows make that look cheap: once per batch, it is
    quadratic over a run)."""
    db = stale
    keys = [f"studyId={i}" for i in range(1, 501)]
    now = datetime.now(UTC)
    children = quote_ident("dim_subjects_staging")
    checks = {
        "revisits": (REVISIT, (10, 1, keys, 86400, 28 * 86400, now, False),
                     "dw_etl_unit_state", "unit_key"),
        "scope counts": (query("staging_scope_counts").format(table=children), (1, 10, keys),
                         "dim_subjects_staging", "scope_key"),
    }  # fmt: skip
    found = {}
    for name, (sql, args, table, key) in checks.items():
        async with db.transaction():
            await key_lookups(db)
            raw = await db.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
        if problems := list(unkeyed_scans(orjson.loads(raw)[0]["Plan"], table, key)):
            found[name] = problems
    assert not found, found


async def test_the_selection_counts_what_the_work_list_holds(stale: asyncpg.Connection) -> None:
    db = stale
    job = await get_job(db, 10)
    selection = Selection(0, True, datetime.now(UTC))
    counts = await parameters.select_parents(db, job, 1, selection, 4343)
    assert counts == {"full": ROWS}
    rows = await db.fetchval(f"SELECT count(*) FROM {work_table(4343)}")
    assert rows == ROWS
    await parameters.drop_selection(db, 4343)
    assert await db.fetchval("SELECT to_regclass('trialsync_work.parents_4343')") is None
