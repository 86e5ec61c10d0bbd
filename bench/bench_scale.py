"""Rehearsal at the seed's volumes: every per-run step timed through the loader's own code.

For each scale (a share of production: 157,270 studies, 152,836 patients, 2,297,271 patient
visits, 2,090,584 visit elements, 860,893 appointments, 88,773 subjects, 9,506 visits) a fresh
database is filled straight in PostgreSQL: the parent and staging tables, the unit state of all
26 active fan-outs as after a completed initial load (about 8.1 million units at 100%), a year
of daily run history. Autovacuum is off on every filled table and nothing is analysed: each
statement meets statistics as stale as a run does right after filling a table.

Then, timed: ``plan --all``; each fan-out's selection and gone-parents settle with nothing due;
a daily cycle's revisit bookkeeping (1/28 of every fan-out's units); the deletion settle of a
complete pass over every patient visit; ``runs``, ``stats``, ``failures``; the status page and
``/metrics``; the retention over the year of history. End to end through the simulator (a child
process): job 9 over patient visits (first load and an unchanged reload, each with its settle)
and job 152 over every patient with nothing due.

Prints each step at each scale, the growth from the smaller scale to the larger (linear: about
the ratio of the scales) and the peak RSS; exits 1 when a step grows more than 1.5 times the
scale ratio or a budget (at 100%) is exceeded.

    python bench/bench_scale.py                 # 10% and 100% (make bench-scale)
    python bench/bench_scale.py --scales 0.01,0.1 --e2e-scale 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_support beside this file

from bench_support import bench_database, table
from ccsim import SimulatorOptions, SimulatorProcess
from trialsync_async.api import ApiClient
from trialsync_async.app import TrialSync
from trialsync_async.db import deletions, parameters, retention, units
from trialsync_async.db.connect import connect
from trialsync_async.db.freshness import ParentsOverdue, parents_overdue
from trialsync_async.db.units import Revisit, UnitUpdate
from trialsync_async.engine.job_run import JobRun
from trialsync_async.identifiers import quote_ident
from trialsync_async.inventory import JobSpec
from trialsync_async.log import configure_logging
from trialsync_async.service.http import build_app
from trialsync_async.service.metrics import ServiceMetrics
from trialsync_async.settings import Settings

T = TypeVar("T")

SEED = {  # production sizes (the design document)
    "studies": 157_270,
    "patients": 152_836,
    "patient_visits": 2_297_271,
    "visit_elements": 2_090_584,
    "appointments": 860_893,
    "subjects": 88_773,
    "visits": 9_506,
}
E2E_VISITS = 2_000_000  # job 9 end to end at 100%
VISITS_PER_SUBJECT = 979.5  # the simulator's patient visits per unit of its per-subject size
E2E_PARENTS = 150_000  # job 152 end to end at 100%
BUDGETS = {  # seconds at 100% on the 2-core development machine (issue 18)
    "plan --all": 60.0,
    "fan-out selection + settle, nothing due (slowest)": 20.0,
    "daily cycle, all 26 fan-outs (selection, settle, revisits)": 600.0,
    "settle of a complete patient-visit pass": 60.0,
    "status page": 2.0,
}
RSS_BUDGET_MB = 300.0
GROWTH_SLACK = 1.5  # a step may grow 1.5x the scale ratio before it counts as superlinear
DAYS = 365


@dataclass
class Scale:
    share: float
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, str] = field(default_factory=dict)

    def n(self, what: str) -> int:
        return max(1, round(SEED[what] * self.share))


async def timed(scale: Scale, step: str, work: Callable[[], Awaitable[T]]) -> T:
    started = time.perf_counter()
    result = await work()
    scale.seconds[step] = scale.seconds.get(step, 0.0) + time.perf_counter() - started
    return result


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- filling ------------------------------------------------------------------------------

FILLED = (
    "dim_studies_staging", "dim_patients_staging", "dim_patient_visits_staging",
    "dim_visit_elements_staging", "dim_appointments_staging", "dim_subjects_staging",
    "dim_visits_staging", "dw_etl_unit_state", "dw_etl_runs", "dw_etl_run_failures",
    "dw_etl_seen_keys", "dw_etl_ticks",
)  # fmt: skip


async def fill(conn: asyncpg.Connection, scale: Scale, jobs: dict[int, JobSpec]) -> None:
    """Parent and staging tables, unit state, run history: straight in PostgreSQL."""
    for name in FILLED:
        await conn.execute(f"ALTER TABLE {quote_ident(name)} SET (autovacuum_enabled = false)")
    s, p = scale.n("studies"), scale.n("patients")
    v, e = scale.n("patient_visits"), scale.n("visit_elements")

    async def rows(target: str, n: int, data: str, job: int, scope: str = "NULL") -> None:
        await conn.execute(
            f"INSERT INTO {quote_ident(target)} (data, source_instance_id, etl_job_id, "
            f"scope_key, source_id) SELECT {data}, 1, {job}, {scope}, '1' "
            f"FROM generate_series(1, $1) AS i",
            n,
        )

    await rows("dim_studies_staging", s, "jsonb_build_object('id', i, 'name', 'S' || i)", 2)
    await rows("dim_patients_staging", p, "jsonb_build_object('id', i, 'firstName', 'P' || i)", 3)
    await rows(
        "dim_patient_visits_staging", v,
        f"jsonb_build_object('id', i, 'patient', jsonb_build_object('id', 1 + i % {p}))", 9,
    )  # fmt: skip
    await rows(
        "dim_visit_elements_staging", e,
        f"jsonb_build_object('id', i, 'visitId', 1 + i % {v})", 166,
        f"'patientVisitId=' || (1 + i % {v})",
    )  # fmt: skip
    await rows("dim_appointments_staging", scale.n("appointments"),
               "jsonb_build_object('id', i)", 25)  # fmt: skip
    await rows(
        "dim_subjects_staging", scale.n("subjects"),
        f"jsonb_build_object('id', i, 'study', jsonb_build_object('id', 1 + i % {s}))", 10,
        f"'studyId=' || (1 + i % {s})",
    )  # fmt: skip
    await rows(
        "dim_visits_staging", scale.n("visits"),
        f"jsonb_build_object('id', i, 'study', jsonb_build_object('id', 1 + i % {s}))", 11,
        f"'studyId=' || (1 + i % {s})",
    )  # fmt: skip
    for job in jobs.values():
        if job.is_active and job.parameters:
            await unit_state(conn, job)
    await history(conn, jobs)
    # a complete pass of job 9 that saw every visit but 0.5% (gone upstream)
    await conn.execute(
        "INSERT INTO dw_etl_seen_keys (pass_id, k) SELECT 999999, i::text "
        "FROM generate_series(1, $1) AS i WHERE i % 200 <> 0",
        v,
    )


async def unit_state(conn: asyncpg.Connection, job: JobSpec) -> None:
    """A completed initial load: every parent fetched, unchanged, due within 1..28 days; the
    scopes' live rows recorded (their children are all there: nothing is lost)."""
    names = [f"p{i}" for i in range(len(job.parameters))]
    scope = " || '&' || ".join(
        f"'{p.name}=' || s.{n}" for p, n in zip(job.parameters, names, strict=True)
    )
    values = ", ".join(f"'{p.name}', s.{n}" for p, n in zip(job.parameters, names, strict=True))
    selection = parameters.ParameterSql.for_job(job).selection
    await conn.execute(
        f"""INSERT INTO dw_etl_unit_state (job_id, instance_id, unit_key, pass_id, run_id,
                status, parameters, records, fetched_at, parent_version, refresh_seconds,
                due_at, staged_rows)
            SELECT $2, 1, {scope}, 1, 1, 'done', jsonb_build_object({values}), 1,
                   now() - interval '1 day', s.version, 28 * 86400,
                   now() + make_interval(days => 1 + (hashtext({scope}) & 16777215) % 27),
                   NULL
            FROM ({selection}) AS s""",
        1, job.id, 0, False, datetime.now(UTC),
    )  # fmt: skip
    # staged_rows where children exist: exactly what the scope holds
    await conn.execute(
        f"""UPDATE dw_etl_unit_state AS u SET staged_rows = c.n
            FROM (SELECT scope_key, count(*) AS n FROM {quote_ident(job.target_table)}
                  WHERE etl_job_id = $1 AND scope_key IS NOT NULL GROUP BY scope_key) AS c
            WHERE u.job_id = $1 AND u.unit_key = c.scope_key""",
        job.id,
    )


async def history(conn: asyncpg.Connection, jobs: dict[int, JobSpec]) -> None:
    """A year of daily runs of every active job, 2% failed with a failed unit, and ticks."""
    active = [j.id for j in jobs.values() if j.is_active]
    await conn.execute(
        """INSERT INTO dw_etl_runs (job_id, run_status, started_at, completed_at, credential_id,
               records_fetched, records_loaded, requests_made, error_message, notes)
           SELECT j, CASE WHEN (j + d) % 50 = 0 THEN 'failed' ELSE 'success' END,
                  LOCALTIMESTAMP - make_interval(days => d, mins => j),
                  LOCALTIMESTAMP - make_interval(days => d, mins => j) + interval '90 s',
                  1, 1000, 10, 12,
                  CASE WHEN (j + d) % 50 = 0 THEN '1 of 1000 units failed' END,
                  '{"paging": "keyset"}'
           FROM unnest($1::int[]) AS j, generate_series(0, $2 - 1) AS d""",
        active, DAYS,
    )  # fmt: skip
    await conn.execute("UPDATE dw_etl_runs SET pass_id = run_id WHERE pass_id IS NULL")
    await conn.execute(
        "INSERT INTO dw_etl_run_failures (run_id, parameters, error_message) "
        "SELECT run_id, jsonb_build_object('studyId', run_id::text), 'HTTP 500' "
        "FROM dw_etl_runs WHERE run_status = 'failed'"
    )
    await conn.execute(
        """INSERT INTO dw_etl_ticks (job_id, instance_id, due_at, source, status, finished_at)
           SELECT j, 1, now() - make_interval(days => d), 'schedule', 'success',
                  now() - make_interval(days => d)
           FROM unnest($1::int[]) AS j, generate_series(0, $2 - 1) AS d""",
        active, DAYS,
    )  # fmt: skip


# --- the steps ---------------------------------------------------------------------------


class BenchView:
    """What the HTTP handlers read of a replica (no scheduler, no runs)."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self._settings, self._pool = settings, pool
        self.overdue: dict[tuple[int, int], ParentsOverdue] = {}  # the service's background read

    @property
    def replica_id(self) -> str:
        return "bench"

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    def loop_lag(self) -> float:
        return 0.0

    def live_replicas(self) -> int:
        return 1

    def running(self) -> list[JobRun]:
        return []

    def clients(self) -> list[ApiClient]:
        return []

    def parents_overdue(self) -> dict[tuple[int, int], ParentsOverdue]:
        return self.overdue


async def steps(scale: Scale, ts: TrialSync, dsn: str, jobs: dict[int, JobSpec]) -> None:
    fanouts = [j for j in jobs.values() if j.is_active and j.parameters]
    await timed(scale, "plan --all", lambda: ts.plan(None))
    conn = await connect(dsn)
    try:
        now = datetime.now(UTC)
        slowest = 0.0
        for job in fanouts:
            started = time.perf_counter()
            await parameters.mark_lost(conn, job, 1)
            selection = parameters.Selection(0, False, now)
            counts = await parameters.select_parents(conn, job, 1, selection, 900_000 + job.id)
            await parameters.drop_selection(conn, 900_000 + job.id)
            await parameters.settle_gone_parents(conn, job, 1, max_share=job.max_deletes)
            took = time.perf_counter() - started
            fetched = sum(counts.get(r, 0) for r in parameters.FETCHED_REASONS)
            if fetched:
                scale.notes[f"job {job.id}"] = f"{fetched} parents due (expected 0)"
            slowest = max(slowest, took)
            if job.id == 166:
                scale.seconds["fan-out selection + settle, nothing due (job 166)"] = took
            scale.seconds["daily cycle, all 26 fan-outs (selection, settle, revisits)"] = (
                scale.seconds.get("daily cycle, all 26 fan-outs (selection, settle, revisits)", 0)
                + took
            )
        scale.seconds["fan-out selection + settle, nothing due (slowest)"] = slowest
        started = time.perf_counter()
        for job in fanouts:
            await revisits(conn, job, now)
        took = time.perf_counter() - started
        scale.seconds["daily revisit bookkeeping, all fan-outs"] = took
        scale.seconds["daily cycle, all 26 fan-outs (selection, settle, revisits)"] += took
        settled = await timed(
            scale, "settle of a complete patient-visit pass",
            lambda: deletions.settle_unseen(
                conn, table="dim_patient_visits_staging", instance_id=1, job_id=9,
                pass_id=999999, by_id=True, policy="mark", max_share=0.10,
            ),
        )  # fmt: skip
        scale.notes["settle"] = f"{settled.rows:,} of {settled.live_before:,} marked"
    finally:
        await conn.close()
    await timed(scale, "runs", lambda: ts.run_history(limit=20))
    await timed(scale, "stats", lambda: ts.run_stats(days=7))
    await timed(scale, "failures", lambda: ts.run_failures(limit=50))
    await http_steps(scale, ts)
    conn = await connect(dsn)
    try:
        before = await retention.sizes(conn)
        pruned = await timed(scale, "retention (90 days)", lambda: retention.prune(conn, 90))
        after = await retention.sizes(conn)
    finally:
        await conn.close()
    scale.notes["retention"] = f"{pruned.runs:,} runs, {pruned.ticks:,} ticks removed"
    for name, (n, nbytes) in before.items():
        kept, kept_bytes = after[name]
        scale.sizes[name] = (
            f"{n:,} rows {nbytes / 2**20:,.0f} MiB -> {kept:,} rows {kept_bytes / 2**20:,.0f} MiB"
        )


async def revisits(conn: asyncpg.Connection, job: JobSpec, now: datetime) -> None:
    """A daily cycle's bookkeeping: 1/28 of the units revisited, unchanged, in batches."""
    keys = [
        r["unit_key"]
        for r in await conn.fetch(
            "SELECT unit_key, parameters FROM dw_etl_unit_state WHERE job_id = $1 "
            "AND instance_id = 1 AND hashtext(unit_key) % 28 = 0",
            job.id,
        )
    ]
    revisit = Revisit(job.min_refresh, job.max_refresh, now)
    for i in range(0, len(keys), 500):
        batch = [UnitUpdate(k, "done", {}, records=1) for k in keys[i : i + 500]]
        async with conn.transaction():
            await units.upsert(
                conn, job_id=job.id, instance_id=1, pass_id=2, run_id=2, updates=batch,
                revisit=revisit,
            )  # fmt: skip


async def http_steps(scale: Scale, ts: TrialSync) -> None:
    view = BenchView(ts.settings, ts.pool)
    started = time.perf_counter()
    async with ts.pool.acquire() as conn:  # what `serve` reads in the background every 5 min
        view.overdue = await parents_overdue(conn)
    scale.seconds["parents overdue (serve: in the background)"] = time.perf_counter() - started
    runner = web.AppRunner(build_app(view, ServiceMetrics(view)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            for step, path in (("status page", "/"), ("/metrics", "/metrics")):
                started = time.perf_counter()
                async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
                    await resp.read()
                    assert resp.status == 200, (path, resp.status)
                scale.seconds[step] = time.perf_counter() - started
    finally:
        await runner.cleanup()


async def end_to_end(scale: Scale, stack: AsyncExitStack) -> None:
    """Job 9 over patient visits (load, unchanged reload) and job 152 with nothing due."""
    dsn, _ = await bench_database(stack)
    visits = max(1, round(E2E_VISITS * scale.share))
    patients = max(1, round(E2E_PARENTS * scale.share))
    settings = Settings.from_dsn(dsn, log_format="json", log_level="WARNING", concurrency=16)
    sizes = {"patient_visits": visits / VISITS_PER_SUBJECT, "patients": patients}
    sim = await stack.enter_async_context(
        SimulatorProcess(SimulatorOptions(scale=1.0, size_overrides=sizes))
    )
    visits = int(sim.truth("/api/v1/patient-visits/odata")["count"])
    ts = await stack.enter_async_context(TrialSync(settings, require_schema=False))
    await ts.migrate()
    await ts.set_instance(1, base_url=sim.base_url, api_key=sim.api_key,
                          auth_header=sim.options.api_key_header, rate_limit=0)  # fmt: skip
    scale.notes["end to end"] = f"job 9 over {visits:,} patient visits"
    for step in ("job 9: first load (end to end)", "job 9: unchanged reload (end to end)"):
        [result] = await timed(scale, step, lambda: ts.run_jobs([9]))
        if not result.ok or result.progress.fetched != visits:
            scale.notes[step] = f"{result.status}: {result.error} ({result.progress.fetched})"
    [parents] = await ts.run_jobs([3])
    conn = await connect(dsn)
    try:
        jobs = {j.id: j for j in ts.inventory()}
        await unit_state(conn, jobs[152])
    finally:
        await conn.close()
    scale.notes["end to end"] += f"; job 152 over {parents.progress.fetched:,} patients"
    [fanout] = await timed(scale, "job 152: nothing due (end to end)", lambda: ts.run_jobs([152]))
    if not fanout.ok or fanout.progress.requests:
        scale.notes["job 152"] = f"{fanout.status}, {fanout.progress.requests} requests"


async def one_scale(share: float, e2e: bool) -> Scale:
    scale = Scale(share)
    async with AsyncExitStack() as stack:
        dsn, where = await bench_database(stack)
        settings = Settings.from_dsn(dsn, log_format="json", log_level="WARNING")
        ts = await stack.enter_async_context(TrialSync(settings, require_schema=False))
        await ts.migrate()
        jobs = {j.id: j for j in ts.inventory()}
        print(f"\n--- {share:.0%} of production ({where}) ---", flush=True)
        conn = await connect(dsn)
        try:
            started = time.perf_counter()
            await fill(conn, scale, jobs)
            units_n = await conn.fetchval("SELECT count(*) FROM dw_etl_unit_state")
            print(f"filled in {time.perf_counter() - started:.0f} s: {units_n:,} units, "
                  + ", ".join(f"{k} {scale.n(k):,}" for k in SEED), flush=True)  # fmt: skip
        finally:
            await conn.close()
        await steps(scale, ts, dsn, jobs)
    if e2e:
        async with AsyncExitStack() as stack:
            await end_to_end(scale, stack)
    return scale


def report(scales: list[Scale]) -> bool:
    ok = True
    steps = list(dict.fromkeys(step for s in scales for step in s.seconds))
    headers = ["step", *(f"{s.share:.0%} (s)" for s in scales)]
    growth = len(scales) >= 2
    if growth:
        ratio = scales[-1].share / scales[-2].share
        headers.append(f"growth (x{ratio:g} data)")
    headers.append("budget at 100%")
    rows = []
    for step in steps:
        row: list[object] = [step]
        row += [f"{s.seconds[step]:.2f}" if step in s.seconds else "-" for s in scales]
        verdict = ""
        if growth and step in scales[-1].seconds and step in scales[-2].seconds:
            small, big = scales[-2].seconds[step], scales[-1].seconds[step]
            factor = big / max(small, 0.05)  # steps under 50 ms: timer noise, not growth
            row.append(f"{factor:.1f}")
            if factor > GROWTH_SLACK * ratio and big > 1.0:
                verdict = "SUPERLINEAR"
        elif growth:
            row.append("")
        budget = BUDGETS.get(step)
        full = next((s.seconds.get(step) for s in scales if s.share == 1.0), None)
        if budget is not None:
            over = full is not None and full > budget
            row.append(f"{budget:g} s" + (" OVER" if over else (" ok" if full else "")))
            ok = ok and not over
        else:
            row.append("")
        if verdict:
            row[-1] = f"{row[-1]} {verdict}".strip()
            ok = False
        rows.append(row)
    print()
    print(table(headers, rows))
    for s in scales:
        for what, note in s.notes.items():
            print(f"{s.share:.0%}: {what}: {note}")
            if "expected 0" in note or "failed" in note:
                ok = False
        for name, size in s.sizes.items():
            print(f"{s.share:.0%}: {name}: {size}")
    peak = rss_mb()
    print(f"\npeak RSS of the loader process: {peak:.0f} MiB (budget {RSS_BUDGET_MB:g})")
    ok = ok and peak <= RSS_BUDGET_MB
    print("PASS" if ok else "FAIL")
    return ok


async def main(args: argparse.Namespace) -> int:
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}")
    configure_logging("WARNING", "json")
    scales = []
    for share in args.scales:
        scales.append(await one_scale(share, e2e=share in args.e2e_scales))
    return 0 if report(scales) else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    def shares(text: str) -> list[float]:
        return [float(x) for x in text.split(",") if x]

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scales",
        type=shares,
        default=[0.1, 1.0],
        help="shares of production, comma-separated (default 0.1,1)",
    )
    parser.add_argument(
        "--e2e-scales",
        type=shares,
        default=[0.1, 1.0],
        help="the scales that also run end to end through the simulator",
    )
    return parser.parse_args(argv)  # fmt: skip


def _uvloop_run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    raise SystemExit(_uvloop_run(main(parse_args())))


__all__: list[Any] = []
