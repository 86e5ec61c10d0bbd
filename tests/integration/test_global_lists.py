"""Global lists instead of fan-outs: opt-in after a probe that compares them with the
per-parent calls, and a global run that never deletes on a short list."""

from __future__ import annotations

import pytest

from ccsim import SimulatorServer
from tests.cli_support import cli
from tests.engine_support import fetch, loader
from tests.sim_support import sim_fixture
from trialsync_async.errors import InvalidSettingError

pytestmark = pytest.mark.integration

sim = sim_fixture(scope="function")

VISITS = "/api/v1/studies/{studyId}/visits/odata"


async def _live_visits(db_dsn: str) -> tuple[int, int]:
    [row] = await fetch(
        db_dsn,
        "SELECT count(*) AS n, COALESCE(sum((data->>'id')::bigint), 0) AS s"
        " FROM dim_visits_staging WHERE deleted_at IS NULL",
    )
    return int(row["n"]), int(row["s"])


async def test_probe_then_global_fanout_equals_the_per_parent_load(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        await ts.run_jobs([2])
        [per_parent] = await ts.run_jobs([11])
        with pytest.raises(InvalidSettingError, match="jobs probe 11"):
            await ts.set_job(11, values={"fanout": "global"})  # no probe yet
        [report] = await ts.probe_global_list(11, sample=10)  # one instance
        assert report.passed and report.instance_id == 1 and report.parents_sampled == 10
        await ts.set_job(11, values={"fanout": "global"})
        sim.mutate(VISITS, update=2)
        [walk] = await ts.run_jobs([11])
    assert walk.ok and walk.progress.notes["fanout"]["mode"] == "global"
    assert walk.progress.updated == 2 and walk.progress.deleted == 0
    assert walk.progress.requests <= 3 < per_parent.progress.requests  # pages, not parents
    truth = sim.truth(VISITS)
    assert await _live_visits(db_dsn) == (truth["count"], truth["id_sum"])


async def test_a_short_or_empty_global_list_fails_the_probe_and_never_deletes(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim) as ts:
        await ts.run_jobs([2])
        await ts.run_jobs([11])
        [passed] = await ts.probe_global_list(11)
        assert passed.passed
        await ts.set_job(11, values={"fanout": "global"})
        before = await _live_visits(db_dsn)
        sim.configure(global_list_drop=0.5)
        [short] = await ts.probe_global_list(11)
        assert not short.passed and short.mismatches
        [refused] = await ts.run_jobs([11])
        assert refused.status == "failed" and refused.error is not None
        assert "global list short" in refused.error and refused.progress.deleted == 0
        assert await _live_visits(db_dsn) == before
        sim.configure(global_list_drop=1.0)
        [empty] = await ts.probe_global_list(11)
        assert not empty.passed
        with pytest.raises(InvalidSettingError):
            await ts.set_job(11, values={"fanout": "global"})  # the latest probe failed
    code, out, _ = await cli("jobs", "probe", "11", "--json", env={"DATABASE_URL": db_dsn})
    assert code == 1 and '"passed": false' in out
