"""The status page's data, beyond the rows db/status.py reads: the order jobs are listed in
(what needs a look first), each running run's pace and time left, and what this replica
knows of each API instance's reachability. No I/O: http.py reads the database and the live
service, and renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from trialsync_async.api import ApiClient
from trialsync_async.db.catalog import InstanceRow
from trialsync_async.db.status import RunStatus
from trialsync_async.freshness import STATES, Freshness


def rank(f: Freshness | None) -> int:
    """Where a job goes on the page: failing first, then stale, running, never, fresh;
    disabled last (folded away)."""
    return STATES.index(f.state) if f is not None else len(STATES)


@dataclass(frozen=True, slots=True)
class RunningRow:
    """A running run with its pace so far and the time it has left."""

    run: RunStatus
    rows_per_second: float | None  # records fetched per second so far
    requests_per_second: float | None
    planned_requests: int | None  # what the plan said before the run (notes.planned)
    eta_seconds: float | None  # None: unknown


def running_row(run: RunStatus, planned_requests: int | None) -> RunningRow:
    """The run's rates, and its ETA at the pace so far: from units done of units total when
    it knows them (a fan-out, or a plain job walked in ranges), else from requests made of
    the requests its plan expected (engine/estimate.py, kept in ``notes.planned``)."""
    seconds = run.seconds or 0.0
    rows = run.records_fetched / seconds if seconds > 0 else None
    requests = run.requests_made / seconds if seconds > 0 else None
    eta = None
    if run.units_total and 0 < run.units_done < run.units_total:
        eta = seconds / run.units_done * (run.units_total - run.units_done)
    elif planned_requests and 0 < run.requests_made < planned_requests:
        eta = seconds / run.requests_made * (planned_requests - run.requests_made)
    return RunningRow(run, rows, requests, planned_requests, eta)


@dataclass(frozen=True, slots=True)
class InstanceState:
    """An API instance as this replica knows it: ``state`` is reachable (it answered HTTP),
    unreachable (its circuit breaker is open: connection failures in a row), not answering
    (requests made, no answer yet), unknown (no request from this replica since it started)
    or inactive."""

    id: int
    name: str
    host: str
    state: str
    detail: str
    requests: int
    ok: int

    @property
    def tone(self) -> str:
        """ok, bad, or unknown (nothing known, or inactive): the page's colour for it."""
        return {"reachable": "ok", "unreachable": "bad", "not answering": "bad"}.get(
            self.state, "unknown"
        )


def instance_states(instances: list[InstanceRow], clients: list[ApiClient]) -> list[InstanceState]:
    by_id = {c.instance_id: c for c in clients}
    found: list[InstanceState] = []
    for i in instances:
        client = by_id.get(i.id)
        host = client.host if client is not None else urlsplit(i.base_url).netloc.rpartition("@")[2]
        if client is None:
            state = "inactive" if not i.is_active else "unknown"
            detail = "no request from this replica yet" if i.is_active else "inactive"
            found.append(InstanceState(i.id, i.name, host, state, detail, 0, 0))
            continue
        outcomes = client.stats.outcomes
        made, ok = sum(outcomes.values()), outcomes.get("ok", 0)
        others = ", ".join(f"{n:,} {k}" for k, n in sorted(outcomes.items()) if k != "ok")
        tally = f"{made:,} requests: {ok:,} ok" + (f", {others}" if others else "")
        if client.breaker.open_reason is not None:
            state, detail = "unreachable", f"circuit breaker open: {client.breaker.open_reason}"
        elif ok or any(k.startswith("http_") for k in outcomes):
            state, detail = "reachable", tally
        elif made:
            state, detail = "not answering", tally
        else:
            state, detail = "unknown", "no request from this replica yet"
        found.append(InstanceState(i.id, i.name, host, state, detail, made, ok))
    return found
