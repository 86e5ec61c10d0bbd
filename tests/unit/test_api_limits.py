"""The strict-spacing limiter of an API instance."""

from __future__ import annotations

import asyncio
import time

import pytest

from trialsync_async.api import limits
from trialsync_async.api.limits import InstanceLimiter

pytestmark = pytest.mark.unit


def _assert_never_over_rate(stamps: list[float], rate: float) -> None:
    """No k+1 acquisitions within k/rate seconds, for every k — so never more than
    ``rate`` in any one-second window (and no burst at smaller scales either)."""
    tolerance = 0.002
    for k in range(1, len(stamps)):
        for i in range(len(stamps) - k):
            assert stamps[i + k] - stamps[i] >= k / rate - tolerance, (i, k)


async def test_strict_spacing_no_burst() -> None:
    rate = 50.0
    limiter = InstanceLimiter(rate)
    stamps = []
    start = time.monotonic()
    for _ in range(20):
        await limiter.acquire()
        stamps.append(time.monotonic())
    elapsed = time.monotonic() - start
    assert elapsed >= 19 / rate - 0.002  # ≈ 0.38 s: no initial burst of `rate` requests
    assert elapsed < 1.0
    _assert_never_over_rate(stamps, rate)


async def test_concurrent_acquirers_share_the_spacing() -> None:
    rate = 100.0
    stamps: list[float] = []
    limiter = InstanceLimiter(rate)

    async def worker() -> None:
        for _ in range(5):
            await limiter.acquire()
            stamps.append(time.monotonic())

    await asyncio.gather(*(worker() for _ in range(4)))
    stamps.sort()
    assert stamps[-1] - stamps[0] >= 19 / rate - 0.002
    _assert_never_over_rate(stamps, rate)


@pytest.mark.parametrize("rate", [None, 0])
async def test_unlimited(rate: float | None) -> None:
    limiter = InstanceLimiter(rate)
    assert limiter.unlimited
    start = time.monotonic()
    for _ in range(200):
        await limiter.acquire()
    assert time.monotonic() - start < 0.1


@pytest.mark.parametrize("rate", [-1, float("nan"), float("inf")])
def test_invalid_rate(rate: float) -> None:
    with pytest.raises(ValueError):
        InstanceLimiter(rate)


def test_interval_shape() -> None:
    limiter = InstanceLimiter(10)
    assert limiter.interval == pytest.approx((1 + limits.SPACING_MARGIN) / 10)


async def test_pause_holds_requests() -> None:
    limiter = InstanceLimiter(None)
    limiter.pause(0.05)
    start = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - start >= 0.045
