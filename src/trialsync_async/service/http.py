"""The ``serve`` daemon's HTTP surface: probes, metrics, the status page and a small JSON API.

- ``/healthz``: the process is alive, its scheduler loop not wedged (liveness; a database
  that is away does not fail it); ``/readyz``: this replica can work: the database answers,
  its migrations are current and it holds a live lease as a replica (readiness);
  ``/metrics``: Prometheus text.
- ``/``: the status page, rendered on the server; it works without JavaScript.
- ``/api/jobs``, ``/api/runs``: JSON. ``POST /api/jobs/{id}/run[?instance=N]`` (run now: a
  manual tick per API instance the job runs for, or for instance N, for whichever replica
  claims it first) and ``POST /api/runs/{id}/cancel`` need the admin token,
  as ``Authorization: Bearer`` or, from the page's plain HTML forms, the form field
  ``token``. A form post is answered 303 back to ``/`` (a reload then does not post again)
  and its errors are small HTML pages. With no token configured both are refused (403) and
  the page shows no forms.

The token is compared in constant time and never logged, rendered or echoed.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import asyncpg
import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiMapping
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from trialsync_async.db import catalog, history, replicas, status, ticks
from trialsync_async.db import runs as run_log
from trialsync_async.db.resilience import is_connection_lost
from trialsync_async.db.types import Connection
from trialsync_async.errors import MigrationError, TrialSyncError
from trialsync_async.freshness import Freshness, counts, job_json, several, worst
from trialsync_async.freshness import read as read_freshness
from trialsync_async.schedule import JobSchedule
from trialsync_async.service import page as page_data
from trialsync_async.service.metrics import ServiceMetrics
from trialsync_async.service.render import html
from trialsync_async.service.view import ServiceView
from trialsync_async.settings import Settings

log = structlog.get_logger(__name__)

PROBE_TIMEOUT = 2.0
"""Seconds /readyz (and the /metrics refresh) may spend on the database: a probe answers
fast or says no."""
QUERY_TIMEOUT = 10.0
"""Seconds the page and the API may spend on the database."""
RUNS_DEFAULT_LIMIT, RUNS_MAX_LIMIT = 50, 500
RUN_STATUSES = ("running", "success", "failed", "interrupted", "skipped")
RECENT_FAILURES, FAILED_UNITS_SHOWN = 20, 5
PAGE_ROWS = 200  # running runs and queued ticks shown at most
MAX_ID = 2**31 - 1  # ids are PostgreSQL integers
DISABLED = "disabled: set TRIALSYNC_ADMIN_TOKEN"
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # TimeoutError and refused connections among them
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


class RequestError(TrialSyncError):
    """Bad request: {detail}"""


def build_app(view: ServiceView, metrics: ServiceMetrics) -> web.Application:
    """The aiohttp application; the daemon runs it (``web.AppRunner``) on settings.listen."""
    service = _Service(view, metrics)
    app = web.Application(middlewares=[_errors])
    app.add_routes(
        [
            web.get("/healthz", service.healthz),
            web.get("/readyz", service.readyz),
            web.get("/metrics", service.metrics_text),
            web.get("/", service.page),
            web.get("/api/jobs", service.jobs),
            web.get("/api/runs", service.runs),
            web.post(r"/api/jobs/{id:\d+}/run", service.run_now),
            web.post(r"/api/runs/{id:\d+}/cancel", service.cancel),
        ]
    )
    return app


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as the page and ``/api/jobs`` show it: its effective schedule and next run. On
    the page with several API instances, one per (job, instance) (``job.instance_id``)."""

    job: status.JobStatus
    schedule: str | None  # the job's cron, or settings.default_schedule for an active job
    schedule_is_default: bool
    next_run_at: datetime | None  # None: disabled, unscheduled or a bad schedule
    schedule_error: str | None
    freshness: Freshness | None = None  # the instance's; per job: the worst instance's
    by_instance: list[Freshness] = field(default_factory=list)  # only with several instances

    def to_json(self) -> dict[str, Any]:
        j = self.job
        return {
            "id": j.id,
            "name": j.name,
            "active": j.active,
            "disabled_reason": j.disabled_reason,
            "source_endpoint": j.source_endpoint,
            "target_table": j.target_table,
            "parent_job_id": j.parent_job_id,
            "schedule": self.schedule,
            "schedule_is_default": self.schedule_is_default,
            "next_run_at": self.next_run_at,
            "schedule_error": self.schedule_error,
            "running_run_id": j.running_run_id,
            "last_run_id": j.last_run_id,
            "last_run_status": j.last_status,
            "last_run_records": j.last_records,
            "last_run_fetched": j.last_fetched,
            "last_run_started_at": j.last_started_at,
            "last_run_completed_at": j.last_completed_at,
            "last_run_seconds": j.last_seconds,
            **(
                job_json(self.by_instance, True)
                if self.by_instance
                else {"freshness": None if self.freshness is None else self.freshness.to_json()}
            ),
        }


def job_view(
    job: status.JobStatus,
    settings: Settings,
    now: datetime,
    freshness: Mapping[int, list[Freshness]] | None = None,
) -> JobView:
    """A job (or a (job, instance) when ``job.instance_id`` is set) as shown: its instance's
    freshness, or the worst of its instances' (all of them too when several are involved)."""
    own = job.schedule_cron or None
    s = JobSchedule.of_values(own, job.active, settings.default_schedule, now)
    known = dict(freshness or {})
    listed = known.get(job.id, [])
    if job.instance_id is not None:
        mine = [f for f in listed if f.instance_id == job.instance_id]
        return JobView(job, s.cron, s.is_default, s.next_run_at, s.error, worst(mine))
    by_instance = listed if several(known) else []
    return JobView(job, s.cron, s.is_default, s.next_run_at, s.error, worst(listed), by_instance)


class _Service:
    def __init__(self, view: ServiceView, metrics: ServiceMetrics) -> None:
        self.view = view
        self.metrics = metrics

    # --- probes and metrics -----------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        """Liveness: answered from memory, never from the database. ``loop_lag`` does not count
        the scheduler's waits for a database that is away (the daemon's docstring)."""
        lag, limit = self.view.loop_lag(), 3 * self.view.settings.poll_seconds + 10
        if lag < limit:
            return _json({"status": "ok"})
        body = {"status": "stuck", "loop_lag_seconds": round(lag, 1), "limit_seconds": limit}
        return _json(body, status=503)

    async def readyz(self, request: web.Request) -> web.StreamResponse:
        """Readiness: the database answers within PROBE_TIMEOUT, every migration is applied and
        this replica holds a live lease in ``dw_etl_replicas``; else 503 with the reason."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT), self.view.pool.acquire() as conn:
                await status.ping(conn)
                pending = await status.pending_migrations(conn, self.view.settings.migrations_dir)
                live = [] if pending else await replicas.live(conn)
        except TimeoutError:
            return _not_ready(f"the database did not answer within {PROBE_TIMEOUT:g} s")
        except DB_ERRORS as exc:
            return _not_ready(f"database unavailable: {_describe(exc)}")
        except MigrationError as exc:  # no migration files where the settings point
            return _not_ready(str(exc))
        if pending:
            return _not_ready(f"migrations pending: {', '.join(pending)}", pending=pending)
        if self.view.replica_id not in {r.replica_id for r in live}:
            return _not_ready(
                f"replica {self.view.replica_id} holds no live lease in dw_etl_replicas "
                "(not registered yet, or its lease expired while the database was away)"
            )
        return _json({"status": "ready"})

    async def metrics_text(self, request: web.Request) -> web.StreamResponse:
        if self.metrics.refresh_due():
            try:
                async with asyncio.timeout(PROBE_TIMEOUT), self.view.pool.acquire() as conn:
                    await self.metrics.refresh(conn)
            except DB_ERRORS as exc:  # the rest is in memory: serve it all the same
                log.warning("last-success timestamps not refreshed", error=_describe(exc))
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # --- the page ---------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        settings, now = self.view.settings, datetime.now(UTC)
        lease = settings.lease_seconds
        async with self._connection() as conn:
            fresh = await self._freshness(conn)
            per_instance = several(fresh)  # a row per (job, instance)
            jobs = await status.jobs(conn, per_instance=per_instance)
            running = await status.runs(
                conn, status="running", limit=PAGE_ROWS, lease_seconds=lease
            )
            planned = await history.planned_requests(conn, [r.run_id for r in running])
            queued = await status.queued_ticks(conn, limit=PAGE_ROWS)
            failed = await status.recent_failures(
                conn, limit=RECENT_FAILURES, units=FAILED_UNITS_SHOWN
            )
            instances = await catalog.list_instances(conn)
        views = sorted(
            (job_view(j, settings, now, fresh) for j in jobs),
            key=lambda v: (page_data.rank(v.freshness), v.job.id, v.job.instance_id or 0),
        )
        return html(
            "status.html",
            jobs=[v for v in views if v.job.active],
            disabled=[v for v in views if not v.job.active],
            counts=counts(fresh),
            per_instance=per_instance,
            instances=page_data.instance_states(instances, self.view.clients()),
            running=[page_data.running_row(r, planned.get(r.run_id)) for r in running],
            lease=lease,
            queued=queued,
            failed=failed,
            admin=bool(settings.admin_token),
            replica_id=self.view.replica_id,
            live_replicas=self.view.live_replicas(),
            now=now,
            refresh=_refresh_seconds(request.query),
            notice=_notice(request.query),
        )

    # --- the JSON API -----------------------------------------------------------------

    async def jobs(self, request: web.Request) -> web.StreamResponse:
        settings, now = self.view.settings, datetime.now(UTC)
        async with self._connection() as conn:
            jobs = await status.jobs(conn)
            fresh = await self._freshness(conn)
        return _json([job_view(j, settings, now, fresh).to_json() for j in jobs])

    async def runs(self, request: web.Request) -> web.StreamResponse:
        job_id, run_status, limit = _runs_filter(request.query)
        lease = self.view.settings.lease_seconds
        async with self._connection() as conn:
            found = await status.runs(
                conn, job_id=job_id, status=run_status, limit=limit, lease_seconds=lease
            )
        return _json(found)  # orjson writes the dataclasses' fields: RunStatus's docstring

    async def _freshness(self, conn: Connection) -> dict[int, list[Freshness]]:
        s = self.view.settings
        return await read_freshness(
            conn, default_schedule=s.default_schedule, lease_seconds=s.lease_seconds,
            overdue=self.view.parents_overdue(),
        )  # fmt: skip

    async def run_now(self, request: web.Request) -> web.StreamResponse:
        form = _is_form(request)
        denied = await self._deny(request, form)
        if denied is not None:
            return denied
        job_id = int(request.match_info["id"])
        async with self._connection() as conn:
            job = await status.job_state(conn, job_id) if job_id <= MAX_ID else None
            if job is None:
                return _error(request, 404, f"no job {job_id}")
            if not job.active:
                why = f": {job.disabled_reason}" if job.disabled_reason else ""
                return _error(request, 409, f"job {job_id} ({job.name}) is disabled{why}")
            runs_for = (await catalog.job_instances(conn)).get(job_id, [])
            wanted = _instance_filter(request.query)
            if wanted is not None and wanted not in runs_for:
                listed = ", ".join(map(str, runs_for))
                return _error(
                    request,
                    409,
                    f"job {job_id} does not run for instance {wanted} (it runs for {listed})",
                )
            queued: dict[int, int] = {}  # instance → tick
            now = datetime.now(UTC)
            for instance_id in [wanted] if wanted is not None else runs_for:
                tick_id = await ticks.insert(conn, job_id, instance_id, now, "manual")
                if tick_id is not None:  # none while the pair has one waiting or running
                    queued[instance_id] = tick_id
        if not queued:
            return _error(request, 409, f"job {job_id} has a run-now queued or running already")
        first = next(iter(queued.values()))
        log.info("run now queued", job_id=job_id, ticks=queued, remote=request.remote)
        if form:
            raise web.HTTPSeeOther(f"/?queued={first}&job={job_id}")
        body = {"tick_id": first, "job_id": job_id, "tick_ids": list(queued.values()),
                "instance_ids": list(queued)}  # fmt: skip
        return _json(body, status=202)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        form = _is_form(request)
        denied = await self._deny(request, form)
        if denied is not None:
            return denied
        run_id = int(request.match_info["id"])
        async with self._connection() as conn:
            if run_id > MAX_ID or not await run_log.request_cancel(conn, run_id):
                state = await status.run_state(conn, run_id) if run_id <= MAX_ID else None
                if state is None:
                    return _error(request, 404, f"no run {run_id}")
                return _error(request, 409, f"run {run_id} is not running ({state})")
        log.info("cancel requested", run_id=run_id, remote=request.remote)
        if form:
            raise web.HTTPSeeOther(f"/?cancelled={run_id}")
        return _json({"run_id": run_id, "status": "cancel requested"}, status=202)

    # --- helpers ----------------------------------------------------------------------

    async def _deny(self, request: web.Request, form: bool) -> web.StreamResponse | None:
        """None when the request carries the admin token, else the refusal to send."""
        expected = self.view.settings.admin_token
        if not expected:
            return _error(request, 403, DISABLED)
        given = _bearer(request)
        if given is None and form:
            field = (await request.post()).get("token")
            given = field if isinstance(field, str) else None
        if given is not None and hmac.compare_digest(given.encode(), expected.encode()):
            return None
        log.warning("refused: wrong or missing admin token", path=request.path,
                    remote=request.remote)  # fmt: skip
        refusal = _error(request, 401, "wrong or missing admin token")
        if not form:
            refusal.headers["WWW-Authenticate"] = 'Bearer realm="trialsync"'
        return refusal

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        async with asyncio.timeout(QUERY_TIMEOUT), self.view.pool.acquire() as conn:
            yield conn


# --- requests ---------------------------------------------------------------------------


def _is_form(request: web.Request) -> bool:
    """A browser's form post (answered with a redirect or an HTML page, not JSON)."""
    return request.method == "POST" and request.content_type in FORM_TYPES


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _single(query: MultiMapping[str], allowed: set[str]) -> dict[str, str]:
    """Each parameter once, and only the ``allowed`` ones (a typo is an error, not ignored)."""
    for key in sorted(set(query.keys())):
        if key not in allowed:
            raise RequestError(
                detail=f"unknown parameter {key!r} (use {', '.join(sorted(allowed))})"
            )
        if len(query.getall(key)) > 1:
            raise RequestError(detail=f"parameter {key!r} given twice")
    return {k: query[k].strip() for k in query}


def _bounded_int(name: str, raw: str, low: int, high: int) -> int:
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise RequestError(detail=f"{name} must be a whole number {low}..{high}")
    return int(raw)


def _instance_filter(query: MultiMapping[str]) -> int | None:
    """``?instance=N`` of run now (empty or absent: every instance the job runs for)."""
    raw = _single(query, {"instance"}).get("instance") or None
    return _bounded_int("instance", raw, 1, MAX_ID) if raw is not None else None


def _runs_filter(query: MultiMapping[str]) -> tuple[int | None, str | None, int]:
    """``job``, ``status`` and ``limit`` of ``/api/runs``; empty values mean not given."""
    given = _single(query, {"job", "status", "limit"})
    job = given.get("job") or None
    run_status = given.get("status") or None
    limit = given.get("limit") or None
    if run_status is not None and run_status not in RUN_STATUSES:
        raise RequestError(detail=f"status must be one of {', '.join(RUN_STATUSES)}")
    return (
        _bounded_int("job", job, 1, MAX_ID) if job is not None else None,
        run_status,
        _bounded_int("limit", limit, 1, RUNS_MAX_LIMIT) if limit else RUNS_DEFAULT_LIMIT,
    )


def _refresh_seconds(query: Mapping[str, str]) -> int | None:
    """``/?refresh=15`` reloads the page every 15 s (a meta refresh: no script needed)."""
    raw = query.get("refresh", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 5 <= int(raw) <= 3600 else None


def _notice(query: Mapping[str, str]) -> str | None:
    """The line shown after a form post's redirect; built from numbers only."""

    def number(name: str) -> int | None:
        raw = query.get(name, "")
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None

    tick, job, run = number("queued"), number("job"), number("cancelled")
    if tick is not None and job is not None:
        return f"Run of job {job} queued (tick {tick}): the next free replica starts it."
    if run is not None:
        return f"Cancel of run {run} requested: its replica stops it within seconds."
    return None


# --- responses --------------------------------------------------------------------------


def _json(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _not_ready(reason: str, **extra: Any) -> web.Response:
    return _json({"status": "not ready", "reason": reason, **extra}, status=503)


def _error(request: web.Request, code: int, message: str) -> web.Response:
    """``{"error": message}``, or a small HTML page for a browser (a form post, the page)."""
    if _is_form(request) or not request.path.startswith("/api/"):
        return html(
            "error.html", status=code, phrase=HTTPStatus(code).phrase, message=message, code=code
        )
    return _json({"error": message}, status=code)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad query parameters are 400; a database that is away is 503 (any other database
    error 500), not a traceback."""
    try:
        return await handler(request)
    except RequestError as exc:
        return _error(request, 400, str(exc))
    except TimeoutError:
        log.warning("database slow", path=request.path, seconds=QUERY_TIMEOUT)
        return _error(request, 503, f"the database did not answer within {QUERY_TIMEOUT:g} s")
    except DB_ERRORS as exc:
        if isinstance(exc, asyncpg.PostgresError) and not is_connection_lost(exc):
            log.error("database error", path=request.path, error=_describe(exc))
            return _error(request, 500, f"database error {exc.sqlstate} ({type(exc).__name__})")
        log.warning("database unavailable", path=request.path, error=_describe(exc))
        return _error(request, 503, f"database unavailable: {_describe(exc)}")
