from __future__ import annotations

import pytest

from trialsync_async.errors import DependencyCycleError
from trialsync_async.inventory import load_inventory, parse_job
from trialsync_async.jobgraph import check_acyclic, dependencies

pytestmark = pytest.mark.unit


def _job(job_id: int, target: str, source: str | None = None):
    raw = {"id": job_id, "name": f"j{job_id}", "target_table": target}
    if source:
        raw |= {
            "source_endpoint": "/api/v1/x/{xId}",
            "parameter_source_table": source,
            "parameters": [{"name": "xId", "path": "id"}],
        }
    else:
        raw["source_endpoint"] = "/api/v1/x/odata"
    return parse_job(raw)


def test_inventory_dependencies_are_acyclic() -> None:
    jobs = [j for j in load_inventory() if j.is_active]
    deps = dependencies(jobs)
    order = check_acyclic(deps)
    assert deps[175] == {11} and deps[166] == {9, 160} and deps[160] == {10}
    assert order.index(2) < order.index(10) < order.index(160) < order.index(166)


def test_a_cycle_is_refused() -> None:
    jobs = [_job(1, "dim_a_staging", "dim_b_staging"), _job(2, "dim_b_staging", "dim_a_staging")]
    with pytest.raises(DependencyCycleError, match="cycle"):
        check_acyclic(dependencies(jobs))


def test_a_job_reading_its_own_table_does_not_depend_on_itself() -> None:
    assert dependencies([_job(1, "dim_a_staging", "dim_a_staging")]) == {1: set()}
