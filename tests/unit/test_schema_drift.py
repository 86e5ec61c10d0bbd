"""Schema drift sampling (schema_drift.py): undeclared, missing and retyped fields against a
record model; null is no mismatch; sampling still meets a retype of every record; the model
looked up in the packaged swagger; comparing runs; the history over runs; the ``runs show``
section and the metrics gauge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from trialsync_async.cli.schema import drift_rows, print_run_drift, print_schema
from trialsync_async.db.schema_drift import CheckedRun
from trialsync_async.inventory import load_inventory, parse_job
from trialsync_async.records import RowBuilder
from trialsync_async.schema_drift import (
    DriftSampler,
    RecordModel,
    history,
    json_type,
    model_of,
    new_drift_warning,
    packaged_swagger,
    sampler_for,
    summarize,
    unchecked_reason,
)
from trialsync_async.service.schema_metrics import SchemaDriftCollector

pytestmark = pytest.mark.unit

MODEL = RecordModel(
    "ThingModel",
    {"id": "number", "name": "string", "site": "object", "tags": "array", "active": "boolean",
     "bornOn": "string", "free": None},
)  # fmt: skip


def thing(i: int, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"id": i, "name": f"n{i}", "site": {"id": 1}, "tags": [],
                              "active": True, "bornOn": "2020-01-01", "free": 3}  # fmt: skip
    record.update(changes)
    return record


def sampled(records: list[Any], every: int = 64, pages: int = 1) -> dict[str, Any] | None:
    sampler = DriftSampler(MODEL, every=every)
    size = max(1, len(records) // pages)
    for start in range(0, len(records), size):
        sampler.observe(records[start : start + size])
    return sampler.report()


def test_records_matching_the_model_have_no_drift() -> None:
    assert sampled([thing(i) for i in range(500)], pages=7) is None


def test_json_types() -> None:
    values: list[Any] = ["x", 1, 1.5, True, {}, [], None]
    assert [json_type(v) for v in values] == [
        "string", "number", "number", "boolean", "object", "array", None,
    ]  # fmt: skip


def test_undeclared_fields_counted_exactly_with_an_example() -> None:
    records = [thing(i) for i in range(300)]
    for i in range(100, 300):
        records[i]["extra"] = i
    records[250]["other"] = 1
    drift = sampled(records, pages=9)
    assert drift is not None
    assert drift["undeclared"] == {
        "extra": {"count": 200, "example_id": 100},
        "other": {"count": 1, "example_id": 250},
    }
    assert set(drift) == {"undeclared"}


def test_missing_fields_are_those_no_record_had() -> None:
    records = [thing(i) for i in range(50)]
    for r in records:
        del r["tags"]
    for r in records[:10]:
        del r["name"]  # some records lack it, others have it: not missing
    assert sampled(records) == {"missing": ["tags"]}


def test_type_mismatch_with_declared_seen_count_and_example() -> None:
    records = [thing(i, name={"value": f"n{i}"}) if i >= 5 else thing(i) for i in range(10)]
    drift = sampled(records, every=1)
    assert drift == {
        "type_mismatch": {"name": {"declared": "string", "seen": "object", "count": 5,
                                   "example_id": 5}},
    }  # fmt: skip


def test_null_is_not_a_mismatch_and_dates_are_strings() -> None:
    records = [thing(i, name=None, site=None, tags=None, active=None) for i in range(20)]
    assert sampled(records, every=1) is None


def test_numbers_booleans_and_unchecked_fields() -> None:
    records = [thing(1, id=1.0), thing(2, active=1), thing(3, free={"x": 1}), thing(4, id=True)]
    drift = sampled(records, every=1)
    assert drift is not None
    assert drift["type_mismatch"]["active"] == {
        "declared": "boolean", "seen": "number", "count": 1, "example_id": 2,
    }  # fmt: skip
    assert drift["type_mismatch"]["id"]["seen"] == "boolean"  # True is no number
    assert set(drift["type_mismatch"]) == {"active", "id"}  # 1.0 is a number; free: unchecked


def test_sampling_still_catches_a_retype_of_every_record() -> None:
    """Key sets unchanged, so only one record in ``every`` is type-checked: enough."""
    records = [thing(i) for i in range(1000)] + [thing(i, name={"v": 1}) for i in range(1000, 2000)]
    sampler = DriftSampler(MODEL, every=64)
    for start in range(0, len(records), 100):
        sampler.observe(records[start : start + 100])
    drift = sampler.report()
    assert drift is not None and set(drift) == {"type_mismatch"}
    mismatch = drift["type_mismatch"]["name"]
    assert (mismatch["declared"], mismatch["seen"]) == ("string", "object")
    assert mismatch["count"] >= 1000 // 64 and mismatch["example_id"] >= 1000
    assert sampler.type_checked < len(records) // 50  # sampled, not every record
    assert sampler.checked() == {"model": "ThingModel", "records": 2000,
                                 "type_checked": sampler.type_checked}  # fmt: skip


def test_a_new_key_set_is_type_checked_at_once() -> None:
    records = [thing(i) for i in range(10)] + [thing(10, name=7, extra=1)]
    drift = sampled(records, every=10_000)
    assert drift is not None
    assert drift["type_mismatch"]["name"]["example_id"] == 10


def test_casing_matches_the_model_and_non_objects_are_ignored() -> None:
    records: list[Any] = [{**thing(1), "NAME": "x"}, "a string", 5]
    del records[0]["name"]
    assert sampled(records) is None


def test_no_record_no_report() -> None:
    sampler = DriftSampler(MODEL)
    sampler.observe(["x"])
    assert sampler.report() is None and sampler.checked() is None


def test_the_row_builder_shows_each_page_to_the_sampler() -> None:
    job = parse_job({"id": 3, "name": "Patients", "source_endpoint": "/api/v1/patients/odata",
                     "target_table": "dim_patients_staging"})  # fmt: skip
    sampler = sampler_for(job)
    assert sampler is not None and sampler.model.name == "PatientViewModel"
    rows = RowBuilder(job.record_key, endpoint=job.source_endpoint)
    rows.observe = sampler.observe
    rows.rows([{"id": 1, "firstName": {"value": "x"}, "lastUpdatedOn": "2020-01-01"}])
    drift = sampler.report()
    assert drift is not None
    assert drift["undeclared"] == {"lastUpdatedOn": {"count": 1, "example_id": 1}}
    assert drift["type_mismatch"]["firstName"]["seen"] == "object"
    assert "lastName" in drift["missing"]


def test_models_from_the_packaged_swagger() -> None:
    swagger = packaged_swagger()
    jobs = {j.id: j for j in load_inventory()}
    patients = model_of(jobs[3], swagger)
    assert patients is not None and patients.name == "PatientViewModel"
    assert patients.fields["firstName"] == "string"
    assert patients.fields["primarySite"] == "object"  # a $ref
    assert patients.fields["id"] == "number" and patients.fields["doNotMail"] == "boolean"
    assert patients.fields["activeStudies"] == "array"
    assert unchecked_reason(jobs[3], swagger) is None
    unchecked = [j for j in jobs.values() if j.is_active and model_of(j, swagger) is None]
    assert unchecked, "some jobs' records are not in the swagger"
    assert all(unchecked_reason(j, swagger) for j in unchecked)


def test_new_drift_against_the_previous_run() -> None:
    before = {"undeclared": {"x": {"count": 1, "example_id": 1}}}
    now = {
        "undeclared": {"x": {"count": 2, "example_id": 1}, "y": {"count": 1, "example_id": 2}},
        "missing": ["z"],
        "type_mismatch": {"n": {"declared": "string", "seen": "object", "count": 1,
                                "example_id": 3}},
    }  # fmt: skip
    assert new_drift_warning(before, before, "M") is None
    assert new_drift_warning(None, before, "M") is None
    assert new_drift_warning(now, before, "M") == (
        "new schema drift against M: y (undeclared), z (missing), n (string → object)"
    )
    retyped = {"type_mismatch": {"n": {"declared": "string", "seen": "array"}}}
    assert new_drift_warning(retyped, now, "M") == "new schema drift against M: n (string → array)"
    assert summarize(now) == {"undeclared": 2, "missing": 1, "type_mismatch": 1}


def _run(
    run_id: int, drift: dict[str, Any] | None, job_id: int = 3, instance_id: int = 1
) -> CheckedRun:
    at = datetime(2025, 1, run_id, tzinfo=UTC)
    checked = {"model": "PatientViewModel", "records": 10, "type_checked": 1}
    return CheckedRun(run_id, job_id, "Patients", "success", at, drift, checked, instance_id)


def test_history_first_and_last_seen() -> None:
    x = {"undeclared": {"x": {"count": 4, "example_id": 9}}}
    both = {**x, "missing": ["m"]}
    [job] = history([_run(3, x), _run(2, both), _run(1, x), _run(4, None, job_id=5)][:3])
    assert (job.job_id, job.checked_runs, job.latest_run, job.model) == (
        3, 3, 3, "PatientViewModel",
    )  # fmt: skip
    undeclared, missing = job.fields
    assert (undeclared.kind, undeclared.field, undeclared.first_run, undeclared.last_run) == (
        "undeclared", "x", 1, 3,
    )  # fmt: skip
    assert undeclared.runs == 3 and undeclared.current and undeclared.example_id == 9
    assert (missing.kind, missing.first_run, missing.last_run, missing.current) == (
        "missing", 2, 2, False,
    )  # fmt: skip
    assert [j.fields for j in history([_run(4, None, job_id=5)])] == [[]]


def test_history_is_per_job_and_instance(capsys: pytest.CaptureFixture[str]) -> None:
    x = {"undeclared": {"x": {"count": 4, "example_id": 9}}}
    runs = [_run(1, x), _run(2, None, instance_id=2), _run(3, None), _run(4, x, instance_id=2)]
    first, second = history(runs)
    assert (first.instance_id, first.checked_runs, first.latest_run) == (1, 2, 3)
    assert [(f.field, f.current) for f in first.fields] == [("x", False)]  # gone in run 3
    assert (second.instance_id, second.checked_runs, second.latest_run) == (2, 2, 4)
    assert [(f.field, f.first_run, f.current, f.instance_id) for f in second.fields] == [
        ("x", 4, True, 2)
    ]
    print_schema([first, second], [], as_json=False)
    out = capsys.readouterr().out
    assert "job 3 Patients, instance 1: PatientViewModel, 2 checked runs" in out
    assert "job 3 Patients, instance 2: PatientViewModel, 2 checked runs" in out
    print_schema([second], [], as_json=False)  # one instance: said as before
    assert "job 3 Patients: PatientViewModel" in capsys.readouterr().out


def test_runs_show_section(capsys: pytest.CaptureFixture[str]) -> None:
    drift = {"undeclared": {"x": {"count": 4, "example_id": 9}}, "missing": ["m"],
             "type_mismatch": {"n": {"declared": "string", "seen": "object", "count": 2,
                                     "example_id": 3}}}  # fmt: skip
    assert drift_rows(drift) == [
        ["undeclared", "x", None, None, 4, "9"],
        ["missing", "m", None, None, None, None],
        ["type mismatch", "n", "string", "object", 2, "3"],
    ]
    checked = {"model": "PatientViewModel", "records": 31, "type_checked": 1}
    print_run_drift(drift, checked)
    out = capsys.readouterr().out
    assert "schema drift against PatientViewModel (31 records, 1 type-checked)" in out
    print_run_drift(None, checked)
    assert capsys.readouterr().out.startswith("schema drift: none against PatientViewModel")


def test_the_gauge_counts_the_latest_runs_drift() -> None:
    registry = CollectorRegistry()
    collector = SchemaDriftCollector()
    registry.register(collector)
    collector.latest = [_run(3, {"missing": ["a", "b"]}), _run(4, None, job_id=5)]
    text = generate_latest(registry).decode()
    assert (
        'trialsync_schema_drift_fields{api_instance="1",job_id="3",job_name="Patients",'
        'kind="missing"} 2.0' in text
    )
    assert (
        'trialsync_schema_drift_fields{api_instance="1",job_id="5",job_name="Patients",'
        'kind="undeclared"} 0.0' in text
    )
    collector.latest = [_run(3, {"missing": ["a"]}), _run(4, None, instance_id=2)]
    text = generate_latest(registry).decode()
    assert 'api_instance="1",job_id="3",job_name="Patients",kind="missing"} 1.0' in text
    assert 'api_instance="2",job_id="3",job_name="Patients",kind="missing"} 0.0' in text
