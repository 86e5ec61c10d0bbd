"""What staging holds for a job, and the statements that remove rows on a pass's word.

Every removal is judged first (engine/deletions.py): the pass must have proven it complete
(``pass_evidence``), and the rows it removes must stay within the job's share of its live rows
(the mass-deletion guard). A settle that goes past the share is rolled back whole and reported
as ``Settled(applied=False)``; nothing of it stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from trialsync_async.db.planning import hash_joins
from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection
from trialsync_async.identifiers import quote_ident, validate_staging_table


def _table(name: str) -> str:
    return quote_ident(validate_staging_table(name))


@dataclass(frozen=True, slots=True)
class Settled:
    """What settling a pass's unseen rows did (or, refused, would have done)."""

    rows: int  # marked or deleted (or that would have been)
    live_before: int  # the job's live rows before
    applied: bool = True


@dataclass(frozen=True, slots=True)
class PassEvidence:
    """What the done units of a pass could not prove: units with a shortfall, and totals."""

    short_units: int
    shortfall: int
    reported: int
    received: int
    examples: list[str]


_UNSEEN = {
    ("mark", True): "unseen_mark_by_id",
    ("mark", False): "unseen_mark_by_record_key",
    ("delete", True): "unseen_delete_by_id",
    ("delete", False): "unseen_delete_by_record_key",
}


class _Refused(Exception):
    """Rolls a settle back when it would remove more than its share."""


LOST_SHARE = 0.5
"""A plain job whose staging table holds less than this share of the rows its last complete
pass left has lost them (TRUNCATE, a restore): its next pass is a whole one."""


async def rows_lost(conn: Connection, table: str, instance_id: int, job_id: int) -> str | None:
    """Why a plain job's staged rows count as lost, or None (see ``LOST_SHARE``)."""
    expected = await conn.fetchval(query("run_last_staged_rows"), job_id, instance_id)
    if not expected:
        return None
    live = await live_rows(conn, table, instance_id, job_id)
    if live >= LOST_SHARE * expected:
        return None
    return f"staging holds {live:,} of the {expected:,} rows its last complete pass left"


async def live_rows(conn: Connection, table: str, instance_id: int, job_id: int) -> int:
    sql = query("staging_live_count").format(table=_table(table))
    return int(await conn.fetchval(sql, instance_id, job_id))


async def scope_counts(
    conn: Connection, table: str, instance_id: int, job_id: int, scopes: Sequence[str]
) -> dict[str, int]:
    """Live rows of the job per scope (scopes without rows are absent)."""
    if not scopes:
        return {}
    sql = query("staging_scope_counts").format(table=_table(table))
    rows = await conn.fetch(sql, instance_id, job_id, list(scopes))
    return {r["scope_key"]: int(r["n"]) for r in rows}


async def pass_evidence(
    conn: Connection, job_id: int, instance_id: int, pass_id: int
) -> PassEvidence:
    row = await conn.fetchrow(query("pass_evidence"), job_id, instance_id, pass_id)
    assert row is not None
    return PassEvidence(
        int(row["short_units"]), int(row["shortfall"]), int(row["reported"]),
        int(row["received"]), list(row["examples"] or []),
    )  # fmt: skip


async def removed_before(conn: Connection, pass_id: int, run_id: int) -> int:
    """Rows the earlier runs of the pass removed for good (the guard judges the whole pass)."""
    return int(await conn.fetchval(query("pass_removed_before"), pass_id, run_id))


async def forget_pass(conn: Connection, job_id: int, instance_id: int, pass_id: int) -> None:
    """A plain pass whose deletions were refused starts over: its plan and seen keys go, so
    the next run walks the whole list again and judges afresh."""
    async with conn.transaction():
        await conn.execute(query("pass_units_forget"), job_id, instance_id, pass_id)
        await conn.execute(query("seen_keys_forget"), pass_id)


async def forget_keys(conn: Connection, pass_id: int) -> None:
    """The seen keys of a pass that will settle nothing (its deletions were skipped)."""
    await conn.execute(query("seen_keys_forget"), pass_id)


async def settle_unseen(
    conn: Connection,
    *,
    table: str,
    instance_id: int,
    job_id: int,
    pass_id: int,
    by_id: bool,
    policy: str,
    max_share: float | None,
) -> Settled:
    """After a complete pass: mark or delete the job's rows the pass did not see, then forget
    the pass's keys, in one transaction. ``max_share`` (None: no limit) is the share of the
    job's live rows it may remove: past it, everything is rolled back (``applied=False``)."""
    quoted = _table(table)
    gone = live_after = 0
    try:
        async with hash_joins(conn):  # the table was just filled: no statistics to trust
            await conn.execute(query("seen_keys_analyze"))
            if policy in ("mark", "delete"):
                name = _UNSEEN[policy, by_id]
                status = await conn.execute(
                    query(name).format(table=quoted), instance_id, job_id, pass_id
                )
                gone = int(status.split()[-1])
            live_after = await live_rows(conn, table, instance_id, job_id)
            if max_share is not None and gone > max_share * (gone + live_after):
                raise _Refused
            await conn.execute(query("seen_keys_forget"), pass_id)
    except _Refused:
        return Settled(gone, gone + live_after, applied=False)
    return Settled(gone, gone + live_after)
