"""Schedule arithmetic on a fake clock: next tick, missed ticks once, the seconds field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trialsync_async.errors import ConfigError
from trialsync_async.inventory import parse_job
from trialsync_async.schedule import check, due_tick, latest_due, next_due

pytestmark = pytest.mark.unit

T = datetime(2026, 12, 2, 2, 30, 0, tzinfo=UTC)
NIGHTLY = "0 2 * * *"


def test_next_and_latest() -> None:
    assert next_due(NIGHTLY, T) == datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    assert latest_due(NIGHTLY, T) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    assert latest_due("30 2 * * *", T) == T  # a tick exactly now is due now
    assert next_due("30 2 * * *", T) == T + timedelta(days=1)


def test_seconds_field_comes_first() -> None:
    assert next_due("*/5 * * * * *", T) == T + timedelta(seconds=5)
    assert next_due("10 * * * * *", T) == T + timedelta(seconds=10)
    assert latest_due("*/5 * * * * *", T + timedelta(seconds=7)) == T + timedelta(seconds=5)


def test_missed_ticks_run_once() -> None:
    four_nights_ago = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    # The daemon was down for three nightly ticks: one tick is due, the latest.
    assert due_tick(NIGHTLY, four_nights_ago, T) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    # Once that tick is recorded, nothing more is due until tomorrow.
    assert due_tick(NIGHTLY, datetime(2026, 12, 2, 2, 0, tzinfo=UTC), T) is None
    assert due_tick(NIGHTLY, None, T) is None  # never scheduled: counts from now


def test_due_exactly_at_the_tick() -> None:
    last = T - timedelta(seconds=5)
    assert due_tick("*/5 * * * * *", last, T) == T
    assert due_tick("*/5 * * * * *", last, T - timedelta(microseconds=1)) is None


@pytest.mark.parametrize("bad", ["", "* * *", "61 * * * *", "a b c d e", "* * * * * * *"])
def test_bad_schedules_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        check(bad)


def test_inventory_validates_schedules() -> None:
    base = {"id": 1, "name": "x", "source_endpoint": "/api/v1/sites/odata",
            "target_table": "dim_sites_staging"}  # fmt: skip
    assert parse_job({**base, "schedule": "*/15 * * * *"}).schedule == "*/15 * * * *"
    assert parse_job(base).schedule is None
    with pytest.raises(ConfigError, match="job 1"):
        parse_job({**base, "schedule": "every night"})
