"""Operator overrides of job settings (``dw_etl_job_overrides``), kept apart from the inventory.

``dw_etl_jobs`` always holds each job's effective configuration, which is what the runner, the
service and ``plan`` read: the inventory's values with the overrides on top. ``sync_jobs``
writes the file's values and then the overrides; ``change_settings`` records overrides and
writes the job's new effective row. ``dw_etl_jobs.inventory_settings`` remembers the file's
values of the settable settings, so ``sync_jobs`` can tell an operator's ``UPDATE`` of a column
from a change of the file: the edit is kept, as an override, and reported, never reset silently.

A setting is one row of ``SETTINGS``: its name is the ``JobSpec`` field and the inventory key,
its parser the inventory's grammar, its flag the ``jobs set`` option.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg

from trialsync_async.db import catalog
from trialsync_async.db.catalog import job_from_row
from trialsync_async.db.queries import query
from trialsync_async.db.types import Connection, Row
from trialsync_async.errors import ConfigError, InvalidSettingError, UnknownJobError
from trialsync_async.inventory import (
    FANOUT_KINDS,
    JobSpec,
    format_duration,
    format_share,
    parse_duration,
    parse_instance_scope,
    parse_page_size,
    parse_schedule,
    parse_share,
)

EDITED_REASON = "edited in dw_etl_jobs"
DISABLED_REASON = "disabled by an operator"


def _number(value: object) -> object:
    """Command-line text ``"200"`` as the integer the file would hold."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(detail="is_active must be true or false")
    return value


def _fanout(value: object) -> str:
    if value not in FANOUT_KINDS:
        raise ConfigError(detail=f"fanout must be one of {', '.join(FANOUT_KINDS)}")
    return str(value)


@dataclass(frozen=True, slots=True)
class Setting:
    name: str  # JobSpec field, inventory key, dw_etl_job_overrides.setting, `--reset NAME`
    parse: Callable[[object], Any]  # a value from the file, a JSONB column or the command line
    show: Callable[[Any], str] = str
    flag: str | None = None  # the `jobs set` option; None: `jobs enable` / `jobs disable`
    metavar: str = "VALUE"
    help: str = ""
    # What the column held before ``inventory_settings`` recorded the setting, unless an
    # operator changed it (a column that existed before it was settable); None: nothing to
    # compare, the column's value is taken as the file's.
    unrecorded: Any = None


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "schedule", parse_schedule, flag="--schedule", metavar="CRON",
            help="cron: 5 fields, or 6 with seconds first",
        ),
        Setting(
            "page_size", lambda v: parse_page_size(_number(v)), flag="--page-size",
            metavar="N", help="$top per request, 1..1000",
        ),
        Setting(
            "min_refresh", lambda v: parse_duration(_number(v), "min_refresh"), format_duration,
            flag="--min-refresh", metavar="DUR",
            help="shortest revisit of a fan-out parent (3600, 12h, 1d)",
        ),
        Setting(
            "max_refresh", lambda v: parse_duration(_number(v), "max_refresh"), format_duration,
            flag="--max-refresh", metavar="DUR",
            help="longest revisit of a fan-out parent (28d)",
        ),
        Setting(
            "fanout", _fanout, flag="--fanout", metavar="parent|global",
            help="walk the job's global list instead of one call per parent "
            "(needs a passed `jobs probe N`)",
        ),
        Setting(
            "max_deletes", lambda v: parse_share(v, "max_deletes"), format_share,
            flag="--max-deletes", metavar="SHARE",
            help="the share of the job's rows one pass may mark or delete before it stops and "
            "asks for --allow-deletes (10%%, 0.25)",
        ),
        Setting(
            "instance_scope", parse_instance_scope, flag="--instance-scope", metavar="all|own",
            help="the API instances the job runs for: its own and every other active one "
            "(all), or only its own source_instance_id (own)",
            unrecorded="all",  # 0010_instances.sql's default; 'own' was set with SQL
        ),
        Setting("is_active", _flag, lambda v: "yes" if v else "no"),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Override:
    job_id: int
    setting: str
    value: Any
    set_at: datetime
    reason: str | None  # for is_active = false: the job's disabled_reason


@dataclass(frozen=True, slots=True)
class SettingState:
    """One setting of a job as ``jobs show`` reports it."""

    name: str
    value: Any  # effective (what runs use)
    inventory: Any  # the inventory's value (None when the job is not in the inventory)
    override: Override | None

    @property
    def source(self) -> str:
        return "inventory" if self.override is None else "override"

    def shown(self, value: Any) -> str:
        return _shown(SETTINGS[self.name], value)


@dataclass(slots=True)
class SyncOutcome:
    jobs: int = 0
    overrides: int = 0  # overrides applied on top of the file
    notes: list[str] = field(default_factory=list)  # edits kept, rows replaced


def inventory_values(job: JobSpec) -> dict[str, Any]:
    """What ``inventory_settings`` holds: the settable settings and the file's disabled_reason."""
    values = {name: getattr(job, name) for name in SETTINGS}
    return {**values, "disabled_reason": job.disabled_reason}


def _fields(name: str, value: Any, reason: str | None) -> dict[str, Any]:
    if name == "is_active":
        return {"is_active": value, "disabled_reason": None if value else reason or DISABLED_REASON}
    return {name: value}


def _problem(job: JobSpec) -> str | None:
    """A combination of values no single parser sees."""
    if job.min_refresh > job.max_refresh:
        return (
            f"min_refresh {format_duration(job.min_refresh)} exceeds max_refresh "
            f"{format_duration(job.max_refresh)}"
        )
    return None


def _override(row: Row) -> Override:
    return Override(row["job_id"], row["setting"], row["value"], row["set_at"], row["reason"])


async def overrides_by_job(conn: Connection) -> dict[int, dict[str, Override]]:
    found: dict[int, dict[str, Override]] = {}
    for r in await conn.fetch(query("job_overrides_all")):
        found.setdefault(r["job_id"], {})[r["setting"]] = _override(r)
    return found


async def _save(
    conn: Connection, job_id: int, name: str, value: Any, reason: str | None
) -> Override:
    row = await conn.fetchrow(query("job_override_upsert"), job_id, name, value, reason)
    assert row is not None  # an upsert RETURNING always returns its row
    return _override(row)


# --- jobs sync --------------------------------------------------------------------------


async def sync_jobs(conn: Connection, jobs: list[JobSpec]) -> SyncOutcome:
    """Write the inventory into ``dw_etl_jobs`` with the overrides on top, keeping (as
    overrides) settings an operator changed in ``dw_etl_jobs`` itself."""
    outcome = SyncOutcome(jobs=len(jobs))
    async with conn.transaction():
        rows = {r["id"]: r for r in await conn.fetch(query("job_rows_lock"))}
        overrides = await overrides_by_job(conn)
        effective = []
        for job in jobs:
            own = overrides.setdefault(job.id, {})
            if job.id in rows:
                outcome.notes += await _keep_edits(conn, job, rows[job.id], own)
            effective.append(_applied(job, own.values()))
            outcome.overrides += len(own)
        await catalog.sync_jobs(conn, effective, parents_from=jobs)
        await conn.executemany(
            query("job_inventory_settings_save"), [(j.id, inventory_values(j)) for j in jobs]
        )
    return outcome


async def _keep_edits(
    conn: Connection, job: JobSpec, row: Row, own: dict[str, Override]
) -> list[str]:
    """Settings whose column differs from what the last sync (or override) wrote there were
    edited by hand: record them as overrides. A row from before overrides existed has no
    record of the file's values, so there any difference from the file is kept."""
    label = f"job {job.id} ({job.name})"
    try:
        current = job_from_row(row)
    except ConfigError as exc:
        detail = exc.context.get("detail", exc)
        return [f"{label}: its row in dw_etl_jobs was invalid ({detail}); replaced by the file's"]
    known = row["inventory_settings"]
    notes = []
    for name, setting in SETTINGS.items():
        value = getattr(current, name)
        if name in own:
            baseline = own[name].value
        elif known is None:
            baseline = getattr(job, name)
        elif name in known:
            baseline = known[name]
        else:  # a setting added since: its column's old default, else nothing to compare
            baseline = value if setting.unrecorded is None else setting.unrecorded
        if value == baseline:
            continue
        reason = current.disabled_reason if name == "is_active" and not value else EDITED_REASON
        own[name] = await _save(conn, job.id, name, value, reason)
        notes.append(
            f"{label}: {name} {setting.show(value)} was set in dw_etl_jobs, not by the inventory: "
            f"kept as an override (`jobs set {job.id} --reset {name}` takes the inventory's "
            f"{_shown(setting, getattr(job, name))})"
        )
    return notes


def _shown(setting: Setting, value: Any) -> str:
    return "default" if value is None else setting.show(value)


def _applied(job: JobSpec, overrides: Iterable[Override]) -> JobSpec:
    changes: dict[str, Any] = {}
    label = f"job {job.id} ({job.name})"
    for o in overrides:
        setting = SETTINGS.get(o.setting)
        if setting is None:
            raise ConfigError(detail=f"{label}: no setting {o.setting!r} (dw_etl_job_overrides)")
        try:
            changes |= _fields(o.setting, setting.parse(o.value), o.reason)
        except ConfigError as exc:
            raise ConfigError(
                detail=f"{label}: override {o.setting} {o.value!r}: {exc.context['detail']}"
            ) from exc
    applied = replace(job, **changes)
    problem = _problem(applied)
    if problem:
        raise ConfigError(
            detail=f"{label}: with its overrides {problem}: change or reset one with "
            f"`jobs set {job.id}` (the job inventory was left as it was)"
        )
    return applied


# --- jobs show / set / enable / disable -------------------------------------------------


async def _row(conn: Connection, sql: str, job_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(sql, job_id)
    if row is None:
        raise UnknownJobError(job_id=job_id)
    return row


async def settings_of(conn: Connection, job_id: int) -> tuple[JobSpec, list[SettingState]]:
    """The job as ``dw_etl_jobs`` holds it and each setting's value and source."""
    row = await _row(conn, query("job_row"), job_id)
    job = job_from_row(row)
    return job, _states(job, row["inventory_settings"] or {}, await _overrides_of(conn, job_id))


async def _overrides_of(conn: Connection, job_id: int) -> dict[str, Override]:
    return {r["setting"]: _override(r) for r in await conn.fetch(query("job_overrides_of"), job_id)}


def _states(
    job: JobSpec, known: Mapping[str, Any], own: Mapping[str, Override]
) -> list[SettingState]:
    return [SettingState(n, getattr(job, n), known.get(n), own.get(n)) for n in SETTINGS]


async def change_settings(
    conn: Connection,
    job_id: int,
    *,
    values: Mapping[str, object] | None = None,
    resets: Iterable[str] = (),
    reason: str | None = None,
) -> tuple[JobSpec, list[SettingState]]:
    """Override settings (``values``: name → value as the file or the command line spells it)
    and remove overrides (``resets``), then write the job's effective row.

    A value equal to the inventory's removes the override instead (the job follows the file
    again), except a disable, which always records its reason. InvalidSettingError for a
    refused value or combination: nothing is changed then.
    """
    values = dict(values or {})
    resets = list(resets)
    async with conn.transaction():
        row = await _row(conn, query("job_row_lock"), job_id)
        job = job_from_row(row)
        known: dict[str, Any] = row["inventory_settings"] or {}
        own = await _overrides_of(conn, job_id)

        def refused(detail: str) -> InvalidSettingError:
            return InvalidSettingError(job_id=job_id, name=job.name, detail=detail)

        targets: dict[str, tuple[Any, str | None]] = {}  # name → (value, reason) to write
        for name in resets:
            if name not in SETTINGS:
                raise refused(f"no setting {name!r}")
            if name in values:
                raise refused(f"{name} cannot be both set and reset")
            if name not in known:
                raise refused(f"{name}: no inventory value to reset to (not an inventory job)")
            targets[name] = (known[name], known.get("disabled_reason"))
        changed: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in SETTINGS:
                raise refused(f"no setting {name!r}")
            try:
                value = SETTINGS[name].parse(raw)
            except ConfigError as exc:
                raise refused(exc.context["detail"]) from exc
            changed[name] = value
            targets[name] = (value, reason)
        new = job
        for name, (value, why) in targets.items():
            new = replace(new, **_fields(name, value, why))
        problem = _problem(new)
        if problem:
            raise refused(problem)
        if changed.get("fanout") == "global":
            if new.global_endpoint is None:
                raise refused("fanout global: the job names no global_endpoint in the inventory")
            unpassed = [
                r["instance_id"]
                for r in await conn.fetch(
                    query("fanout_probe_unpassed"), job_id, new.source_instance_id,
                    new.instance_scope,
                )
            ]  # fmt: skip
            if unpassed:
                where = ", ".join(map(str, unpassed))
                raise refused(
                    f"fanout global needs a passed `jobs probe {job_id}` first (for instance "
                    f"{where}: its latest probe failed, or none was made)"
                )
        for name in targets:
            value = changed.get(name)
            follows_file = name in known and known[name] == value and (name != "is_active" or value)
            if name not in changed or follows_file:
                await conn.execute(query("job_override_delete"), job_id, name)
                own.pop(name, None)
                if follows_file:
                    new = replace(new, **_fields(name, value, known.get("disabled_reason")))
            else:
                own[name] = await _save(conn, job_id, name, value, reason)
        await catalog.write_job(conn, new)
    return new, _states(new, known, own)
