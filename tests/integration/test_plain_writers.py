"""A plain keyed job commits on several connections, each for its own key ranges (the lanes of
engine/stages.py): exact on any number of writers, first load and the pass after changes."""

from __future__ import annotations

import pytest

from ccsim import SimulatorServer
from tests.engine_support import fetch, loader
from tests.sim_support import sim_fixture

pytestmark = pytest.mark.integration

sim = sim_fixture(scope="function")
VISITS = "/api/v1/patient-visits/odata"
TABLE = "dim_patient_visits_staging"


async def _live(db_dsn: str) -> tuple[int, int, int]:
    [row] = await fetch(
        db_dsn,
        f"SELECT count(*) AS n, COALESCE(sum((data->>'id')::bigint), 0) AS s, "
        f"count(*) FILTER (WHERE deleted_at IS NOT NULL) AS marked FROM {TABLE}",
    )
    [live] = await fetch(
        db_dsn, f"SELECT count(*) AS n, COALESCE(sum((data->>'id')::bigint), 0) AS s "
        f"FROM {TABLE} WHERE deleted_at IS NULL",
    )  # fmt: skip
    return int(live["n"]), int(live["s"]), int(row["marked"])


@pytest.mark.parametrize("writers", [1, 2, 3])
async def test_a_plain_job_loads_exactly_on_any_number_of_writers(
    db_dsn: str, sim: SimulatorServer, writers: int
) -> None:
    async with loader(db_dsn, sim, plain_writers=writers, page_size=50, batch_rows=120) as ts:
        [first] = await ts.run_jobs([9], full=True)
        assert first.ok, first.error
        truth = sim.truth(VISITS)
        assert await _live(db_dsn) == (truth["count"], truth["id_sum"], 0)
        [run] = await fetch(
            db_dsn, "SELECT notes, pass_id FROM dw_etl_runs WHERE run_id = $1", first.run_id
        )
        ranges = await fetch(
            db_dsn, "SELECT status FROM dw_etl_unit_state WHERE job_id = 9 AND pass_id = $1",
            run["pass_id"],
        )  # fmt: skip
        changed = sim.mutate(VISITS, delete=7, update=5, insert=3)
        [second] = await ts.run_jobs([9], full=True)
    assert (run["notes"] or {}).get("writers") == (writers if writers > 1 else None)
    assert len(ranges) > writers and {r["status"] for r in ranges} == {"done"}  # every lane
    truth = sim.truth(VISITS)
    assert second.ok, second.error
    assert second.progress.deleted == len(changed["deleted"]) == 7
    assert second.progress.inserted == 3 and second.progress.updated >= 5
    assert await _live(db_dsn) == (truth["count"], truth["id_sum"], 7)
