"""What the benchmark scripts share: a throwaway database, a plain-text table, and the bare
write path (the records of a plain job, COPYed and merged without HTTP) to compare with."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

from ccsim import SimulatorProcess
from trialsync_async.db.connect import connect, drop_database, recreate_database, redact_dsn
from trialsync_async.db.staging import RecordCounts, StagingWriter
from trialsync_async.db.types import Connection
from trialsync_async.embedded import EmbeddedPostgres
from trialsync_async.engine.clients import make_client
from trialsync_async.identifiers import quote_ident
from trialsync_async.inventory import JobSpec
from trialsync_async.records import Row, RowBuilder
from trialsync_async.settings import Settings


async def bench_database(stack: AsyncExitStack) -> tuple[str, str]:
    """(dsn, where): a fresh database dropped when ``stack`` closes, on the server named by
    ``TRIALSYNC_BENCH_DSN``, else on an embedded PostgreSQL in a temporary directory."""
    server_dsn = os.environ.get("TRIALSYNC_BENCH_DSN")
    if server_dsn:
        where = f"TRIALSYNC_BENCH_DSN {redact_dsn(server_dsn)}"
    else:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="tsbench-"))
        pg = stack.enter_context(EmbeddedPostgres(Path(tmp) / "pg", cleanup="delete"))
        server_dsn = pg.dsn()
        where = "embedded PostgreSQL (temporary directory)"
    db_name = f"trialsync_bench_{uuid.uuid4().hex[:10]}"
    dsn = await recreate_database(server_dsn, db_name)
    stack.push_async_callback(drop_database, server_dsn, db_name)
    return dsn, where


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to width: the first left-aligned, the others right-aligned."""
    cells = [list(map(str, headers)), *([str(c) for c in r] for r in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        pairs = enumerate(zip(r, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


async def bare_write(writer: StagingWriter, conn: Connection, rows: Sequence[Row]) -> RecordCounts:
    """COPY and merge ``rows`` in a transaction of their own: the write path alone."""
    await writer.prepare(conn)
    async with conn.transaction():
        counts, _ = await writer.copy_merge(conn, rows)
        return counts


async def fetch_rows(sim: SimulatorProcess, job: JobSpec, total: int) -> list[Row]:
    """Every record of a plain OData job, as the loader's rows, in page order (not timed)."""
    client = make_client(
        Settings(),
        instance_id=0,  # a limiter of its own, unlimited
        base_url=sim.base_url,
        api_key=sim.api_key,
        auth_header=sim.options.api_key_header,
        rate_limit=None,
        max_connections=8,
    )
    builder = RowBuilder(job.record_key, endpoint=job.source_endpoint)
    page_size = job.page_size

    async def page(skip: int) -> list[Row]:
        got = await client.get_page(
            job.source_endpoint, [("$top", page_size), ("$skip", skip), ("$orderby", "id")]
        )
        return [builder.row(r) for r in got.records]

    async with client:
        pages = await asyncio.gather(*(page(s) for s in range(0, total, page_size)))
    return [row for rows in pages for row in rows]


async def baseline(
    dsn: str, job: JobSpec, rows: Sequence[Row], batch_rows: int
) -> tuple[int, float]:
    """Rows merged and seconds of :func:`bare_write` over ``rows`` into the emptied table."""
    conn = await connect(dsn)
    try:
        await conn.execute(f"TRUNCATE {quote_ident(job.target_table)}")
        writer = StagingWriter(
            table=job.target_table,
            keyed_by_id=job.record_key.kind == "id",
            instance_id=1,
            job_id=job.id,
            run_id=0,
        )
        written = 0
        start = time.perf_counter()
        for i in range(0, len(rows), batch_rows):
            counts = await bare_write(writer, conn, rows[i : i + batch_rows])
            written += counts.inserted + counts.updated
        return written, time.perf_counter() - start
    finally:
        await conn.close()
