"""Freshness per (job, instance): what a job's staged data of one API instance is worth now
(a run is one (job, instance): README "Several API instances"; the instances a job runs for
are db/catalog.py's ``job_instances``). The rules live here (no SQL; the facts come from
db/freshness.py), used alike by ``jobs list``/``jobs show``, the status page, the JSON API and
``/metrics``. Where one value per job is wanted (``--state``, the page's order), a job counts
as its *worst* instance (``worst``: the first in ``STATES``).

A (job, instance) is in exactly one state, the first that applies (below, "the job" is the
job's runs for that instance):

``disabled``
    inactive (``jobs disable``): nothing is expected of it.
``running``
    a run of it is marked running and beats (its heartbeat is younger than the lease; a run
    whose heartbeat is older is *dead*, and the job's state comes from its finished runs).
``failing``
    its latest decisive run (success or failed; interrupted and skipped runs decide nothing)
    failed: no success since. A job that never succeeded but has failed runs is failing.
``stale``
    its last success is past the job's bound (below).
``never``
    it has no success yet (and no failure that makes it failing).
``fresh``
    otherwise.

**The bound.** A job's last success at S counts until S + 2 × interval + usual, where
*usual* is the median duration of its last 10 successful runs and *interval* the
schedule's (schedule.py's effective schedule: its own cron or ``TRIALSYNC_DEFAULT_SCHEDULE``).
"2 × interval" is measured on the calendar: the time from the scheduled tick at or before S
to the second tick after it, so a nightly job has two days and a weekday job's Friday
success lasts over the weekend, until Tuesday. So one missed or failed tick is tolerated,
two are not. A job whose schedule cannot be read has a fixed bound, 2 days + usual
(``UNSCHEDULED_BOUND``). ``stale`` (the flag, and the ``trialsync_job_stale`` gauge) says
whether the last success is past its bound whatever the job does now: a running or failing
job may be stale too; a job that never succeeded is not (it is ``never`` or ``failing``).

**Fan-outs** calling their endpoint per parent also report the share of their parents last
fetched longer than the job's ``max_refresh`` ago (``parents_overdue_ratio``): information,
not a state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from trialsync_async import schedule
from trialsync_async.db.freshness import JobFacts, ParentsOverdue, job_facts
from trialsync_async.db.status import is_dead
from trialsync_async.db.types import Connection
from trialsync_async.errors import ConfigError
from trialsync_async.text import span

STATES = ("failing", "stale", "running", "never", "fresh", "disabled")
"""Every state, in the order the status page lists jobs (what needs a look first)."""
UNSCHEDULED_BOUND = timedelta(days=2)
"""How long a success counts for a job whose schedule cannot be read."""


@dataclass(frozen=True, slots=True)
class Freshness:
    """One job's freshness. Its fields (but the job's id and name) are the ``freshness``
    object of ``jobs list --json``, ``jobs show --json`` and ``/api/jobs``: keep them stable."""

    job_id: int
    job_name: str
    state: str  # one of STATES
    stale: bool  # the last success is past its bound (whatever the job does now)
    stale_at: datetime | None  # when the last success stops counting (None: none, or disabled)
    last_success_run_id: int | None
    last_success_at: datetime | None
    last_success_age_seconds: float | None
    usual_seconds: float | None  # median duration of the last 10 successes
    failed_run_id: int | None  # failing: the run that failed last
    running_run_id: int | None
    heartbeat_age_seconds: float | None  # of the running run
    dead: bool  # the running run's heartbeat is older than the lease
    parents: int | None  # per-parent fan-outs: parents with unit state
    parents_overdue: int | None  # ... last fetched longer than max_refresh ago
    parents_overdue_ratio: float | None
    instance_id: int = 1  # the API instance these runs are for (dw_etl_runs.credential_id)

    def instance_json(self) -> dict[str, Any]:
        """``to_json`` with the instance: the entries of ``freshness_by_instance``."""
        return {"instance_id": self.instance_id, **self.to_json()}

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "stale": self.stale,
            "stale_at": self.stale_at,
            "last_success_run_id": self.last_success_run_id,
            "last_success_at": self.last_success_at,
            "last_success_age_seconds": self.last_success_age_seconds,
            "usual_seconds": self.usual_seconds,
            "failed_run_id": self.failed_run_id,
            "running_run_id": self.running_run_id,
            "heartbeat_age_seconds": self.heartbeat_age_seconds,
            "dead": self.dead,
            "parents": self.parents,
            "parents_overdue": self.parents_overdue,
            "parents_overdue_ratio": self.parents_overdue_ratio,
        }

    def summary(self) -> str:
        """One line for people: why the job is in its state."""
        age = self.last_success_age_seconds
        success = "no success yet" if age is None else f"last success {span(age)} ago"
        if self.state == "disabled":
            return "nothing is expected of a disabled job"
        if self.state == "running":
            beat = self.heartbeat_age_seconds
            return f"run {self.running_run_id} running (heartbeat {span(beat)} ago); {success}"
        if self.state == "failing":
            return f"run {self.failed_run_id} failed; {success}"
        if self.state == "stale":
            return f"{success}: past its bound"
        return success  # never, fresh


def stale_at(last_success: datetime, cron: str | None, usual_seconds: float | None) -> datetime:
    """When a success at ``last_success`` stops counting (see the module docstring)."""
    grace = timedelta(seconds=usual_seconds or 0.0)
    if cron is not None:
        try:
            tick = schedule.latest_due(cron, last_success)
            second = schedule.next_due(cron, schedule.next_due(cron, tick))
        except ConfigError:
            pass
        else:
            return last_success + (second - tick) + grace
    return last_success + UNSCHEDULED_BOUND + grace


def assess(facts: JobFacts, *, default_schedule: str, lease_seconds: float) -> Freshness:
    """One job's freshness from its facts, at the database's time ``facts.checked_at``."""
    now = facts.checked_at
    dead = facts.running_run_id is not None and is_dead(
        "running", facts.heartbeat_age_seconds, lease_seconds
    )
    running = facts.running_run_id is not None and not dead
    cron = schedule.effective_cron(facts.schedule_cron or None, facts.active, default_schedule)
    until: datetime | None = None
    age: float | None = None
    if facts.last_success_at is not None:
        age = max((now - facts.last_success_at).total_seconds(), 0.0)
        if facts.active:
            until = stale_at(facts.last_success_at, cron, facts.usual_seconds)
    stale = until is not None and now > until
    if not facts.active:
        state = "disabled"
    elif running:
        state = "running"
    elif facts.failing:
        state = "failing"
    elif stale:
        state = "stale"
    elif facts.last_success_at is None:
        state = "never"
    else:
        state = "fresh"
    ratio = None
    if facts.parents and facts.parents_overdue is not None:
        ratio = facts.parents_overdue / facts.parents
    return Freshness(
        job_id=facts.job_id,
        job_name=facts.job_name,
        state=state,
        stale=stale,
        stale_at=until,
        last_success_run_id=facts.last_success_run_id,
        last_success_at=facts.last_success_at,
        last_success_age_seconds=age,
        usual_seconds=facts.usual_seconds,
        failed_run_id=facts.last_decided_run_id if facts.failing else None,
        running_run_id=facts.running_run_id,
        heartbeat_age_seconds=facts.heartbeat_age_seconds,
        dead=dead,
        parents=facts.parents,
        parents_overdue=facts.parents_overdue,
        parents_overdue_ratio=ratio,
        instance_id=facts.instance_id,
    )


async def read(
    conn: Connection,
    *,
    default_schedule: str,
    lease_seconds: float,
    overdue: Mapping[tuple[int, int], ParentsOverdue] | None = None,
) -> dict[int, list[Freshness]]:
    """Every job's freshness per instance it runs for, by job id (in id order), each list in
    instance order. ``overdue``: see db/freshness.job_facts."""
    found: dict[int, list[Freshness]] = {}
    for f in await job_facts(conn, overdue):
        found.setdefault(f.job_id, []).append(
            assess(f, default_schedule=default_schedule, lease_seconds=lease_seconds)
        )
    return found


def pairs(found: dict[int, list[Freshness]]) -> list[Freshness]:
    """Every (job, instance), by job, then instance."""
    return [f for listed in found.values() for f in listed]


def worst(listed: list[Freshness] | None) -> Freshness | None:
    """The instance of a job that needs a look first (the first state in ``STATES``; the
    lowest instance id among equals): what the job counts as where one value is wanted."""
    if not listed:
        return None
    return min(listed, key=lambda f: (STATES.index(f.state), not f.stale, f.instance_id))


def several(found: dict[int, list[Freshness]]) -> bool:
    """Whether more than one API instance is involved: outputs then show freshness per
    instance (with one, they are what they were before instances: one value per job)."""
    return len({f.instance_id for f in pairs(found)}) > 1


def job_json(listed: list[Freshness] | None, several_instances: bool) -> dict[str, Any]:
    """A job's ``freshness`` in ``jobs list --json``, ``jobs show --json`` and ``/api/jobs``:
    with one instance the instance's freshness; with several the worst one (with its
    ``instance_id``), and ``freshness_by_instance``: each instance's."""
    f = worst(listed)
    if not several_instances:
        return {"freshness": None if f is None else f.to_json()}
    return {
        "freshness": None if f is None else f.instance_json(),
        "freshness_by_instance": [g.instance_json() for g in listed or []],
    }


def counts(found: dict[int, list[Freshness]] | list[Freshness]) -> dict[str, int]:
    """(Job, instance) pairs per state, every state present (0 when none)."""
    values = pairs(found) if isinstance(found, dict) else found
    tally = dict.fromkeys(STATES, 0)
    for f in values:
        tally[f.state] += 1
    return tally
