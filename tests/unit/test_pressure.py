"""Adaptive pressure, over a fake clock: AIMD on an instance's rate, Vegas on its requests in
flight (no I/O)."""

from __future__ import annotations

import asyncio

import pytest

from trialsync_async.api.concurrency import AdaptiveSlots, VegasLimit
from trialsync_async.api.limits import InstanceLimiter, RatePolicy

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def serve(limiter: InstanceLimiter, clock: Clock, rate: float, seconds: float) -> None:
    """``rate`` answers a second for ``seconds``."""
    for _ in range(int(rate * seconds)):
        clock.tick(1 / rate)
        limiter.served()


def test_a_429_lowers_the_rate_to_what_the_server_served_once_per_signal() -> None:
    clock = Clock()
    limiter = InstanceLimiter(None, clock=clock)
    assert limiter.unlimited  # no configured limit: none until the server says so
    serve(limiter, clock, 50, 3)
    sent = clock.now - 0.05
    limiter.throttled(retry_after=1.0, sent_at=sent)
    assert limiter.rate == pytest.approx(45, rel=0.05)  # 0.9 of the 50/s it served
    assert limiter.paused_for() == 0  # only the throttled request waits as asked
    clock.tick(0.01)
    for _ in range(20):  # answers to requests sent before the decrease: the same signal
        limiter.throttled(retry_after=1.0, sent_at=sent)
    assert limiter.decreases == 1 and limiter.throttles == 21 and limiter.paused_for() == 0
    clock.tick(0.2)  # sent after the decrease and throttled too: it was not enough
    limiter.throttled(retry_after=1.0, sent_at=clock.now - 0.05)
    assert limiter.decreases == 2 and limiter.rate == pytest.approx(45 * 0.9, rel=0.05)
    assert limiter.paused_for() == 0
    clock.tick(0.2)  # nor was the second step: every request pauses as the server asks
    limiter.throttled(retry_after=1.0, sent_at=clock.now - 0.05)
    assert limiter.decreases == 3 and limiter.paused_for() == pytest.approx(1.0)


def test_a_first_429_is_measured_over_the_time_answers_came_not_the_whole_window() -> None:
    clock = Clock()
    limiter = InstanceLimiter(None, clock=clock)
    serve(limiter, clock, 20, 1)  # a second of 20/s, then the server's bucket runs dry
    limiter.throttled(sent_at=clock.now)
    assert limiter.rate == pytest.approx(18, rel=0.06)  # not 20 / 3 s of window


def test_the_rate_recovers_additively_never_above_the_ceiling() -> None:
    clock = Clock()
    limiter = InstanceLimiter(20, clock=clock)
    serve(limiter, clock, 20, 2)
    limiter.throttled()
    low = limiter.rate
    assert low is not None and low < 20
    serve(limiter, clock, low, 5)
    assert low < (limiter.rate or 0) < 20  # 2% of the ceiling a second
    serve(limiter, clock, 20, 60)
    assert limiter.rate == 20 and limiter.ceiling == 20


def test_without_a_ceiling_the_rate_keeps_probing_upward() -> None:
    clock = Clock()
    limiter = InstanceLimiter(None, clock=clock)
    serve(limiter, clock, 40, 3)
    limiter.throttled()
    after = limiter.rate or 0
    serve(limiter, clock, after, 20)
    near_knee = limiter.rate or 0
    assert after < near_knee < 40 * 1.05  # slowly past the rate it was throttled at
    serve(limiter, clock, near_knee, 150)  # the knee forgotten: probing at full pace again
    assert (limiter.rate or 0) > after * 1.3


def test_nothing_but_429_halves_down_to_the_floor() -> None:
    clock = Clock()
    limiter = InstanceLimiter(8, RatePolicy(floor=0.5), clock=clock)
    rates = []
    for _ in range(10):
        clock.tick(1.1)
        limiter.throttled()
        rates.append(limiter.rate)
    assert rates[:4] == [4, 2, 1, 0.5] and rates[-1] == 0.5


def test_an_unlimited_instance_throttled_at_once_starts_at_the_advice() -> None:
    limiter = InstanceLimiter(None, clock=Clock())
    limiter.throttled()
    assert limiter.rate == RatePolicy().start


def test_the_schedule_holds_the_rate_without_bursts() -> None:
    clock = Clock()
    limiter = InstanceLimiter(10, clock=clock)
    waits = [limiter.reserve() for _ in range(5)]  # five requests at once
    assert waits[0] == 0 and waits[1:] == pytest.approx([0.101, 0.202, 0.303, 0.404])
    clock.tick(5)  # idle: the next one goes now, no bucketful at once
    assert limiter.reserve() == 0 and limiter.reserve() == pytest.approx(0.101)


def rounds(limit: VegasLimit, rtt: float, n: int, *, waiting: int = 8) -> None:
    """``n`` rounds of answers at ``rtt``, ``waiting`` requests queued for a slot in each."""
    for _ in range(n):
        limit.demand(int(limit.limit) + waiting)
        for _ in range(int(limit.limit)):
            limit.sample(rtt, int(limit.limit))


def test_vegas_grows_while_latency_holds_then_stops_at_the_ceiling() -> None:
    limit = VegasLimit(initial=4, maximum=64, clock=Clock())
    rounds(limit, 0.1, 3)
    assert limit.limit == 32  # slow start: doubling
    rounds(limit, 0.1, 5)
    assert limit.limit == 64


def test_vegas_grows_only_when_a_request_had_to_wait_however_the_round_ends() -> None:
    limit = VegasLimit(initial=8, maximum=64, clock=Clock())
    rounds(limit, 0.1, 3, waiting=0)  # the limit never bound (fewer requests than slots)
    assert limit.limit == 8
    # a wave of 8 that ends together: at the round's last answer the others have ended,
    # but 24 wanted a slot while it was out: the limit bound
    limit.demand(32)
    for left in range(8, 0, -1):
        limit.sample(0.1, left)
    assert limit.limit == 16


def test_vegas_backs_off_when_latency_climbs_and_halves_on_overload() -> None:
    limit = VegasLimit(initial=16, maximum=64, clock=Clock())
    rounds(limit, 0.1, 1)
    peak = limit.limit
    rounds(limit, 0.3, 3)  # queueing: two thirds of the latency is waiting
    assert limit.limit < peak
    before = limit.limit
    limit.overloaded()
    assert limit.limit == max(1, int(before // 2)) and limit.decreases == 1
    for _ in range(10):
        limit.overloaded()
    assert limit.limit == 1  # never below the minimum


async def test_slots_hold_the_limit_and_a_cancelled_wakeup_is_passed_on() -> None:
    slots = AdaptiveSlots(VegasLimit(initial=1, maximum=1, clock=Clock()))
    release = asyncio.Event()
    peak = 0

    async def request() -> None:
        nonlocal peak
        async with slots.held():
            peak = max(peak, slots.in_flight)
            await release.wait()

    holder = asyncio.create_task(request())
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(request()) for _ in range(2)]
    await asyncio.sleep(0)
    assert slots.in_flight == 1
    holder.cancel()  # a request cancelled mid-flight gives its slot back at once ...
    await asyncio.sleep(0)
    waiters[0].cancel()  # ... to the first waiter, cancelled before it could run
    release.set()
    # the wake-up went on to the second: nothing else is in flight to wake it later
    await asyncio.wait_for(waiters[1], timeout=2)
    assert slots.in_flight == 0 and peak == 1
