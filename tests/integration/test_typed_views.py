"""Typed views (staging_typed) on a real database: made by `migrate` over tables the loader
filled from the simulator, every view selectable, values that do not cast are NULL, and
`views --check` / `views` as operators run them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ccsim import SimulatorServer
from tests.cli_support import cli
from tests.engine_support import fetch, loader
from tests.sim_support import sim_fixture
from trialsync_async.db.connect import connect
from trialsync_async.identifiers import quote_ident
from trialsync_async.inventory import load_inventory
from trialsync_async.swagger import load_swagger
from trialsync_async.typed_views import plan_views

pytestmark = pytest.mark.integration

sim = sim_fixture()
LOADED = [1, 2, 3, 10]  # sites, studies, patients, subjects


def _json(value: Any) -> Any:
    """A jsonb value as the connection returns it (decoded already, or text)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def _older_studies_view(db_dsn: str) -> None:
    await fetch(db_dsn, "DROP VIEW staging_typed.dim_studies")
    await fetch(
        db_dsn,
        "CREATE VIEW staging_typed.dim_studies AS "
        "SELECT (data->>'id')::int AS id FROM dim_studies_staging",
    )


async def _migrated_and_loaded(db_dsn: str, sim: SimulatorServer) -> list[str]:
    async with loader(db_dsn, sim) as ts:
        results = await ts.run_jobs(LOADED)
        assert all(r.ok for r in results), [r.error for r in results]
        report = await ts.migrate()
    return report.notes


async def test_migrate_makes_a_view_per_declared_table_matching_the_rows(
    db_dsn: str, sim: SimulatorServer
) -> None:
    notes = await _migrated_and_loaded(db_dsn, sim)
    plan = plan_views(load_inventory(None), load_swagger())
    assert any(
        n.startswith(f"typed views (staging_typed): {len(plan.views)} created") for n in notes
    )
    loaded = {j.target_table for j in load_inventory(None) if j.id in LOADED}
    conn = await connect(db_dsn)
    try:
        for spec in plan.views:
            view = f"staging_typed.{quote_ident(spec.view)}"
            table = quote_ident(spec.table)
            rows = await conn.fetch(f"SELECT * FROM {view}")  # selects without error
            live = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL")
            assert len(rows) == live, spec.view
            if spec.table not in loaded:
                continue
            assert live > 0, spec.table
            # every typed column is non-NULL exactly where the record has a non-null value
            for column in spec.columns:
                typed = await conn.fetchval(f"SELECT count({quote_ident(column.name)}) FROM {view}")
                present = await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL "
                    "AND jsonb_typeof(data #> $1::text[]) IS DISTINCT FROM 'null'"
                    " AND data #> $1::text[] IS NOT NULL",
                    list(column.path),
                )
                assert typed == present, (spec.view, column)
        made = await conn.fetch(
            "SELECT relname FROM pg_class JOIN pg_namespace AS n ON n.oid = relnamespace "
            "WHERE nspname = 'staging_typed' AND relkind = 'v'"
        )
        names = {r["relname"] for r in made}
        assert names == {v.view for v in plan.views}
        # typed values, not only non-NULL ones
        row = await conn.fetchrow(
            "SELECT t.id, t.first_name, t.date_of_birth, s.data FROM staging_typed.dim_patients t "
            "JOIN dim_patients_staging s ON s.data->>'id' = t.id::text AND "
            "s.source_instance_id = t.source_instance_id WHERE t.date_of_birth IS NOT NULL LIMIT 1"
        )
        assert row is not None
        data = _json(row["data"])
        assert row["id"] == data["id"] and row["first_name"] == data.get("firstName")
        assert row["date_of_birth"].isoformat()[:10] == data["dateOfBirth"][:10]
    finally:
        await conn.close()


async def test_a_value_that_does_not_cast_is_null_and_deleted_rows_are_left_out(
    db_dsn: str, sim: SimulatorServer
) -> None:
    await _migrated_and_loaded(db_dsn, sim)
    [row] = await fetch(db_dsn, "SELECT min((data->>'id')::int) AS id FROM dim_patients_staging")
    patient = row["id"]
    await fetch(
        db_dsn,
        "UPDATE dim_patients_staging SET data = data || jsonb_build_object("
        "'dateOfBirth', 'not a date', 'importId', 'x1', 'doNotMail', 42, "
        "'primarySite', jsonb_build_object('id', 'abc')) WHERE (data->>'id')::int = $1",
        patient,
    )
    [typed] = await fetch(
        db_dsn,
        "SELECT date_of_birth, import_id, do_not_mail, primary_site, primary_site_id "
        "FROM staging_typed.dim_patients WHERE id = $1",
        patient,
    )
    assert tuple(typed)[:3] == (None, None, None) and typed["primary_site_id"] is None
    assert _json(typed["primary_site"]) == {"id": "abc"}
    before = await fetch(db_dsn, "SELECT count(*) AS n FROM staging_typed.dim_patients")
    await fetch(
        db_dsn,
        "UPDATE dim_patients_staging SET deleted_at = now() WHERE (data->>'id')::int = $1",
        patient,
    )
    after = await fetch(db_dsn, "SELECT count(*) AS n FROM staging_typed.dim_patients")
    assert after[0]["n"] == before[0]["n"] - 1


CASTS: list[tuple[str, Any]] = [
    ("to_int('42')", 42),
    ("to_int('\"42\"')", 42),
    ("to_int('1.0')", 1),
    ("to_int('1.5')", None),
    ("to_int('3000000000')", None),
    ("to_int('\"x\"')", None),
    ("to_int('null')", None),
    ("to_int(NULL)", None),
    ("to_int('{\"a\": 1}')", None),
    ("to_bigint('3000000000')", 3000000000),
    ("to_numeric('\"1e999999\"')", None),
    ("to_numeric('\"-2.5\"')::text", "-2.5"),
    ("to_bool('true')", True),
    ("to_bool('\"FALSE\"')", False),
    ("to_bool('1')", None),
    ("to_date('\"2024-01-15\"')::text", "2024-01-15"),
    ("to_date('\"2024-01-15T23:30:00+05:00\"')::text", "2024-01-15"),
    ("to_date('\"2024-02-30\"')", None),
    ("to_date('\"15/01/2024\"')", None),
    ("to_date('20240115')", None),
    ("to_timestamptz('\"2024-01-15T10:30:00\"') = '2024-01-15 10:30:00+00'", True),
    ("to_timestamptz('\"2024-01-15T10:30:00.123Z\"') = '2024-01-15 10:30:00.123+00'", True),
    ("to_timestamptz('\"2024-01-15T10:30:00+02:00\"') = '2024-01-15 08:30:00+00'", True),
    ("to_timestamptz('\"2024-01-15\"') = '2024-01-15 00:00:00+00'", True),
    ("to_timestamptz('\"2024-01-15T25:00:00\"')", None),
    ("to_timestamptz('\"not a date\"')", None),
    ("to_timestamptz('17')", None),
]


async def test_the_casts_return_null_for_what_does_not_fit(db_dsn: str) -> None:
    conn = await connect(db_dsn)
    try:
        await conn.execute("SET TimeZone = 'America/New_York'")  # not what UTC reading uses
        for expression, expected in CASTS:
            got = await conn.fetchval(f"SELECT staging_typed.{expression}")
            assert got == expected, expression
    finally:
        await conn.close()


async def test_views_check_and_views_from_the_command_line(
    db_dsn: str, sim: SimulatorServer
) -> None:
    await _migrated_and_loaded(db_dsn, sim)
    env = {"DATABASE_URL": db_dsn}
    run = await cli("views", "--check", env=env, unset=["TRIALSYNC_JOBS_FILE"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 would change" in run.stdout and "dim_system_lookup_lists_staging" in run.stdout

    await fetch(db_dsn, "DROP VIEW staging_typed.dim_sites")
    await _older_studies_view(db_dsn)  # an older shape of a view: fewer columns
    run = await cli("views", "--check", "--json", env=env, unset=["TRIALSYNC_JOBS_FILE"])
    assert run.returncode == 1, run.stdout + run.stderr
    doc = orjson.loads(run.stdout)
    changes = {c["view"]: (c["action"], c["detail"]) for c in doc["changes"]}
    assert changes["staging_typed.dim_sites"] == ("create", "missing")
    assert changes["staging_typed.dim_studies"][0] == "recreate"
    assert changes["staging_typed.dim_studies"][1].startswith("columns differ: added ")
    assert len(changes) == 2 and doc["ok"] is False
    assert {"table": "dim_invoices_staging", "jobs": [168]}.items() <= next(
        s for s in doc["skipped"] if s["table"] == "dim_invoices_staging"
    ).items()

    run = await cli("views", env=env, unset=["TRIALSYNC_JOBS_FILE"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "changes made" in run.stdout and "2 changed" in run.stdout
    async with loader(db_dsn, sim) as ts:
        again = await ts.typed_views(apply=True)  # idempotent: nothing left to do
        assert again.pending == ()
        assert (await ts.typed_views(apply=False)).pending == ()
    [count] = await fetch(db_dsn, "SELECT count(*) AS n FROM staging_typed.dim_sites")
    [live] = await fetch(db_dsn, "SELECT count(*) AS n FROM dim_sites_staging")
    assert count["n"] == live["n"] > 0


async def test_a_view_in_use_is_not_waited_for_forever(db_dsn: str, sim: SimulatorServer) -> None:
    """A reader holding the view: the DROP gives up after lock_timeout, the others are made."""
    await _migrated_and_loaded(db_dsn, sim)
    await _older_studies_view(db_dsn)
    await fetch(db_dsn, "DROP VIEW staging_typed.dim_sites")
    reader = await connect(db_dsn)
    try:
        tx = reader.transaction()
        await tx.start()
        await reader.fetch("SELECT * FROM staging_typed.dim_studies")
        async with loader(db_dsn, sim) as ts:
            report = await ts.typed_views(apply=True)
        await tx.rollback()
    finally:
        await reader.close()
    [failed] = report.failed
    assert failed.view == "dim_studies" and failed.error.startswith("busy")
    assert {c.view for c in report.pending} == {"dim_studies", "dim_sites"}
    assert any("not made: busy" in n for n in report.notes())
    async with loader(db_dsn, sim) as ts:
        assert [c.view for c in (await ts.typed_views(apply=True)).pending] == ["dim_studies"]
        assert (await ts.typed_views(apply=False)).pending == ()
