"""The staging writer: COPY a batch into a temp table, then merge it, in one transaction.

A batch is merged whole or not at all. Counts come back from the merge itself
(``xmax = 0`` tells an insert from an update; rows that did not change are not written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from trialsync_async.db.queries import query
from trialsync_async.identifiers import quote_ident, validate_staging_table
from trialsync_async.records import Row

# The merge's key expression and the unique index it lands on, per kind of record key.
_BY_ID = {"key": "data::jsonb->>'id'", "conflict": "(source_instance_id, (data->>'id'))"}
_BY_RECORD_KEY = {
    "key": "k",
    "conflict": "(source_instance_id, record_key) WHERE record_key IS NOT NULL",
}


@dataclass(slots=True)
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def add(self, other: MergeCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted

    @property
    def written(self) -> int:
        return self.inserted + self.updated


class StagingWriter:
    """Writes batches of one job run into its staging table over one connection."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        *,
        table: str,
        keyed_by_id: bool,
        instance_id: int,
        job_id: int,
        run_id: int,
    ) -> None:
        self.conn = conn
        self.table = quote_ident(validate_staging_table(table))
        self.keyed_by_id = keyed_by_id
        self.instance_id = instance_id
        self.job_id = job_id
        self.run_id = run_id
        self._merge_sql = query("staging_merge").format(
            table=self.table, **(_BY_ID if keyed_by_id else _BY_RECORD_KEY)
        )
        self._delete_sql = query("staging_delete_unseen").format(table=self.table)
        self._ready = False

    async def _prepare(self) -> None:
        if not self._ready:
            await self.conn.execute(query("batch_temp_create"))
            self._ready = True

    async def write(self, rows: Sequence[Row]) -> MergeCounts:
        """COPY ``rows`` and merge them; all or nothing."""
        if not rows:
            return MergeCounts()
        await self._prepare()
        args = (str(self.instance_id), self.instance_id, self.job_id, self.run_id)
        async with self.conn.transaction():
            await self.conn.copy_records_to_table(
                "trialsync_batch",
                records=[(row.data, row.key, row.scope, i) for i, row in enumerate(rows)],
                columns=("data", "k", "scope", "ord"),
            )
            result = await self.conn.fetchrow(self._merge_sql, *args)
        assert result is not None
        inserted, updated = int(result["inserted"]), int(result["updated"])
        return MergeCounts(
            inserted=inserted,
            updated=updated,
            unchanged=int(result["distinct_rows"]) - inserted - updated,
        )

    async def delete_unseen(self, scope: str, keys: Sequence[str]) -> int:
        """Keyless jobs: drop this scope's rows that the completed unit did not return."""
        status = await self.conn.execute(
            self._delete_sql, self.instance_id, self.job_id, scope, list(keys)
        )
        return int(status.split()[-1])
