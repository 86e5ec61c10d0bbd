"""Several API instances, one inventory (issue 22): two simulators with different data, each
job run per (job, instance), nothing of one instance touched by the other's runs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from ccsim import SimulatorServer
from tests.cli_support import cli
from tests.engine_support import fetch, loader
from tests.service_support import StubView
from tests.sim_support import sim_options
from trialsync_async.app import TrialSync
from trialsync_async.db import runs
from trialsync_async.db.connect import connect
from trialsync_async.errors import ConfigError, InvalidSettingError, UnknownInstanceError
from trialsync_async.identifiers import quote_ident
from trialsync_async.service.http import build_app
from trialsync_async.service.metrics import ServiceMetrics

pytestmark = pytest.mark.integration

PATIENTS = "/api/v1/patients/odata"
STUDIES = "/api/v1/studies/odata"
SUBJECTS = "/api/v1/studies/{studyId}/subjects/odata"
VISITS_GLOBAL = "/api/v1/visits/odata"
DRIFT = [  # the simulator's patients as another API version might send them
    {"template": PATIENTS, "field": "lastName", "change": "drop"},
    {"template": PATIENTS, "field": "loyaltyTier", "change": "add", "value": "gold"},
]
OTHER_SEED = 777


@asynccontextmanager
async def two_instances(db_dsn: str) -> AsyncIterator[tuple[TrialSync, SimulatorServer, Any]]:
    """Instance 1 on a simulator with the test seed, instance 2 (added) on one with another."""
    async with (
        SimulatorServer(sim_options()) as sim1,
        SimulatorServer(sim_options(seed=OTHER_SEED)) as sim2,
        loader(db_dsn, sim1) as ts,
    ):
        await ts.add_instance(
            2, base_url=sim2.base_url, api_key=sim2.api_key,
            auth_header=sim2.options.api_key_header, rate_limit=5000, name="second",
        )  # fmt: skip
        yield ts, sim1, sim2


async def staged(db_dsn: str, table: str, instance: int) -> tuple[int, int, int]:
    """(live rows, sum of ids, distinct ids) of ``instance`` in ``table``."""
    [row] = await fetch(
        db_dsn,
        f"SELECT count(*) AS n, COALESCE(sum((data->>'id')::bigint), 0) AS s, "
        f"count(DISTINCT data->>'id') AS d FROM {quote_ident(table)} "
        "WHERE source_instance_id = $1 AND deleted_at IS NULL",
        instance,
    )
    return int(row["n"]), int(row["s"]), int(row["d"])


def truth_of(sim: SimulatorServer, template: str) -> tuple[int, int, int]:
    t = sim.truth(template)
    return int(t["count"]), int(t["id_sum"]), int(t["count"])


async def snapshot(db_dsn: str, instance: int) -> dict[str, Any]:
    """Everything of one instance: its staged subjects and studies, its unit state, runs."""
    rows = await fetch(
        db_dsn,
        "SELECT data, deleted_at, etl_run_id, updated_at FROM dim_subjects_staging "
        "WHERE source_instance_id = $1 ORDER BY data->>'id'",
        instance,
    )
    units = await fetch(
        db_dsn,
        "SELECT unit_key, pass_id, run_id, status, fetched_at FROM dw_etl_unit_state "
        "WHERE job_id = 10 AND instance_id = $1 ORDER BY unit_key",
        instance,
    )
    run_rows = await fetch(
        db_dsn,
        "SELECT run_id, run_status, pass_id FROM dw_etl_runs WHERE credential_id = $1 "
        "ORDER BY run_id",
        instance,
    )
    return {
        "rows": [tuple(r) for r in rows],
        "units": [tuple(u) for u in units],
        "runs": [tuple(r) for r in run_rows],
    }


async def test_fanout_and_plain_job_load_each_instance_from_its_own_api(db_dsn: str) -> None:
    async with two_instances(db_dsn) as (ts, sim1, sim2):
        results = await ts.run_jobs([2, 10, 3])
        again = await ts.run_jobs([3], instance_ids=[2])
    assert all(r.ok for r in results), [(r.job_id, r.instance_id, r.error) for r in results]
    assert sorted((r.job_id, r.instance_id) for r in results) == [
        (2, 1), (2, 2), (3, 1), (3, 2), (10, 1), (10, 2),
    ]  # fmt: skip
    assert truth_of(sim1, STUDIES) != truth_of(sim2, STUDIES)  # different data
    for instance, sim in ((1, sim1), (2, sim2)):
        assert await staged(db_dsn, "dim_studies_staging", instance) == truth_of(sim, STUDIES)
        assert await staged(db_dsn, "dim_patients_staging", instance) == truth_of(sim, PATIENTS)
        assert await staged(db_dsn, "dim_subjects_staging", instance) == truth_of(sim, SUBJECTS)
    # A run is (job, instance): its credential_id names the instance; passes are per instance.
    rows = await fetch(
        db_dsn, "SELECT run_id, job_id, credential_id, pass_id FROM dw_etl_runs ORDER BY run_id"
    )
    assert sorted((r["job_id"], r["credential_id"]) for r in rows[:6]) == [
        (2, 1), (2, 2), (3, 1), (3, 2), (10, 1), (10, 2),
    ]  # fmt: skip
    assert all(r["pass_id"] == r["run_id"] for r in rows)
    [rerun] = again
    assert (
        rerun.ok
        and rerun.instance_id == 2
        and rerun.progress.unchanged == sim2.truth(PATIENTS)["count"]
    )
    patients = [r["credential_id"] for r in rows if r["job_id"] == 3]
    assert sorted(patients[:2]) == [1, 2] and patients[2] == 2
    # Units of the fan-out: one set per instance, each its own parents.
    units = await fetch(
        db_dsn,
        "SELECT instance_id, count(*) AS n FROM dw_etl_unit_state WHERE job_id = 10 "
        "GROUP BY instance_id ORDER BY instance_id",
    )
    assert [(u["instance_id"], u["n"]) for u in units] == [
        (1, sim1.truth(STUDIES)["count"]),
        (2, sim2.truth(STUDIES)["count"]),
    ]
    # history filtered by instance
    async with TrialSync(ts.settings) as again_ts:
        mine = await again_ts.run_history(instance_id=2)
        stats = await again_ts.run_stats(instance_id=2)
        plans = await again_ts.plan([10])
    assert {r.instance_id for r in mine} == {2} and len(mine) == 4
    assert stats.total.runs == 4
    assert [(p.job_id, p.instance_id) for p in plans] == [(10, 1), (10, 2)]
    assert all(p.reasons.get("fresh") == p.parents for p in plans)


async def test_a_failing_instance_leaves_the_other_alone_and_resumes_alone(db_dsn: str) -> None:
    async with two_instances(db_dsn) as (ts, sim1, sim2):
        first = await ts.run_jobs([2, 10])
        assert all(r.ok for r in first), [r.error for r in first]
        before = await snapshot(db_dsn, 1)
        studies = [r["id"] for r in sim2.records(STUDIES)][:3]
        sim2.configure(fail_parents={SUBJECTS: {str(s) for s in studies}})
        failed = await ts.run_jobs([10], full=True)
        by_instance = {r.instance_id: r for r in failed}
        assert by_instance[1].ok, by_instance[1].error
        assert by_instance[2].status == "failed"
        assert by_instance[2].error and by_instance[2].error.startswith("3 of ")
        after_failure = await snapshot(db_dsn, 1)
        # Instance 1's rows are what they were (a full run of unchanged data writes nothing).
        assert after_failure["rows"] == before["rows"]
        assert all(u[3] == "done" for u in after_failure["units"])
        sim2.configure(fail_parents={})
        [resumed] = await ts.run_jobs([10], instance_ids=[2])
    assert resumed.ok and resumed.instance_id == 2, resumed.error
    assert resumed.continues_run_id == by_instance[2].run_id
    assert resumed.progress.requests == 3  # only the failed parents of its pass
    assert await snapshot(db_dsn, 1) == after_failure  # no run, row or unit of instance 1
    assert await staged(db_dsn, "dim_subjects_staging", 2) == truth_of(sim2, SUBJECTS)
    assert await staged(db_dsn, "dim_subjects_staging", 1) == truth_of(sim1, SUBJECTS)


async def test_an_unreachable_instance_fails_alone(db_dsn: str) -> None:
    async with two_instances(db_dsn) as (ts, sim1, _sim2):
        await ts.set_instance(2, base_url="http://127.0.0.1:9/CCSWEB")
        results = await ts.run_jobs([3])
    by_instance = {r.instance_id: r for r in results}
    assert by_instance[1].ok and by_instance[2].status == "failed"
    assert await staged(db_dsn, "dim_patients_staging", 1) == truth_of(sim1, PATIENTS)
    assert await staged(db_dsn, "dim_patients_staging", 2) == (0, 0, 0)


async def test_deletions_upstream_mark_only_that_instances_rows(db_dsn: str) -> None:
    async with two_instances(db_dsn) as (ts, sim1, sim2):
        loaded = await ts.run_jobs([3])
        assert all(r.ok for r in loaded)
        gone = sim2.mutate(PATIENTS, delete=2)
        results = await ts.run_jobs([3])
    by_instance = {r.instance_id: r for r in results}
    assert by_instance[1].ok and by_instance[1].progress.deleted == 0
    assert by_instance[2].ok and by_instance[2].progress.deleted == 2, gone
    marked = await fetch(
        db_dsn,
        "SELECT source_instance_id, count(*) AS n FROM dim_patients_staging "
        "WHERE deleted_at IS NOT NULL GROUP BY 1",
    )
    assert [(m["source_instance_id"], m["n"]) for m in marked] == [(2, 2)]
    assert await staged(db_dsn, "dim_patients_staging", 1) == truth_of(sim1, PATIENTS)
    assert await staged(db_dsn, "dim_patients_staging", 2) == truth_of(sim2, PATIENTS)


async def test_the_lock_is_per_job_and_instance(db_dsn: str) -> None:
    holder = await connect(db_dsn)
    try:
        async with two_instances(db_dsn) as (ts, _sim1, sim2):
            assert await runs.take_job_lock(holder, 3, 1)  # instance 1's job 3 is "running"
            results = await ts.run_jobs([3])
            by_instance = {r.instance_id: r for r in results}
            assert by_instance[1].status == "failed" and by_instance[1].run_id is None
            assert "already running" in (by_instance[1].error or "")
            assert by_instance[2].ok  # the same job for instance 2 runs meanwhile
            assert await staged(db_dsn, "dim_patients_staging", 2) == truth_of(sim2, PATIENTS)
            # Both instances at once: side by side, neither waits for the other.
            await runs.release_job_lock(holder, 3, 1)
            both = await asyncio.gather(
                ts.run_jobs([3], instance_ids=[1]), ts.run_jobs([3], instance_ids=[2])
            )
            assert all(r.ok for group in both for r in group)
    finally:
        await holder.close()


async def test_scope_own_and_unknown_or_unrelated_instances(db_dsn: str) -> None:
    async with two_instances(db_dsn) as (ts, _sim1, _sim2):
        conn = await connect(db_dsn)
        try:
            await conn.execute("UPDATE dw_etl_jobs SET instance_scope = 'own' WHERE id = 3")
        finally:
            await conn.close()
        assert (await ts.job_instances())[3] == [1]
        assert (await ts.job_instances())[2] == [1, 2]
        with pytest.raises(ConfigError, match="does not run for instance 2"):
            await ts.run_jobs([3], instance_ids=[2])
        with pytest.raises(UnknownInstanceError):
            await ts.run_jobs([2], instance_ids=[9])
        with pytest.raises(ConfigError, match="exists already"):
            await ts.add_instance(2, base_url="http://127.0.0.1:9/CCSWEB", api_key_env="X")
        await ts.set_instance(2, is_active=False)  # an inactive instance runs no job
        assert (await ts.job_instances())[2] == [1]


async def test_cli_add_run_and_runs_json(db_dsn: str) -> None:
    async with (
        SimulatorServer(sim_options()) as sim1,
        SimulatorServer(sim_options(seed=OTHER_SEED)) as sim2,
        loader(db_dsn, sim1),
    ):
        env = {"DATABASE_URL": db_dsn, "SECOND_KEY": sim2.api_key}
        rc, out, err = await cli(
            "instances", "add", "2", "--base-url", sim2.base_url, "--api-key-env", "SECOND_KEY",
            "--rate-limit", "0", env=env,
        )  # fmt: skip
        assert rc == 0, err
        assert out.startswith("instance 2 added: it runs ")
        rc, _, err = await cli("instances", "add", "2", "--base-url", sim2.base_url,
                               "--api-key-env", "SECOND_KEY", env=env)  # fmt: skip
        assert rc == 1 and "exists already" in err
        rc, out, err = await cli("--job", "3", "--instance", "2", env=env)
        assert rc == 0, err
        rc, out, err = await cli("--job", "3", env=env)  # every instance it runs for
        assert rc == 0, err
        assert "instance" in out.splitlines()[0] and "2 of 2 jobs succeeded" in out
        rc, out, err = await cli("runs", "--json", env=env)
        assert rc == 0, err
        listed = orjson.loads(out)["runs"]
        # newest first: the two runs of `--job 3` (side by side, either first), then --instance 2
        assert [r["job_id"] for r in listed] == [3, 3, 3]
        assert sorted(r["instance_id"] for r in listed[:2]) == [1, 2]
        assert listed[2]["instance_id"] == 2
        rc, out, _ = await cli("runs", "--instance", "1", "--json", env=env)
        assert [r["instance_id"] for r in orjson.loads(out)["runs"]] == [1]
        rc, out, _ = await cli("plan", "--job", "3", env=env)
        assert rc == 0 and out.splitlines()[0].split()[:2] == ["job", "instance"]
        rc, out, _ = await cli("stats", "--instance", "2", "--json", env=env)
        assert orjson.loads(out)["total"]["runs"] == 2
        rc, out, _ = await cli("jobs", "list", "--active", "--instance", "2", "--json", env=env)
        listed_jobs = orjson.loads(out)["jobs"]
        assert rc == 0 and len(listed_jobs) == 68
        assert all(j["instances"] == [1, 2] for j in listed_jobs)
        rc, out, _ = await cli("jobs", "list", env=env)
        assert out.splitlines()[0].split()[:3] == ["id", "name", "instances"]
    assert await staged(db_dsn, "dim_patients_staging", 2) == truth_of(sim2, PATIENTS)


async def test_demo_loads_two_instances_side_by_side(db_dsn: str) -> None:
    env = {"DATABASE_URL": db_dsn}
    rc, out, err = await cli("demo", "--scale", "0.01", "--instances", "2", env=env)
    assert rc == 0, (out[-2000:], err[-2000:])
    assert "instance 2: simulator at " in out and "instances 2..2 are inactive now" in out
    counts = await fetch(
        db_dsn,
        "SELECT credential_id, count(*) FILTER (WHERE run_status = 'success') AS ok, "
        "count(*) AS n FROM dw_etl_runs GROUP BY 1 ORDER BY 1",
    )
    assert [(c["credential_id"], c["ok"] == c["n"]) for c in counts] == [(1, True), (2, True)]
    assert counts[0]["n"] == counts[1]["n"]
    differ = await fetch(
        db_dsn,
        "SELECT source_instance_id, sum((data->>'id')::bigint) AS s FROM dim_studies_staging "
        "GROUP BY 1 ORDER BY 1",
    )
    assert len(differ) == 2 and differ[0]["s"] != differ[1]["s"]


async def test_freshness_is_per_instance_in_the_cli_metrics_api_and_page(db_dsn: str) -> None:
    """Job 3 succeeds for instance 1 and fails for instance 2 (unreachable): `jobs list`,
    `jobs show`, /metrics, /api/jobs and the page say both, each for its instance."""
    async with two_instances(db_dsn) as (ts, _sim1, _sim2):
        await ts.set_instance(2, base_url="http://127.0.0.1:9/CCSWEB")
        results = await ts.run_jobs([3])
        by_instance = {r.instance_id: r for r in results}
        assert by_instance[1].ok and by_instance[2].status == "failed"
        view = StubView(ts.settings, ts.pool)
        async with TestClient(TestServer(build_app(view, ServiceMetrics(view)))) as client:
            metrics = await (await client.get("/metrics")).text()
            api = await (await client.get("/api/jobs")).json()
            page = await (await client.get("/")).text()
        pairs = sum(len(v) for v in (await ts.job_instances()).values())
    env = {"DATABASE_URL": db_dsn}

    rc, out, err = await cli("jobs", "list", "--json", env=env)
    assert rc == 0, err
    jobs = {j["id"]: j for j in orjson.loads(out)["jobs"]}
    listed = jobs[3]["freshness_by_instance"]
    assert [(f["instance_id"], f["state"]) for f in listed] == [(1, "fresh"), (2, "failing")]
    assert listed[1]["failed_run_id"] == by_instance[2].run_id
    assert listed[0]["last_success_run_id"] == by_instance[1].run_id
    # the job as one value: its worst instance
    assert (jobs[3]["freshness"]["state"], jobs[3]["freshness"]["instance_id"]) == ("failing", 2)
    assert [f["state"] for f in jobs[2]["freshness_by_instance"]] == ["never", "never"]
    rc, out, err = await cli("jobs", "list", "--state", "fresh", "--json", env=env)
    assert rc == 0 and [j["id"] for j in orjson.loads(out)["jobs"]] == [3], err
    rc, out, err = await cli("jobs", "list", env=env)
    line = next(x for x in out.splitlines() if x.split()[:1] == ["3"])
    assert "1 fresh; 2 failing" in line, line
    rc, out, err = await cli("jobs", "show", "3", env=env)
    assert rc == 0, err
    assert "freshness (instance 1)" in out and "freshness (instance 2)" in out
    assert f"run {by_instance[2].run_id} failed" in out
    rc, out, _ = await cli("jobs", "show", "3", "--json", env=env)
    shown = orjson.loads(out)
    assert [f["state"] for f in shown["freshness_by_instance"]] == ["fresh", "failing"]
    # --instance N: that instance's freshness only, and --state judged on it
    rc, out, err = await cli("jobs", "list", "--instance", "2", env=env)
    assert rc == 0, err
    line = next(x for x in out.splitlines() if x.split()[:1] == ["3"])
    assert "2 failing" in line and "fresh" not in line, line
    rc, out, err = await cli("jobs", "list", "--instance", "1", "--json", env=env)
    one = {j["id"]: j for j in orjson.loads(out)["jobs"]}[3]
    assert [(f["instance_id"], f["state"]) for f in one["freshness_by_instance"]] == [(1, "fresh")]
    assert (one["freshness"]["instance_id"], one["instances"]) == (1, [1, 2])
    rc, out, err = await cli("jobs", "list", "--instance", "2", "--state", "fresh", "--json",
                             env=env)  # fmt: skip
    assert rc == 0 and orjson.loads(out)["jobs"] == [], err

    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    states = {
        (s.labels["job_id"], s.labels["api_instance"]): s.labels["state"]
        for s in families["trialsync_job_freshness_state"].samples
    }
    assert states[("3", "1")] == "fresh" and states[("3", "2")] == "failing"
    assert len(states) == pairs  # one series per (job, instance)
    stale = {(s.labels["job_id"], s.labels["api_instance"])
             for s in families["trialsync_job_stale"].samples}  # fmt: skip
    assert {("3", "1"), ("3", "2")} <= stale and len(stale) == pairs
    # the last success per (job, instance): instance 2's run of job 3 failed
    succeeded = {(s.labels["job_id"], s.labels["api_instance"])
                 for s in families["trialsync_last_success_timestamp_seconds"].samples}  # fmt: skip
    assert ("3", "1") in succeeded and ("3", "2") not in succeeded

    api_job = next(j for j in api if j["id"] == 3)
    assert [(f["instance_id"], f["state"]) for f in api_job["freshness_by_instance"]] == [
        (1, "fresh"), (2, "failing"),
    ]  # fmt: skip

    # the page: a row per (job, instance) with its instance; the counts count the pairs
    assert 'id="job-3-api-1"' in page and 'id="job-3-api-2"' in page
    assert "Jobs per API instance" in page and "<th>API</th>" in page
    count = {k: int(v) for k, v in re.findall(r'id="count-(\w+)">(\d+)<', page)}
    assert count["failing"] == 1 and count["fresh"] == 1
    assert sum(count.values()) == pairs
    second, first = page_row(page, "job-3-api-2"), page_row(page, "job-3-api-1")
    assert "API 2" in second and 'data-state="failing"' in second
    assert "API 1" in first and 'data-state="fresh"' in first and "success" in first


def page_row(page: str, row_id: str) -> str:
    start = page.index(f'id="{row_id}"')
    return page[start : page.index("</tr>", start)]


async def test_probe_each_instance_and_fanout_global_needs_them_all(db_dsn: str) -> None:
    """`jobs probe` probes every instance the job runs for (or --instance N), each against its
    own API and parents; `--fanout global` needs the latest probe of each to have passed."""
    async with two_instances(db_dsn) as (ts, _sim1, sim2):
        loaded = await ts.run_jobs([2, 11])
        assert all(r.ok for r in loaded), [(r.job_id, r.instance_id, r.error) for r in loaded]
        reports = await ts.probe_global_list(11, sample=5)
        assert [(r.instance_id, r.passed, r.parents_sampled) for r in reports] == [
            (1, True, 5), (2, True, 5),
        ]  # fmt: skip
        recorded = await fetch(
            db_dsn, "SELECT instance_id, passed FROM dw_etl_fanout_probes ORDER BY id"
        )
        assert [tuple(r) for r in recorded] == [(1, True), (2, True)]
        sim2.configure(global_list_drop=1.0)  # instance 2's global list is empty now
        env = {"DATABASE_URL": db_dsn}
        rc, out, err = await cli("jobs", "probe", "11", "--sample", "3", env=env)
        assert rc == 1, err
        assert f"job 11 (Visits), instance 1: {VISITS_GLOBAL} probe passed" in out
        assert f"job 11 (Visits), instance 2: {VISITS_GLOBAL} probe FAILED" in out
        assert "switch with" not in out
        with pytest.raises(InvalidSettingError, match="for instance 2: its latest probe failed"):
            await ts.set_job(11, values={"fanout": "global"})
        rc, out, err = await cli("jobs", "probe", "11", "--instance", "1", "--json", env=env)
        doc = orjson.loads(out)
        assert rc == 0 and doc["passed"] and [p["instance_id"] for p in doc["probes"]] == [1]
        sim2.configure(global_list_drop=0.0)
        rc, out, err = await cli("jobs", "probe", "11", "--instance", "2", env=env)
        assert rc == 0 and "instance 2: " in out and "switch with" in out, out + err
        await ts.set_job(11, values={"fanout": "global"})  # each instance's latest passed
        rc, _, err = await cli("jobs", "probe", "11", "--instance", "9", env=env)
        assert rc == 1 and "9" in err and "Traceback" not in err
        await ts.set_job(11, values={"instance_scope": "own"})
        with pytest.raises(ConfigError, match="does not run for instance 2"):
            await ts.probe_global_list(11, instance_ids=[2])
        assert [r.instance_id for r in await ts.probe_global_list(11, sample=2)] == [1]


async def test_schema_drift_baseline_and_schema_are_per_instance(db_dsn: str) -> None:
    """Instance 2's API drifts, instance 1's does not: each run compares with the previous
    checked run of its own instance, so alternating instances warns of nothing new; `schema`
    shows each instance's drift."""
    async with two_instances(db_dsn) as (ts, sim1, sim2):
        sim2.configure(field_changes=DRIFT)
        [first2] = await ts.run_jobs([3], instance_ids=[2])  # instance 2's baseline
        [first1] = await ts.run_jobs([3], instance_ids=[1])  # instance 1's
        [again2] = await ts.run_jobs([3], instance_ids=[2])  # the same drift as its previous
        sim1.configure(field_changes=DRIFT)
        [drifted1] = await ts.run_jobs([3], instance_ids=[1])
        sim1.configure(field_changes=[])
        sim2.configure(field_changes=[])
    runs = (first2, first1, again2, drifted1)
    assert all(r.ok for r in runs), [r.error for r in runs]

    def drift_warnings(notes: dict[str, Any]) -> list[str]:
        return [w for w in notes.get("warnings", []) if "schema drift" in w]

    assert first2.progress.notes["schema_drift"]["missing"] == ["lastName"]
    assert "missing" not in first1.progress.notes["schema_drift"]
    for quiet in (first2, first1, again2):  # (a job-wide baseline warned on again2)
        assert drift_warnings(quiet.progress.notes) == [], quiet.progress.notes
    assert drift_warnings(drifted1.progress.notes) == [
        "new schema drift against PatientViewModel: loyaltyTier (undeclared), lastName "
        f"(missing) (not in run {first1.run_id})"
    ]

    env = {"DATABASE_URL": db_dsn}
    rc, out, err = await cli("schema", "--job", "3", "--json", env=env)
    assert rc == 0, err
    jobs = orjson.loads(out)["jobs"]
    assert [(j["job_id"], j["instance_id"], j["checked_runs"], j["latest_run"]) for j in jobs] == [
        (3, 1, 2, drifted1.run_id), (3, 2, 2, again2.run_id),
    ]  # fmt: skip
    missing = {j["instance_id"]: next(f for f in j["fields"] if f["field"] == "lastName")
               for j in jobs}  # fmt: skip
    assert missing[1]["first_run"] == drifted1.run_id and missing[2]["runs"] == 2
    rc, out, err = await cli("schema", "--job", "3", env=env)
    assert rc == 0, err
    assert "job 3 Patients, instance 1: PatientViewModel, 2 checked runs" in out
    assert "job 3 Patients, instance 2: PatientViewModel, 2 checked runs" in out
    rc, out, err = await cli("schema", "--instance", "2", "--json", env=env)
    assert rc == 0, err
    assert [(j["job_id"], j["instance_id"]) for j in orjson.loads(out)["jobs"]] == [(3, 2)]
    rc, out, err = await cli("schema", "--instance", "2", env=env)
    assert "job 3 Patients: PatientViewModel, 2 checked runs" in out  # one instance shown
