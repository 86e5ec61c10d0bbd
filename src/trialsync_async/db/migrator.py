"""Schema migrations: numbered .sql files applied once each, in order, under a lock.

A PostgreSQL advisory lock serialises ``migrate`` across processes; the applied versions
live in ``trialsync_schema_migrations``. After the SQL files, the job inventory is synced and
every staging table it names is created, so one ``migrate`` brings an empty database to a
usable state.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import asyncpg
import structlog

from trialsync_async.db import overrides, retention
from trialsync_async.db.catalog import ensure_default_instance
from trialsync_async.db.queries import query
from trialsync_async.db.retention import Pruned
from trialsync_async.db.staging_schema import ensure_staging_tables
from trialsync_async.db.types import Connection
from trialsync_async.errors import ConfigError, MigrationError
from trialsync_async.inventory import JobSpec

log = structlog.get_logger(__name__)

# pg_advisory_lock key shared by every trialsync-async process ("tsync-mg").
MIGRATION_LOCK_KEY = 0x7473796E632D6D67


@dataclass(slots=True)
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)
    jobs_synced: int = 0
    staging_tables: list[str] = field(default_factory=list)
    overrides: int = 0  # operator overrides applied on top of the inventory
    notes: list[str] = field(default_factory=list)  # hand edits kept as overrides, rows replaced
    pruned: Pruned = field(default_factory=Pruned)  # old bookkeeping past the retention


PACKAGED_MIGRATIONS: Traversable = files("trialsync_async.migrations")
"""The numbered ``.sql`` files, shipped inside the package."""


def migration_files(directory: Path | Traversable | None = None) -> list[Traversable]:
    """The migrations in ``directory`` (``None``: the packaged ones), in order."""
    source = PACKAGED_MIGRATIONS if directory is None else directory
    found = (
        sorted(
            (f for f in source.iterdir() if f.name.endswith(".sql") and f.is_file()),
            key=lambda f: f.name,
        )
        if source.is_dir()
        else []
    )
    if not found:
        raise MigrationError(name=str(source), detail="no .sql files found")
    return found


@asynccontextmanager
async def advisory_lock(conn: Connection, key: int) -> AsyncIterator[None]:
    await conn.execute(query("advisory_lock"), key)
    try:
        yield
    finally:
        await conn.execute(query("advisory_unlock"), key)


async def apply_sql_migrations(
    conn: Connection, directory: Path | Traversable | None = None
) -> MigrationReport:
    """Apply the files not yet recorded; the caller holds the migration lock."""
    report = MigrationReport()
    await conn.execute(query("schema_version_create"))
    applied = {r["version"]: r["checksum"] for r in await conn.fetch(query("schema_versions"))}
    for path in migration_files(directory):
        text = path.read_text(encoding="utf-8")
        checksum = hashlib.sha256(text.encode()).hexdigest()
        if path.name in applied:
            if applied[path.name] != checksum:
                log.warning("migration changed after it was applied", migration=path.name)
            report.already_applied.append(path.name)
            continue
        try:
            async with conn.transaction():
                await conn.execute(text)
                await conn.execute(query("schema_version_insert"), path.name, checksum)
        except asyncpg.PostgresError as exc:
            raise MigrationError(name=path.name, detail=str(exc)) from exc
        log.info("migration applied", migration=path.name)
        report.applied.append(path.name)
    return report


async def migrate(
    conn: Connection,
    *,
    jobs: list[JobSpec],
    migrations_dir: Path | None = None,
    default_instance_url: str,
    retention_days: int = 0,
) -> MigrationReport:
    """Bring the database up to date: SQL files, instance 1, the inventory, staging tables;
    then the retention of ``retention_days`` (db/retention.py).

    Without the sessions' statement timeout: an index over a large table may take longer."""
    await conn.execute(query("session_no_statement_timeout"))
    async with advisory_lock(conn, MIGRATION_LOCK_KEY):
        report = await apply_sql_migrations(conn, migrations_dir)
        await ensure_default_instance(conn, default_instance_url)
        await _sync_inventory_locked(conn, jobs, report)
        report.pruned = await retention.prune(conn, retention_days)
    return report


async def pending_migrations(
    conn: Connection, directory: Path | Traversable | None = None
) -> list[str]:
    """The migration files not applied to this database (all of them when none ever was)."""
    names = [f.name for f in migration_files(directory)]
    if not await conn.fetchval(query("schema_versions_table_exists")):
        return names
    applied = {r["version"] for r in await conn.fetch(query("schema_versions"))}
    return [name for name in names if name not in applied]


async def check_instances(conn: Connection, jobs: list[JobSpec]) -> None:
    """Every instance the inventory names must exist before the inventory changes anything."""
    wanted = sorted({job.source_instance_id for job in jobs})
    found = {r["id"] for r in await conn.fetch(query("instance_ids_existing"), wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        first = next(j for j in jobs if j.source_instance_id == missing[0])
        raise ConfigError(
            detail=f"job {first.id} ({first.name}) names API instance {missing[0]}, which does "
            f"not exist: create it with `trialsync-async instances set {missing[0]} --base-url "
            "URL`, then run this again (the job inventory was left as it was)"
        )


async def sync_inventory(conn: Connection, jobs: list[JobSpec]) -> MigrationReport:
    """``jobs sync``: load the inventory and its staging tables into a migrated database."""
    report = MigrationReport()
    async with advisory_lock(conn, MIGRATION_LOCK_KEY):
        await _sync_inventory_locked(conn, jobs, report)
    return report


async def _sync_inventory_locked(
    conn: Connection, jobs: list[JobSpec], report: MigrationReport
) -> None:
    await check_instances(conn, jobs)
    outcome = await overrides.sync_jobs(conn, jobs)
    report.jobs_synced, report.overrides, report.notes = (
        outcome.jobs,
        outcome.overrides,
        outcome.notes,
    )
    tables = [t for job in jobs for t in (job.target_table, job.parameter_source_table) if t]
    report.staging_tables = await ensure_staging_tables(conn, tables)
