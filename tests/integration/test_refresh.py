"""Request economy: a fan-out fetches only parents that are new, changed, failed or due, and
revisits the others on an interval that doubles while their children stay unchanged."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ccsim import SimulatorServer
from tests.engine_support import DAY, Clock, fetch, loader, staged
from tests.sim_support import sim_fixture
from trialsync_async.app import TrialSync

pytestmark = pytest.mark.integration

sim = sim_fixture(scope="function")

STUDIES = "/api/v1/studies/odata"
VISITS = "/api/v1/studies/{studyId}/visits/odata"


async def _studies_then_visits(ts: TrialSync, clock: Clock) -> None:
    """Studies, then visits per study: every parent new, fetched once."""
    for job_id in (2, 11):
        [result] = await ts.run_jobs([job_id], clock=clock)
        assert result.ok, result.error


async def _visits_match_truth(db_dsn: str, sim: SimulatorServer) -> None:
    n, id_sum, _ = await staged(db_dsn, "dim_visits_staging")
    assert (n, id_sum) == (sim.truth(VISITS)["count"], sim.truth(VISITS)["id_sum"])


async def _intervals(db_dsn: str) -> dict[str, int]:
    rows = await fetch(
        db_dsn, "SELECT unit_key, refresh_seconds FROM dw_etl_unit_state WHERE job_id = 11"
    )
    return {r["unit_key"]: r["refresh_seconds"] for r in rows}


async def test_nothing_changed_means_no_requests_and_changed_parents_are_fetched(
    db_dsn: str, sim: SimulatorServer
) -> None:
    clock = Clock()
    studies = sim.truth(STUDIES)["count"]
    async with loader(db_dsn, sim) as ts:
        await ts.run_jobs([2], clock=clock)
        [first] = await ts.run_jobs([11], clock=clock)
        assert first.ok and first.progress.requests >= studies
        assert first.progress.notes["fanout"]["new"] == studies
        [second] = await ts.run_jobs([11], clock=clock)
        assert second.ok and second.progress.requests == 0
        assert second.progress.notes["fanout"]["fresh"] == studies
        # Three studies change upstream: the parent job rewrites exactly their rows, and the
        # fan-out fetches exactly those three.
        sim.mutate(STUDIES, update=3)
        [parents] = await ts.run_jobs([2], clock=clock)
        assert parents.progress.updated == 3
        [third] = await ts.run_jobs([11], clock=clock)
    assert third.ok and third.progress.notes["fanout"]["changed"] == 3
    assert third.progress.units_total == 3 and 3 <= third.progress.requests <= 6
    await _visits_match_truth(db_dsn, sim)


async def _unit_state(db_dsn: str) -> dict[str, tuple[int, int, datetime]]:
    """unit key -> (records, refresh_seconds, due at)."""
    rows = await fetch(
        db_dsn,
        "SELECT unit_key, records, refresh_seconds, due_at FROM dw_etl_unit_state"
        " WHERE job_id = 11",
    )
    return {r["unit_key"]: (r["records"], r["refresh_seconds"], r["due_at"]) for r in rows}


async def test_first_revisits_spread_by_records_between_min_and_max_refresh(
    db_dsn: str, sim: SimulatorServer
) -> None:
    clock = Clock()
    async with loader(db_dsn, sim) as ts:
        await _studies_then_visits(ts, clock)
    state = await _unit_state(db_dsn)
    dues = set()
    for records, refresh, due_at in state.values():
        # Each child gets about the same revisit rate: 28 days / (1 + records), >= 1 day.
        assert refresh == max(DAY, 28 * DAY // (1 + records))
        wait = (due_at - clock.now).total_seconds()
        assert DAY <= wait <= refresh
        dues.add(round(wait))
    assert len(dues) > len(state) // 2  # spread out, not one second full cycle


async def test_child_changes_are_caught_by_revisits_that_double_and_reset(
    db_dsn: str, sim: SimulatorServer
) -> None:
    clock = Clock()
    studies = sim.truth(STUDIES)["count"]
    async with loader(db_dsn, sim) as ts:
        await _studies_then_visits(ts, clock)
        before = await _intervals(db_dsn)
        [again] = await ts.run_jobs([11], clock=clock, full=True)  # nothing changed
        assert again.progress.written == 0
        assert await _intervals(db_dsn) == {k: min(28 * DAY, 2 * v) for k, v in before.items()}
        # A child changes, its parent does not: caught by the parent's revisit, at the latest
        # after max_refresh, and that parent's interval drops back to min_refresh.
        sim.mutate(VISITS, update=1)
        clock.advance(28 * DAY)
        [due] = await ts.run_jobs([11], clock=clock)
        assert due.progress.notes["fanout"]["due"] == studies
        assert due.progress.updated == 1
        await _visits_match_truth(db_dsn, sim)
        intervals = await _intervals(db_dsn)
        [changed] = [k for k, v in intervals.items() if v == DAY]
        # While its children keep changing it is revisited every min_refresh (1 day).
        for _ in range(3):
            sim.mutate(VISITS, update=1, parent=changed.split("=", 1)[1])
            clock.advance(DAY)
            [daily] = await ts.run_jobs([11], clock=clock)
            assert daily.progress.notes["fanout"]["due"] == 1 and daily.progress.updated == 1
            assert (await _intervals(db_dsn))[changed] == DAY
        # Once its children stop changing it stays active for max_refresh: the interval
        # doubles, but only up to 2 x min_refresh.
        for wait in (DAY, 2 * DAY, 2 * DAY):
            clock.advance(wait)
            [quiet] = await ts.run_jobs([11], clock=clock)
            assert quiet.progress.written == 0
            _, refresh, due_at = (await _unit_state(db_dsn))[changed]
            assert refresh == 2 * DAY and due_at == clock.now + timedelta(days=2)
        # Unchanged parents keep doubling, up to max_refresh (28 days), never beyond.
        for _ in range(6):
            clock.advance(28 * DAY)
            await ts.run_jobs([11], clock=clock)
        assert set((await _intervals(db_dsn)).values()) == {28 * DAY}
        # A parent whose own row changes (children unchanged) is fetched at once; one with
        # children comes back within 2 x min_refresh, one without keeps max_refresh.
        state = await _unit_state(db_dsn)
        with_children = next(k for k, (records, _, _) in state.items() if records > 0)
        without = next(k for k, (records, _, _) in state.items() if records == 0)
        ids = [int(k.split("=", 1)[1]) for k in (with_children, without)]
        sim.mutate(STUDIES, update_ids=ids, rename=False)  # their visits do not embed them
        await ts.run_jobs([2], clock=clock)
        [moved] = await ts.run_jobs([11], clock=clock)
        assert moved.progress.notes["fanout"]["changed"] == 2 and moved.progress.written == 0
    intervals = await _intervals(db_dsn)
    assert (intervals[with_children], intervals[without]) == (2 * DAY, 28 * DAY)


async def test_full_fetches_every_parent_and_equals_a_fresh_load(
    db_dsn: str, sim: SimulatorServer
) -> None:
    clock = Clock()
    studies = sim.truth(STUDIES)["count"]
    async with loader(db_dsn, sim) as ts:
        await _studies_then_visits(ts, clock)
        [full] = await ts.run_jobs([11], clock=clock, full=True)
    assert full.ok and full.progress.notes["fanout"]["mode"] == "full"
    assert full.progress.notes["fanout"]["full"] == studies
    assert full.progress.requests >= studies and full.progress.written == 0
    await _visits_match_truth(db_dsn, sim)


async def test_plan_matches_what_the_next_run_requests(db_dsn: str, sim: SimulatorServer) -> None:
    clock = Clock()
    studies = sim.truth(STUDIES)["count"]
    async with loader(db_dsn, sim) as ts:
        [never] = await ts.plan([11])
        assert never.reasons == {"new": 0} or never.parents == 0  # no parents staged yet
        await ts.run_jobs([2], clock=clock)
        [first_plan] = await ts.plan([11])
        assert first_plan.reasons == {"new": studies} and first_plan.requests == studies
        [first] = await ts.run_jobs([11], clock=clock)
        assert first.progress.requests == first_plan.requests
        sim.mutate(STUDIES, update=4)
        await ts.run_jobs([2], clock=clock)
        [plan] = await ts.plan([11], now=clock())
        [plain] = await ts.plan([2])
        [run] = await ts.run_jobs([11], clock=clock)
    assert plan.parents == studies and plan.reasons["changed"] == 4
    assert plan.reasons["fresh"] == studies - 4 and plan.fetched == 4
    assert plan.requests == run.progress.requests == 4
    assert run.progress.notes["planned"] == {"requests": 4, "parents": 4}  # on the run row
    assert plain.parents is None and plain.requests is not None and plain.requests >= 1


async def test_children_of_parents_gone_upstream_follow_the_deletes_policy(
    db_dsn: str, sim: SimulatorServer
) -> None:
    clock = Clock()
    async with loader(db_dsn, sim) as ts:
        await _studies_then_visits(ts, clock)
        gone = sim.mutate(STUDIES, delete=2)
        [parents] = await ts.run_jobs([2], clock=clock, full=True)
        assert parents.progress.deleted == 2  # a full pass marks them (deletes = mark)
        [children] = await ts.run_jobs([11], clock=clock)
    assert children.ok and children.progress.requests == 0  # nothing to fetch for them
    assert children.progress.notes["gone_parents"]["units"] == 2
    rows = await fetch(
        db_dsn,
        "SELECT count(*) AS n, COALESCE(sum((data->>'id')::bigint), 0) AS s"
        " FROM dim_visits_staging WHERE deleted_at IS NULL",
    )
    truth = sim.truth(VISITS)
    assert (rows[0]["n"], rows[0]["s"]) == (truth["count"], truth["id_sum"])
    marked = await fetch(
        db_dsn, "SELECT count(*) AS n FROM dim_visits_staging WHERE deleted_at IS NOT NULL"
    )
    assert marked[0]["n"] == children.progress.deleted == len(gone["orphaned"]["visits"])
    units = await _intervals(db_dsn)
    assert len(units) == sim.truth(STUDIES)["count"]
