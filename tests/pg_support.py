"""Where the tests' PostgreSQL comes from, and per-test databases cloned from a template.

Order: ``TRIALSYNC_TEST_DSN`` (a server you run); else testcontainers when a Docker engine
answers; else an embedded PostgreSQL 16 (pgserver) in a throwaway directory. Each test gets
its own database, cloned from a migrated template with ``CREATE DATABASE … TEMPLATE``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from trialsync_async.db.connect import connect, recreate_database
from trialsync_async.db.migrations import MigrationReport, migrate
from trialsync_async.embedded import EmbeddedPostgres
from trialsync_async.inventory import load_inventory
from trialsync_async.settings import DEFAULT_JOBS_FILE, DEFAULT_MIGRATIONS_DIR

TEMPLATE_DB = f"trialsync_template_{os.getpid()}"


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def postgres_server(tmp_dir: Path) -> Iterator[str]:
    """Yield the DSN of a server the tests may create databases on."""
    dsn = os.environ.get("TRIALSYNC_TEST_DSN")
    if dsn:
        yield dsn
    elif _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
    else:
        with EmbeddedPostgres(tmp_dir, cleanup="delete") as pg:
            yield pg.dsn()


async def migrate_database(dsn: str, jobs_file: Path = DEFAULT_JOBS_FILE) -> MigrationReport:
    """``migrate`` with the repository's migrations and the given inventory."""
    conn = await connect(dsn)
    try:
        return await migrate(
            conn,
            migrations_dir=DEFAULT_MIGRATIONS_DIR,
            jobs=load_inventory(jobs_file),
            default_instance_url="http://127.0.0.1:8800/CCSWEB",
        )
    finally:
        await conn.close()


async def create_template(server_dsn: str) -> str:
    """A database migrated once per session, cloned by every test that needs the schema."""
    await migrate_database(await recreate_database(server_dsn, TEMPLATE_DB))
    return TEMPLATE_DB


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
