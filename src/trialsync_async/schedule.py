"""Schedules (no I/O): cron arithmetic (due ticks, missed ticks) and a job's effective
schedule, the one definition ``jobs show``, the status page and the service all use.

Five cron fields, or six with seconds first (``*/5 * * * * *``) so tests need not wait
minutes. Times are timezone-aware UTC. An active job without a schedule of its own runs at
``TRIALSYNC_DEFAULT_SCHEDULE``; a disabled job is not scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from croniter import CroniterBadCronError, croniter

from trialsync_async.errors import ConfigError

if TYPE_CHECKING:
    from trialsync_async.inventory import JobSpec


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


@dataclass(frozen=True, slots=True)
class JobSchedule:
    cron: str | None  # the job's own, or the default for an active job; None: not scheduled
    is_default: bool
    next_run_at: datetime | None  # None: disabled, or a bad schedule
    error: str | None

    @classmethod
    def of(cls, job: JobSpec, default: str, now: datetime) -> JobSchedule:
        """``job``'s effective schedule (``default``: TRIALSYNC_DEFAULT_SCHEDULE)."""
        return cls.of_values(job.schedule, job.is_active, default, now)

    @classmethod
    def of_values(cls, own: str | None, active: bool, default: str, now: datetime) -> JobSchedule:
        """The same from a job's own cron (None: none) and whether it is active."""
        cron = effective_cron(own, active, default)
        if cron is None:  # disabled: its own cron shown, nothing scheduled
            return cls(own, False, None, None)
        try:
            return cls(cron, own is None, next_due(cron, now), None)
        except ConfigError as exc:
            return cls(cron, own is None, None, str(exc))


def effective_cron(own: str | None, active: bool, default: str) -> str | None:
    """What a job runs on: its own cron, else ``default`` (TRIALSYNC_DEFAULT_SCHEDULE); a
    disabled job on none."""
    if not active:
        return None
    return own or default
