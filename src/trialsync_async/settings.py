"""One typed settings object: the only place a default lives.

Each field reads one environment variable (``TRIALSYNC_<FIELD>``; ``DATABASE_URL`` for the
database), over an optional ``.env`` file; CLI flags are overrides of the same fields. The
objects the engine needs are handed out from here (``run_options``, ``retry_policy``,
``pool_size``, ``http_connections``), so a flag changes every part that depends on it.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values

from trialsync_async import facts
from trialsync_async.api.retry import RetryPolicy
from trialsync_async.errors import ConfigError

LogFormat = Literal["auto", "json", "console"]

_POSITIVE = {"min": 1}
_NOT_NEGATIVE = {"min_float": 0.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What the runs of one invocation use; made by :meth:`Settings.run_options`."""

    concurrency: int
    page_size: int
    batch_rows: int
    batch_bytes: int
    batches_in_flight: int
    plain_writers: int
    batch_units: int
    commit_seconds: float
    progress_seconds: float
    db_retry_seconds: float
    db_lock_timeout: float
    db_statement_timeout: float
    incremental_overlap_seconds: float
    fresh: bool = False  # a new pass instead of continuing an unfinished one
    full: bool = False  # fan-outs fetch every parent, not only new, changed, failed and due
    retry_of: int | None = None  # re-fetch only the failed units of this run
    allow_deletes: bool = False  # confirm a mass deletion the guard would refuse


RUN_OPTION_FIELDS = frozenset(f.name for f in fields(RunOptions)) - {
    "fresh", "full", "retry_of", "allow_deletes",
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything configurable. ``Settings.ENV`` names each field's environment variable."""

    database_url: str | None = field(default=None, metadata={"env": "DATABASE_URL"})
    log_level: str = field(default="INFO", metadata={"upper": True})
    log_format: LogFormat = "auto"
    # --- a run -----------------------------------------------------------------------
    concurrency: int = field(default=32, metadata=_POSITIVE)  # workers per job (a ceiling)
    page_size: int = facts.MAX_PAGE_SIZE  # $top, 1..the API's cap
    parallel_jobs: int = field(default=4, metadata=_POSITIVE)  # independent jobs at once
    batch_rows: int = field(default=5000, metadata=_POSITIVE)
    batch_bytes: int = field(default=16 * 1024 * 1024, metadata=_POSITIVE)
    batches_in_flight: int = field(default=2, metadata=_POSITIVE)
    # connections a plain keyed job's batches commit on side by side (engine/stages.py)
    plain_writers: int = field(default=2, metadata=_POSITIVE)
    batch_units: int = field(default=500, metadata=_POSITIVE)  # ended units per commit
    commit_seconds: float = field(default=2.0, metadata=_NOT_NEGATIVE)  # batch age cap
    progress_seconds: float = field(default=2.0, metadata=_NOT_NEGATIVE)
    db_retry_seconds: float = field(default=60.0, metadata=_NOT_NEGATIVE)
    # every loader session: how long a statement waits for a lock, and runs at most (0: none)
    db_lock_timeout: float = field(default=60.0, metadata=_NOT_NEGATIVE)
    db_statement_timeout: float = field(default=900.0, metadata=_NOT_NEGATIVE)
    # timestamp incrementals re-read this much before the staged watermark
    incremental_overlap_seconds: float = field(default=3600.0, metadata=_NOT_NEGATIVE)
    stop_grace_seconds: float = field(default=8.0, metadata=_NOT_NEGATIVE)
    # days of run history, failed units and ticks kept (0: all); applied by migrate and serve
    retention_days: int = field(default=90, metadata={"min": 0})
    # --- HTTP ------------------------------------------------------------------------
    http_timeout: float = 60.0  # per request, total and between reads
    http_connect_timeout: float = 10.0
    http_max_attempts: int = field(default=6, metadata=_POSITIVE)
    http_backoff_base: float = field(default=0.5, metadata=_NOT_NEGATIVE)
    http_backoff_max: float = field(default=30.0, metadata=_NOT_NEGATIVE)
    http_max_retry_after: float = field(default=120.0, metadata=_NOT_NEGATIVE)
    # a request answered nothing but 429 this long, the rate at its floor, gives up
    http_throttle_patience: float = field(default=300.0, metadata=_NOT_NEGATIVE)
    # requests in flight per instance to start from (then adapted: api/concurrency.py)
    http_start_concurrency: int = field(default=8, metadata=_POSITIVE)
    breaker_failures: int = field(default=12, metadata=_POSITIVE)
    breaker_seconds: float = field(default=20.0, metadata=_NOT_NEGATIVE)
    # --- the service (`serve`) -------------------------------------------------------
    listen: str = "127.0.0.1:8080"  # HOST:PORT of /healthz, /metrics, the page and the API
    admin_token: str | None = field(default=None, repr=False)  # unset: run/cancel disabled
    default_schedule: str = "0 2 * * *"  # cron for active jobs with no schedule of their own
    poll_seconds: float = field(default=5.0, metadata=_NOT_NEGATIVE)  # due ticks, changes
    lease_seconds: float = field(default=30.0, metadata=_POSITIVE)  # a silent replica is dead
    # --- where things are (None: shipped inside the package) -------------------------
    jobs_file: Path | None = None
    migrations_dir: Path | None = None
    embedded_dir: Path | None = None  # None: the working copy's, see find_embedded_dir
    default_instance_url: str = "http://127.0.0.1:8800/CCSWEB"  # `simulate`'s address

    ENV: typing.ClassVar[Mapping[str, str]]

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if "min" in f.metadata and value < f.metadata["min"]:
                raise ConfigError(detail=f"{self.ENV[f.name]} must be at least {f.metadata['min']}")
            if "min_float" in f.metadata and value < f.metadata["min_float"]:
                raise ConfigError(detail=f"{self.ENV[f.name]} must not be negative")
        if self.log_format not in typing.get_args(LogFormat):
            raise ConfigError(detail="TRIALSYNC_LOG_FORMAT must be auto, json or console")
        if not 1 <= self.page_size <= facts.MAX_PAGE_SIZE:
            raise ConfigError(
                detail=f"TRIALSYNC_PAGE_SIZE must be 1..{facts.MAX_PAGE_SIZE} (the API's cap)"
            )
        if self.http_timeout <= 0 or self.http_connect_timeout <= 0:
            raise ConfigError(detail="HTTP timeouts must be positive")
        if self.listen.rpartition(":")[0] == "" or not self.listen.rpartition(":")[2].isdigit():
            raise ConfigError(
                detail=f"--listen / TRIALSYNC_LISTEN must be HOST:PORT, got {self.listen!r}"
            )
        if self.http_backoff_base > self.http_backoff_max:
            raise ConfigError(detail="need TRIALSYNC_HTTP_BACKOFF_BASE <= ..._MAX")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: Path | Literal["find"] | None = "find",
    ) -> Settings:
        """Settings from ``environ`` (default ``os.environ``), over values from ``env_file``
        (``"find"``: the nearest ``.env`` up to the working copy's root, see find_env_file)."""
        values: dict[str, str | None] = {}
        if env_file == "find":
            env_file = find_env_file(Path.cwd())
        if env_file is not None and env_file.is_file():
            values.update(dotenv_values(env_file))
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(cls.ENV[f.name])
            if raw is not None and raw != "":
                kwargs[f.name] = _coerce(cls.ENV[f.name], _HINTS[f.name], raw)
                if f.metadata.get("upper"):
                    kwargs[f.name] = kwargs[f.name].upper()
        return cls(**kwargs)

    @classmethod
    def from_dsn(cls, dsn: str, **overrides: Any) -> Settings:
        """Settings for one database, other fields at their defaults unless overridden."""
        return cls(database_url=dsn, **overrides)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields changed (``None`` values are ignored, as unset flags)."""
        unknown = set(changes) - set(self.ENV)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def run_options(
        self,
        *,
        fresh: bool = False,
        full: bool = False,
        retry_of: int | None = None,
        allow_deletes: bool = False,
    ) -> RunOptions:
        values = {name: getattr(self, name) for name in RUN_OPTION_FIELDS}
        return RunOptions(
            **values, fresh=fresh, full=full, retry_of=retry_of, allow_deletes=allow_deletes
        )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.http_max_attempts,
            base_delay=self.http_backoff_base,
            max_delay=self.http_backoff_max,
            max_retry_after=self.http_max_retry_after,
        )

    def embedded_path(self, cwd: Path | None = None) -> Path:
        """The embedded PostgreSQL's data directory: ``TRIALSYNC_EMBEDDED_DIR``, else the one
        :func:`find_embedded_dir` finds from ``cwd`` (default: the working directory)."""
        if self.embedded_dir is not None:
            return self.embedded_dir
        return find_embedded_dir(cwd or Path.cwd(), os.environ)

    @property
    def pool_size(self) -> int:
        """Pool connections: each running job's side tasks (parameter pages, failures,
        heartbeat) take one at a time, two at most; its writer has a connection of its own."""
        return 2 * self.parallel_jobs + 2

    @property
    def http_connections(self) -> int:
        """Open connections per API instance: enough for every worker of two jobs."""
        return max(self.concurrency, 4) * 2


_HINTS: dict[str, Any] = typing.get_type_hints(Settings)
Settings.ENV = {
    f.name: f.metadata.get("env", f"TRIALSYNC_{f.name.upper()}") for f in fields(Settings)
}


PROJECT_NAME = "trialsync-async"
STATE_DIR = ".trialsync"  # a working copy's embedded cluster: <root>/.trialsync/pgdata
EMBEDDED_SUBDIR = "pgdata"


def find_embedded_dir(cwd: Path, environ: Mapping[str, str]) -> Path:
    """One embedded cluster per working copy, found from any of its subdirectories.

    Walking up from ``cwd``, the first directory holding a ``.trialsync`` directory or this
    project's ``pyproject.toml`` is the root: its ``.trialsync/pgdata``. Outside any working
    copy: ``$XDG_DATA_HOME/trialsync-async/pgdata`` (``~/.local/share`` when unset).
    """
    cwd = cwd.absolute()
    for directory in (cwd, *cwd.parents):
        if (directory / STATE_DIR).is_dir() or _is_working_copy(directory):
            return directory / STATE_DIR / EMBEDDED_SUBDIR
    data_home = Path(environ.get("XDG_DATA_HOME") or "")
    if not data_home.is_absolute():  # unset or relative: the XDG spec says ignore it
        data_home = Path(environ.get("HOME") or Path.home()) / ".local" / "share"
    return data_home / PROJECT_NAME / EMBEDDED_SUBDIR


def find_env_file(cwd: Path) -> Path | None:
    """The ``.env`` that applies in ``cwd``: the nearest one walking up to the working copy's
    root (the directory the embedded cluster is found from), so that every subdirectory sees
    the same settings -- and the same database -- as the root; outside a working copy only
    ``cwd/.env``."""
    cwd = cwd.absolute()
    below_root: list[Path] = []
    for directory in (cwd, *cwd.parents):
        below_root.append(directory)
        if (directory / STATE_DIR).is_dir() or _is_working_copy(directory):
            break
    else:
        below_root = [cwd]  # not in a working copy
    return next((d / ".env" for d in below_root if (d / ".env").is_file()), None)


def _is_working_copy(directory: Path) -> bool:
    """Whether ``directory`` holds this project's ``pyproject.toml``."""
    try:
        with (directory / "pyproject.toml").open("rb") as f:
            project = tomllib.load(f).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return isinstance(project, dict) and project.get("name") == PROJECT_NAME


def _coerce(env: str, hint: Any, raw: str) -> Any:
    """``raw`` as the field's annotated type (``X | None`` is ``X``; ``Literal`` is ``str``)."""
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is Literal:
        return raw.lower()
    if hint is int or hint is float:
        try:
            return hint(raw)
        except ValueError as exc:
            raise ConfigError(detail=f"{env}={raw!r} is not a number") from exc
    if hint is Path:
        return Path(raw)
    return raw
