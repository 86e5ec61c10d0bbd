"""Replicas (``dw_etl_replicas``): live ``serve`` processes and their leases.

Every connection a replica opens carries ``application_name = trialsync:<replica id>``, so
when its lease expires a live replica can end its sessions: that frees the dead replica's
job locks at once (instead of after TCP keepalive), and its runs can be continued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection

APPLICATION_PREFIX = "trialsync:"


def application_name(replica_id: str) -> str:
    return f"{APPLICATION_PREFIX}{replica_id}"[:63]  # PostgreSQL's NAMEDATALEN - 1


@dataclass(frozen=True, slots=True)
class Replica:
    replica_id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    lease_until: datetime
    stopping: bool


async def register(conn: Connection, replica_id: str, host: str, pid: int, lease: float) -> None:
    await conn.execute(query("replica_register"), replica_id, host, pid, lease)


async def heartbeat(
    conn: Connection, replica_id: str, lease: float, *, stopping: bool = False
) -> tuple[bool, int]:
    """Renew this replica's lease: (renewed, live replicas including this one). Not renewed:
    the others presumed this replica dead (it stalled past its lease) and removed it."""
    row = await conn.fetchrow(query("replica_heartbeat"), replica_id, lease, stopping)
    assert row is not None
    return bool(row["renewed"]), int(row["live"])


async def end_expired(conn: Connection) -> list[str]:
    """End the sessions of replicas whose lease expired and forget them; their ids."""
    gone: list[str] = []
    for row in await conn.fetch(query("replica_expired")):
        await conn.fetchval(query("replica_sessions_end"), application_name(row["replica_id"]))
        await conn.execute(query("replica_delete"), row["replica_id"])
        gone.append(row["replica_id"])
    return gone


async def remove(conn: Connection, replica_id: str) -> None:
    await conn.execute(query("replica_delete"), replica_id)


async def live(conn: Connection) -> list[Replica]:
    return [Replica(**dict(r)) for r in await conn.fetch(query("replicas_live"))]
