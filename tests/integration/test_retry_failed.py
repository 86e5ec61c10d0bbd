"""``retry-failed RUN``: a new run of the run's job that re-fetches exactly its failed units."""

from __future__ import annotations

import pytest

from ccsim import SimulatorServer
from tests.cli_support import cli
from tests.engine_support import loader
from tests.sim_support import sim_fixture
from trialsync_async.errors import UnknownRunError

pytestmark = pytest.mark.integration

sim = sim_fixture(scope="function")

VISITS = "/api/v1/studies/{studyId}/visits/odata"


async def test_retry_failed_fetches_exactly_the_failed_units(
    db_dsn: str, sim: SimulatorServer
) -> None:
    async with loader(db_dsn, sim, http_max_attempts=1) as ts:
        await ts.run_jobs([2])
        ids = sorted(r["id"] for r in sim.records("/api/v1/studies/odata"))
        broken = {str(i) for i in ids[:3]}
        sim.configure(fail_parents={VISITS: sorted(broken)})
        [first] = await ts.run_jobs([11])
        assert first.status == "failed" and first.progress.units_failed == 3
        job_id, failed = await ts.failed_units_of(first.run_id or 0)
        assert job_id == 11 and {u["studyId"] for u in failed} == broken
        sim.configure(fail_parents={})
        sim.reset_stats()
        [retry] = await ts.run_jobs([11], retry_of=first.run_id)
        with pytest.raises(UnknownRunError):
            await ts.failed_units_of(999_999)
        assert (await ts.run_detail(retry.run_id or 0)).retry_of == first.run_id
    # Once retried, a second retry-failed of the same run says so instead of re-fetching.
    code, out, err = await cli("retry-failed", str(first.run_id), env={"DATABASE_URL": db_dsn})
    assert code == 0, err
    assert code == 0 and f"retried by run {retry.run_id} (success)" in out
    assert retry.ok and retry.run_id != first.run_id
    assert retry.progress.notes["retry_of"] == first.run_id
    assert set(sim.stats()["by_parameters"][VISITS]) == broken  # those three, nothing else
    assert retry.progress.requests == 3 and retry.progress.units_total == 3


async def test_retry_failed_command(db_dsn: str, sim: SimulatorServer) -> None:
    env = {"DATABASE_URL": db_dsn}
    async with loader(db_dsn, sim) as ts:
        [done] = await ts.run_jobs([2])
    code, out, _ = await cli("retry-failed", str(done.run_id), env=env)
    assert code == 0 and "no failed units" in out
    code, _, err = await cli("retry-failed", "424242", env=env)
    assert code == 1 and err.strip().splitlines() == [
        "error: Unknown run id 424242: see `trialsync-async runs`"
    ]
