"""Retry policy: exponential backoff with full jitter, honouring ``Retry-After``."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date).

    None when absent or unparseable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to wait before retrying a transient failure.

    ``max_attempts`` counts the first attempt too; the backoff ceiling starts at ``base_delay``
    and doubles per failure up to ``max_delay``; a server's ``Retry-After`` is capped at
    ``max_retry_after``. Full jitter (sleep uniform(0, ceiling)) keeps throttled workers from
    retrying in lockstep. Made by ``Settings.retry_policy()``.
    """

    max_attempts: int
    base_delay: float
    max_delay: float
    max_retry_after: float
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("retry delays must not be negative")

    def can_retry(self, attempt: int) -> bool:
        """Whether another attempt may follow failed attempt number ``attempt`` (1-based)."""
        return attempt < self.max_attempts

    def backoff(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Delay after failed attempt ``attempt`` (1-based), without a server hint."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(max(attempt - 1, 0), 62))
        if not self.jitter:
            return ceiling
        return (rng or random).uniform(0.0, ceiling)

    def delay(
        self,
        attempt: int,
        retry_after: str | None = None,
        *,
        now: datetime | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """The server's ``Retry-After`` (capped at ``max_retry_after``) if usable, else backoff."""
        hinted = parse_retry_after(retry_after, now=now)
        if hinted is not None:
            return min(hinted, self.max_retry_after)
        return self.backoff(attempt, rng=rng)
