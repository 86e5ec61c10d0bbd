"""One typed settings object, read from the environment (and an optional ``.env`` file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values

from trialsync_async.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_CONCURRENCY = 8
DEFAULT_PAGE_SIZE = 1000
DEFAULT_BATCH_ROWS = 5000
DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
DEFAULT_BATCHES_IN_FLIGHT = 2
DEFAULT_HTTP_TIMEOUT = 60.0
DEFAULT_HTTP_MAX_ATTEMPTS = 6
DEFAULT_HTTP_BACKOFF_BASE = 0.5
DEFAULT_HTTP_BACKOFF_MAX = 30.0
DEFAULT_SIMULATOR_URL = "http://127.0.0.1:8800/CCSWEB"
DEFAULT_PARALLEL_JOBS = 4
DEFAULT_BATCH_UNITS = 500
DEFAULT_COMMIT_SECONDS = 2.0
DEFAULT_PROGRESS_SECONDS = 2.0
DEFAULT_DB_RETRY_SECONDS = 60.0
DEFAULT_STOP_GRACE_SECONDS = 8.0
DEFAULT_BREAKER_FAILURES = 12
DEFAULT_BREAKER_SECONDS = 20.0
API_MAX_PAGE_SIZE = 1000

LogFormat = Literal["auto", "json", "console"]


def _default_path(env_relative: str) -> Path:
    """A path next to the sources (editable install) or, failing that, under the cwd."""
    candidate = PROJECT_ROOT / env_relative
    return candidate if candidate.exists() else Path.cwd() / env_relative


DEFAULT_JOBS_FILE = _default_path("config/jobs.toml")
DEFAULT_MIGRATIONS_DIR = _default_path("migrations")
DEFAULT_EMBEDDED_DIR = Path(".trialsync/pgdata")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything configurable. Each field maps to one environment variable (see ``ENV``)."""

    database_url: str | None = None
    log_level: str = "INFO"
    log_format: LogFormat = "auto"
    concurrency: int = DEFAULT_CONCURRENCY
    page_size: int = DEFAULT_PAGE_SIZE
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_bytes: int = DEFAULT_BATCH_BYTES
    batches_in_flight: int = DEFAULT_BATCHES_IN_FLIGHT
    http_timeout: float = DEFAULT_HTTP_TIMEOUT
    http_max_attempts: int = DEFAULT_HTTP_MAX_ATTEMPTS
    http_backoff_base: float = DEFAULT_HTTP_BACKOFF_BASE
    http_backoff_max: float = DEFAULT_HTTP_BACKOFF_MAX
    jobs_file: Path = DEFAULT_JOBS_FILE
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR
    embedded_dir: Path = DEFAULT_EMBEDDED_DIR
    default_instance_url: str = DEFAULT_SIMULATOR_URL
    parallel_jobs: int = DEFAULT_PARALLEL_JOBS
    batch_units: int = DEFAULT_BATCH_UNITS
    commit_seconds: float = DEFAULT_COMMIT_SECONDS
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS
    db_retry_seconds: float = DEFAULT_DB_RETRY_SECONDS
    stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS
    breaker_failures: int = DEFAULT_BREAKER_FAILURES
    breaker_seconds: float = DEFAULT_BREAKER_SECONDS

    # Environment variable for each field.
    ENV = {
        "database_url": "DATABASE_URL",
        "log_level": "TRIALSYNC_LOG_LEVEL",
        "log_format": "TRIALSYNC_LOG_FORMAT",
        "concurrency": "TRIALSYNC_CONCURRENCY",
        "page_size": "TRIALSYNC_PAGE_SIZE",
        "batch_rows": "TRIALSYNC_BATCH_ROWS",
        "batch_bytes": "TRIALSYNC_BATCH_BYTES",
        "batches_in_flight": "TRIALSYNC_BATCHES_IN_FLIGHT",
        "http_timeout": "TRIALSYNC_HTTP_TIMEOUT",
        "http_max_attempts": "TRIALSYNC_HTTP_MAX_ATTEMPTS",
        "http_backoff_base": "TRIALSYNC_HTTP_BACKOFF_BASE",
        "http_backoff_max": "TRIALSYNC_HTTP_BACKOFF_MAX",
        "jobs_file": "TRIALSYNC_JOBS_FILE",
        "migrations_dir": "TRIALSYNC_MIGRATIONS_DIR",
        "embedded_dir": "TRIALSYNC_EMBEDDED_DIR",
        "default_instance_url": "TRIALSYNC_DEFAULT_INSTANCE_URL",
        "parallel_jobs": "TRIALSYNC_PARALLEL_JOBS",
        "batch_units": "TRIALSYNC_BATCH_UNITS",
        "commit_seconds": "TRIALSYNC_COMMIT_SECONDS",
        "progress_seconds": "TRIALSYNC_PROGRESS_SECONDS",
        "db_retry_seconds": "TRIALSYNC_DB_RETRY_SECONDS",
        "stop_grace_seconds": "TRIALSYNC_STOP_GRACE_SECONDS",
        "breaker_failures": "TRIALSYNC_BREAKER_FAILURES",
        "breaker_seconds": "TRIALSYNC_BREAKER_SECONDS",
    }

    def __post_init__(self) -> None:
        if self.log_format not in ("auto", "json", "console"):
            raise ConfigError(detail="TRIALSYNC_LOG_FORMAT must be auto, json or console")
        for name in ("concurrency", "parallel_jobs", "batch_rows", "batch_bytes",
                     "batches_in_flight", "batch_units", "breaker_failures"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ConfigError(detail=f"{self.ENV[name]} must be at least 1")
        if not 1 <= self.page_size <= API_MAX_PAGE_SIZE:
            raise ConfigError(detail="TRIALSYNC_PAGE_SIZE must be 1..1000 (the API's cap)")
        for name in ("commit_seconds", "progress_seconds", "db_retry_seconds",
                     "stop_grace_seconds", "breaker_seconds"):  # fmt: skip
            if getattr(self, name) < 0:
                raise ConfigError(detail=f"{self.ENV[name]} must not be negative")
        if self.http_max_attempts < 1 or self.http_timeout <= 0:
            raise ConfigError(detail="HTTP attempts and timeout must be positive")
        if not 0 <= self.http_backoff_base <= self.http_backoff_max:
            raise ConfigError(detail="need 0 <= TRIALSYNC_HTTP_BACKOFF_BASE <= ..._MAX")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Settings from ``environ`` (default ``os.environ``), over values from ``env_file``."""
        values: dict[str, str | None] = {}
        if env_file is not None and env_file.is_file():
            values.update(dotenv_values(env_file))
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(cls.ENV[f.name])
            if raw is None or raw == "":
                continue
            kwargs[f.name] = _coerce(f.name, cls.ENV[f.name], raw)
        return cls(**kwargs)

    @classmethod
    def from_dsn(cls, dsn: str, **overrides: Any) -> Settings:
        """Settings for one database, other fields at their defaults unless overridden."""
        return cls(database_url=dsn, **overrides)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def pool_size(self) -> int:
        """Pool connections: each running job's side tasks (parameter pages, failures,
        heartbeat) take one at a time, two at most; its writer has a connection of its own."""
        return 2 * self.parallel_jobs + 2


_INT_FIELDS = {"concurrency", "page_size", "batch_rows", "batch_bytes", "batches_in_flight",
               "http_max_attempts", "parallel_jobs", "batch_units", "breaker_failures"}  # fmt: skip
_FLOAT_FIELDS = {"http_timeout", "http_backoff_base", "http_backoff_max", "commit_seconds",
                 "progress_seconds", "db_retry_seconds", "stop_grace_seconds",
                 "breaker_seconds"}  # fmt: skip
_PATH_FIELDS = {"jobs_file", "migrations_dir", "embedded_dir"}


def _coerce(name: str, env: str, raw: str) -> Any:
    try:
        if name in _INT_FIELDS:
            return int(raw)
        if name in _FLOAT_FIELDS:
            return float(raw)
    except ValueError as exc:
        raise ConfigError(detail=f"{env}={raw!r} is not a number") from exc
    if name in _PATH_FIELDS:
        return Path(raw)
    if name == "log_level":
        return raw.upper()
    return raw
