"""Server-side rate limiting (token bucket per API key) and seeded fault selection."""

from __future__ import annotations

import math
import random
import time

from ccsim.options import FAULT_KINDS, FaultOptions


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked; one token per request."""

    def __init__(self, rate: float, burst: int | None = None) -> None:
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, math.ceil(rate)))
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def take(self) -> float | None:
        """None when admitted, else seconds until a token is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    def __init__(self, rate: float | None, burst: int | None) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key: str) -> int | None:
        """None when admitted, else the integer Retry-After (seconds, >= 1)."""
        if self.rate is None:
            return None
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        wait = bucket.take()
        return None if wait is None else max(1, math.ceil(wait))


class FaultPicker:
    """Draws at most one fault per request from a seeded RNG (deterministic in request order)."""

    def __init__(self, faults: FaultOptions, seed: int) -> None:
        self.faults = faults
        self.rng = random.Random(seed)
        self.thresholds: list[tuple[float, str]] = []
        acc = 0.0
        for k in FAULT_KINDS:
            p = getattr(faults, k)
            if p > 0:
                acc += p
                self.thresholds.append((acc, k[2:]))  # "500", "503", "429", "reset", ...

    def draw(self) -> str | None:
        if not self.thresholds:
            return None
        u = self.rng.random()
        for limit, kind in self.thresholds:
            if u < limit:
                return kind
        return None
