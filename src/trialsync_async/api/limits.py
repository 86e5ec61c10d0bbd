"""The request rate of one API instance: a scheduler that holds it, and AIMD that finds it.

**Holding a rate.** Every request reserves the next free slot on a schedule spaced ``1/rate``
apart (a virtual clock, as GCRA does) and sleeps until it. A waiter that wakes late does not
push the slots after it: they were reserved already, so event-loop lag is not paid again and
again, as with a bucket of capacity one that measures from each wake-up (the previous
``aiolimiter.AsyncLimiter(1, interval)``: 0.96 of 20 requests/s where this holds 0.99 while
the event loop is busy 20 ms in every 50, ``bench/bench_pressure.py``). No burst: an idle
instance starts again at one slot now, never a bucketful at once. ``SPACING_MARGIN`` stretches
the spacing by 1%, so jitter on the way to the server cannot squeeze ``rate + 1`` arrivals into
a second it counts.

**Finding a rate (AIMD).** A 429, or a 503, lowers the rate multiplicatively: to what the
server actually served over the last seconds, times ``decrease`` (the server's own limit,
found in one step), else to ``rate × fallback_decrease``. Answers to requests sent before that
decrease are the same signal, not new ones. A request sent after it and throttled within
``hold`` seconds says the decrease was not enough: then every request of the instance pauses
as the server asks (``Retry-After``); otherwise only the throttled request waits that long.
A stretch without throttles raises the rate additively (``increase`` of the ceiling, or of the
rate, per second), never above the configured limit. An instance with no configured limit is
not limited at all until its first 429: a server that never throttles costs nothing, and one
that does is met at what it served.

The limiter is shared by every job of a process (engine/clients.py); replicas each adapt
their share of the configured limit (the service splits it).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

SPACING_MARGIN = 0.01
"""Relative slack added to the interval between two requests of one instance."""
KNEE_MEMORY = 120.0
"""Seconds the rate at the last throttle slows the probing near it (a limit may rise)."""
SERVED_WINDOW = 3.0
"""Seconds of successful answers that tell what the server serves when it starts throttling."""


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """How the rate adapts (Settings hands it out)."""

    decrease: float = 0.9  # on a throttle: this share of what the server served
    fallback_decrease: float = 0.5  # … or of the current rate, when nothing was served
    increase: float = 0.02  # per second without one: this share of the ceiling (or rate)
    hold: float = 1.0  # seconds after a decrease in which further throttles are one signal
    floor: float = 0.2  # requests/second the rate never goes below
    start: float = 10.0  # an unlimited instance throttled before anything was served starts here


def _normalise_rate(rate: float | None) -> float | None:
    """``None``/0 → unlimited; negative or non-finite → ValueError."""
    if rate is None or rate == 0:
        return None
    rate = float(rate)
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"rate limit must be a positive number of requests/s, got {rate!r}")
    return rate


class InstanceLimiter:
    """The gate every request of one API instance passes: a rate schedule plus a pause.

    ``rate`` is the current rate (None: unlimited), ``ceiling`` the configured limit (None:
    none). ``throttled()`` and ``served()`` feed AIMD; ``pause(seconds)`` holds back every
    request of the instance (a throttled API key is throttled for all workers at once).
    """

    def __init__(
        self,
        rate: float | None,
        policy: RatePolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or RatePolicy()
        self._clock = clock
        self._resume_at = 0.0  # before which no request may start
        self._next_slot = 0.0  # the schedule's next free slot
        self._last_change = clock()
        self._last_decrease = -math.inf
        self._strikes = 0  # decreases in a row, each within ``hold`` of the one before
        self._knee: float | None = None  # what the server served when it last throttled
        self._knee_at = -math.inf
        self._served: deque[float] = deque()  # when recent successful answers came
        self.waited_seconds = 0.0  # time requests spent waiting here, all told (metrics)
        self.decreases = 0  # how often AIMD lowered the rate
        self.throttles = 0  # 429/503 answers met
        self.set_rate(rate)

    # --- configuration --------------------------------------------------------------------

    def set_rate(self, rate: float | None) -> None:
        """The configured limit changed (a replica's share of the instance's budget, an
        operator's `instances set`): it is the new ceiling and the new rate."""
        self.ceiling = _normalise_rate(rate)
        self._set(self.ceiling)

    def _set(self, rate: float | None) -> None:
        self.rate = rate
        self.interval = 0.0 if rate is None else (1.0 + SPACING_MARGIN) / rate
        self._last_change = self._clock()

    @property
    def unlimited(self) -> bool:
        return self.rate is None

    # --- AIMD -----------------------------------------------------------------------------

    def served(self) -> None:
        """A request was answered (not throttled): evidence of what the server serves."""
        now = self._clock()
        self._served.append(now)
        while self._served and self._served[0] < now - SERVED_WINDOW:
            self._served.popleft()
        self._maybe_increase(now)

    def throttled(self, retry_after: float | None = None, *, sent_at: float | None = None) -> None:
        """A 429 (or a 503) to a request sent at ``sent_at``.

        Sent before the last decrease: that decrease already answered it. Otherwise the rate
        comes down: to ``decrease`` × what the server served, or, when the last decrease was
        within ``hold`` and so was not enough, to ``decrease`` × the rate; when even that
        second step was not enough, every request of the instance pauses as the server asks.
        (The throttled request itself always waits as asked; the caller does that.)"""
        now = self._clock()
        self.throttles += 1
        if sent_at is not None and sent_at < self._last_decrease:
            return
        p = self.policy
        if now - self._last_decrease < p.hold:  # the last decrease was not enough
            self._strikes += 1
            if self._strikes >= 2:
                self.pause(retry_after or p.hold)
            current = self.rate if self.rate is not None else p.start
            self._lower(max(p.floor, current * p.decrease), now)
            return
        self._strikes = 0
        self._lower(self._served_based(now), now)

    def _served_based(self, now: float) -> float:
        """The rate after a first throttle: ``decrease`` × what the server served lately."""
        p = self.policy
        while self._served and self._served[0] < now - SERVED_WINDOW:
            self._served.popleft()
        # what the server served over the window (or since the first answer, if later; at
        # least a second, so the burst a server's bucket lets through first is not its rate):
        # a pause or a burst after one averages out, as it does at the server
        since = now - SERVED_WINDOW
        recent = [t for t in self._served if t >= since]
        span = max(now - max(since, recent[0]) if recent else 0.0, 1.0)
        served_rate = len(recent) / span
        if served_rate > 0:
            self._knee, self._knee_at = served_rate, now
            current = self.rate if self.rate is not None else served_rate
            return max(p.floor, min(current, served_rate) * p.decrease)
        if self.rate is not None:
            return max(p.floor, self.rate * p.fallback_decrease)
        return p.start  # unlimited, and throttled before anything was served: the API's advice

    def _lower(self, rate: float, now: float) -> None:
        self._set(rate)
        self._last_decrease = now
        self.decreases += 1

    def _maybe_increase(self, now: float) -> None:
        """Additive increase: per second since the last change, a step up to the ceiling;
        a quarter step near the rate the server last throttled at (the knee), for
        ``KNEE_MEMORY`` seconds, so the probing that finds it again is slow and rare."""
        if self.rate is None or (self.ceiling is not None and self.rate >= self.ceiling):
            return
        elapsed = now - self._last_change
        if elapsed < 1.0:
            return
        p = self.policy
        base = self.ceiling if self.ceiling is not None else self.rate
        step = p.increase * base * elapsed
        knee = self._knee if now - self._knee_at < KNEE_MEMORY else None
        if knee is not None and self.rate >= knee * p.decrease * 0.99:
            step /= 4
        raised = self.rate + step
        self._set(raised if self.ceiling is None else min(self.ceiling, raised))

    # --- the gate -------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Hold every request of this instance for at least ``seconds`` from now."""
        if seconds > 0:
            self._resume_at = max(self._resume_at, self._clock() + seconds)

    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when not paused)."""
        return max(0.0, self._resume_at - self._clock())

    def reserve(self) -> float:
        """The next slot of the schedule, reserved: seconds to wait for it (0: now)."""
        now = self._clock()
        start = max(now, self._resume_at)
        if self.rate is None:
            return start - now
        slot = max(start, self._next_slot)
        self._next_slot = slot + self.interval
        return slot - now

    async def acquire(self) -> None:
        """Wait out any pause, then for this request's slot; when a pause began meanwhile,
        for a new slot after it (spaced as ever: no burst when the pause ends)."""
        started = self._clock()
        try:
            await asyncio.sleep(self.reserve())
            while self.paused_for() > 0:  # noqa: ASYNC110 - a pause began: a new slot after it
                await asyncio.sleep(self.reserve())
        finally:
            self.waited_seconds += self._clock() - started

    def __repr__(self) -> str:
        return f"InstanceLimiter(rate={self.rate!r}, ceiling={self.ceiling!r})"
