"""``validate``: the job inventory checked against the swagger the project ships and against
itself, without a database or a request.

Each check is one function returning findings; severities: ``error`` (a run would fail or
load the wrong thing: exit 1), ``warning`` (works, but look at it), ``info`` (a fact worth
knowing, e.g. what could not be checked). Disabled jobs are checked only as inventory entries
(they are disabled because their endpoints are wrong).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from trialsync_async import jobgraph
from trialsync_async.errors import ConfigError
from trialsync_async.inventory import JobSpec, parse_job, read_job_tables
from trialsync_async.swagger import Records, Swagger, load_swagger, placeholder_names, template

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

REFERENCE_ONLY: dict[str, str] = {
    "/api/v1/invoices/odata": "core entities",
    "/api/v1/prospects/odata": "core entities",
    "/api/v1/remittances/odata": "core entities",
    "/api/v1/remittance-notes/odata": "core entities",
    "/api/v1/patient-payments/odata": "core entities",
    "/api/v1/action-unit-completions/odata": "core entities, CCE only",
    "/api/v1/patient-visits/{patientVisitId}/elements/odata": "patient visit endpoints",
    "/api/v1/patient-visits/{patientVisitId}/stipends/odata": "patient visit endpoints",
    "/api/v1/study-types": "system/reference data",
}
"""GET endpoints the API reference (01_Clinical_Conductor_API_Reference.md, "Validated
Endpoints") lists as valid but the swagger lacks, with the reference's section. Its
``/system/study-statuses/odata`` is left out on purpose: it is a 404 (job 132's fix)."""
_REFERENCE_TEMPLATES = {template(p): p for p in REFERENCE_ONLY}


@dataclass(frozen=True, slots=True)
class Finding:
    job_id: int | None  # None: the inventory as a whole
    job: str
    severity: Severity
    check: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "job": self.job,
            "severity": self.severity,
            "check": self.check,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Report:
    jobs_checked: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "jobs_checked": self.jobs_checked,
            "findings": [f.to_json() for f in self.findings],
        }


def _finding(job: JobSpec, severity: Severity, check: str, message: str) -> Finding:
    return Finding(job.id, job.name, severity, check, message)


def _dotted(path: Sequence[str]) -> str:
    return ".".join(path)


# --- against the swagger ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a job's endpoint is: a swagger GET path, or a path only the reference lists."""

    swagger_path: str | None
    reference_section: str | None


def resolve_endpoint(job: JobSpec, swagger: Swagger) -> Resolved:
    gets = [p for p in swagger.find(job.source_endpoint) if swagger.has_get(p)]
    if gets:
        exact = [p for p in gets if placeholder_names(p) == list(job.placeholders)]
        return Resolved((exact or gets)[0], None)
    listed = _REFERENCE_TEMPLATES.get(template(job.source_endpoint))
    return Resolved(None, REFERENCE_ONLY[listed] if listed else None)


def check_endpoint(job: JobSpec, swagger: Swagger, where: Resolved) -> list[Finding]:
    """The endpoint is a GET of the swagger (or one the API reference vouches for)."""
    endpoint = job.source_endpoint
    if where.swagger_path is not None:
        return []
    if where.reference_section is not None:
        return [
            _finding(
                job,
                "warning",
                "endpoint",
                f"not in the swagger; valid per the API reference "
                f"({where.reference_section}); records unchecked",
            )
        ]
    others = swagger.find(endpoint)
    if others:
        verbs = sorted(v.upper() for p in others for v in swagger.paths[p])
        return [
            _finding(
                job,
                "error",
                "endpoint",
                f"{others[0]} has no GET in the swagger (only {', '.join(verbs)})",
            )
        ]
    hint = _hint(endpoint, swagger)
    return [_finding(job, "error", "endpoint", f"{endpoint} is not in the swagger{hint}")]


def _hint(endpoint: str, swagger: Swagger) -> str:
    other = endpoint.removesuffix("/odata") if endpoint.endswith("/odata") else endpoint + "/odata"
    near = [p for p in swagger.find(other) if swagger.has_get(p)]
    near += swagger.literal_matches(endpoint)
    return f" (it has GET {near[0]})" if near else ""


def check_placeholders(job: JobSpec, where: Resolved) -> list[Finding]:
    """The endpoint's placeholders are the swagger's, position by position. The swagger calls
    a resource's own id ``{id}`` where the inventory names it after its parent (``{studyId}``):
    the same request, so that is only noted."""
    if where.swagger_path is None:
        return []
    findings = []
    theirs = placeholder_names(where.swagger_path)
    for ours, swagger_name in zip(job.placeholders, theirs, strict=True):
        if ours.casefold() == swagger_name.casefold():
            continue
        if swagger_name == "id":
            findings.append(
                _finding(
                    job,
                    "info",
                    "placeholders",
                    f"{{{ours}}} is {{id}} in the swagger ({where.swagger_path})",
                )
            )
        else:
            findings.append(
                _finding(
                    job,
                    "error",
                    "placeholders",
                    f"{{{ours}}} stands where the swagger has {{{swagger_name}}} "
                    f"({where.swagger_path})",
                )
            )
    return findings


def check_paging(job: JobSpec, swagger: Swagger, where: Resolved) -> list[Finding]:
    """``paged`` agrees with the endpoint: /odata lists are paged ($top/$skip), others not;
    the swagger's PageResultOf… responses are the paged ones."""
    odata = job.source_endpoint.endswith("/odata")
    findings = []
    if job.paged != odata:
        what = "ends in /odata" if odata else "does not end in /odata"
        findings.append(
            _finding(
                job, "error", "paging", f"paged = {str(job.paged).lower()} but the endpoint {what}"
            )
        )
    if where.swagger_path is None:
        return findings
    shape = swagger.records(where.swagger_path)
    if shape.shape == "page" and not odata:
        findings.append(
            _finding(
                job,
                "warning",
                "paging",
                f"the swagger returns a page of {shape.model} for a path without /odata",
            )
        )
    elif odata and shape.shape != "page":
        findings.append(
            _finding(
                job,
                "info",
                "paging",
                f"swagger: {shape.model}, not a PageResultOf… (the loader reads either)",
            )
        )
    return findings


def _records(swagger: Swagger, where: Resolved) -> Records | None:
    return swagger.records(where.swagger_path) if where.swagger_path is not None else None


def check_record_key(job: JobSpec, swagger: Swagger, where: Resolved) -> list[Finding]:
    """The record key's paths exist in the response's records. An ``id`` key must be ``id``
    exactly (staging is keyed on ``data->>'id'``); a path's first segment may differ in case
    (the loader matches it in any casing), later segments are matched exactly."""
    records = _records(swagger, where)
    kind = job.record_key.kind
    if kind == "none":
        return []
    if records is None:
        return []  # not in the swagger: check_endpoint reports it
    if records.schema is None:
        message = f"record key {job.record_key} unchecked: {records.model}"
        return [_finding(job, "info", "record-key", message)]
    if kind == "value":
        item = swagger.resolve(records.schema)
        if item.get("type") == "string":
            return []
        return [
            _finding(
                job,
                "warning",
                "record-key",
                f"record_key = '$' expects plain strings; the swagger returns {records.model}",
            )
        ]
    paths = [("id",)] if kind == "id" else list(job.record_key.paths)
    findings = []
    for path in paths:
        found = swagger.lookup(records.schema, path)
        name = _dotted(path)
        if found.unchecked:
            findings.append(
                _finding(
                    job,
                    "info",
                    "record-key",
                    f"{name} unchecked: a free-form object in {records.model}",
                )
            )
        elif not found.found:
            findings.append(
                _finding(
                    job,
                    "error",
                    "record-key",
                    f"record key {name} not in {records.model}: {found.problem}",
                )
            )
        elif found.spelled != tuple(path):
            strict = kind == "id" or found.spelled[1:] != tuple(path[1:])
            severity: Severity = "warning" if strict else "info"
            fix = f": set record_key = {_dotted(found.spelled)!r}" if kind == "id" else ""
            findings.append(
                _finding(
                    job,
                    severity,
                    "record-key",
                    f"record key {name} is {_dotted(found.spelled)} in {records.model}{fix}",
                )
            )
    return findings


def check_parameters(
    job: JobSpec, loaders: Sequence[JobSpec], swagger: Swagger, places: Mapping[int, Resolved]
) -> list[Finding]:
    """Each parameter's path exists in the records of the jobs filling its source table.
    The values are read by SQL (``data->'study'->>'id'``), so the case must match too."""
    checked = {
        loader.id: records
        for loader in loaders
        if (records := _records(swagger, places[loader.id])) is not None and records.schema
    }
    if not loaders:
        return []  # check_parameter_source reports it
    if not checked:
        ids = ", ".join(str(j.id) for j in loaders)
        return [
            _finding(
                job,
                "info",
                "parameters",
                f"parameter paths unchecked: job {ids} has no response model in the swagger",
            )
        ]
    findings = []
    for param in job.parameters:
        missing, spelled_as = [], []
        for loader_id, records in checked.items():
            assert records.schema is not None
            found = swagger.lookup(records.schema, param.path)
            if found.unchecked:
                continue
            if not found.found:
                missing.append(f"job {loader_id}: {found.problem}")
            elif found.spelled != param.path:
                spelled_as.append(f"{_dotted(found.spelled)} in job {loader_id}'s {records.model}")
        name = f"{param.name} = {_dotted(param.path)}"
        if missing:
            severity: Severity = "error" if len(missing) == len(checked) else "warning"
            findings.append(
                _finding(
                    job,
                    severity,
                    "parameters",
                    f"{name} not in {job.parameter_source_table} records ({'; '.join(missing)})",
                )
            )
        if spelled_as:
            findings.append(
                _finding(
                    job,
                    "warning",
                    "parameters",
                    f"{name} is spelled {', '.join(spelled_as)}; "
                    "the SQL reading it matches case exactly",
                )
            )
    return findings


# --- against itself ---------------------------------------------------------------------


def _loaders(jobs: Iterable[JobSpec], table: str | None, *, but: int) -> list[JobSpec]:
    """The jobs loading ``table`` (jobgraph.py), ``but`` one."""
    return [j for j in jobgraph.loaders(jobs, table) if j.id != but] if table else []


def check_parameter_source(job: JobSpec, jobs: Sequence[JobSpec]) -> list[Finding]:
    """An active job's parameter source table is filled by an active job."""
    table = job.parameter_source_table
    if table is None:
        return []
    if table == job.target_table:
        return [
            _finding(
                job,
                "error",
                "parameter-source",
                f"reads its parameters from its own target table {table}",
            )
        ]
    if _loaders((j for j in jobs if j.is_active), table, but=job.id):
        return []
    disabled = [str(j.id) for j in _loaders(jobs, table, but=job.id)]
    only = f" (only disabled job {', '.join(disabled)})" if disabled else ""
    return [_finding(job, "error", "parameter-source", f"{table} is filled by no active job{only}")]


def check_parent(job: JobSpec, by_id: Mapping[int, JobSpec]) -> list[Finding]:
    """An explicit ``parent_job_id`` names a job that fills the parameter source table."""
    parent_id = job.parent_job_id
    if parent_id is None:
        return []
    parent = by_id.get(parent_id)
    if parent is None:
        return [_finding(job, "error", "parent", f"parent_job_id {parent_id} is no job")]
    if parent_id == job.id:
        return [_finding(job, "error", "parent", "parent_job_id names the job itself")]
    if job.parameter_source_table is None:
        return [
            _finding(
                job,
                "warning",
                "parent",
                f"parent_job_id {parent_id} but the job takes no parameters",
            )
        ]
    if parent.target_table != job.parameter_source_table:
        return [
            _finding(
                job,
                "error",
                "parent",
                f"parent_job_id {parent_id} fills {parent.target_table}, not the "
                f"parameter source {job.parameter_source_table}",
            )
        ]
    if job.is_active and not parent.is_active:
        return [_finding(job, "warning", "parent", f"parent job {parent_id} is disabled")]
    return []


def _cycle_through(start: int, graph: Mapping[int, set[int]]) -> list[int] | None:
    """The shortest path from ``start`` back to itself, if there is one."""
    came_from: dict[int, int] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for dep in sorted(graph.get(node, ())):
                if dep == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if dep not in came_from:
                    came_from[dep] = node
                    following.append(dep)
        frontier = following
    return None


def check_cycles(active: Sequence[JobSpec]) -> list[Finding]:
    """No active job depends on itself through parameter sources and parents."""
    graph = jobgraph.dependencies(active)
    findings = []
    for job in active:
        cycle = _cycle_through(job.id, graph)
        if cycle:
            findings.append(
                _finding(
                    job, "error", "cycle", "in a dependency cycle: " + " -> ".join(map(str, cycle))
                )
            )
    return findings


def check_shared_targets(active: Sequence[JobSpec]) -> list[Finding]:
    """Two active jobs writing one staging table: their rows merge on the table's key, which
    may be meant (jobs 9 and 160) but is worth a look."""
    first: dict[str, JobSpec] = {}
    findings = []
    for job in sorted(active, key=lambda j: j.id):
        other = first.setdefault(job.target_table, job)
        if other.id == job.id:
            continue  # itself, or a duplicate id (check_duplicate_ids reports it)
        keys = (
            f"both keyed by {job.record_key}"
            if str(job.record_key) == str(other.record_key)
            else f"keyed by {job.record_key} here, by {other.record_key} there"
        )
        findings.append(
            _finding(
                job,
                "warning",
                "shared-target",
                f"writes {job.target_table}, as job {other.id} does ({keys})",
            )
        )
    return findings


def check_duplicate_ids(raw_jobs: Sequence[Mapping[str, Any]]) -> list[Finding]:
    seen: dict[object, int] = {}
    for raw in raw_jobs:
        seen[raw.get("id")] = seen.get(raw.get("id"), 0) + 1
    return [
        Finding(
            job_id if isinstance(job_id, int) else None,
            "",
            "error",
            "duplicate-id",
            f"job id {job_id} appears {n} times",
        )
        for job_id, n in seen.items()
        if n > 1
    ]


def parse_jobs(raw_jobs: Sequence[Mapping[str, Any]]) -> tuple[list[JobSpec], list[Finding]]:
    """Each ``[[jobs]]`` table parsed on its own: the jobs, and a finding per refused one."""
    jobs, findings = [], []
    for raw in raw_jobs:
        try:
            jobs.append(parse_job(raw))
        except ConfigError as exc:
            job_id = raw.get("id")
            findings.append(
                Finding(
                    job_id if isinstance(job_id, int) else None,
                    str(raw.get("name", "")),
                    "error",
                    "inventory",
                    str(exc),
                )
            )
    return jobs, findings


# --- the whole inventory ----------------------------------------------------------------


def validate_jobs(raw_jobs: Sequence[Mapping[str, Any]], swagger: Swagger) -> Report:
    """Every check over the inventory's tables."""
    jobs, findings = parse_jobs(raw_jobs)
    findings += check_duplicate_ids(raw_jobs)
    by_id: dict[int, JobSpec] = {}
    for job in jobs:
        by_id.setdefault(job.id, job)
    active = [j for j in jobs if j.is_active]
    places = {j.id: resolve_endpoint(j, swagger) for j in jobs}
    for job in jobs:
        findings += check_parent(job, by_id)
        if not job.is_active:
            continue
        where = places[job.id]
        findings += check_endpoint(job, swagger, where)
        findings += check_placeholders(job, where)
        findings += check_paging(job, swagger, where)
        findings += check_record_key(job, swagger, where)
        findings += check_parameter_source(job, jobs)
        loaders = _loaders(active, job.parameter_source_table, but=job.id)
        if job.parameters:
            findings += check_parameters(job, loaders, swagger, places)
    findings += check_cycles(active)
    findings += check_shared_targets(active)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: (f.job_id or 0, order[f.severity], f.check, f.message))
    return Report(jobs_checked=len(raw_jobs), findings=tuple(findings))


def validate_inventory(jobs_file: Path | None = None, swagger_file: Path | None = None) -> Report:
    """The inventory file (``None``: the packaged one) against the swagger (``None``: the
    packaged one). An unreadable file raises ConfigError."""
    return validate_jobs(read_job_tables(jobs_file), load_swagger(swagger_file))
