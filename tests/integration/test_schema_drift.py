"""Schema drift over real runs: job 3 (/api/v1/patients/odata, PatientViewModel) loaded from
the simulator, then again after its ``field_changes`` retype a string field into an object,
drop a field and add one. ``notes.schema_drift`` on the run row, the new-drift warning, the
``runs show`` section and ``schema --json``/``schema`` as users run them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ccsim import SimulatorServer
from tests.cli_support import cli
from tests.engine_support import fetch, loader
from tests.pg_support import unique_name
from tests.sim_support import sim_fixture
from trialsync_async.db.connect import drop_database, recreate_database

pytestmark = pytest.mark.integration

sim = sim_fixture()  # a simulator of this module's own: its field changes stay here

PATIENTS = "/api/v1/patients/odata"
CHANGES = [
    {"template": PATIENTS, "field": "firstName", "change": "retype"},
    {"template": PATIENTS, "field": "lastName", "change": "drop"},
    {"template": PATIENTS, "field": "loyaltyTier", "change": "add", "value": "gold"},
]


async def notes_of(dsn: str, run_id: int | None) -> dict[str, Any]:
    [row] = await fetch(dsn, "SELECT notes FROM dw_etl_runs WHERE run_id = $1", run_id)
    notes = row["notes"]
    return dict(orjson.loads(notes) if isinstance(notes, str) else notes)


async def test_schema_drift_of_runs(
    pg_server_dsn: str, template_db: str, sim: SimulatorServer
) -> None:
    name = unique_name("drift")
    dsn = await recreate_database(pg_server_dsn, name, template=template_db)
    env = {"DATABASE_URL": dsn}
    try:
        async with loader(dsn, sim) as ts:
            [first] = await ts.run_jobs([3])
            sim.configure(field_changes=CHANGES)
            [second] = await ts.run_jobs([3])
            [third] = await ts.run_jobs([3])
        sim.configure(field_changes=[])
        assert (first.status, second.status, third.status) == ("success",) * 3
        records = len(sim.records(PATIENTS))
        ids = {r["id"] for r in sim.records(PATIENTS)}

        # The first checked run: the simulator's patients carry lastUpdatedOn, which the
        # swagger's PatientViewModel lacks. A baseline: no warning.
        before = await notes_of(dsn, first.run_id)
        assert before["schema_checked"]["model"] == "PatientViewModel"
        assert before["schema_checked"]["records"] == records
        assert set(before["schema_drift"]) == {"undeclared"}
        assert before["schema_drift"]["undeclared"]["lastUpdatedOn"]["count"] == records
        assert not any("schema drift" in w for w in before.get("warnings", []))

        after = await notes_of(dsn, second.run_id)
        drift = after["schema_drift"]
        assert set(drift["undeclared"]) == {"lastUpdatedOn", "loyaltyTier"}
        assert drift["undeclared"]["loyaltyTier"]["count"] == records
        assert drift["undeclared"]["loyaltyTier"]["example_id"] in ids
        assert drift["missing"] == ["lastName"]
        mismatch = drift["type_mismatch"]["firstName"]
        assert (mismatch["declared"], mismatch["seen"]) == ("string", "object")
        assert mismatch["count"] >= 1 and mismatch["example_id"] in ids
        assert set(drift["type_mismatch"]) == {"firstName"}
        warning = (
            "new schema drift against PatientViewModel: loyaltyTier (undeclared), "
            f"lastName (missing), firstName (string → object) (not in run {first.run_id})"
        )
        assert after["warnings"] == [warning]
        assert second.progress.notes["warnings"] == [warning]  # the run summary's warnings

        # The same drift again: nothing new, no warning.
        again = await notes_of(dsn, third.run_id)
        assert again["schema_drift"]["missing"] == ["lastName"]
        assert not any("schema drift" in w for w in again.get("warnings", []))

        rc, out, err = await cli("runs", "show", str(second.run_id), env=env)
        assert rc == 0, err
        assert f"schema drift against PatientViewModel ({records} records," in out
        for word in ("undeclared", "loyaltyTier", "missing", "lastName", "type mismatch",
                     "firstName", "object", "new schema drift"):  # fmt: skip
            assert word in out, word
        rc, out, err = await cli("runs", "show", str(second.run_id), "--json", env=env)
        assert rc == 0, err
        run = orjson.loads(out)["run"]
        assert run["schema_drift"] == drift
        assert run["schema_checked"]["model"] == "PatientViewModel"

        rc, out, err = await cli("schema", "--job", "3", "--json", env=env)
        assert rc == 0, err
        doc = orjson.loads(out)
        assert doc["unchecked"] == []
        [job] = doc["jobs"]
        assert (job["job_id"], job["model"], job["checked_runs"]) == (3, "PatientViewModel", 3)
        assert job["latest_run"] == third.run_id
        fields = {(f["kind"], f["field"]): f for f in job["fields"]}
        assert set(fields) == {
            ("undeclared", "lastUpdatedOn"), ("undeclared", "loyaltyTier"),
            ("missing", "lastName"), ("type_mismatch", "firstName"),
        }  # fmt: skip
        old = fields[("undeclared", "lastUpdatedOn")]
        assert (old["first_run"], old["last_run"], old["runs"]) == (
            first.run_id, third.run_id, 3,
        )  # fmt: skip
        retyped = fields[("type_mismatch", "firstName")]
        assert (retyped["first_run"], retyped["last_run"]) == (second.run_id, third.run_id)
        assert retyped["detail"] == "string → object" and retyped["current"] is True
        assert retyped["example_id"] in ids and retyped["first_at"] is not None

        rc, out, err = await cli("schema", "--json", env=env)
        assert rc == 0, err
        unchecked = orjson.loads(out)["unchecked"]
        assert unchecked and all(u["reason"] for u in unchecked)
        assert 3 not in {u["job_id"] for u in unchecked}

        rc, out, err = await cli("schema", env=env)
        assert rc == 0, err
        assert "job 3 Patients: PatientViewModel, 3 checked runs" in out
        assert "no drift check" in out and "firstName" in out
    finally:
        await drop_database(pg_server_dsn, name)
