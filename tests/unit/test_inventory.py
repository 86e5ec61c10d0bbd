"""The job inventory file: counts, corrections, and refusal of bad identifiers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli_support import REPO
from trialsync_async.errors import ConfigError
from trialsync_async.inventory import RecordKey, load_inventory, parse_job

pytestmark = pytest.mark.unit

DISABLED_IN_DESIGN_DOC = {4, 5, 6, 7, 12, 18, 19, 21, 22, 27, 30, 31, 143, 146}
DEAD_ENDPOINTS = {14, 15, 16, 17, 20}
DUPLICATES = {174, 24, 164}
SURROGATE_KEY_BUG = {11, 13, 14, 15, 16, 17, 20, 23, 24, 141, 174, 175}


@pytest.fixture(scope="module")
def jobs() -> dict:
    return {job.id: job for job in load_inventory()}


SHARED_DIR = REPO.parent / "shared"
"""The shared reference checkout that sits beside the clone (always there in CI)."""
EXPORT_FILE = SHARED_DIR / "reference" / "etl_jobs_export.txt"


def test_inventory_has_90_jobs(jobs: dict) -> None:
    assert len(jobs) == 90


def test_inventory_matches_the_export(jobs: dict) -> None:
    if not EXPORT_FILE.is_file():
        reason = f"reference export {EXPORT_FILE} is absent (no ../shared beside the clone)"
        if os.environ.get("CI") == "true":  # CI always has ../shared: absence is a failure
            pytest.fail(f"{reason}; CI must check out ../shared beside the clone")
        pytest.skip(reason)
    rows = [line.split("|") for line in EXPORT_FILE.read_text().strip().splitlines()]
    assert {int(r[0]) for r in rows} == set(jobs)
    assert {int(r[0]): r[1] for r in rows} == {i: j.name for i, j in jobs.items()}


def test_active_and_disabled_counts(jobs: dict) -> None:
    disabled = {i for i, j in jobs.items() if not j.is_active}
    assert disabled == DISABLED_IN_DESIGN_DOC | DEAD_ENDPOINTS | DUPLICATES
    assert len(disabled) == 22
    assert sum(j.is_active for j in jobs.values()) == 68
    assert all(jobs[i].disabled_reason for i in disabled)
    assert "404" in jobs[14].disabled_reason
    assert "141" in jobs[174].disabled_reason


def test_parameter_columns_read_the_api_id_not_the_serial_key(jobs: dict) -> None:
    for job_id in SURROGATE_KEY_BUG - {175}:
        assert jobs[job_id].legacy_parameter_column == "data->>'id'", job_id
    for job in jobs.values():
        for param in job.parameters:
            assert param.sql_expr.startswith("data->")


def test_corrected_endpoints(jobs: dict) -> None:
    assert jobs[23].source_endpoint == "/api/v1/studies/{studyId}/monitor-queries/odata"
    assert jobs[132].source_endpoint == "/api/v1/system/study-statuses"
    assert jobs[132].paged is False
    assert jobs[174].source_endpoint == "/api/v1/studies/{studyId}/arms"
    assert jobs[29].target_table == "fact_study_notes_staging"


def test_nested_jobs_have_two_placeholders(jobs: dict) -> None:
    j175 = jobs[175]
    assert j175.source_endpoint == "/api/v1/studies/{studyId}/visits/{visitId}/elements/odata"
    assert j175.parameter_source_table == "dim_visits_staging"
    assert [(p.name, p.path) for p in j175.parameters] == [
        ("studyId", ("study", "id")),
        ("visitId", ("id",)),
    ]
    assert j175.record_key == RecordKey("none")
    j160 = jobs[160]
    assert j160.parameter_source_table == "dim_subjects_staging"
    assert j160.legacy_parameter_column == "data->'study'->>'id', data->>'id'"
    assert j160.legacy_parameter_name == "studyId,subjectId"


def test_study_detail_is_parameterized(jobs: dict) -> None:
    assert jobs[165].requires_parameters
    assert jobs[165].parameter_source_table == "dim_studies_staging"


def test_keyless_and_odd_keys(jobs: dict) -> None:
    assert jobs[127].record_key.kind == "none"
    assert jobs[145].record_key.kind == "none"
    assert jobs[133].record_key.kind == "value"
    assert str(jobs[141].record_key) == "Id"
    assert str(jobs[158].record_key) == "instanceUID"
    assert jobs[3].record_key.kind == "id"


BASE = {
    "id": 900,
    "name": "X",
    "source_endpoint": "/api/v1/x/odata",
    "target_table": "dim_x_staging",
}


@pytest.mark.parametrize(
    "change",
    [
        {"target_table": "dim_x_staging; DROP TABLE dw_etl_jobs"},
        {"target_table": "users"},
        {"target_table": 'dim_"x"_staging'},
        {
            "source_endpoint": "/api/v1/studies/{studyId}/x",
            "parameter_source_table": "dim_studies_staging",
            "parameters": [{"name": "studyId", "path": "study'.id"}],
        },
        {
            "source_endpoint": "/api/v1/studies/{studyId}/x",
            "parameter_source_table": "dim_studies_staging; --",
            "parameters": [{"name": "studyId", "path": "id"}],
        },
        {"source_endpoint": "/api/v1/studies/{studyId}/x"},  # placeholder without parameter
        {"source_endpoint": "http://evil/api/v1/x"},
        {"record_key": "id'); DROP"},
        {"page_size": 5000},
        {"is_active": False},  # disabled without a reason
        {"surprise": 1},
        {"instance_scope": "some"},
    ],
)
def test_bad_configuration_is_refused(change: dict) -> None:
    with pytest.raises(ConfigError) as info:
        parse_job({**BASE, **change})
    assert "job 900" in str(info.value)


def test_instance_scope_all_by_default_or_own() -> None:
    assert parse_job(BASE).instance_scope == "all"
    assert parse_job({**BASE, "instance_scope": "own"}).instance_scope == "own"


def test_bad_file_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "jobs.toml"
    bad.write_text("[[jobs]]\nid = 1\nname = 'x'\n")
    with pytest.raises(ConfigError, match="missing 'source_endpoint'"):
        load_inventory(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_inventory(tmp_path / "nope.toml")
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError):
        load_inventory(bad)
