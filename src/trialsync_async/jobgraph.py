"""The job graph: which jobs a job runs after. One definition, used alike by the runner
(``--all``, ``--with-upstream``), ``validate``, ``jobs sync`` (``dw_etl_jobs.depends_on``,
which the service's tick claims read) and the fan-out's empty-parents warning.

A job depends on every job that loads its parameter source table (job 166 reads
``dim_patient_visits_staging``, which jobs 9 and 160 both load: it waits for both) and on an
explicit ``parent_job_id``. ``parent_job_id`` in ``dw_etl_jobs`` keeps the design document's
one-parent column filled: the explicit one, else the first active loader.
"""

from __future__ import annotations

from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter

from trialsync_async.errors import DependencyCycleError
from trialsync_async.inventory import JobSpec


def dependencies(jobs: Iterable[JobSpec]) -> dict[int, set[int]]:
    """For each job, the ids of the given jobs it runs after: the loaders of its parameter
    source table and its explicit parent (itself never)."""
    jobs = list(jobs)
    ids = {job.id for job in jobs}
    by_table: dict[str, set[int]] = {}
    for job in jobs:
        by_table.setdefault(job.target_table, set()).add(job.id)
    graph: dict[int, set[int]] = {}
    for job in jobs:
        deps = set(by_table.get(job.parameter_source_table or "", set()))
        if job.parent_job_id in ids:
            deps.add(job.parent_job_id)
        graph[job.id] = deps - {job.id}
    return graph


def upstream(jobs: Iterable[JobSpec], wanted: Iterable[int]) -> set[int]:
    """The ids of the given jobs that ``wanted`` depend on, transitively (``wanted`` not
    included)."""
    deps = dependencies(jobs)
    wanted = set(wanted)
    found: set[int] = set()
    todo = list(wanted)
    while todo:
        for dep in deps.get(todo.pop(), set()):
            if dep not in found:
                found.add(dep)
                todo.append(dep)
    return found - wanted


def loaders(jobs: Iterable[JobSpec], table: str) -> list[JobSpec]:
    """The given jobs that load ``table``, by id."""
    return sorted((job for job in jobs if job.target_table == table), key=lambda j: j.id)


def parent_jobs(jobs: list[JobSpec]) -> dict[int, int | None]:
    """``parent_job_id`` per job (the design document's column): explicit, else the first
    active job loading its source table."""
    first: dict[str, int] = {}
    for job in sorted(jobs, key=lambda j: (not j.is_active, j.id)):
        first.setdefault(job.target_table, job.id)
    parents: dict[int, int | None] = {}
    for job in jobs:
        parent = job.parent_job_id
        if parent is None and job.parameter_source_table:
            parent = first.get(job.parameter_source_table)
        parents[job.id] = parent if parent != job.id else None
    return parents


def check_acyclic(deps: dict[int, set[int]]) -> list[int]:
    """A topological order; a cycle is refused with the jobs that form it."""
    try:
        return list(TopologicalSorter(deps).static_order())
    except CycleError as exc:
        cycle = " -> ".join(str(j) for j in exc.args[1])
        raise DependencyCycleError(cycle=cycle) from exc
