"""The job inventory (``TRIALSYNC_JOBS_FILE``, else the packaged ``config/jobs.toml``), parsed
into validated, typed job specifications.

Every identifier is checked here, once, when the file is read: staging table names,
endpoint placeholders, parameter JSON paths and record keys. Code downstream builds SQL
only from these validated values.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

from trialsync_async import schedule
from trialsync_async.errors import ConfigError, IdentifierError
from trialsync_async.facts import MAX_PAGE_SIZE
from trialsync_async.identifiers import (
    json_text_expr,
    parse_json_path,
    validate_placeholder,
    validate_staging_table,
)

ENDPOINT_RE = re.compile(r"^/api/v[0-9]+(/[A-Za-z0-9_.\-]+|/\{[A-Za-z_][A-Za-z0-9_]*\})+$")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
DEFAULT_INSTANCE_ID = 1
DEFAULT_MIN_REFRESH = 86_400  # 1 day
DEFAULT_MAX_REFRESH = 28 * 86_400  # 28 days: the staleness bound of a child-only change
DEFAULT_MAX_DELETES = 0.10  # a pass marking more than 10% of a job's rows deleted asks first

KeyKind = Literal["id", "paths", "value", "none"]
PagingKind = Literal["auto", "keyset", "offset", "link"]
DeletesPolicy = Literal["keep", "mark", "delete"]
FanoutKind = Literal["parent", "global"]
InstanceScope = Literal["all", "own"]
FANOUT_KINDS: tuple[FanoutKind, ...] = ("parent", "global")
PAGING_KINDS: tuple[PagingKind, ...] = ("auto", "keyset", "offset", "link")
DELETES_POLICIES: tuple[DeletesPolicy, ...] = ("keep", "mark", "delete")
INSTANCE_SCOPES: tuple[InstanceScope, ...] = ("all", "own")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One endpoint placeholder and the JSON path inside the source table's ``data``."""

    name: str
    path: tuple[str, ...]

    @property
    def sql_expr(self) -> str:
        return json_text_expr(self.path)


@dataclass(frozen=True, slots=True)
class RecordKey:
    """How a record of a job is identified in its staging table.

    ``id``: the top-level ``id`` (the staging table's unique index on ``data->>'id'``);
    ``paths``: one or more JSON paths joined into ``record_key`` (``Id``, ``visit.id+element.id``);
    ``value``: the record's own canonical JSON (records that are plain strings);
    ``none``: no key at all, so a unit's rows replace the rows of the same job and scope.
    """

    kind: KeyKind
    paths: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def parse(cls, text: str) -> RecordKey:
        if text == "id":
            return cls("id")
        if text == "$":
            return cls("value")
        if text == "none":
            return cls("none")
        paths = tuple(parse_json_path(part, what="record key") for part in text.split("+"))
        return cls("paths", paths)

    def __str__(self) -> str:
        if self.kind == "paths":
            return "+".join(".".join(p) for p in self.paths)
        return {"id": "id", "value": "$", "none": "none"}[self.kind]


@dataclass(frozen=True, slots=True)
class JobSpec:
    id: int
    name: str
    source_endpoint: str
    target_table: str
    is_active: bool = True
    disabled_reason: str | None = None
    parameter_source_table: str | None = None
    parameters: tuple[Parameter, ...] = ()
    record_key: RecordKey = field(default_factory=lambda: RecordKey("id"))
    page_size: int = MAX_PAGE_SIZE
    paged: bool = True
    source_instance_id: int = DEFAULT_INSTANCE_ID
    parent_job_id: int | None = None
    schedule_minutes: int | None = None
    schedule: str | None = None  # cron; None: TRIALSYNC_DEFAULT_SCHEDULE (active jobs)
    min_refresh: int = DEFAULT_MIN_REFRESH  # seconds: a fan-out parent's shortest revisit
    max_refresh: int = DEFAULT_MAX_REFRESH  # seconds: its longest, the staleness bound
    incremental_field: str | None = None
    paging: PagingKind = "auto"
    deletes: DeletesPolicy = "mark"
    # The share of the job's live rows (per instance) one pass may mark or delete before it
    # stops and asks for `--allow-deletes`: the mass-deletion guard.
    max_deletes: float = DEFAULT_MAX_DELETES
    # A fan-out's global alternative: one paged list with the parent as a query parameter.
    global_endpoint: str | None = None
    global_parameter: str | None = None  # the query parameter naming the parent (studyId)
    fanout: FanoutKind = "parent"  # "global": runs walk global_endpoint (after a passed probe)
    # The API instances the job runs for: its own (source_instance_id) and every other active
    # one ("all"), or only its own ("own"); see db/catalog.job_instances.
    instance_scope: InstanceScope = "all"

    @property
    def requires_parameters(self) -> bool:
        return bool(self.parameters)

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(PLACEHOLDER_RE.findall(self.source_endpoint))

    @property
    def legacy_parameter_name(self) -> str | None:
        """``dw_etl_jobs.parameter_name``: the placeholder names, comma-separated."""
        return ",".join(p.name for p in self.parameters) or None

    @property
    def legacy_parameter_column(self) -> str | None:
        """``dw_etl_jobs.parameter_source_column``: the SQL expressions, for operators to read."""
        return ", ".join(p.sql_expr for p in self.parameters) or None


def _fail(job: Mapping[str, Any], detail: str) -> ConfigError:
    return ConfigError(detail=f"job {job.get('id', '?')} ({job.get('name', '?')}): {detail}")


def _parse_parameters(raw: Mapping[str, Any]) -> tuple[Parameter, ...]:
    params = raw.get("parameters", [])
    if not isinstance(params, list):
        raise _fail(raw, "parameters must be a list of {name, path} tables")
    parsed = []
    for item in params:
        if not isinstance(item, dict) or set(item) != {"name", "path"}:
            raise _fail(raw, "each parameter needs exactly 'name' and 'path'")
        parsed.append(
            Parameter(
                validate_placeholder(item["name"]),
                parse_json_path(item["path"], what="parameter path"),
            )
        )
    return tuple(parsed)


_KNOWN_KEYS = {
    "id", "name", "source_endpoint", "target_table", "is_active", "disabled_reason",
    "parameter_source_table", "parameters", "record_key", "page_size", "paged",
    "source_instance_id", "parent_job_id", "schedule_minutes", "incremental_field",
    "paging", "deletes", "schedule", "min_refresh", "max_refresh", "global_endpoint",
    "global_parameter", "fanout", "max_deletes", "instance_scope",
}  # fmt: skip


def parse_job(raw: Mapping[str, Any]) -> JobSpec:
    """Validate one ``[[jobs]]`` table; raise ConfigError/IdentifierError naming the job."""
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise _fail(raw, f"unknown keys {sorted(unknown)}")
    for required in ("id", "name", "source_endpoint", "target_table"):
        if required not in raw:
            raise _fail(raw, f"missing {required!r}")
    if not isinstance(raw["id"], int) or raw["id"] <= 0:
        raise _fail(raw, "id must be a positive integer")
    endpoint = raw["source_endpoint"]
    if not isinstance(endpoint, str) or not ENDPOINT_RE.fullmatch(endpoint):
        raise _fail(raw, f"source_endpoint {endpoint!r} is not an /api/vN/... path")
    if any(segment in (".", "..") for segment in endpoint.split("/")):
        raise _fail(raw, f"source_endpoint {endpoint!r} has a '.' or '..' segment")
    try:
        target = validate_staging_table(raw["target_table"])
        params = _parse_parameters(raw)
        source_table = raw.get("parameter_source_table")
        if source_table is not None:
            validate_staging_table(source_table)
        record_key = RecordKey.parse(raw.get("record_key", "id"))
        placeholders = [validate_placeholder(p) for p in PLACEHOLDER_RE.findall(endpoint)]
    except IdentifierError as exc:
        raise _fail(raw, str(exc)) from exc
    if sorted(placeholders) != sorted(p.name for p in params):
        raise _fail(
            raw,
            f"endpoint placeholders {placeholders} do not match parameters "
            f"{[p.name for p in params]}",
        )
    if len(set(placeholders)) != len(placeholders):
        raise _fail(raw, "an endpoint placeholder appears twice")
    if params and source_table is None:
        raise _fail(raw, "a parameterized job needs parameter_source_table")
    if not params and source_table is not None:
        raise _fail(raw, "parameter_source_table given but the endpoint has no placeholders")
    try:
        page_size = parse_page_size(raw.get("page_size", MAX_PAGE_SIZE))
    except ConfigError as exc:
        raise _fail(raw, exc.context["detail"]) from exc
    is_active = bool(raw.get("is_active", True))
    reason = raw.get("disabled_reason")
    if not is_active and not reason:
        raise _fail(raw, "a disabled job needs a disabled_reason")
    paging = raw.get("paging", "auto")
    if paging not in PAGING_KINDS:
        raise _fail(raw, f"paging must be one of {', '.join(PAGING_KINDS)}")
    if paging == "keyset" and record_key.kind != "id":
        raise _fail(raw, "paging = keyset needs records keyed by id")
    deletes = raw.get("deletes", "mark")
    if deletes not in DELETES_POLICIES:
        raise _fail(raw, f"deletes must be one of {', '.join(DELETES_POLICIES)}")
    incremental = raw.get("incremental_field")
    if incremental is not None:
        parse_json_path(incremental, what="incremental field")
        if params or not endpoint.endswith("/odata"):
            raise _fail(raw, "incremental_field needs a plain OData list (an /odata endpoint)")
    global_endpoint, global_parameter, fanout = _global_list(raw, params)
    min_refresh = _duration(raw, "min_refresh", DEFAULT_MIN_REFRESH)
    max_refresh = _duration(raw, "max_refresh", DEFAULT_MAX_REFRESH)
    if min_refresh > max_refresh:
        raise _fail(raw, "min_refresh must not exceed max_refresh")
    try:
        max_deletes = parse_share(raw.get("max_deletes", DEFAULT_MAX_DELETES), "max_deletes")
    except ConfigError as exc:
        raise _fail(raw, exc.context["detail"]) from exc
    try:
        instance_scope = parse_instance_scope(raw.get("instance_scope", "all"))
    except ConfigError as exc:
        raise _fail(raw, exc.context["detail"]) from exc
    return JobSpec(
        id=raw["id"],
        name=str(raw["name"]),
        source_endpoint=endpoint,
        target_table=target,
        is_active=is_active,
        disabled_reason=reason,
        parameter_source_table=source_table,
        parameters=params,
        record_key=record_key,
        page_size=page_size,
        paged=bool(raw.get("paged", endpoint.endswith("/odata"))),
        source_instance_id=int(raw.get("source_instance_id", DEFAULT_INSTANCE_ID)),
        parent_job_id=raw.get("parent_job_id"),
        schedule_minutes=raw.get("schedule_minutes"),
        schedule=_schedule(raw),
        min_refresh=min_refresh,
        max_refresh=max_refresh,
        incremental_field=incremental,
        paging=paging,
        deletes=deletes,
        global_endpoint=global_endpoint,
        global_parameter=global_parameter,
        fanout=fanout,
        max_deletes=max_deletes,
        instance_scope=instance_scope,
    )


def _global_list(
    raw: Mapping[str, Any], params: tuple[Parameter, ...]
) -> tuple[str | None, str | None, FanoutKind]:
    endpoint, parameter = raw.get("global_endpoint"), raw.get("global_parameter")
    fanout = raw.get("fanout", "parent")
    if fanout not in FANOUT_KINDS:
        raise _fail(raw, f"fanout must be one of {', '.join(FANOUT_KINDS)}")
    if endpoint is None and parameter is None:
        if fanout == "global":
            raise _fail(raw, "fanout = global needs global_endpoint and global_parameter")
        return None, None, fanout
    if len(params) != 1:
        raise _fail(raw, "a global list replaces a fan-out over exactly one parameter")
    if not isinstance(endpoint, str) or not ENDPOINT_RE.fullmatch(endpoint) or "{" in endpoint:
        raise _fail(raw, f"global_endpoint {endpoint!r} is not an /api/vN/... path")
    if not endpoint.endswith("/odata"):
        raise _fail(raw, "global_endpoint must be an OData list (/odata)")
    if not isinstance(parameter, str):
        raise _fail(raw, "global_endpoint needs global_parameter (the parent's query parameter)")
    return endpoint, validate_placeholder(parameter), fanout


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# The value grammar of the settings an operator may also override (db/overrides.py): each
# parser takes a value as the file (or a JSON column) holds it and raises ConfigError(detail=).


def parse_page_size(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise ConfigError(detail=f"page_size must be 1..{MAX_PAGE_SIZE}")
    return value


def parse_duration(value: object, key: str) -> int:
    """Seconds from ``90``, ``"12h"``, ``"1d"``, ``"28d"``."""
    if isinstance(value, str) and value[:-1].isdigit() and value[-1:] in _UNITS:
        value = int(value[:-1]) * _UNITS[value[-1]]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(detail=f"{key} must be a positive duration such as 3600, '12h' or '1d'")
    return value


def parse_share(value: object, key: str) -> float:
    """A share from ``0.1``, ``"10%"`` or ``"0.1"``: 0..1."""
    text = value.strip() if isinstance(value, str) else value
    try:
        if isinstance(text, str) and text.endswith("%"):
            share = float(text[:-1]) / 100
        elif isinstance(text, str | int | float) and not isinstance(text, bool):
            share = float(text)
        else:
            raise ValueError(text)
    except ValueError:
        raise ConfigError(detail=f"{key} must be a share such as '10%' or 0.1") from None
    if not 0.0 <= share <= 1.0:
        raise ConfigError(detail=f"{key} must be between 0% and 100%")
    return round(share, 6)


def parse_instance_scope(value: object) -> InstanceScope:
    """``all`` (the job's own instance and every other active one) or ``own``."""
    if value == "all" or value == "own":
        return value
    raise ConfigError(detail=f"instance_scope must be one of {', '.join(INSTANCE_SCOPES)}")


def format_share(share: float) -> str:
    """``0.1`` → ``10%``."""
    return f"{share * 100:g}%"


def format_duration(seconds: int) -> str:
    """The shortest spelling ``parse_duration`` reads back: ``1d``, ``12h``, ``90m``, ``45s``."""
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_schedule(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(detail="schedule must be a cron string such as '0 2 * * *'")
    try:
        return schedule.check(value.strip())
    except ConfigError as exc:
        raise ConfigError(detail=str(exc.context.get("detail", exc))) from exc


def _duration(raw: Mapping[str, Any], key: str, default: int) -> int:
    try:
        return parse_duration(raw.get(key, default), key)
    except ConfigError as exc:
        raise _fail(raw, exc.context["detail"]) from exc


def _schedule(raw: Mapping[str, Any]) -> str | None:
    value = raw.get("schedule")
    if value is None:
        return None
    try:
        return parse_schedule(value)
    except ConfigError as exc:
        raise _fail(raw, exc.context["detail"]) from exc


def parse_inventory(raw_jobs: Iterable[Mapping[str, Any]]) -> list[JobSpec]:
    jobs = [parse_job(raw) for raw in raw_jobs]
    seen: set[int] = set()
    for job in jobs:
        if job.id in seen:
            raise ConfigError(detail=f"job id {job.id} appears twice")
        seen.add(job.id)
    ids = {job.id for job in jobs}
    for job in jobs:
        if job.parent_job_id is not None and job.parent_job_id not in ids:
            raise ConfigError(detail=f"job {job.id}: parent_job_id {job.parent_job_id} unknown")
    return sorted(jobs, key=lambda j: j.id)


PACKAGED_INVENTORY: Traversable = files("trialsync_async.config") / "jobs.toml"
"""config/jobs.toml at the repository's top, inside the wheel as trialsync_async.config."""
"""The default inventory (all 90 jobs), shipped inside the package."""


def load_inventory(path: Path | None = None) -> list[JobSpec]:
    """Read and validate the job inventory file (``None``: the packaged inventory)."""
    return parse_inventory(read_job_tables(path))


def read_job_tables(path: Path | None = None) -> list[Mapping[str, Any]]:
    """The inventory's ``[[jobs]]`` tables as written, not yet validated (``validate`` checks
    each one on its own, to report every problem rather than the first)."""
    source: Path | Traversable = PACKAGED_INVENTORY if path is None else path
    try:
        with source.open("rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(detail=f"job inventory {source} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(detail=f"{source}: {exc}") from exc
    jobs = document.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise ConfigError(detail=f"{source}: no [[jobs]] tables")
    return jobs
