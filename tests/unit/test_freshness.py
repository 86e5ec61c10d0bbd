"""Freshness rules (freshness.py) on facts built by hand, no database: each state, the bound
on the calendar of the job's schedule, dead runs; and the status page's pure helpers (order,
pace and ETA of a running run, what is known of an API instance)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from trialsync_async.db.catalog import InstanceRow
from trialsync_async.db.freshness import JobFacts
from trialsync_async.db.status import RunStatus, is_dead
from trialsync_async.engine.clients import make_client
from trialsync_async.freshness import STATES, UNSCHEDULED_BOUND, assess, counts, stale_at
from trialsync_async.service.page import instance_states, rank, running_row
from trialsync_async.settings import Settings

pytestmark = pytest.mark.unit

NIGHTLY = "0 2 * * *"
LEASE = 30.0
# A Wednesday, 12:00 UTC.
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def facts(**changes: Any) -> JobFacts:
    base = JobFacts(
        job_id=7, job_name="Studies", active=True, schedule_cron=None, per_parent=False,
        running_run_id=None, heartbeat_age_seconds=None,
        last_success_run_id=3, last_success_at=NOON - timedelta(hours=10), last_decided_run_id=3,
        failing=False, usual_seconds=600.0, checked_at=NOON,
    )  # fmt: skip
    return replace(base, **changes)


def state(f: JobFacts, default: str = NIGHTLY) -> str:
    return assess(f, default_schedule=default, lease_seconds=LEASE).state


def test_fresh_then_stale_after_two_nightly_ticks_and_the_usual_duration() -> None:
    success = datetime(2026, 12, 2, 2, 10, tzinfo=UTC)  # tonight's run, 10 minutes long
    bound = success + timedelta(days=2, minutes=10)
    assert stale_at(success, NIGHTLY, 600.0) == bound
    for now, want in ((bound - timedelta(seconds=1), "fresh"), (bound + timedelta(seconds=1),
                                                                "stale")):  # fmt: skip
        found = assess(facts(last_success_at=success, checked_at=now),
                       default_schedule=NIGHTLY, lease_seconds=LEASE)  # fmt: skip
        assert found.state == want
        assert found.stale is (want == "stale") and found.stale_at == bound
        assert found.last_success_age_seconds == (now - success).total_seconds()


def test_the_bound_follows_the_calendar_of_the_schedule() -> None:
    weekdays = "0 2 * * 1-5"
    friday = datetime(2026, 12, 4, 2, 5, tzinfo=UTC)
    # Friday's tick, then Monday's and Tuesday's: stale from Tuesday 02:05 + usual.
    assert stale_at(friday, weekdays, 60.0) == datetime(2026, 12, 8, 2, 6, tzinfo=UTC)
    # seconds first: every 10 s, a success counts 20 s + usual
    at = datetime(2026, 12, 2, 12, 0, 3, tzinfo=UTC)
    assert stale_at(at, "*/10 * * * * *", 1.0) == at + timedelta(seconds=21)
    # a manual run between ticks: from the tick before it to the second after
    manual = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert stale_at(manual, NIGHTLY, None) == manual + timedelta(days=2)


def test_a_job_whose_schedule_cannot_be_read_has_the_fixed_bound() -> None:
    success = NOON - timedelta(days=1)
    assert stale_at(success, "every day", 60.0) == success + UNSCHEDULED_BOUND + timedelta(
        seconds=60
    )
    assert state(facts(schedule_cron="every day", last_success_at=success)) == "fresh"
    assert state(facts(schedule_cron="every day", last_success_at=NOON - timedelta(days=3))) == (
        "stale"
    )


def test_the_job_s_own_schedule_before_the_default() -> None:
    hourly = facts(schedule_cron="0 * * * *", last_success_at=NOON - timedelta(hours=3))
    assert state(hourly) == "stale"
    assert state(replace(hourly, schedule_cron=None)) == "fresh"  # nightly default


def test_states_and_their_precedence() -> None:
    old = NOON - timedelta(days=5)
    assert state(facts(active=False, last_success_at=old, failing=True)) == "disabled"
    assert not assess(facts(active=False, last_success_at=old), default_schedule=NIGHTLY,
                      lease_seconds=LEASE).stale  # fmt: skip
    running = facts(running_run_id=9, heartbeat_age_seconds=1.5, failing=True, last_success_at=old)
    found = assess(running, default_schedule=NIGHTLY, lease_seconds=LEASE)
    assert (found.state, found.stale, found.dead) == ("running", True, False)
    failing = facts(failing=True, last_decided_run_id=8, last_success_at=old)
    found = assess(failing, default_schedule=NIGHTLY, lease_seconds=LEASE)
    assert (found.state, found.stale, found.failed_run_id) == ("failing", True, 8)
    assert "run 8 failed" in found.summary()
    assert state(facts(last_success_at=old)) == "stale"
    assert state(facts(last_success_at=None, last_success_run_id=None)) == "never"
    never_ok = facts(last_success_at=None, last_success_run_id=None, failing=True)
    assert state(never_ok) == "failing"  # never succeeded, but has failed: failing
    assert state(facts()) == "fresh"


def test_a_dead_run_does_not_count_as_running() -> None:
    dead = facts(running_run_id=9, heartbeat_age_seconds=240.0, last_success_at=None,
                 last_success_run_id=None)  # fmt: skip
    found = assess(dead, default_schedule=NIGHTLY, lease_seconds=LEASE)
    assert (found.state, found.dead, found.running_run_id) == ("never", True, 9)
    assert is_dead("running", 30.5, 30.0) and not is_dead("running", 29.0, 30.0)
    assert not is_dead("failed", 999.0, 30.0) and not is_dead("running", None, 30.0)


def test_parents_overdue_share_and_counts() -> None:
    found = assess(facts(parents=200, parents_overdue=50), default_schedule=NIGHTLY,
                   lease_seconds=LEASE)  # fmt: skip
    assert found.parents_overdue_ratio == 0.25 and found.to_json()["parents_overdue_ratio"] == 0.25
    plain = assess(facts(), default_schedule=NIGHTLY, lease_seconds=LEASE)
    assert plain.parents_overdue_ratio is None
    tally = counts([found, plain, assess(facts(active=False), default_schedule=NIGHTLY,
                                         lease_seconds=LEASE)])  # fmt: skip
    assert tally == {"failing": 0, "stale": 0, "running": 0, "never": 0, "fresh": 2,
                     "disabled": 1}  # fmt: skip
    assert list(tally) == list(STATES)
    assert sorted(STATES, key=lambda s: rank(assess(facts(
        active=s != "disabled", failing=s == "failing",
        running_run_id=9 if s == "running" else None, heartbeat_age_seconds=1.0,
        last_success_at=None if s == "never" else NOON - timedelta(days=9 if s == "stale" else 0),
    ), default_schedule=NIGHTLY, lease_seconds=LEASE))) == list(STATES)  # fmt: skip


def run_status(**changes: Any) -> RunStatus:
    values: dict[str, Any] = {
        "run_id": 5, "job_id": 7, "job_name": "Studies", "status": "running",
        "started_at": NOON, "completed_at": None, "seconds": 100.0,
        "heartbeat_age_seconds": 1.0, "worker": "w:1", "records_loaded": 0,
        "records_inserted": 0, "records_updated": 0, "records_unchanged": 0,
        "records_deleted": 0, "records_fetched": 5000, "records_sanitized": 0,
        "duplicates_in_source": 0, "requests_made": 50, "requests_retried": 0,
        "units_total": None, "units_done": 0, "units_failed": 0, "units_missing": 0,
        "error": None, "cancel_requested": False, "continues_run_id": None, "pass_id": 5,
    }  # fmt: skip
    return RunStatus(**{**values, **changes})


def test_running_rows_pace_and_eta() -> None:
    by_units = running_row(run_status(units_total=40, units_done=10), planned_requests=500)
    assert (by_units.rows_per_second, by_units.requests_per_second) == (50.0, 0.5)
    assert by_units.eta_seconds == 300.0  # 10 of 40 units in 100 s: 30 more take 300 s
    by_plan = running_row(run_status(), planned_requests=250)
    assert by_plan.eta_seconds == 400.0  # 50 of 250 planned requests in 100 s
    assert running_row(run_status(), planned_requests=None).eta_seconds is None
    assert running_row(run_status(seconds=0.0), planned_requests=10).rows_per_second is None


def test_instances_as_this_replica_knows_them() -> None:
    def row(i: int, active: bool = True) -> InstanceRow:
        return InstanceRow(i, f"api{i}", f"https://user@host{i}.example:8443/CCSWEB", "CCAPIKey",
                           10.0, active, True, None)  # fmt: skip

    def client(i: int) -> Any:
        return make_client(Settings(), instance_id=i, base_url=f"http://host{i}:80/CCSWEB",
                           api_key="k", auth_header="CCAPIKey", rate_limit=10)  # fmt: skip

    up, down, silent = client(1), client(2), client(3)
    up.stats.outcomes.update({"ok": 9, "http_500": 1})
    down.stats.outcomes.update({"connection": 4})
    down.breaker.open_reason = "4 connection failures in a row, last: refused"
    silent.stats.outcomes.update({"timeout": 2})
    found = instance_states([row(1), row(2), row(3), row(4), row(5, active=False)],
                            [up, down, silent])  # fmt: skip
    states = [(i.state, i.tone) for i in found]
    assert states == [("reachable", "ok"), ("unreachable", "bad"), ("not answering", "bad"),
                      ("unknown", "unknown"), ("inactive", "unknown")]  # fmt: skip
    assert "9 ok, 1 http_500" in found[0].detail and "circuit breaker open" in found[1].detail
    assert found[3].host == "host4.example:8443"  # no user info, no path
