"""Job dependencies: a job runs after the jobs that load its parameter source table."""

from __future__ import annotations

from collections.abc import Iterable
from graphlib import CycleError, TopologicalSorter

from trialsync_async.errors import DependencyCycleError
from trialsync_async.inventory import JobSpec


def dependencies(jobs: Iterable[JobSpec]) -> dict[int, set[int]]:
    """For each job, the ids of the given jobs that load its parameter source table."""
    jobs = list(jobs)
    loaders: dict[str, set[int]] = {}
    for job in jobs:
        loaders.setdefault(job.target_table, set()).add(job.id)
    return {
        job.id: (loaders.get(job.parameter_source_table or "", set()) - {job.id}) for job in jobs
    }


def check_acyclic(deps: dict[int, set[int]]) -> list[int]:
    """A topological order; a cycle is refused with the jobs that form it."""
    try:
        return list(TopologicalSorter(deps).static_order())
    except CycleError as exc:
        cycle = " -> ".join(str(j) for j in exc.args[1])
        raise DependencyCycleError(cycle=cycle) from exc
