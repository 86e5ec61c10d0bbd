"""``jobs probe N``: does a fan-out's global list return the same records as its per-parent
calls? A sample of parents is fetched both ways (``/studies/{id}/subjects/odata`` and
``/subjects/odata?studyId=id``) and compared record by record; the global list's total is
compared with what the last per-parent pass staged. A probe is of one API instance (its
parents, its API); ``jobs probe N`` probes each instance the job runs for. Only a passed latest
probe on each of them lets ``jobs set N --fanout global`` switch the job (see db/overrides.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from trialsync_async.api.client import ApiClient
from trialsync_async.api.paging import OffsetPaging, walk
from trialsync_async.api.urls import render_path
from trialsync_async.db import fanout_probes
from trialsync_async.db.types import Connection
from trialsync_async.engine.deletions import SHORT_LIST_RATIO
from trialsync_async.inventory import JobSpec

"""A global list below this share of the last per-parent pass's records is not trusted."""


@dataclass(slots=True)
class ProbeReport:
    job_id: int
    name: str
    global_endpoint: str
    instance_id: int = 1  # the API instance probed
    parents_sampled: int = 0
    parents_matching: int = 0
    per_parent_records: int = 0
    global_records: int = 0
    global_total: int | None = None
    last_per_parent_total: int = 0
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        if self.parents_sampled == 0 or self.parents_matching != self.parents_sampled:
            return False
        if self.per_parent_records and not self.global_records:
            return False
        bar = self.last_per_parent_total * SHORT_LIST_RATIO
        return self.global_total is None or self.global_total >= bar

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _by_key(records: list[Any]) -> dict[bytes, bytes]:
    """Records by identity (their id, else their content) → canonical content."""
    out: dict[bytes, bytes] = {}
    for r in records:
        content = orjson.dumps(r, option=orjson.OPT_SORT_KEYS)
        rid = r.get("id") if isinstance(r, dict) else None
        out[orjson.dumps(rid) if rid is not None else content] = content
    return out


async def _all(client: ApiClient, path: str, extra: list[tuple[str, str | int]]) -> list[Any]:
    class Fetcher:
        async def get_page(self, p: str, params: Any) -> Any:
            return await client.get_page(p, [*params, *extra])

    records: list[Any] = []
    async for page in walk(Fetcher(), path, OffsetPaging(1000, order_by="id")):
        records.extend(page)
    return records


async def probe(
    conn: Connection, client: ApiClient, job: JobSpec, instance_id: int, sample: int
) -> ProbeReport:
    """Fetch ``sample`` parents both ways, compare, record the result; returns the report."""
    assert job.global_endpoint and job.global_parameter and job.parameter_source_table
    report = ProbeReport(job.id, job.name, job.global_endpoint, instance_id)
    [param] = job.parameters
    for value in await fanout_probes.sample(conn, job, instance_id, sample):
        per_parent = await _all(client, render_path(job.source_endpoint, {param.name: value}), [])
        listed = await _all(client, job.global_endpoint, [(job.global_parameter, value)])
        a, b = _by_key(per_parent), _by_key(listed)
        report.parents_sampled += 1
        report.per_parent_records += len(a)
        report.global_records += len(b)
        if a == b:
            report.parents_matching += 1
        else:
            report.mismatches.append({
                "parent": value, "per_parent": len(a), "global": len(b),
                "missing": len(a.keys() - b.keys()), "extra": len(b.keys() - a.keys()),
                "different": sum(1 for k in a.keys() & b.keys() if a[k] != b[k]),
            })  # fmt: skip
    page = await client.get_page(job.global_endpoint, [("$top", 1), ("$count", "true")])
    report.global_total = page.total
    report.last_per_parent_total = await fanout_probes.last_records(conn, job.id, instance_id)
    await fanout_probes.record(conn, job.id, instance_id, report.passed, report.to_json())
    return report
