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


def check_acyclic(deps: dict[int, set[int]]) -> list[int]:
    """A topological order; a cycle is refused with the jobs that form it."""
    try:
        return list(TopologicalSorter(deps).static_order())
    except CycleError as exc:
        cycle = " -> ".join(str(j) for j in exc.args[1])
        raise DependencyCycleError(cycle=cycle) from exc
