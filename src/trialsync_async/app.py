"""The library's front door: one object that the CLI, the demo, the benchmarks and the tests
share (and the daemon will)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

import asyncpg

from trialsync_async.commands import probe as global_probe
from trialsync_async.commands.instance_check import InstanceProbe, probe_instance
from trialsync_async.commands.job_views import JobDetail
from trialsync_async.commands.plan import plan_jobs
from trialsync_async.commands.probe import ProbeReport
from trialsync_async.db import catalog, history, overrides, runs, status, units
from trialsync_async.db.catalog import InstanceChanges, InstanceRow, JobRow
from trialsync_async.db.connect import (
    create_pool,
    database_url,
    redact_dsn,
    with_application_name,
    with_timeouts,
)
from trialsync_async.db.history import FailureReport, RunDetail, RunRow, RunStats
from trialsync_async.db.migrator import (
    MigrationReport,
    migrate,
    migration_files,
    pending_migrations,
    sync_inventory,
)
from trialsync_async.db.overrides import Override, SettingState
from trialsync_async.db.schema_drift import CheckedRun, checked_runs
from trialsync_async.db.typed_views import sync_views
from trialsync_async.db.types import Connection
from trialsync_async.engine.clients import ClientRegistry, make_client
from trialsync_async.engine.estimate import JobPlan
from trialsync_async.engine.job_run import ProgressCallback
from trialsync_async.engine.result import JobResult
from trialsync_async.engine.runner import Runner, select_jobs
from trialsync_async.errors import ConfigError, DatabaseError, NotMigratedError, UnknownRunError
from trialsync_async.freshness import Freshness, several, worst
from trialsync_async.freshness import read as read_freshness
from trialsync_async.inventory import JobSpec, load_inventory
from trialsync_async.records import scope_of
from trialsync_async.schedule import JobSchedule
from trialsync_async.settings import RUN_OPTION_FIELDS, Settings
from trialsync_async.swagger import load_swagger
from trialsync_async.typed_views import ViewsReport, plan_views


class TrialSync:
    """Holds the settings and the database pool.

    ``async with TrialSync(settings) as ts:`` resolves the database (``DATABASE_URL`` or the
    embedded PostgreSQL) and opens a pool; every operation is a method. Opening checks that
    the database is migrated (``NotMigratedError`` when not) unless ``require_schema=False``
    (``migrate``, the demo); ``migrated`` says what it found.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        application_name: str | None = None,
        require_schema: bool = True,
    ) -> None:
        self.settings = settings
        self.application_name = application_name  # names this process's sessions in PostgreSQL
        self.require_schema = require_schema
        self.migrated = False
        self.dsn: str | None = None
        self._pool: asyncpg.Pool | None = None
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> TrialSync:
        self.dsn = await self._stack.enter_async_context(
            database_url(self.settings.database_url, self.settings.embedded_path())
        )
        shown = redact_dsn(self.dsn)
        if self.application_name:
            self.dsn = with_application_name(self.dsn, self.application_name)
        self.dsn = with_timeouts(
            self.dsn,
            lock_seconds=self.settings.db_lock_timeout,
            statement_seconds=self.settings.db_statement_timeout,
        )
        try:
            # min_size 0: no background "pool floor" reconnects (and their tracebacks) while the
            # database is away; connections are made on demand and retried by db/resilience.py.
            self._pool = await create_pool(self.dsn, min_size=0, max_size=self.settings.pool_size)
            async with self._pool.acquire():  # reachable now, or a clear error now
                pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self._stack.aclose()
            raise DatabaseError(detail=f"cannot connect to {shown}: {exc}") from exc
        self._stack.push_async_callback(self._pool.close)
        try:
            await self._check_schema()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _check_schema(self) -> None:
        """The one place an unmigrated database is noticed: ``NotMigratedError`` when the
        schema is required and a packaged migration has not been applied."""
        async with self.pool.acquire() as conn:
            pending = await pending_migrations(conn, self.settings.migrations_dir)
        self.migrated = not pending
        if pending and self.require_schema:
            raise NotMigratedError(pending=_pending_note(pending, self.settings.migrations_dir))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("TrialSync is not open: use 'async with TrialSync(settings)'")
        return self._pool

    def inventory(self) -> list[JobSpec]:
        return load_inventory(self.settings.jobs_file)

    async def migrate(self) -> MigrationReport:
        jobs = self.inventory()  # validated before anything touches the database
        async with self.pool.acquire() as conn:
            report = await migrate(
                conn,
                jobs=jobs,
                migrations_dir=self.settings.migrations_dir,
                default_instance_url=self.settings.default_instance_url,
                retention_days=self.settings.retention_days,
            )
        self.migrated = True
        report.notes += (await self.typed_views(apply=True)).notes()  # after the tables
        return report

    async def typed_views(self, *, apply: bool) -> ViewsReport:
        """``views``: the typed views of schema staging_typed, made (``apply``) or compared
        (typed_views.py: the columns from the swagger; db/typed_views.py: the SQL)."""
        plan = plan_views(self.inventory(), load_swagger())
        async with self.pool.acquire() as conn:
            changes = await sync_views(conn, plan.views, apply=apply)
        return ViewsReport(plan, tuple(changes), applied=apply)

    async def sync_jobs(self) -> MigrationReport:
        """``jobs sync``: the inventory and its staging tables, then the typed views, so
        they follow a changed inventory (the notes say what changed, as ``migrate``'s)."""
        jobs = self.inventory()
        async with self.pool.acquire() as conn:
            report = await sync_inventory(conn, jobs)
        report.notes += (await self.typed_views(apply=True)).notes()  # after the tables
        return report

    async def list_jobs(self) -> list[JobRow]:
        async with self.pool.acquire() as conn:
            return await catalog.list_jobs(conn)

    async def job_overrides(self) -> dict[int, dict[str, Override]]:
        """Every job's operator overrides, by job and setting."""
        async with self.pool.acquire() as conn:
            return await overrides.overrides_by_job(conn)

    async def show_job(self, job_id: int, *, now: datetime | None = None) -> JobDetail:
        """One job: each setting and its source, schedule and next run, parent, last 5 runs."""
        async with self.pool.acquire() as conn:
            job, settings = await overrides.settings_of(conn, job_id)
            parent = None
            if job.parent_job_id is not None:
                parent = await catalog.get_job(conn, job.parent_job_id)
            runs = await status.runs(
                conn, job_id=job_id, limit=5, lease_seconds=self.settings.lease_seconds
            )
            freshness = await self._freshness(conn)
        when = now or datetime.now(UTC)
        schedule = JobSchedule.of(job, self.settings.default_schedule, when)
        mine = freshness.get(job_id, [])
        by_instance = mine if several(freshness) else []
        return JobDetail(job, settings, parent, schedule, runs, worst(mine), by_instance)

    async def job_freshness(self) -> dict[int, list[Freshness]]:
        """Every job's freshness (freshness.py) per instance it runs for, by job id."""
        async with self.pool.acquire() as conn:
            return await self._freshness(conn)

    async def _freshness(self, conn: Connection) -> dict[int, list[Freshness]]:
        s = self.settings
        return await read_freshness(
            conn, default_schedule=s.default_schedule, lease_seconds=s.lease_seconds
        )

    async def set_job(
        self,
        job_id: int,
        *,
        values: Mapping[str, object] | None = None,
        resets: Sequence[str] = (),
        reason: str | None = None,
    ) -> tuple[JobSpec, list[SettingState]]:
        """Override settings of a job (``jobs set``; names and values as in the inventory) or
        reset them to the inventory's. ``InvalidSettingError`` (nothing changed) when refused."""
        async with self.pool.acquire() as conn:
            return await overrides.change_settings(
                conn, job_id, values=values, resets=resets, reason=reason
            )

    async def enable_job(self, job_id: int) -> tuple[JobSpec, list[SettingState]]:
        return await self.set_job(job_id, values={"is_active": True})

    async def disable_job(self, job_id: int, reason: str) -> tuple[JobSpec, list[SettingState]]:
        """Disable a job: runs of it are refused with ``reason``, the service skips it."""
        return await self.set_job(job_id, values={"is_active": False}, reason=reason)

    async def list_instances(self) -> list[InstanceRow]:
        async with self.pool.acquire() as conn:
            return await catalog.list_instances(conn)

    async def set_instance(self, instance_id: int, **changes: Unpack[InstanceChanges]) -> int:
        async with self.pool.acquire() as conn:
            return await catalog.set_instance(conn, instance_id, **changes)

    async def add_instance(self, instance_id: int, **changes: Unpack[InstanceChanges]) -> int:
        """``instances add``: a new active instance, which runs every job whose scope is all
        (ConfigError when it exists)."""
        async with self.pool.acquire() as conn:
            return await catalog.add_instance(conn, instance_id, **changes)

    async def job_instances(self) -> dict[int, list[int]]:
        """The instances each job runs for (catalog.job_instances)."""
        async with self.pool.acquire() as conn:
            return await catalog.job_instances(conn)

    async def set_instance_if_unconfigured(
        self, instance_id: int, **changes: Unpack[InstanceChanges]
    ) -> bool:
        """``instances set --if-unconfigured``: catalog.set_instance_if_unconfigured."""
        async with self.pool.acquire() as conn:
            return await catalog.set_instance_if_unconfigured(conn, instance_id, **changes)

    async def test_instance(self, instance_id: int) -> InstanceProbe:
        """One request to the instance with its key (``instances test``); MissingApiKeyError
        when it has none."""
        async with self.pool.acquire() as conn:
            instance = await catalog.get_instance(conn, instance_id)
        return await probe_instance(self.settings, instance)

    async def probe_global_list(
        self, job_id: int, *, sample: int = 20, instance_ids: Sequence[int] | None = None
    ) -> list[ProbeReport]:
        """``jobs probe``: for each API instance (``None``: every instance the job runs for),
        a sample of the job's parents fetched per parent and from its global list, compared;
        each result is recorded (passed ones on every instance allow fanout global)."""
        async with self.pool.acquire() as conn:
            job = await catalog.get_job(conn, job_id)
            if job.global_endpoint is None:
                raise ConfigError(
                    detail=f"job {job_id} ({job.name}) names no global_endpoint in the inventory"
                )
            mine = (await catalog.job_instances(conn)).get(job_id, [job.source_instance_id])
            wanted = mine if instance_ids is None else list(dict.fromkeys(instance_ids))
            instances = [await catalog.get_instance(conn, i) for i in wanted]  # unknown: error
            if others := [i for i in wanted if i not in mine]:
                raise ConfigError(
                    detail=f"job {job_id} ({job.name}) does not run for instance "
                    f"{', '.join(map(str, others))}: it runs for {', '.join(map(str, mine))}"
                )
            keys = [instance.require_key() for instance in instances]  # all, before any probe
            reports = []
            for instance, key in zip(instances, keys, strict=True):
                client = make_client(
                    self.settings, instance_id=instance.id, base_url=instance.base_url,
                    api_key=key, auth_header=instance.auth_header, rate_limit=instance.rate_limit,
                )  # fmt: skip
                async with client:
                    reports.append(await global_probe.probe(conn, client, job, instance.id, sample))
            return reports

    async def run_history(
        self,
        *,
        job_id: int | None = None,
        status: str | None = None,
        since: timedelta | None = None,
        limit: int = 20,
        instance_id: int | None = None,
    ) -> list[RunRow]:
        """Runs, newest first: of one job, in one status, started within ``since``, of one
        API instance."""
        async with self.pool.acquire() as conn:
            return await history.list_runs(
                conn, job_id=job_id, status_is=status, since=since, limit=limit,
                lease_seconds=self.settings.lease_seconds, instance_id=instance_id,
            )  # fmt: skip

    async def run_detail(self, run_id: int) -> RunDetail:
        """One run in full; ``UnknownRunError`` when there is none."""
        async with self.pool.acquire() as conn:
            return await history.run_detail(conn, run_id, lease_seconds=self.settings.lease_seconds)

    async def schema_drift_runs(
        self, *, job_id: int | None = None, per_job: int = 20, instance_id: int | None = None
    ) -> list[CheckedRun]:
        """The newest ``per_job`` runs of each (job, API instance) whose records were checked
        for schema drift (``schema``; schema_drift.history sums them up)."""
        async with self.pool.acquire() as conn:
            return await checked_runs(conn, job_id=job_id, per_job=per_job, instance_id=instance_id)

    async def run_failures(
        self, *, run_id: int | None = None, job_id: int | None = None, limit: int = 50
    ) -> FailureReport:
        """Failed runs with their failed units, and the units still failed."""
        async with self.pool.acquire() as conn:
            return await history.failures(conn, run_id=run_id, job_id=job_id, limit=limit)

    async def run_stats(self, *, days: int = 7, instance_id: int | None = None) -> RunStats:
        """Per job over the last ``days`` days (of one API instance, when given): runs,
        success rate, counts, mean duration."""
        async with self.pool.acquire() as conn:
            return await history.stats(conn, days=days, instance_id=instance_id)

    async def plan(
        self,
        job_ids: Sequence[int] | None = None,
        *,
        full: bool = False,
        now: datetime | None = None,
        instance_ids: Sequence[int] | None = None,
    ) -> list[JobPlan]:
        """What the next run of the jobs (``None``: every active job) would fetch and cost,
        were it to run at ``now`` (default: now): one plan per (job, instance), for
        ``instance_ids`` (``None``: every instance each job runs for)."""
        async with self.pool.acquire() as conn:
            jobs = await select_jobs(conn, job_ids, instance_ids=instance_ids)
        return await plan_jobs(self.pool, jobs, full=full, now=now)

    async def failed_units_of(self, run_id: int) -> tuple[int, list[dict[str, str]]]:
        """The job of run ``run_id`` and its failed units' parameters (UnknownRunError)."""
        async with self.pool.acquire() as conn:
            found = await runs.failed_units(conn, run_id)
        if found is None:
            raise UnknownRunError(run_id=run_id)
        return found

    async def still_failed_of(self, run_id: int) -> list[dict[str, str]]:
        """Run ``run_id``'s failed units that no later run (of its instance) fetched since."""
        job_id, failed = await self.failed_units_of(run_id)
        instance_id = await self.instance_of_run(run_id)
        async with self.pool.acquire() as conn:
            by_key = {scope_of(values): values for values in failed}
            keys = await units.still_failed(conn, job_id, instance_id, list(by_key))
        return [by_key[key] for key in keys]

    async def instance_of_run(self, run_id: int) -> int:
        """The API instance run ``run_id`` ran for (UnknownRunError)."""
        async with self.pool.acquire() as conn:
            found = await runs.run_instance(conn, run_id)
        if found is None:
            raise UnknownRunError(run_id=run_id)
        return found

    async def retries_of(self, run_id: int) -> list[tuple[int, str]]:
        """(run id, status) of the runs that retried ``run_id``'s failed units, newest first."""
        async with self.pool.acquire() as conn:
            return await runs.retries_of(conn, run_id)

    async def run_jobs(
        self,
        job_ids: Sequence[int] | None = None,
        *,
        fresh: bool = False,
        full: bool = False,
        clock: Callable[[], datetime] | None = None,
        on_start: ProgressCallback | None = None,
        on_progress: ProgressCallback | None = None,
        on_finish: Callable[[JobResult], None] | None = None,
        on_runner: Callable[[Runner], None] | None = None,
        clients: ClientRegistry | None = None,
        with_upstream: bool = False,
        retry_of: int | None = None,
        allow_deletes: bool = False,
        instance_ids: Sequence[int] | None = None,
        **overrides: Any,
    ) -> list[JobResult]:
        """Run the given jobs (``None``: every active job) once, in dependency order;
        ``with_upstream`` runs the active jobs they depend on first (transitively).

        ``overrides`` change run settings for this call only (``page_size=100``); ``fresh``
        starts new passes instead of continuing unfinished ones; ``full`` makes fan-outs fetch
        every parent, not only new, changed, failed and due ones; ``clock`` (tests) is what
        revisits are counted on. ``on_runner`` receives the runner before it starts (a caller's
        handle to ``stop()``); ``on_finish`` each job's result as it ends (skipped ones too).
        ``retry_of`` (with the one job of that run): fetch only that run's failed units.
        ``allow_deletes``: apply deletions the mass-deletion guard would refuse.
        ``instance_ids``: run each job for these API instances (``None``: every instance
        it runs for: its own, and every other active one unless its scope is ``own``).
        ``clients``: a registry shared between calls (the service's: every run of the process
        then shares one limiter per instance); by default each call opens and closes its own.
        """
        refused = set(overrides) - RUN_OPTION_FIELDS
        if refused:
            raise TypeError(f"not run settings: {', '.join(sorted(refused))}")
        settings = self.settings.with_overrides(**overrides)
        own_clients = clients is None
        clients = clients or ClientRegistry(settings)
        runner = Runner(
            self.pool,
            dsn=self.dsn or "",
            settings=settings,
            fresh=fresh,
            full=full,
            retry_of=retry_of,
            allow_deletes=allow_deletes,
            clock=clock,
            clients=clients,
            on_start=on_start,
            on_progress=on_progress,
            on_finish=on_finish,
        )
        if on_runner is not None:
            on_runner(runner)
        try:
            return await runner.run(job_ids, with_upstream=with_upstream, instance_ids=instance_ids)
        finally:
            if own_clients:
                await clients.aclose()


def _pending_note(pending: Sequence[str], migrations_dir: Path | None) -> str:
    """Nothing when no migration was ever applied; else which ones are missing."""
    if len(pending) == len(migration_files(migrations_dir)):
        return ""
    return f" (not applied: {', '.join(pending)})"
