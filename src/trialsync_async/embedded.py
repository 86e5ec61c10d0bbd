"""A PostgreSQL the project starts itself when ``DATABASE_URL`` is unset.

It uses the ``pgserver`` wheel (PostgreSQL 16 binaries on PyPI; starts in about a second).
The CLI, ``serve`` and the demo share one data directory per working copy (see
``settings.find_embedded_dir``) and one database in it, ``DATABASE``; the tests use a
throwaway directory.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import structlog

from trialsync_async.errors import EmbeddedPostgresUnavailable

CleanupMode = Literal["stop", "delete"]
DATABASE = "trialsync"  # the database the CLI, `serve` and the demo use on the embedded server

log = structlog.get_logger(__name__)


class EmbeddedPostgres:
    """Context manager around a local PostgreSQL in ``data_dir``, reachable over a socket."""

    def __init__(self, data_dir: Path, *, cleanup: CleanupMode = "stop") -> None:
        self.data_dir = data_dir.resolve()
        self.cleanup = cleanup
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        # pgserver narrates every initdb/pg_ctl call at INFO; keep only its warnings.
        logging.getLogger("pgserver").setLevel(logging.WARNING)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
                from pgserver import get_server  # type: ignore[attr-defined]  # not re-exported
        except ImportError as exc:
            raise EmbeddedPostgresUnavailable(
                detail="install the 'embedded' extra (pip install 'trialsync-async[embedded]') "
                "or set DATABASE_URL"
            ) from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        new = not (self.data_dir / "PG_VERSION").exists()
        try:
            self._server = get_server(self.data_dir, cleanup_mode=self.cleanup)
        except Exception as exc:  # pgserver raises plain exceptions with initdb/pg_ctl output
            raise EmbeddedPostgresUnavailable(detail=str(exc).splitlines()[0]) from exc
        if new and self.cleanup == "stop":  # say where a lasting cluster was made
            log.info("embedded PostgreSQL created", data_dir=str(self.data_dir))
        return self

    def dsn(self, database: str = "postgres") -> str:
        if self._server is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
