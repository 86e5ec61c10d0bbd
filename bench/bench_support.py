"""What the benchmark scripts share: a throwaway database and a plain-text table."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

from trialsync_async.db.connect import drop_database, recreate_database, redact_dsn
from trialsync_async.embedded import EmbeddedPostgres


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
