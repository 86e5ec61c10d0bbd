"""``trialsync-async serve``: the long-running service, another caller of the same engine.

Each replica (any number, on one database, no other coordinator) runs three loops:

* **heartbeat** (every ``lease_seconds / 3``): renews its lease in ``dw_etl_replicas``; ends the
  sessions of replicas whose lease expired (freeing their job locks), closes their runs and
  puts their claimed ticks back to pending, so a live replica continues those runs (resume);
  splits each instance's rate limit by the number of live replicas; stops runs whose cancel
  was requested;
* **scheduler** (every ``poll_seconds``): reads the jobs (schedule changes need no restart)
  and the API instances each runs for, inserts each (job, instance)'s due tick (idempotent),
  claims pending ticks with ``FOR UPDATE SKIP LOCKED`` up to its free run slots and starts each
  as a run of that job for that instance;
* **HTTP**: ``/healthz``, ``/readyz``, ``/metrics``, the status page and the JSON API;
* **overdue** (every ``OVERDUE_EVERY`` seconds): reads the share of each fan-out's parents
  past ``max_refresh``, an aggregate over the whole unit state (8M rows in production:
  seconds), which the page and ``/metrics`` then show as read, rather than on every request.

A dependent job's tick becomes claimable only once its parent's tick of the same moment and
instance has finished; a failed parent skips it (with a run row saying why), as ``--all`` does,
and only on that instance: the other instances' chains go on. A new
replica waits one heartbeat before it claims, so the others have already given it its share
of every rate limit: the sum over replicas never exceeds an instance's limit.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import asyncpg
import structlog
from aiohttp import web

from trialsync_async import schedule
from trialsync_async.api import ApiClient
from trialsync_async.app import TrialSync
from trialsync_async.db import replicas, retention, runs, ticks
from trialsync_async.db.catalog import JobRow, get_instance, job_instances, list_jobs
from trialsync_async.db.freshness import ParentsOverdue
from trialsync_async.db.freshness import parents_overdue as read_parents_overdue
from trialsync_async.db.resilience import DbRetry, pooled
from trialsync_async.db.types import Connection
from trialsync_async.engine.clients import ClientRegistry
from trialsync_async.engine.job_run import JobRun
from trialsync_async.engine.result import JobResult
from trialsync_async.engine.runner import Runner
from trialsync_async.errors import ConfigError, TrialSyncError
from trialsync_async.service.http import build_app
from trialsync_async.service.metrics import ServiceMetrics
from trialsync_async.settings import Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")

# What a heartbeat or a scheduler turn may fail with and the loop carries on after (logged):
# the database away past its retry window, a refused statement, a closed connection.
LOOP_ERRORS = (TrialSyncError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
OVERDUE_EVERY = 300.0
"""Seconds between two reads of the parents-overdue aggregate (it moves over max_refresh:
days)."""
TICK_STATUS = {"success": "success", "failed": "failed", "interrupted": "interrupted",
               "skipped": "skipped", "not started": "pending"}  # fmt: skip


class Service:
    """One replica. ``await Service(settings).run()`` until ``stop()`` (SIGTERM)."""

    def __init__(self, settings: Settings, *, replica_id: str | None = None) -> None:
        self._settings = settings
        host = socket.gethostname()
        self._replica_id = replica_id or f"{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.host = host
        self.metrics = ServiceMetrics(self)
        self.ts = TrialSync(settings, application_name=replicas.application_name(self.replica_id))
        self.registry = ClientRegistry(settings)
        self.retry = DbRetry(settings.db_retry_seconds)
        # The scheduler's own, so that its waits for the database are told apart (loop_lag).
        self.scheduler_retry = DbRetry(settings.db_retry_seconds)
        self.runs: dict[int, asyncio.Task[None]] = {}  # tick id → its task (one job, instance)
        # (job id, instance id) → its run, while it runs here
        self.active: dict[tuple[int, int], JobRun] = {}
        self.runners: dict[int, Runner] = {}  # tick id → runner
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()  # registered, listening, claiming
        self.port: int | None = None
        self._live = 1
        self._last_turn = time.monotonic()
        self._pruned_at: float | None = None  # the retention's last application
        self._claiming_from = 0.0
        self._overdue: dict[tuple[int, int], ParentsOverdue] = {}  # empty until first read

    # --- ServiceView ---------------------------------------------------------------

    @property
    def replica_id(self) -> str:
        return self._replica_id

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def pool(self) -> asyncpg.Pool:
        return self.ts.pool

    def loop_lag(self) -> float:
        """Seconds the scheduler loop has shown no sign of life: since its last turn ended, or
        since it last waited for the database. Waiting for a database that is away is not being
        stuck (a restart would not bring it back; /readyz says it is away), and each wait ends
        within TRIALSYNC_DB_RETRY_SECONDS (then the turn fails and the loop goes on)."""
        if self.scheduler_retry.waiting:
            return 0.0
        return time.monotonic() - max(self._last_turn, self.scheduler_retry.waited_until)

    def live_replicas(self) -> int:
        return self._live

    def running(self) -> list[JobRun]:
        return list(self.active.values())

    def clients(self) -> list[ApiClient]:
        return self.registry.all

    def parents_overdue(self) -> dict[tuple[int, int], ParentsOverdue]:
        return self._overdue

    # --- lifecycle ---------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming; running jobs commit what they fetched and end interrupted."""
        self.stopping.set()

    async def run(self) -> None:
        s = self.settings
        async with self.ts:
            structlog.contextvars.bind_contextvars(replica=self.replica_id)
            site = await self._serve_http()  # a port in use fails before anything is recorded
            loops: list[asyncio.Task[None]] = []
            try:
                await self._register()
                log.info("replica started", listen=s.listen, lease=s.lease_seconds)
                # Others give this replica its share of each rate limit at their next heartbeat.
                self._claiming_from = time.monotonic() + self._heartbeat_seconds
                loops = [
                    asyncio.create_task(self._heartbeat_loop()),
                    asyncio.create_task(self._scheduler_loop()),
                    asyncio.create_task(self._overdue_loop()),
                ]
                self.ready.set()
                await self.stopping.wait()
            finally:
                await self._shutdown(loops, site)

    async def _register(self) -> None:
        lease = self.settings.lease_seconds
        await self._db(
            lambda c: replicas.register(c, self.replica_id, self.host, os.getpid(), lease)
        )

    async def _shutdown(self, loops: list[asyncio.Task[None]], site: web.AppRunner) -> None:
        grace = self.settings.stop_grace_seconds
        log.info("replica stopping", running=len(self.runs), grace=grace)
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        for runner in self.runners.values():
            runner.stop()
        if self.runs:
            _, late = await asyncio.wait(list(self.runs.values()), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*self.runs.values(), return_exceptions=True)
        try:
            await self._db(lambda c: replicas.remove(c, self.replica_id))
        except TrialSyncError as exc:
            log.warning("replica row not removed", error=str(exc))
        await site.cleanup()
        await self.registry.aclose()
        log.info("replica stopped")
        structlog.contextvars.unbind_contextvars("replica")

    async def _serve_http(self) -> web.AppRunner:
        host, _, port = self.settings.listen.rpartition(":")
        runner = web.AppRunner(build_app(self, self.metrics), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host.strip("[]"), int(port))
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(detail=f"cannot listen on {self.settings.listen}: {exc}") from exc
        self.port = int(runner.addresses[0][1]) if runner.addresses else int(port)
        log.info("http listening", address=f"{host}:{self.port}")
        return runner

    # --- heartbeat -----------------------------------------------------------------

    @property
    def _heartbeat_seconds(self) -> float:
        return self.settings.lease_seconds / 3

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self._heartbeat()
            except LOOP_ERRORS as exc:
                log.warning("heartbeat failed", error=str(exc))
            await asyncio.sleep(self._heartbeat_seconds)

    async def _heartbeat(self) -> None:
        lease = self.settings.lease_seconds
        renewed, live = await self._db(lambda c: replicas.heartbeat(c, self.replica_id, lease))
        if not renewed:  # stalled past its lease: the others ended its sessions; rejoin
            log.error("this replica was presumed dead (lease expired); registering again")
            await self._register()
        gone = await self._db(replicas.end_expired)
        if gone:
            log.warning("replicas presumed dead: their sessions ended", replicas=gone)
        closed = await self._db(runs.close_all_abandoned)
        if closed:
            log.warning("closed runs whose process had died", runs=closed)
        released = await self._db(ticks.release_orphans)
        if released:
            log.warning(
                "ticks of dead replicas released for a live one",
                jobs=[f"{job} (instance {instance})" for job, instance in released],
            )
        await self._rebalance(live)
        await self._cancel_requested()
        await self._retention()

    async def _overdue_loop(self) -> None:
        while True:
            try:
                self._overdue = await self._db(read_parents_overdue)
            except LOOP_ERRORS as exc:
                log.warning("parents overdue not read", error=str(exc))
            await asyncio.sleep(OVERDUE_EVERY)

    async def _retention(self) -> None:
        """At start and every ``RETENTION_EVERY`` seconds: the bookkeeping's retention."""
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < retention.RETENTION_EVERY:
            return
        self._pruned_at = now
        days = self.settings.retention_days
        pruned = await self._db(lambda c: retention.prune(c, days))
        if pruned.total:
            log.info("retention applied", days=days, runs=pruned.runs, ticks=pruned.ticks,
                     probes=pruned.probes, seen_keys=pruned.seen_keys)  # fmt: skip

    async def _rebalance(self, live: int) -> None:
        rates: dict[int, float | None] = {}
        for client in self.registry.all:
            instance = await self._db(partial(get_instance, instance_id=client.instance_id))
            rates[instance.id] = instance.rate_limit
        if live != self._live or rates:
            self.registry.rebalance(live, rates)
        if live != self._live:
            log.info("rate limits shared", replicas=live)
        self._live = live

    async def _cancel_requested(self) -> None:
        by_run = {run.run_id: run for run in self.active.values() if run.run_id}
        if not by_run:
            return
        wanted = await self._db(lambda c: runs.cancel_requested(c, list(by_run)))
        for run_id in wanted:
            log.warning("run cancelled on request", run_id=run_id)
            by_run[run_id].stop()

    # --- scheduler -----------------------------------------------------------------

    async def _scheduler_loop(self) -> None:
        while True:
            try:
                await self._turn()
            except LOOP_ERRORS as exc:
                log.warning("scheduler turn failed", error=str(exc))
            self._last_turn = time.monotonic()
            await asyncio.sleep(self.settings.poll_seconds)

    async def _turn(self) -> None:
        now = datetime.now(UTC)
        invalid: list[str] = []
        jobs = await self._scheduler_db(lambda c: list_jobs(c, invalid=invalid))
        for problem in invalid:
            log.error("job not scheduled: its row is invalid", error=problem)
        last = await self._scheduler_db(ticks.last_scheduled)
        runs_for = await self._scheduler_db(job_instances)
        for row in jobs:
            cron = self.cron_of(row)
            if cron is None:
                continue
            job_id = row.spec.id
            for instance_id in runs_for.get(job_id, [row.spec.source_instance_id]):
                key = (job_id, instance_id)
                if key not in last:
                    # First sight of this pair: its schedule counts from now (a baseline tick
                    # that does not run), so a new deployment, or a new instance, does not
                    # start every job at once.
                    baseline = schedule.latest_due(cron, now)
                    await self._scheduler_db(
                        partial(
                            ticks.insert,
                            job_id=job_id,
                            instance_id=instance_id,
                            due_at=baseline,
                            status="skipped",
                        )
                    )
                    continue
                due = schedule.due_tick(cron, last[key], now)
                if due is not None:
                    await self._scheduler_db(
                        partial(ticks.insert, job_id=job_id, instance_id=instance_id, due_at=due)
                    )
        if time.monotonic() < self._claiming_from or self.stopping.is_set():
            return
        free = self.settings.parallel_jobs - len(self.runs)
        if free <= 0:
            return
        for tick in await self._scheduler_db(lambda c: ticks.claim(c, self.replica_id, free)):
            self.runs[tick.tick_id] = asyncio.create_task(self._run_tick(tick))

    def cron_of(self, row: JobRow) -> str | None:
        """The job's schedule (schedule.py: its own, else the default for active jobs)."""
        return schedule.effective_cron(
            row.spec.schedule, row.spec.is_active, self.settings.default_schedule
        )

    async def _run_tick(self, tick: ticks.Tick) -> None:
        status, run_id = "failed", None
        try:
            if tick.parent_status not in (None, "success"):
                run_id = await self._skip(tick)
                status = "skipped"
                return

            def keep(runner: Runner) -> None:
                self.runners[tick.tick_id] = runner
                if self.stopping.is_set():
                    runner.stop()

            # One tick runs the job for one instance (README: Several API instances).
            [result] = await self.ts.run_jobs(
                [tick.job_id],
                instance_ids=[tick.instance_id],
                clients=self.registry,
                on_start=self._started,
                on_runner=keep,
            )
            self.metrics.run_finished(result)
            run_id = result.run_id
            if result.run_id is None and result.status == "failed":
                # The job lock is held elsewhere (a one-shot run, or this job's previous tick):
                # the tick waits and is tried again on a later turn.
                log.info("job busy elsewhere; tick waits", job_id=tick.job_id,
                         instance_id=tick.instance_id, error=result.error)  # fmt: skip
                status = "pending"
            else:
                status = TICK_STATUS.get(result.status, "failed")
                cancelled = result.status == "interrupted" and not self.stopping.is_set()
                if result.status == "interrupted" and not cancelled:
                    status = "pending"  # stopped by shutdown: a live replica continues it
        except TrialSyncError as exc:  # e.g. the job was disabled after its tick was due
            log.error("tick not run", job_id=tick.job_id, instance_id=tick.instance_id,
                      error=str(exc))  # fmt: skip
            status = "skipped"
        finally:
            self.active.pop((tick.job_id, tick.instance_id), None)
            self.runners.pop(tick.tick_id, None)
            self.runs.pop(tick.tick_id, None)
            await asyncio.shield(self._finish_tick(tick, status, run_id))

    async def _finish_tick(self, tick: ticks.Tick, status: str, run_id: int | None) -> None:
        try:
            if status == "pending":
                await self._db(lambda c: ticks.requeue(c, tick.tick_id))
            else:
                await self._db(lambda c: ticks.finish(c, tick.tick_id, status, run_id))
        except TrialSyncError as exc:
            log.error("tick not recorded", tick_id=tick.tick_id, error=str(exc))

    def _started(self, run: JobRun) -> None:
        self.active[(run.job.id, run.job.source_instance_id)] = run
        self.metrics.run_started(run.job.id, run.job.name)

    async def _skip(self, tick: ticks.Tick) -> int:
        reason = f"skipped: the parent job's run of this tick ({tick.due_at:%Y-%m-%d %H:%M:%S}) "
        reason += f"for instance {tick.instance_id} ended {tick.parent_status}"

        async def skip(conn: Connection) -> int:
            return await runs.skip_run(conn, tick.job_id, tick.instance_id, reason)

        run_id = await self._db(skip)
        log.warning("job skipped", job_id=tick.job_id, instance_id=tick.instance_id, reason=reason)
        self.metrics.run_finished(
            JobResult(
                tick.job_id, tick.job_name, "skipped", run_id=run_id, instance_id=tick.instance_id
            )
        )
        return run_id

    async def _db(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """``work`` on a pooled connection (the database briefly away: retried)."""
        return await pooled(self.pool, self.retry, work, what="the service")

    async def _scheduler_db(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """``_db`` for the scheduler loop: its waits for the database count as signs of life."""
        return await pooled(self.pool, self.scheduler_retry, work, what="the scheduler")
