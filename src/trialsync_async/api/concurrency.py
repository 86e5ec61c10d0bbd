"""How many requests one API instance has in flight: a limit that follows what the server
sustains (TCP Vegas' rule, as Netflix's concurrency-limits applies it to services).

Vegas compares each round's latency with the lowest seen (the latency of an idle server): the
requests queued at the server are about ``limit × (1 - rtt_min / rtt)``. Fewer than ``alpha``
queued means room: the limit grows by one; more than ``beta`` means the server queues our
requests instead of serving them faster: the limit shrinks by one. A 503 or a timeout (the
server refusing load) halves it. Why Vegas rather than a gradient limiter or AIMD on the
limit: it finds the knee from latency alone, before anything fails, needs no tuning of a
smoothing window beyond ``alpha``/``beta``, and is stable at small limits (an API that takes
8 requests at once). The lowest latency is forgotten every ``RTT_MEMORY`` seconds, so a server
that became slower for good is not measured against a past it no longer has. Until its first
decrease the limit doubles each round with room (a slow start, as TCP's), so a fast server is
reached in a few rounds, not one request per round.

``--concurrency`` (workers per job) and ``http_connections`` stay the ceilings.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

RTT_MEMORY = 30.0
"""Seconds after which the lowest latency seen is measured afresh."""


class VegasLimit:
    """The adaptive in-flight limit (see the module docstring); no I/O, a clock to test."""

    def __init__(
        self,
        *,
        initial: int,
        minimum: int = 1,
        maximum: int,
        alpha: float = 3.0,
        beta: float = 6.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.minimum = max(1, minimum)
        self.maximum = max(self.minimum, maximum)
        self.limit = float(min(self.maximum, max(self.minimum, initial)))
        self.alpha = alpha
        self.beta = beta
        self._clock = clock
        self._rtt_min = math.inf
        self._rtt_min_at = clock()
        self._window: list[float] = []
        self._slow_start = True  # doubling while there is room, until the first decrease
        self._demand = 0  # the most requests in flight or waiting for a slot this round
        self.decreases = 0

    def demand(self, wanted: int) -> None:
        """``wanted`` requests are in flight or waiting for a slot now. The limit grows only in
        a round where it bound (demand reached it): a round is judged at its last answer, when
        the rest of its wave may already have ended and its successors not started yet, so the
        requests in flight at that moment say little."""
        self._demand = max(self._demand, wanted)

    def sample(self, rtt: float, in_flight: int) -> None:
        """A request answered after ``rtt`` seconds, with ``in_flight`` requests out (itself
        included). Once per round of ``limit`` samples the limit moves by one."""
        now = self._clock()
        self._demand = max(self._demand, in_flight)
        if now - self._rtt_min_at > RTT_MEMORY:
            self._rtt_min, self._rtt_min_at = math.inf, now
        self._rtt_min = min(self._rtt_min, rtt)
        self._window.append(rtt)
        if len(self._window) < max(1, int(self.limit)):
            return
        rtt_avg = sum(self._window) / len(self._window)
        self._window.clear()
        demand, self._demand = self._demand, 0
        queued = self.limit * (1 - self._rtt_min / rtt_avg) if rtt_avg > 0 else 0.0
        if queued < self.alpha and demand > self.limit:  # room, and a request had to wait
            grown = self.limit * 2 if self._slow_start else self.limit + 1
            self.limit = min(self.maximum, grown)
        elif queued > self.beta:
            self.limit = max(self.minimum, self.limit - 1)
            self._slow_start = False

    def overloaded(self) -> None:
        """A 503 or a timeout: the server refuses load."""
        self.limit = max(self.minimum, math.floor(self.limit / 2))
        self._window.clear()
        self._demand = 0
        self._slow_start = False
        self.decreases += 1


class AdaptiveSlots:
    """Requests in flight held to a ``VegasLimit``: ``async with slots.held() as slot``, then
    ``slot.answered()`` (a latency sample) or ``slot.overloaded()``.

    The waiters are futures woken in order, no lock: releasing a slot is synchronous, so a
    request cancelled while it ends cannot keep its slot, and a waiter cancelled right after
    its wake-up passes the wake-up on (``asyncio.Condition`` in Python 3.11 loses it, which
    with nothing else in flight leaves every worker waiting for good)."""

    def __init__(self, limit: VegasLimit) -> None:
        self.limit = limit
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[Slot]:
        self.limit.demand(self.in_flight + len(self._waiters) + 1)
        while self.in_flight >= int(self.limit.limit) or self._waiters:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self.wake()  # woken, then cancelled: the wake-up goes to the next one
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if self.in_flight < int(self.limit.limit):
                break
        self.in_flight += 1
        try:
            yield Slot(self)
        finally:
            self.in_flight -= 1
            self.wake()

    def wake(self) -> None:
        """Wake as many waiters, oldest first, as may go now (the limit may have grown)."""
        free = int(self.limit.limit) - self.in_flight
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1


class Slot:
    def __init__(self, slots: AdaptiveSlots) -> None:
        self._slots = slots
        self._started = time.monotonic()

    def start(self) -> float:
        """The request leaves now (after waiting for its rate slot): latency counts from here.
        Returns that moment (``time.monotonic()``)."""
        self._started = time.monotonic()
        return self._started

    def answered(self) -> None:
        self._slots.limit.sample(time.monotonic() - self._started, self._slots.in_flight)
        self._slots.wake()  # the limit may have grown

    def overloaded(self) -> None:
        self._slots.limit.overloaded()
