"""The run log: ``dw_etl_runs``, its failed units, and ``dw_etl_jobs.last_run_*``."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection
from trialsync_async.errors import JobAlreadyRunning

WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"
# First key of the two-int advisory locks taken per (job, instance) ("TSJB").
JOB_LOCK_NAMESPACE = 0x54534A42
# The second key packs the job and the instance: job * 2**16 + instance (ids below 32768
# and 65536, far above the inventory's and any deployment's).
_INSTANCE_BITS = 16


def job_lock_key(job_id: int, instance_id: int) -> int:
    """The advisory lock's second key of run (``job_id``, ``instance_id``)."""
    if not (0 <= job_id < 1 << (31 - _INSTANCE_BITS) and 0 <= instance_id < 1 << _INSTANCE_BITS):
        raise ValueError(f"job {job_id} / instance {instance_id} out of the job lock's range")
    return (job_id << _INSTANCE_BITS) | instance_id


class RunCounters(Protocol):
    """A run's counters as the run row holds them (engine/result.py's ``RunProgress``)."""

    inserted: int
    updated: int
    unchanged: int
    deleted: int
    fetched: int
    requests: int
    retries: int
    sanitized: int
    duplicates_in_source: int
    removed: int
    units_total: int | None
    units_done: int
    units_failed: int
    units_missing: int
    notes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunStart:
    run_id: int
    pass_id: int
    continues_run_id: int | None
    full: bool = False  # fan-outs: this run fetches every parent not finished in the pass


async def start_run(
    conn: Connection,
    job_id: int,
    credential_id: int,
    *,
    fresh: bool = False,
    full: bool = False,
) -> RunStart:
    """Open a run row; it continues the job's previous run when that one did not finish.

    Call holding the job's lock (so no other run of the job is live). A previous run that
    failed or was interrupted (or abandoned) left its pass unfinished: this run belongs to
    the same pass and names it in ``continues_run_id``. ``fresh`` starts a new pass. A pass
    keeps its mode: continuing a pass that a ``full`` run began (or joined) is full too.
    """
    async with conn.transaction():
        previous = await conn.fetchrow(query("run_previous"), job_id, credential_id, 0)
        pass_id: int | None = None
        continues: int | None = None
        if not fresh and previous is not None and previous["run_status"] in RESUMABLE:
            pass_id, continues = previous["pass_id"], previous["run_id"]
            full = full or bool(await conn.fetchval(query("run_pass_full"), pass_id))
        notes = {"full": True} if full else {}
        run_id = int(
            await conn.fetchval(
                query("run_start"), job_id, credential_id, WORKER_NAME, pass_id, continues, notes
            )
        )
        pass_id = int(await conn.fetchval(query("run_set_pass"), run_id))
    return RunStart(run_id, pass_id, continues if pass_id != run_id else None, full)


RESUMABLE = ("failed", "interrupted")
"""A previous run in one of these left its pass unfinished: the next run continues it."""


async def pass_is_full(conn: Connection, pass_id: int) -> bool:
    """Whether a run of the pass ran with ``--full`` (so the pass goes on full)."""
    return bool(await conn.fetchval(query("run_pass_full"), pass_id))


async def close_run(conn: Connection, run_id: int, *, status: str, error: str) -> None:
    """Close a run row with its status and error only (when its counts cannot be written)."""
    await conn.execute(query("run_close_bare"), run_id, status, error)


async def lock_waited_on(conn: Connection, pid: int) -> str | None:
    """The table session ``pid`` is waiting to lock, or None when it waits for none."""
    value = await conn.fetchval(query("session_lock_wait"), pid)
    return str(value) if value is not None else None


async def save_progress(conn: Connection, run_id: int, p: RunCounters) -> None:
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
        p.units_missing,
        p.retries,
        p.sanitized,
        {**p.notes, "removed": p.removed} if p.removed else p.notes,
        p.duplicates_in_source,
    )


async def record_failure(
    conn: Connection, run_id: int, parameters: Mapping[str, str], error: str
) -> None:
    await conn.execute(query("run_failure_insert"), run_id, dict(parameters), error)


async def finish_run(
    conn: Connection,
    run_id: int,
    progress: RunCounters,
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


async def skip_run(conn: Connection, job_id: int, credential_id: int | None, reason: str) -> int:
    async with conn.transaction():
        run_id = int(await conn.fetchval(query("run_skipped"), job_id, reason, credential_id))
        await conn.execute(query("job_last_run"), job_id, "skipped", 0)
    return run_id


async def take_job_lock(conn: Connection, job_id: int, instance_id: int = 1) -> bool:
    """Session-level advisory lock: one run of a (job, instance) at a time across every
    process; the same job runs for two instances side by side."""
    key = job_lock_key(job_id, instance_id)
    return bool(await conn.fetchval(query("job_lock"), JOB_LOCK_NAMESPACE, key))


async def release_job_lock(conn: Connection, job_id: int, instance_id: int = 1) -> None:
    key = job_lock_key(job_id, instance_id)
    await conn.execute(query("job_unlock"), JOB_LOCK_NAMESPACE, key)


async def already_running(conn: Connection, job_id: int, instance_id: int = 1) -> JobAlreadyRunning:
    """The error for a job whose lock another process holds, naming its run and worker."""
    row = await conn.fetchrow(query("run_running_elsewhere"), job_id, instance_id)
    where = f" (run {row['run_id']} on {row['worker']})" if row is not None else " elsewhere"
    if instance_id != 1:
        where = f" for instance {instance_id}{where}"
    return JobAlreadyRunning(job_id=job_id, where=where)


async def close_abandoned(conn: Connection, job_id: int, instance_id: int = 1) -> list[int]:
    """Holding the (job, instance)'s lock: close its runs still marked running (their process
    died)."""
    rows = await conn.fetch(query("runs_abandon"), job_id, 0, instance_id)
    return [r["run_id"] for r in rows]


async def close_all_abandoned(conn: Connection) -> list[int]:
    """Close every run marked running whose job lock nobody holds (its process is gone)."""
    closed: list[int] = []
    running = {(r["job_id"], r["instance_id"]) for r in await conn.fetch(query("runs_running"))}
    for job_id, instance_id in sorted(running):
        if await take_job_lock(conn, job_id, instance_id):
            try:
                closed += await close_abandoned(conn, job_id, instance_id)
            finally:
                await release_job_lock(conn, job_id, instance_id)
    return closed


async def run_instance(conn: Connection, run_id: int) -> int | None:
    """The instance run ``run_id`` ran for (None: no such run)."""
    value = await conn.fetchval(query("run_instance"), run_id)
    return int(value) if value is not None else None


async def request_cancel(conn: Connection, run_id: int) -> bool:
    """Ask the replica running ``run_id`` to stop it; False if the run is not running."""
    return await conn.fetchval(query("run_cancel_request"), run_id) is not None


async def cancel_requested(conn: Connection, run_ids: list[int]) -> set[int]:
    return {r["run_id"] for r in await conn.fetch(query("runs_cancel_requested"), run_ids)}


async def retries_of(conn: Connection, run_id: int) -> list[tuple[int, str]]:
    """(run id, status) of the runs that retried run ``run_id``'s failed units, newest first."""
    return [
        (int(r["run_id"]), str(r["status"])) for r in await conn.fetch(query("run_retries"), run_id)
    ]


async def failed_units(conn: Connection, run_id: int) -> tuple[int, list[dict[str, str]]] | None:
    """The job of run ``run_id`` and the parameters of its failed units (distinct), or None
    when there is no such run. Units that answered 404 are not failures to retry."""
    rows = await conn.fetch(query("run_failed_units"), run_id)
    if not rows:
        return None
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        params = row["parameters"]
        if params is not None:
            seen.setdefault(orjson.dumps(params, option=orjson.OPT_SORT_KEYS).decode(), params)
    return int(rows[0]["job_id"]), list(seen.values())
