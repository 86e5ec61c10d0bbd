"""RetryPolicy: backoff, jitter, Retry-After."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from trialsync_async.api.retry import RetryPolicy, parse_retry_after
from trialsync_async.settings import Settings

pytestmark = pytest.mark.unit

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def make_policy(**changes: float | bool) -> RetryPolicy:
    """The settings' policy with ``changes``."""
    return replace(Settings().retry_policy(), **changes)  # type: ignore[arg-type]


def test_settings_hand_out_the_policy_and_it_is_keyword_only() -> None:
    s = Settings(http_max_attempts=4, http_backoff_base=0.25)
    assert (s.retry_policy().max_attempts, s.retry_policy().base_delay) == (4, 0.25)
    with pytest.raises(TypeError):
        RetryPolicy(3)  # type: ignore[call-arg]


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base_delay": -1}, {"max_delay": -1}])
def test_invalid(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        make_policy(**kwargs)


def test_exponential_without_jitter_is_capped() -> None:
    policy = make_policy(base_delay=0.5, max_delay=3.0, jitter=False)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(10_000) == 3.0


def test_full_jitter_stays_below_ceiling() -> None:
    policy = make_policy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    delays = [policy.backoff(4, rng=rng) for _ in range(200)]
    assert all(0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 100


def test_can_retry() -> None:
    policy = make_policy(max_attempts=3)
    assert policy.can_retry(1) and policy.can_retry(2) and not policy.can_retry(3)


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=NOW) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=NOW) == 0.0
    for bad in (None, "", "soon", "-3", "nan", "inf"):
        assert parse_retry_after(bad) is None


def test_delay_prefers_retry_after_capped() -> None:
    policy = make_policy(base_delay=0.5, jitter=False, max_retry_after=60.0)
    assert policy.delay(1, "12") == 12.0
    assert policy.delay(1, "3600") == 60.0
    assert policy.delay(1, "Wed, 01 Jan 2025 12:00:10 GMT", now=NOW) == 10.0
    assert policy.delay(2, "garbage") == 1.0
    assert policy.delay(2) == 1.0
