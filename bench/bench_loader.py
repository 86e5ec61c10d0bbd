"""Throughput of the loader end to end: simulator (child process) -> loader -> PostgreSQL.

One run, phases in order (fresh database; the simulator has latency 0 and no faults):

* setup (not measured): load the parent lists, studies (job 2) and patients (job 3);
* unlimited: no rate limit on the server nor on the instance; the plain job Appointments (job 25,
  ``--plain-records``) then the fan-out Visits per study (job 11, ``--parents`` studies, one
  request per study); rows, seconds, rows/s, requests/s, staged count vs. simulator truth;
* limited: server limit ``--limited-rate`` per key and the same instance limit; the fan-out
  Patient Medications (job 152, ``--limited-parents`` patients, one request per patient);
  requests/s vs. the limit, the server's busiest second and its 429 count (should be 0);
* drift: the same plain job again (emptied table) while the simulator inserts,
  deletes and updates a record on ``--churn`` of its requests, in a natural order that is not id
  order: once with the loader's keyset paging, once forced to plain ``$skip`` paging for
  comparison; records present for the whole run (a snapshot before and after) that were not
  staged are "missed" (must be 0 with keyset);
* baseline: the same appointment records (fetched beforehand, serialised as the loader does)
  written with ``bench_support.bare_write`` in batches of ``--batch-rows`` into the emptied
  table: the writer's own COPY -> temp -> merge statements without HTTP; loader rows/s over
  baseline rows/s.

PostgreSQL: ``TRIALSYNC_BENCH_DSN`` (a fresh database is created there and dropped at the end),
else an embedded PostgreSQL in a temporary directory (deleted at the end).

Run: ``.venv/bin/python bench/bench_loader.py [--concurrency 16] [--parents 20000] ...``
Exit status 1 when a staged count differs from the simulator's truth or a job fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shlex
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from bench_support import baseline, bench_database, fetch_rows, table
from ccsim import SimulatorOptions, SimulatorProcess
from trialsync_async.app import TrialSync
from trialsync_async.engine.result import JobResult
from trialsync_async.identifiers import quote_ident
from trialsync_async.inventory import JobSpec
from trialsync_async.log import configure_logging
from trialsync_async.settings import Settings

PLAIN_JOB = 25  # Appointments: /api/v1/appointments/odata, keyset ranges walked in parallel
DRIFT_JOB = PLAIN_JOB  # paged again while the data changes
PARENT_JOB = 2  # Studies: the parent list of FANOUT_JOB
FANOUT_JOB = 11  # Visits: /api/v1/studies/{studyId}/visits/odata, one request per study
LIMITED_PARENT_JOB = 3  # Patients: the parent list of LIMITED_JOB
LIMITED_JOB = 152  # Patient Medications: /api/v1/patients/{patientId}/medications
INSTANCE_ID = 1
NO_LIMIT = 0  # set_instance(rate_limit=0): the instance has no rate limit
BASELINE_FETCH_CONNECTIONS = 8


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@dataclass(slots=True)
class Measured:
    phase: str
    job: JobSpec
    result: JobResult
    staged: int
    truth: int
    sim: dict[str, Any]
    rss_mib: float

    @property
    def ok(self) -> bool:
        return self.result.ok and self.staged == self.truth

    @property
    def rows(self) -> int:
        return self.result.progress.written

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.result.seconds

    @property
    def requests_per_s(self) -> float:
        return self.result.progress.requests / self.result.seconds

    @property
    def throttled(self) -> int:
        return int(self.sim.get("by_status", {}).get("429", 0))


@dataclass(slots=True)
class Drift:
    paging: str
    rows_per_s: float
    requests: int
    mutations: int
    present: int
    missed: int
    duplicates: int


def sim_ids(sim: SimulatorProcess, template: str) -> set[int]:
    """Ids of every live record of ``template`` (the simulator's own dump)."""
    query = urllib.parse.urlencode({"template": template})
    with urllib.request.urlopen(f"{sim.admin_url}/records?{query}", timeout=120) as resp:
        return {int(r["id"]) for r in json.load(resp)}


class Bench:
    def __init__(self, args: argparse.Namespace, ts: TrialSync, sim: SimulatorProcess) -> None:
        self.args = args
        self.ts = ts
        self.sim = sim
        self.jobs = {job.id: job for job in ts.inventory()}

    async def set_rate(self, rate: float) -> None:
        await self.ts.set_instance(INSTANCE_ID, rate_limit=rate)

    async def run(self, job_id: int) -> JobResult:
        [result] = await self.ts.run_jobs([job_id])
        if not result.ok:
            print(f"  job {job_id} {result.status}: {result.error}", file=sys.stderr)
        return result

    async def staged(self, job: JobSpec) -> int:
        async with self.ts.pool.acquire() as conn:
            sql = f"SELECT count(*) FROM {quote_ident(job.target_table)}"
            return int(await conn.fetchval(sql))

    async def drift(self, paging: str, churn: float, page_size: int) -> Drift:
        """Job 9 while the data changes; records present throughout vs. records staged."""
        job = self.jobs[DRIFT_JOB]
        async with self.ts.pool.acquire() as conn:
            await conn.execute(f"TRUNCATE {quote_ident(job.target_table)}")
            await conn.execute("UPDATE dw_etl_jobs SET paging = $1 WHERE id = $2", paging, job.id)
        before = await asyncio.to_thread(sim_ids, self.sim, job.source_endpoint)
        await asyncio.to_thread(self.sim.configure, churn=churn, natural_order="shuffled")
        await asyncio.to_thread(self.sim.reset_stats)
        [result] = await self.ts.run_jobs([job.id], page_size=page_size, fresh=True)
        await asyncio.to_thread(self.sim.configure, churn=0.0, natural_order="id")
        after = await asyncio.to_thread(sim_ids, self.sim, job.source_endpoint)
        async with self.ts.pool.acquire() as conn:
            staged = [
                int(r[0])
                for r in await conn.fetch(
                    f"SELECT data->>'id' FROM {quote_ident(job.target_table)}"
                )
            ]
        present = before & after
        return Drift(
            paging="keyset (auto)" if paging == "auto" else "plain $skip",
            rows_per_s=result.progress.fetched / result.seconds,
            requests=result.progress.requests,
            mutations=int(result.progress.requests * churn),
            present=len(present),
            missed=len(present - set(staged)),
            duplicates=len(staged) - len(set(staged)),
        )

    async def measure(self, phase: str, job_id: int) -> Measured:
        job = self.jobs[job_id]
        await asyncio.to_thread(self.sim.reset_stats)
        result = await self.run(job_id)
        sim = await asyncio.to_thread(self.sim.stats)
        truth = await asyncio.to_thread(self.sim.truth, job.source_endpoint)
        staged = await self.staged(job)
        return Measured(phase, job, result, staged, int(truth["count"]), sim, peak_rss_mib())


def job_label(job: JobSpec) -> str:
    return f"{job.id} {job.name}"


async def main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(
        f"machine: {cpus} CPUs ({usable} usable), Python {platform.python_version()}, "
        f"event loop {loop}"
    )
    ok = True
    async with AsyncExitStack() as stack:
        dsn, where = await bench_database(stack)

        settings = Settings.from_dsn(
            dsn,
            concurrency=args.concurrency,
            batch_rows=args.batch_rows,
            log_format="json",
            log_level="WARNING",
        )
        configure_logging(settings.log_level, settings.log_format)
        jobs = {job.id: job for job in TrialSync(settings).inventory()}
        plain = jobs[PLAIN_JOB]
        sizes = {
            plain.source_endpoint: args.plain_records,
            jobs[PARENT_JOB].source_endpoint: args.parents,
            jobs[LIMITED_PARENT_JOB].source_endpoint: args.limited_parents,
        }
        sim = await stack.enter_async_context(
            SimulatorProcess(SimulatorOptions(scale=1.0, size_overrides=sizes))
        )
        ts = await stack.enter_async_context(TrialSync(settings, require_schema=False))
        await ts.migrate()
        await ts.set_instance(
            INSTANCE_ID,
            base_url=sim.base_url,
            api_key=sim.api_key,
            auth_header=sim.options.api_key_header,
            rate_limit=NO_LIMIT,
        )
        bench = Bench(args, ts, sim)
        print(f"database: {where}, a fresh database")
        print(
            "simulator: child process, scale 1, latency 0, no faults; sizes "
            + ", ".join(f"{path}={n:,}" for path, n in sizes.items())
        )
        print(
            f"loader: concurrency {args.concurrency}, batch {args.batch_rows:,} rows, "
            f"page size {settings.page_size}, log level {settings.log_level}; rate limits: "
            f"none (setup, unlimited), {args.limited_rate:g}/s on server and instance (limited)"
        )

        # --- setup: parent lists -----------------------------------------------------------
        setup = []
        for job_id in (PARENT_JOB, LIMITED_PARENT_JOB):
            setup.append(await bench.measure("setup", job_id))
        print()
        print("setup (parent lists, not measured): " + "; ".join(
            f"{job_label(m.job)} {m.rows:,} rows in {m.result.seconds:.1f} s "
            f"({'OK' if m.ok else 'MISMATCH'})" for m in setup
        ))  # fmt: skip

        # --- unlimited ---------------------------------------------------------------------
        unlimited = [
            await bench.measure("unlimited", PLAIN_JOB),
            await bench.measure("unlimited", FANOUT_JOB),
        ]
        rss_loader_unlimited = peak_rss_mib()

        # --- limited -----------------------------------------------------------------------
        await asyncio.to_thread(sim.configure, rate_limit_rps=args.limited_rate)
        await bench.set_rate(args.limited_rate)
        lim = await bench.measure("limited", LIMITED_JOB)
        await asyncio.to_thread(sim.configure, rate_limit_rps=None)
        rss_loader = peak_rss_mib()

        # --- baseline ----------------------------------------------------------------------
        t = time.perf_counter()
        rows = await fetch_rows(sim, plain, args.plain_records)
        fetch_s = time.perf_counter() - t
        base_rows, base_s = await baseline(dsn, plain, rows, args.batch_rows)
        del rows
        base_rate = base_rows / base_s

        # --- drift -------------------------------------------------------------------------
        drift = [
            await bench.drift(paging, args.churn, args.drift_page_size)
            for paging in ("auto", "offset")
        ]

        # --- report ------------------------------------------------------------------------
        measured = [*unlimited, lim]
        headers = ("phase / job", "units", "rows", "staged", "truth", "check", "seconds",
                   "rows/s", "requests", "req/s", "sim max/s", "429s", "pageQ", "batchQ",
                   "peak RSS MiB")  # fmt: skip
        body = [
            (
                f"{m.phase}: {job_label(m.job)}",
                f"{m.result.progress.units_total or 0:,}",
                f"{m.rows:,}",
                f"{m.staged:,}",
                f"{m.truth:,}",
                "OK" if m.ok else "MISMATCH",
                f"{m.result.seconds:.2f}",
                f"{m.rows_per_s:,.0f}",
                f"{m.result.progress.requests:,}",
                f"{m.requests_per_s:,.0f}",
                m.sim.get("max_per_second", 0),
                m.throttled,
                m.result.page_queue_high_water,
                m.result.batch_queue_high_water,
                f"{m.rss_mib:,.0f}",
            )
            for m in measured
        ]
        print()
        print(table(headers, body))
        print()
        ratio = lim.requests_per_s / args.limited_rate
        print(
            f"limited: {lim.requests_per_s:.1f} requests/s against a server limit of "
            f"{args.limited_rate:g}/s = {ratio:.3f} of the limit; server's busiest second "
            f"{lim.sim.get('max_per_second', 0)}, 429 responses {lim.throttled}"
            + ("" if lim.throttled == 0 else "  <-- expected 0")
        )
        plain_m = unlimited[0]
        print(
            f"baseline: bare_write, {base_rows:,} rows in batches of "
            f"{args.batch_rows:,} in {base_s:.2f} s = {base_rate:,.0f} rows/s "
            f"(records fetched beforehand in {fetch_s:.1f} s, not timed)"
        )
        print(
            f"plain job vs baseline: {plain_m.rows_per_s:,.0f} / {base_rate:,.0f} rows/s = "
            f"{plain_m.rows_per_s / base_rate:.2f}"
        )
        print(
            f"peak RSS of the loader process: {rss_loader_unlimited:,.0f} MiB after the "
            f"unlimited phase, {rss_loader:,.0f} MiB after the limited phase, "
            f"{peak_rss_mib():,.0f} MiB at the end (baseline holds its "
            f"{args.plain_records:,} rows in memory); simulator not counted"
        )
        print()
        print(table(
            ("drift: job 25, paging", "rows/s", "requests", "mutations", "present throughout",
             "missed", "staged twice"),
            [(d.paging, f"{d.rows_per_s:,.0f}", f"{d.requests:,}", f"{d.mutations:,}",
              f"{d.present:,}", f"{d.missed:,}", f"{d.duplicates:,}") for d in drift],
        ))  # fmt: skip
        keyset = drift[0]
        print(
            f"drift: keyset paging missed {keyset.missed} of {keyset.present:,} records present "
            f"throughout ({'OK' if keyset.missed == 0 else 'expected 0'}); plain $skip paging "
            f"missed {drift[1].missed} (shown for comparison)"
        )
        ok = (
            all(m.ok for m in [*setup, *measured])
            and base_rows == plain_m.truth
            and keyset.missed == 0
            and keyset.duplicates == 0
        )
        if base_rows != plain_m.truth:
            print(f"baseline MISMATCH: {base_rows:,} rows merged, truth {plain_m.truth:,}")
    total = time.perf_counter() - started
    print(f"total {total:.1f} s; result: {'OK' if ok else 'FAILED (truth check or job failure)'}")
    return 0 if ok else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain-records", type=int, default=200_000,
                        help="appointments in the plain job (job 25)")  # fmt: skip
    parser.add_argument("--parents", type=int, default=20_000,
                        help="studies = requests of the unlimited fan-out (job 11)")  # fmt: skip
    parser.add_argument("--limited-rate", type=float, default=50.0,
                        help="requests/s allowed by the server and the instance")  # fmt: skip
    parser.add_argument("--limited-parents", type=int, default=1_750,
                        help="patients = requests of the limited fan-out (job 152)")  # fmt: skip
    parser.add_argument("--drift-page-size", type=int, default=100,
                        help="$top in the drift phase")  # fmt: skip
    parser.add_argument("--churn", type=float, default=1.0,
                        help="share of drift-phase requests that mutate a record")  # fmt: skip
    parser.add_argument("--batch-rows", type=int, default=5_000, help="rows per COPY batch")
    parser.add_argument("--concurrency", type=int, default=32, help="fetch workers per job")
    args = parser.parse_args(argv)
    for name in ("plain_records", "parents", "limited_parents", "batch_rows", "concurrency"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.limited_rate <= 0:
        parser.error("--limited-rate must be positive")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        raise SystemExit(runner.run(main(arguments)))
