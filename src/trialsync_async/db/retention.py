"""Bounded bookkeeping: the tables that grow with every run keep ``days`` of history.

Run rows (with their failed units), finished ticks and fan-out probes older than the retention
go, except what a later decision rests on: each job's latest run and latest success per
instance, and every run of a pass still open (the resume chain, ``--full`` kept by a continued
pass). Seen keys go as soon as their pass can no longer be settled (the job moved on to
another pass); a pass that settles drops its own at once. Applied by ``migrate`` and by the
service (at start and every ``RETENTION_EVERY`` seconds), in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from trialsync_async.db.planning import hash_joins
from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection

RETENTION_EVERY = 3600.0


@dataclass(frozen=True, slots=True)
class Pruned:
    runs: int = 0
    ticks: int = 0
    probes: int = 0
    seen_keys: int = 0

    @property
    def total(self) -> int:
        return self.runs + self.ticks + self.probes + self.seen_keys


def _count(status: str) -> int:
    return int(status.split()[-1])


async def prune(conn: Connection, days: int) -> Pruned:
    """Apply the retention of ``days`` days (0: keep everything)."""
    if days <= 0:
        return Pruned()
    async with hash_joins(conn):
        await conn.execute(query("retention_runs_kept"))
        await conn.execute(query("retention_runs_keep"))
        await conn.execute(query("retention_runs_unlink"), days)
        runs = _count(await conn.execute(query("retention_runs_delete"), days))
        ticks = _count(await conn.execute(query("retention_ticks_delete"), days))
        probes = _count(await conn.execute(query("retention_probes_delete"), days))
        keys = _count(await conn.execute(query("retention_seen_keys_delete")))
    return Pruned(runs, ticks, probes, keys)


async def sizes(conn: Connection) -> dict[str, tuple[int, int]]:
    """Rows and bytes on disk of each bookkeeping table."""
    rows = await conn.fetch(query("retention_sizes"))
    return {r["name"]: (int(r["rows"]), int(r["bytes"])) for r in rows}
