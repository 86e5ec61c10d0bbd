"""The request limiter of one API instance (the engine's ClientRegistry makes one per instance,
shared by every job of the process).

Why ``AsyncLimiter(1, interval)`` and not ``AsyncLimiter(rate, 1)``: aiolimiter is a leaky
bucket whose capacity is ``max_rate``. With ``AsyncLimiter(rate, 1)`` a full bucket lets
``rate`` requests through at once and then keeps admitting ``rate`` per second as it drains,
so a server counting whole seconds can see close to ``2 × rate`` requests in one second.
A bucket of capacity 1 that drains every ``interval`` seconds admits one request per
interval: strict spacing, so no one-second window (half-open) holds more than ``rate``.

The interval is stretched by ``SPACING_MARGIN`` so that event-loop lag on one request
(or network jitter on the way to the server) cannot squeeze ``rate + 1`` arrivals into a
measured second; it costs that fraction of throughput.
"""

from __future__ import annotations

import asyncio
import math
import time

from aiolimiter import AsyncLimiter

SPACING_MARGIN = 0.02
"""Relative slack added to the interval between two requests of one instance."""


def _normalise_rate(rate: float | None) -> float | None:
    """``None``/0 → unlimited; negative or non-finite → ValueError."""
    if rate is None or rate == 0:
        return None
    rate = float(rate)
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(f"rate limit must be a positive number of requests/s, got {rate!r}")
    return rate


class InstanceLimiter:
    """The gate every request of one API instance passes: strict spacing plus a pause.

    ``pause(seconds)`` holds back every request of the instance (e.g. after a 429 with
    ``Retry-After``), since a throttled API key is throttled for all workers at once.
    """

    def __init__(self, rate: float | None) -> None:
        self._resume_at = 0.0  # time.monotonic() before which no request may start
        self.waited_seconds = 0.0  # time requests spent waiting here, all told (metrics)
        self.set_rate(rate)

    def set_rate(self, rate: float | None) -> None:
        """Change the rate (a replica's share of the instance's budget changed). Requests
        already waiting finish at the old spacing; later ones use the new one."""
        self.rate = _normalise_rate(rate)
        self.interval = 0.0 if self.rate is None else (1.0 + SPACING_MARGIN) / self.rate
        self._limiter = None if self.rate is None else AsyncLimiter(1, self.interval)

    @property
    def unlimited(self) -> bool:
        return self._limiter is None

    def pause(self, seconds: float) -> None:
        """Hold every request of this instance for at least ``seconds`` from now."""
        if seconds > 0:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)

    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when not paused)."""
        return max(0.0, self._resume_at - time.monotonic())

    async def acquire(self) -> None:
        """Wait out any pause, then take the next slot of the instance.

        A pause may start or grow while we wait for a slot, hence the re-check.
        """
        started = time.monotonic()
        try:
            await self._acquire()
        finally:
            self.waited_seconds += time.monotonic() - started

    async def _acquire(self) -> None:
        while True:
            while (wait := self.paused_for()) > 0:  # noqa: ASYNC110 - deadline may move
                await asyncio.sleep(wait)
            if self._limiter is not None:
                await self._limiter.acquire()
            if self.paused_for() <= 0:
                return

    def __repr__(self) -> str:
        return f"InstanceLimiter(rate={self.rate!r}, interval={self.interval:.4f})"
