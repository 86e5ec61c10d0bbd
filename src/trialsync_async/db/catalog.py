"""The configuration tables: API instances (``dw_api_credentials``) and jobs (``dw_etl_jobs``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack
from urllib.parse import urlsplit

import asyncpg

from trialsync_async import facts, jobgraph
from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection, Row
from trialsync_async.errors import (
    ConfigError,
    MissingApiKeyEnvError,
    MissingApiKeyError,
    UnknownInstanceError,
    UnknownJobError,
)
from trialsync_async.inventory import JobSpec, parse_job


@dataclass(frozen=True, slots=True)
class Instance:
    """One API instance, its key resolved. ``repr`` never shows the key."""

    id: int
    name: str
    base_url: str
    auth_header: str
    rate_limit: float | None  # requests/second; None = no limit
    is_active: bool
    api_key: str | None
    api_key_env: str | None = None  # the variable the key is read from, when one is named

    def __repr__(self) -> str:
        return (
            f"Instance(id={self.id}, name={self.name!r}, base_url={self.base_url!r}, "
            f"auth_header={self.auth_header!r}, rate_limit={self.rate_limit}, "
            f"has_key={self.api_key is not None})"
        )

    def require_key(self) -> str:
        if not self.api_key:
            if self.api_key_env:
                raise MissingApiKeyEnvError(instance_id=self.id, variable=self.api_key_env)
            raise MissingApiKeyError(instance_id=self.id)
        return self.api_key


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """One instance as ``instances list`` shows it: whether it has a key, never the key."""

    id: int
    name: str
    base_url: str
    auth_header: str
    rate_limit: float | None
    is_active: bool
    has_key: bool
    api_key_env: str | None


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as ``dw_etl_jobs`` holds it: its validated spec and its last run."""

    spec: JobSpec
    last_run_status: str | None
    last_run_at: datetime | None
    last_run_records: int | None


def _rate(value: Any) -> float | None:
    return float(value) if value else None


# --- instances ------------------------------------------------------------------------


async def ensure_default_instance(conn: Connection, base_url: str) -> None:
    await conn.execute(
        query("instance_default"), base_url, facts.AUTH_HEADER, facts.RECOMMENDED_RATE
    )
    await conn.execute(query("instance_sequence_sync"))


async def list_instances(conn: Connection) -> list[InstanceRow]:
    """Every instance, with ``has_key`` in place of the key itself."""
    return [
        InstanceRow(
            id=r["id"],
            name=r["name"],
            base_url=r["base_url"],
            auth_header=r["auth_header"],
            rate_limit=_rate(r["rate_limit_per_second"]),
            is_active=r["is_active"],
            has_key=r["has_key"],
            api_key_env=r["api_key_env"],
        )
        for r in await conn.fetch(query("instance_list"))
    ]


async def get_instance(
    conn: Connection, instance_id: int, *, environ: Mapping[str, str] | None = None
) -> Instance:
    """The instance with its key: the row's ``api_key_env`` variable wins over ``api_key``."""
    row = await conn.fetchrow(query("instance_get"), instance_id)
    if row is None:
        raise UnknownInstanceError(instance=instance_id)
    env = os.environ if environ is None else environ
    key = row["api_key"]
    if row["api_key_env"]:
        key = env.get(row["api_key_env"]) or key
    return Instance(
        id=row["id"],
        name=row["name"],
        base_url=row["base_url"].rstrip("/"),
        auth_header=row["auth_header"],
        rate_limit=_rate(row["rate_limit_per_second"]),
        is_active=row["is_active"],
        api_key=key,
        api_key_env=row["api_key_env"],
    )


class InstanceChanges(TypedDict, total=False):
    """Fields of ``instances set``; a missing or ``None`` field is left as it is."""

    name: str | None
    base_url: str | None
    api_key: str | None
    api_key_env: str | None
    auth_header: str | None
    rate_limit: float | None  # 0: no limit
    is_active: bool | None
    clear_key: bool


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_this_machine(base_url: str) -> bool:
    """Whether a base URL points at this machine (the demo's and the tests' simulators)."""
    return (urlsplit(base_url).hostname or "") in LOOPBACK_HOSTS


async def set_instance(
    conn: Connection, instance_id: int, **changes: Unpack[InstanceChanges]
) -> int:
    """Create or update an instance."""
    name = changes.get("name")
    base_url = changes.get("base_url")
    rate_limit = changes.get("rate_limit")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ConfigError(detail=f"base_url must start with http:// or https://: {base_url!r}")
    if rate_limit is not None and rate_limit < 0:
        raise ConfigError(detail="rate limit must be positive (or 0 for no limit)")
    args = (
        instance_id,
        name,
        base_url.rstrip("/") if base_url else None,
        changes.get("api_key"),
        changes.get("api_key_env"),
        changes.get("auth_header"),
        rate_limit,
        changes.get("is_active"),
    )
    try:
        async with conn.transaction():
            leaves_this_machine = False
            if base_url is not None and not is_this_machine(base_url):
                current = await conn.fetchval(query("instance_base_url"), instance_id)
                leaves_this_machine = current is not None and is_this_machine(current)
            updated = await conn.fetchval(
                query("instance_update"),
                *args,
                changes.get("clear_key", False),
                leaves_this_machine,
                facts.RECOMMENDED_RATE,
            )
            if updated is None:
                updated = await conn.fetchval(
                    query("instance_insert"), *args, facts.AUTH_HEADER, facts.RECOMMENDED_RATE
                )
                await conn.execute(query("instance_sequence_sync"))
        return int(updated)
    except asyncpg.CheckViolationError as exc:
        raise ConfigError(detail=f"instance {instance_id}: {exc.constraint_name} refused") from exc
    except asyncpg.NotNullViolationError as exc:
        raise ConfigError(detail=f"instance {instance_id} needs a base_url") from exc
    except asyncpg.UniqueViolationError as exc:
        raise ConfigError(detail=f"an instance named {name!r} exists already") from exc


async def add_instance(
    conn: Connection, instance_id: int, **changes: Unpack[InstanceChanges]
) -> int:
    """``instances add``: a new active instance (``ConfigError`` when ``instance_id`` exists);
    it runs every job whose scope is ``all`` (see ``job_instances``)."""
    async with conn.transaction():
        if await conn.fetchval(query("instance_exists"), instance_id):
            raise ConfigError(
                detail=f"instance {instance_id} exists already: change it with "
                f"`trialsync-async instances set {instance_id} …`"
            )
        if changes.get("base_url") is None:
            raise ConfigError(detail=f"instance {instance_id} needs a base_url")
        changes["is_active"] = True
        return await set_instance(conn, instance_id, **changes)


async def job_instances(conn: Connection) -> dict[int, list[int]]:
    """The instances each job runs for: its own (``source_instance_id``) always, and every
    other active instance unless its ``instance_scope`` is ``own`` (0010_instances.sql)."""
    found: dict[int, list[int]] = {}
    for row in await conn.fetch(query("job_instances")):
        found.setdefault(int(row["job_id"]), []).append(int(row["instance_id"]))
    return found


async def set_instance_if_unconfigured(
    conn: Connection, instance_id: int, **changes: Unpack[InstanceChanges]
) -> bool:
    """``set_instance``, but only for an instance that does not exist yet or has neither a key
    nor a key variable (the placeholder ``migrate`` creates): whether it applied. An instance
    an operator configured is left as it is, so an init step may run this at every start."""
    async with conn.transaction():
        if await conn.fetchval(query("instance_configured"), instance_id):
            return False
        await set_instance(conn, instance_id, **changes)
        return True


# --- jobs -----------------------------------------------------------------------------


def _job_args(job: JobSpec) -> tuple[Any, ...]:
    return (
        job.id,
        job.name,
        job.source_endpoint,
        job.target_table,
        job.is_active,
        job.requires_parameters,
        job.legacy_parameter_name,
        job.parameter_source_table,
        job.legacy_parameter_column,
        job.source_instance_id,
        [{"name": p.name, "path": list(p.path)} for p in job.parameters],
        str(job.record_key),
        job.page_size,
        job.paged,
        job.schedule_minutes,
        job.incremental_field,
        job.disabled_reason,
        job.paging,
        job.deletes,
        job.schedule,
        job.min_refresh,
        job.max_refresh,
        job.global_endpoint,
        job.global_parameter,
        job.fanout,
        job.max_deletes,
        job.instance_scope,
    )


async def sync_jobs(
    conn: Connection, jobs: list[JobSpec], *, parents_from: list[JobSpec] | None = None
) -> int:
    """Upsert the jobs into ``dw_etl_jobs`` (run columns untouched); return how many.

    ``parents_from``: the specs parents are derived from (the inventory itself, when ``jobs``
    carry operator overrides: disabling a job does not move its dependents)."""
    graph = jobs if parents_from is None else parents_from
    parents = jobgraph.parent_jobs(graph)
    depends = jobgraph.dependencies(graph)
    async with conn.transaction():
        await conn.executemany(query("job_upsert"), [_job_args(job) for job in jobs])
        await conn.executemany(
            query("job_set_parent"),
            [
                (job_id, parent, sorted(depends.get(job_id, ())))
                for job_id, parent in parents.items()
            ],
        )
        await conn.execute(query("job_sequence_sync"))
    return len(jobs)


async def write_job(conn: Connection, job: JobSpec) -> None:
    """Write one job's configuration columns (its parent and run columns untouched)."""
    await conn.execute(query("job_upsert"), *_job_args(job))


def job_from_row(row: Row) -> JobSpec:
    """Re-validate a ``dw_etl_jobs`` row (operators may have edited it) into a JobSpec."""
    raw: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "source_endpoint": row["source_endpoint"],
        "target_table": row["target_table"],
        "is_active": bool(row["is_active"]),
        "record_key": row["record_key"],
        "page_size": row["page_size"],
        "paged": row["paged"],
        "source_instance_id": row["source_instance_id"] or 1,
        "paging": row["paging"],
        "deletes": row["deletes"],
    }
    for optional in ("disabled_reason", "parameter_source_table", "parent_job_id",
                     "schedule_minutes", "incremental_field", "global_endpoint",
                     "global_parameter"):  # fmt: skip
        if row[optional] is not None:
            raw[optional] = row[optional]
    if row["schedule_cron"] is not None:
        raw["schedule"] = row["schedule_cron"]
    raw["fanout"] = row["fanout"]
    raw["min_refresh"] = row["min_refresh_seconds"]
    raw["max_refresh"] = row["max_refresh_seconds"]
    raw["max_deletes"] = float(row["max_delete_share"])
    raw["instance_scope"] = row["instance_scope"]
    if not raw["is_active"] and "disabled_reason" not in raw:
        raw["disabled_reason"] = "disabled in dw_etl_jobs"
    if row["parameters"]:
        raw["parameters"] = [
            {"name": p["name"], "path": ".".join(p["path"])} for p in row["parameters"]
        ]
    return parse_job(raw)


async def list_jobs(conn: Connection, *, invalid: list[str] | None = None) -> list[JobRow]:
    """Every job. A row an operator broke raises ConfigError, or with ``invalid`` is left out
    and its error appended there (the service keeps scheduling the others)."""
    rows: list[JobRow] = []
    for r in await conn.fetch(query("job_list")):
        try:
            spec = job_from_row(r)
        except ConfigError as exc:
            if invalid is None:
                raise
            invalid.append(str(exc))
            continue
        rows.append(JobRow(spec, r["last_run_status"], r["last_run_at"], r["last_run_records"]))
    return rows


async def get_job(conn: Connection, job_id: int) -> JobSpec:
    row = await conn.fetchrow(query("job_get"), job_id)
    if row is None:
        raise UnknownJobError(job_id=job_id)
    return job_from_row(row)
