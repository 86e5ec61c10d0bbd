"""COPY → temp → merge on a real PostgreSQL: counts, dedupe, keys, all-or-nothing."""

from __future__ import annotations

import asyncpg
import pytest

from trialsync_async.db.staging import RecordCounts, StagingWriter
from trialsync_async.inventory import RecordKey
from trialsync_async.records import Row, RowBuilder

pytestmark = pytest.mark.integration


def _writer(table: str, *, by_id: bool = True) -> StagingWriter:
    return StagingWriter(table=table, keyed_by_id=by_id, instance_id=1, job_id=3, run_id=1)


async def write(writer: StagingWriter, db: asyncpg.Connection, rows: list[Row]) -> RecordCounts:
    """COPY and merge ``rows`` in a transaction of their own: the write path alone."""
    await writer.prepare(db)
    async with db.transaction():
        counts, _ = await writer.copy_merge(db, rows)
        return counts


async def _rows(db: asyncpg.Connection, table: str) -> list[asyncpg.Record]:
    return await db.fetch(f'SELECT * FROM "{table}" ORDER BY id')


async def test_merge_by_id_counts_inserts_updates_and_unchanged(db: asyncpg.Connection) -> None:
    builder = RowBuilder(RecordKey("id"), endpoint="/x")
    writer = _writer("dim_patients_staging")
    first = [{"id": i, "name": f"p{i}"} for i in range(3)]
    counts = await write(writer, db, [builder.row(r) for r in first])
    assert (counts.inserted, counts.updated, counts.unchanged) == (3, 0, 0)
    counts = await write(writer, db, [builder.row(r) for r in first])
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 3)
    changed = [*first[:2], {"id": 2, "name": "Zoë"}, {"id": 2, "name": "Zoë Ångström"}]
    counts = await write(writer, db, [builder.row(r) for r in changed])  # id 2 twice: last wins
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 2)
    rows = await _rows(db, "dim_patients_staging")
    assert len(rows) == 3
    assert rows[2]["data"] == {"id": 2, "name": "Zoë Ångström"}
    assert rows[0]["source_id"] == "1" and rows[0]["source_instance_id"] == 1
    assert rows[0]["etl_job_id"] == 3 and rows[0]["etl_run_id"] == 1


async def test_a_failing_batch_writes_nothing(db: asyncpg.Connection) -> None:
    writer = _writer("dim_patients_staging")
    await write(writer, db, [Row('{"id": 1}', None)])
    # the engine's rows are orjson's output; text PostgreSQL refuses fails the COPY itself
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        await write(writer, db, [Row('{"id": 2}', None), Row("{not json", None, ident="9")])
    assert [r["data"] for r in await _rows(db, "dim_patients_staging")] == [{"id": 1}]
    counts = await write(writer, db, [Row('{"id": 3}', None)])  # the connection is still usable
    assert counts.inserted == 1


async def test_composite_keys(db: asyncpg.Connection) -> None:
    key = RecordKey.parse("visit.id+element.id")
    builder = RowBuilder(key, endpoint="/x")
    writer = _writer("dim_visit_element_relationships_staging", by_id=False)
    recs = [{"visit": {"id": 1}, "element": {"id": e}, "n": e} for e in (10, 11)]
    assert (await write(writer, db, [builder.row(r) for r in recs])).inserted == 2
    recs[1]["n"] = 99
    counts = await write(writer, db, [builder.row(r) for r in recs])
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 1)
    keys = [r["record_key"] for r in await _rows(db, "dim_visit_element_relationships_staging")]
    assert keys == ["1|10", "1|11"]


async def test_keyless_rows_are_replaced_per_scope(db: asyncpg.Connection) -> None:
    builder = RowBuilder(RecordKey("none"), endpoint="/x")
    writer = _writer("dim_study_warnings_staging", by_id=False)

    async def load(scope: str, records: list[dict]) -> tuple[int, int, int]:
        seen: dict[str, int] = {}
        rows = [builder.row(r, scope=scope, seen=seen) for r in records]
        counts = await write(writer, db, rows)
        deleted = await writer.delete_unseen(db, scope, [r.key for r in rows if r.key])
        return counts.inserted, counts.unchanged, deleted

    warn = {"type": "w", "description": "Δ"}
    assert await load("studyId=1", [warn, warn, {"type": "x"}]) == (3, 0, 0)
    assert await load("studyId=2", [warn]) == (1, 0, 0)
    assert await load("studyId=1", [warn, warn, {"type": "x"}]) == (0, 3, 0)
    assert await load("studyId=1", [warn]) == (0, 1, 2)
    rows = await _rows(db, "dim_study_warnings_staging")
    assert sorted(r["scope_key"] for r in rows) == ["studyId=1", "studyId=2"]
