"""``jobs show`` and ``jobs list`` as data: one job's settings with their sources, its schedule
and next run, its parent and last runs; the documents ``--json`` prints (stable keys)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trialsync_async.db.catalog import JobRow
from trialsync_async.db.overrides import Override, SettingState
from trialsync_async.db.status import RunStatus
from trialsync_async.freshness import Freshness, job_json, several
from trialsync_async.inventory import JobSpec
from trialsync_async.schedule import JobSchedule


@dataclass(frozen=True, slots=True)
class JobDetail:
    job: JobSpec
    settings: list[SettingState]
    parent: JobSpec | None
    schedule: JobSchedule
    runs: list[RunStatus]  # newest first
    freshness: Freshness | None = None  # with several instances: the worst one's
    by_instance: list[Freshness] = field(default_factory=list)  # only with several instances

    def to_json(self) -> dict[str, Any]:
        j, p = self.job, self.parent
        return {
            "id": j.id,
            "name": j.name,
            "active": j.is_active,
            "disabled_reason": j.disabled_reason,
            "source_endpoint": j.source_endpoint,
            "target_table": j.target_table,
            "source_instance_id": j.source_instance_id,
            "parameter_source_table": j.parameter_source_table,
            "parameters": [p.name for p in j.parameters],
            "record_key": str(j.record_key),
            "parent": None if p is None else {"id": p.id, "name": p.name},
            "schedule": self.schedule.cron,
            "schedule_is_default": self.schedule.is_default,
            "schedule_error": self.schedule.error,
            "next_run_at": self.schedule.next_run_at,
            "settings": {s.name: _setting_json(s) for s in self.settings},
            "runs": [_run_json(r) for r in self.runs],
            **(
                job_json(self.by_instance, True)
                if self.by_instance
                else {"freshness": None if self.freshness is None else self.freshness.to_json()}
            ),
        }


def _setting_json(s: SettingState) -> dict[str, Any]:
    o = s.override
    return {
        "value": s.value,
        "source": s.source,
        "inventory": s.inventory,
        "set_at": None if o is None else o.set_at,
        "reason": None if o is None else o.reason,
    }


def _run_json(r: RunStatus) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "status": r.status,
        "started_at": r.started_at,
        "completed_at": r.completed_at,
        "seconds": r.seconds,
        "fetched": r.records_fetched,  # the words of `runs`
        "written": r.records_loaded,
        "requests": r.requests_made,
        "error": r.error,
    }


def list_document(
    rows: Sequence[JobRow],
    overrides: Mapping[int, Mapping[str, Override]],
    freshness: Mapping[int, list[Freshness]] | None = None,
    *,
    several_instances: bool | None = None,
) -> dict[str, Any]:
    """``jobs list --json``: with several API instances (``several_instances``, else whether
    ``freshness`` spans several), each job's freshness per instance too
    (``freshness.job_json``)."""
    known = dict(freshness or {})
    many = several(known) if several_instances is None else several_instances
    return {
        "jobs": [
            {
                "id": r.spec.id,
                "name": r.spec.name,
                "active": r.spec.is_active,
                "disabled_reason": r.spec.disabled_reason,
                "source_endpoint": r.spec.source_endpoint,
                "target_table": r.spec.target_table,
                "parameters": [p.name for p in r.spec.parameters],
                "parent_job_id": r.spec.parent_job_id,
                "schedule": r.spec.schedule,
                "overrides": sorted(overrides.get(r.spec.id, {})),
                "last_run_status": r.last_run_status,
                "last_run_at": r.last_run_at,
                "last_run_records": r.last_run_records,
                **job_json(known.get(r.spec.id), many),
            }
            for r in rows
        ],
        "count": len(rows),
        "active": sum(1 for r in rows if r.spec.is_active),
    }
