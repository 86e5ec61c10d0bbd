"""Timestamp incrementals: studies (``incremental_field = "lastUpdatedOn"``) ask only for what
changed since the staged watermark, with a full pass every max_refresh to catch deletions."""

from __future__ import annotations

import pytest

from ccsim import SimulatorServer
from tests.engine_support import DAY, Clock, fetch, loader
from tests.sim_support import sim_fixture

pytestmark = pytest.mark.integration

sim = sim_fixture(scope="function")

STUDIES = "/api/v1/studies/odata"


async def _live_studies(db_dsn: str) -> tuple[int, int]:
    [row] = await fetch(
        db_dsn,
        "SELECT count(*) AS n, COALESCE(sum((data->>'id')::bigint), 0) AS s"
        " FROM dim_studies_staging WHERE deleted_at IS NULL",
    )
    return int(row["n"]), int(row["s"])


def _truth(sim: SimulatorServer) -> tuple[int, int]:
    truth = sim.truth(STUDIES)
    return truth["count"], truth["id_sum"]


async def test_incremental_runs_fetch_only_changes_and_a_full_pass_settles_deletions(
    db_dsn: str, sim: SimulatorServer
) -> None:
    clock = Clock()
    async with loader(db_dsn, sim) as ts:
        [first] = await ts.run_jobs([2], clock=clock)
        assert first.progress.notes["incremental"]["mode"] == "full"
        assert first.progress.notes["incremental"]["reason"] == "first run"
        sim.mutate(STUDIES, update=3, rename=False)
        sim.mutate(STUDIES, insert=2)
        sim.reset_stats()
        clock.advance(DAY)
        [second] = await ts.run_jobs([2], clock=clock)
        inc = second.progress.notes["incremental"]
        assert inc["mode"] == "incremental" and inc["field"] == "lastUpdatedOn"
        [mark] = await fetch(
            db_dsn, "SELECT max(data->>'lastUpdatedOn') AS m FROM dim_studies_staging"
        )
        assert inc["watermark"] < mark["m"]  # from the staged rows before this run
        assert (second.progress.inserted, second.progress.updated) == (2, 3)
        assert second.progress.requests == 2  # the filter check and one page
        # The five changes, and what the overlap re-reads (studies updated within the hour).
        assert 5 <= second.progress.fetched <= 10 < first.progress.fetched
        assert await _live_studies(db_dsn) == _truth(sim)
        # Deleted upstream: an incremental pass cannot see it, the next full pass does.
        sim.mutate(STUDIES, delete=2)
        clock.advance(DAY)
        [third] = await ts.run_jobs([2], clock=clock)
        assert third.progress.notes["incremental"]["mode"] == "incremental"
        assert third.progress.deleted == 0
        clock.advance(28 * DAY)
        [fourth] = await ts.run_jobs([2], clock=clock)
        assert fourth.progress.notes["incremental"]["reason"] == "max_refresh"
        assert fourth.progress.deleted == 2
        [forced] = await ts.run_jobs([2], clock=clock, full=True)
        assert forced.progress.notes["incremental"]["reason"] == "--full"
    assert await _live_studies(db_dsn) == _truth(sim)


async def test_an_endpoint_refusing_the_filter_fails_naming_the_setting(
    db_dsn: str, sim: SimulatorServer
) -> None:
    clock = Clock()
    async with loader(db_dsn, sim) as ts:
        await ts.run_jobs([2], clock=clock)
        sim.configure(reject_filter_fields="lastUpdatedOn")
        [refused] = await ts.run_jobs([2], clock=clock)
    assert refused.status == "failed"
    assert refused.error is not None
    assert "Job 2 (Studies)" in refused.error and "incremental_field" in refused.error
    assert "\n" not in refused.error
