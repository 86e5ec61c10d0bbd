"""The run log: ``dw_etl_runs``, its failed units, and ``dw_etl_jobs.last_run_*``."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from trialsync_async.db.queries import query
from trialsync_async.errors import JobAlreadyRunning

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
# First key of the two-int advisory locks taken per job ("TSJB").
JOB_LOCK_NAMESPACE = 0x54534A42


@dataclass(slots=True)
class RunProgress:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    fetched: int = 0
    requests: int = 0
    units_total: int | None = None
    units_done: int = 0
    units_failed: int = 0
    units_missing: int = 0
    checkpoint: Mapping[str, Any] | None = None

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    @property
    def units_ok(self) -> int:
        return self.units_done - self.units_failed - self.units_missing


async def start_run(conn: asyncpg.Connection, job_id: int, credential_id: int) -> int:
    return int(await conn.fetchval(query("run_start"), job_id, credential_id, WORKER_NAME))


async def save_progress(conn: asyncpg.Connection, run_id: int, p: RunProgress) -> None:
    await conn.execute(
        query("run_progress"),
        run_id,
        p.inserted,
        p.updated,
        p.unchanged,
        p.deleted,
        p.fetched,
        p.requests,
        p.units_total,
        p.units_done,
        p.units_failed,
        dict(p.checkpoint) if p.checkpoint is not None else None,
        p.units_missing,
    )


async def record_failure(
    conn: asyncpg.Connection, run_id: int, parameters: Mapping[str, str], error: str
) -> None:
    await conn.execute(query("run_failure_insert"), run_id, dict(parameters), error)


async def finish_run(
    conn: asyncpg.Connection,
    run_id: int,
    progress: RunProgress,
    *,
    status: str,
    error: str | None,
) -> None:
    """Final counts and status, and the job's ``last_run_*``, in one transaction."""
    async with conn.transaction():
        await save_progress(conn, run_id, progress)
        row = await conn.fetchrow(query("run_finish"), run_id, status, error)
        assert row is not None
        await conn.execute(query("job_last_run"), row["job_id"], status, row["records_loaded"])


async def skip_run(
    conn: asyncpg.Connection, job_id: int, credential_id: int | None, reason: str
) -> int:
    async with conn.transaction():
        run_id = int(await conn.fetchval(query("run_skipped"), job_id, reason, credential_id))
        await conn.execute(query("job_last_run"), job_id, "skipped", 0)
    return run_id


@asynccontextmanager
async def job_lock(conn: asyncpg.Connection, job_id: int, run_id: int) -> AsyncIterator[list[int]]:
    """Hold the job's lock for a run; yield the runs it found abandoned (and closed)."""
    if not await conn.fetchval(query("job_lock"), JOB_LOCK_NAMESPACE, job_id):
        raise JobAlreadyRunning(job_id=job_id)
    try:
        abandoned = [r["run_id"] for r in await conn.fetch(query("runs_abandon"), job_id, run_id)]
        yield abandoned
    finally:
        await conn.execute(query("job_unlock"), JOB_LOCK_NAMESPACE, job_id)


async def get_run(conn: asyncpg.Connection, run_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(query("run_get"), run_id)


async def run_failures(conn: asyncpg.Connection, run_id: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(query("run_failures"), run_id))
