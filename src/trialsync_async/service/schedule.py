"""Schedule arithmetic (no I/O): cron expressions, due ticks, missed ticks.

Five cron fields, or six with seconds first (``*/5 * * * * *``) so tests need not wait
minutes. Times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import CroniterBadCronError, croniter

from trialsync_async.errors import ConfigError


def _iter(cron: str, start: datetime) -> croniter:
    fields = cron.split()
    if len(fields) not in (5, 6):
        raise ConfigError(detail=f"schedule {cron!r} needs 5 cron fields (or 6, seconds first)")
    # croniter reads a sixth field as seconds *last*; we take seconds first, as Quartz does.
    expr = " ".join(fields[1:] + fields[:1]) if len(fields) == 6 else cron
    try:
        return croniter(expr, start)
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        raise ConfigError(detail=f"schedule {cron!r}: {exc}") from exc


def check(cron: str) -> str:
    """``cron`` if it is a valid schedule, else ConfigError."""
    _iter(cron, datetime.now(UTC))
    return cron


def next_due(cron: str, after: datetime) -> datetime:
    """The first tick strictly after ``after``."""
    return _iter(cron, after).get_next(datetime).astimezone(UTC)


def latest_due(cron: str, now: datetime) -> datetime:
    """The last tick at or before ``now``."""
    before = _iter(cron, now).get_prev(datetime).astimezone(UTC)  # strictly before now
    at = next_due(cron, before)
    return at if at <= now else before


def due_tick(cron: str, last: datetime | None, now: datetime) -> datetime | None:
    """The tick to run now, if any: the latest one due since ``last``, so ticks missed while
    no daemon ran are run once, not once each. A job with no ``last`` (never scheduled
    before) has nothing due: its schedule starts counting now."""
    if last is None or next_due(cron, last) > now:
        return None
    return latest_due(cron, now)
