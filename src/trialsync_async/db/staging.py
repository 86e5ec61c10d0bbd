"""The staging writer: COPY a batch into a temp table, then merge it.

Callers run :meth:`StagingWriter.copy_merge` inside a transaction of their own (the engine
commits the batch's unit state and run counters in the same one), so a batch is merged whole
or not at all. Counts come back from the merge itself (``xmax = 0`` tells an insert from an
update; rows that did not change are not written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection
from trialsync_async.identifiers import quote_ident, validate_staging_table
from trialsync_async.records import Row


@dataclass(slots=True)
class RecordCounts:
    """What merges did to staging rows; a run's counters (``RunProgress``) extend it."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def add(self, other: RecordCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted


def _id_text(row: Row) -> str | None:
    """The id of a row built without one (``data->>'id'``, as PostgreSQL reads it)."""
    record = orjson.loads(row.data)
    value = record.get("id") if isinstance(record, dict) else None
    return value if value is None or isinstance(value, str) else orjson.dumps(value).decode()


class StagingWriter:
    """Writes batches of one job run into its staging table."""

    def __init__(
        self,
        *,
        table: str,
        keyed_by_id: bool,
        instance_id: int,
        job_id: int,
        run_id: int,
    ) -> None:
        self.table = quote_ident(validate_staging_table(table))
        self.keyed_by_id = keyed_by_id
        self.instance_id = instance_id
        self.job_id = job_id
        self.run_id = run_id
        merge = (
            query("staging_merge_by_id") if keyed_by_id else query("staging_merge_by_record_key")
        )
        self._merge_sql = merge.format(table=self.table)
        self._delete_sql = query("staging_delete_unseen").format(table=self.table)

    async def prepare(self, conn: Connection) -> None:
        """Create the connection's batch temp table, and set its session (once per
        connection)."""
        await conn.execute(query("batch_temp_create"))
        await conn.execute(query("batch_session_settings"))

    async def copy_merge(
        self, conn: Connection, rows: Sequence[Row], *, seen_pass: int | None = None
    ) -> tuple[RecordCounts, set[str]]:
        """COPY ``rows`` into the temp table and merge them (inside the caller's transaction);
        with ``seen_pass``, their keys join that pass's seen keys (see db/units.py). Returns
        the counts and the scopes (units) whose staged rows the merge inserted or changed.
        A key that repeats in ``rows`` is written once: its last record."""
        if not rows:
            return RecordCounts(), set()
        await conn.copy_records_to_table(
            "trialsync_batch_v2",
            records=[
                (orjson.Fragment(row.data), k, row.scope) for k, row in self._latest(rows).items()
            ],
            columns=("data", "k", "scope"),
        )
        args = (str(self.instance_id), self.instance_id, self.job_id, self.run_id, seen_pass)
        result = await conn.fetchrow(self._merge_sql, *args)
        if result is None:
            raise RuntimeError("the merge returned no counts")
        inserted, updated = int(result["inserted"]), int(result["updated"])
        counts = RecordCounts(
            inserted=inserted,
            updated=updated,
            unchanged=int(result["distinct_rows"]) - inserted - updated,
        )
        return counts, set(result["changed_scopes"] or ())

    def _latest(self, rows: Sequence[Row]) -> dict[str | None, Row]:
        """Each key's last row, in first-seen order (id jobs: keyed by the id)."""
        if self.keyed_by_id:
            return {(row.ident if row.ident is not None else _id_text(row)): row for row in rows}
        return {row.key: row for row in rows}

    async def delete_unseen(self, conn: Connection, scope: str, keys: Sequence[str]) -> int:
        """Keyless jobs: drop this scope's rows that the completed unit did not return."""
        status = await conn.execute(
            self._delete_sql, self.instance_id, self.job_id, scope, list(keys)
        )
        return int(status.split()[-1])
