"""Circuit breaker per API instance: stop calling a host that does not answer at all.

Only connection-level failures count (refused, reset, timed out, DNS): an HTTP status, even a
500, proves the host is there. The breaker opens after ``failures`` such failures in a row
with no success in between, once the streak has lasted ``seconds`` — so a blip of a second
does not end a run, and a host that is down ends it within about a minute instead of after
one full retry cycle per parameter value.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self,
        *,
        failures: int,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or seconds < 0:
            raise ValueError("breaker needs failures >= 1 and seconds >= 0")
        self.failures = failures
        self.seconds = seconds
        self._clock = clock
        self._streak = 0
        self._streak_start = 0.0
        self.open_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.open_reason is not None

    def success(self) -> None:
        if not self.is_open:
            self._streak = 0

    def failure(self, reason: str) -> None:
        now = self._clock()
        if self._streak == 0:
            self._streak_start = now
        self._streak += 1
        if self._streak >= self.failures and now - self._streak_start >= self.seconds:
            self.open_reason = f"{self._streak} connection failures in a row, last: {reason}"
