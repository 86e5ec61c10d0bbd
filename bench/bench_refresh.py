"""Request economy of the fan-out jobs: a full cycle, then daily cycles on a fake clock.

Production-shaped (the design doc's ratios): many more parents than children per parent and
most parents without children -- 0.56 subjects and 0.06 visits per study, 0.006 medications per
patient, as 88,773 subjects and 9,506 visits under 157,270 studies and 899 medications under
152,836 patients. About ``--active`` (10%) of the parents are active.

One run, in order (fresh database, in-process simulator without faults or rate limit):

* setup (not measured): the parent jobs, studies (2) and patients (3);
* full cycle: the fan-out jobs Subjects (10), Visits (11) and Patient Medications (152), each
  parent new, so fetched once;
* ``--days`` daily cycles, the fake clock one day further each time. Before each:
  ``--parent-change`` (1%) of the parents change upstream -- quiet updates of active parents
  (closed studies and long-gone patients are not edited; ``--parent-changes-anywhere`` spreads
  them over all parents instead, a stress variant) that leave their children's bytes alone, and
  a tenth of them new parents -- and ``--child-change`` (0.5%) of each child space's records are
  updated under active parents (a child chosen at random among theirs, so a parent with more
  children changes more often). Then the parent jobs and the fan-out jobs run as the daemon
  would; ``plan`` is asked first and compared with the requests the run made;
* staleness: each child change happens at a random time of the day before a cycle (uniform in
  (0, 1] days before it) and counts its delay from then to the cycle that staged it; changes
  still unstaged after the last cycle are "pending" and count the time they have waited so far
  (so the mean and max include them: a lower bound for those);
* exactness: a final ``--full`` cycle must find staging equal to the simulator's truth.

Goals (issue 10): daily cycles average at least 20x fewer requests than the full cycle; no
child change waits longer than max_refresh (28 days); the mean delay is at most 2 days.

PostgreSQL: ``TRIALSYNC_BENCH_DSN`` (a fresh database is created there and dropped at the end),
else an embedded PostgreSQL in a temporary directory (deleted at the end).

Run: ``.venv/bin/python bench/bench_refresh.py [--scale 10] [--days 30]``
Exit status 1 when a goal is missed, a job fails or staging differs from the truth.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench_support import bench_database, table
from ccsim import SimulatorOptions, SimulatorServer
from ccsim.mutations import MutationError
from trialsync_async.app import TrialSync
from trialsync_async.identifiers import quote_ident
from trialsync_async.inventory import JobSpec
from trialsync_async.log import configure_logging
from trialsync_async.settings import Settings

PARENT_JOBS = (2, 3)  # Studies, Patients
FANOUT_JOBS = (10, 11, 152)  # Subjects, Visits (per study), Patient Medications (per patient)
PARENT_TEMPLATE = {2: "/api/v1/studies/odata", 3: "/api/v1/patients/odata"}
# Children per parent in production (design doc): the simulator's spaces sized to match.
PRODUCTION_SIZES = {
    "subjects": 88_773 / 157_270,
    "visits": 9_506 / 157_270,
    "patient_medications": 899 / 152_836,
}
DAY = timedelta(days=1)
MAX_REFRESH_DAYS = 28
INSTANCE_ID = 1
NO_LIMIT = 0.0  # the instance's rate limit: none (requests are counted, not timed)
API_RATE = 10.0  # requests/second the real API wants: the "time at 10 req/s" columns


class FakeClock:
    """What the runs count revisits on: starts at a fixed date, moves a day at a time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass(slots=True)
class Change:
    """One child updated upstream: staged once its row is newer than ``at``."""

    table: str
    child_id: int
    day: int  # the first cycle after the change
    before: float  # how long before that cycle it happened (days, 0..1: spread over the day)
    at: datetime  # database time just after the change
    caught: int | None = None  # the cycle (day) that staged it

    def delay(self, last_day: int) -> float:
        """Days from the change to the cycle that staged it (to the last cycle: pending)."""
        return (self.caught if self.caught is not None else last_day) - self.day + self.before


@dataclass(slots=True)
class Cycle:
    day: int
    requests: dict[int, int] = field(default_factory=dict)  # fan-out job -> requests
    planned: int = 0
    parent_requests: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def duration(requests: float) -> str:
    """Requests at the API's 10 req/s, as days or hours."""
    seconds = requests / API_RATE
    return f"{seconds / 86_400:.2f} d" if seconds >= 86_400 else f"{seconds / 3600:.2f} h"


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        ts: TrialSync,
        sim: SimulatorServer,
        jobs: dict[int, JobSpec],
    ) -> None:
        self.args = args
        self.ts = ts
        self.sim = sim
        self.jobs = jobs
        self.clock = FakeClock()
        self.rng = random.Random(args.seed)
        self.changes: list[Change] = []
        self.failed: list[str] = []
        self.active: dict[int, list[str]] = {}  # parent job -> active parent ids
        # fan-out job -> active parents with children, one entry per child (a random child)
        self.children_of_active: dict[int, list[str]] = {}

    async def run(self, job_ids: Sequence[int], *, full: bool = False) -> dict[int, int]:
        """Run the jobs on the fake clock; requests per job."""
        results = await self.ts.run_jobs(list(job_ids), clock=self.clock, full=full)
        for r in results:
            if not r.ok:
                self.failed.append(f"day {self.clock.now:%F} job {r.job_id}: {r.error}")
        return {r.job_id: r.progress.requests for r in results}

    async def db_now(self) -> datetime:
        async with self.ts.pool.acquire() as conn:
            now: datetime = await conn.fetchval("SELECT clock_timestamp()::timestamp")
        return now

    def parent_job(self, fanout: int) -> int:
        return 2 if self.jobs[fanout].parameter_source_table == "dim_studies_staging" else 3

    def choose_active(self) -> None:
        """About --active of each parent list, and per fan-out their children (by child, so a
        change lands on a parent in proportion to its children)."""
        for job_id, template in PARENT_TEMPLATE.items():
            ids = [str(r["id"]) for r in self.sim.records(template)]
            k = max(1, round(len(ids) * self.args.active))
            self.active[job_id] = self.rng.sample(ids, k)
        for fanout in FANOUT_JOBS:
            template = self.jobs[fanout].source_endpoint
            weighted: list[str] = []
            for pid in self.active[self.parent_job(fanout)]:
                weighted += [pid] * len(self.sim.records(template, [pid]))
            self.children_of_active[fanout] = weighted

    def count(self, fraction: float, population: int) -> int:
        """fraction x population, rounded at random (so small spaces still change sometimes)."""
        expected = fraction * population
        whole = int(expected)
        return whole + (1 if self.rng.random() < expected - whole else 0)

    async def change_upstream(self, day: int) -> tuple[int, int]:
        """Parent and child changes before one daily cycle; (parents, children) changed."""
        parents = 0
        for job_id, template in PARENT_TEMPLATE.items():
            n = self.count(self.args.parent_change, self.sim.truth(template)["count"])
            inserts = self.count(0.1, n)
            if self.args.parent_changes_anywhere:
                update_ids: list[int] = []
                updates = n - inserts
            else:  # the active parents are the ones that move
                update_ids = [int(i) for i in self.rng.sample(self.active[job_id], n - inserts)]
                updates = 0
            self.sim.mutate(
                template, update=updates, update_ids=update_ids, insert=inserts, rename=False
            )
            parents += n
        children = 0
        for fanout in FANOUT_JOBS:
            job = self.jobs[fanout]
            n = self.count(self.args.child_change, self.sim.truth(job.source_endpoint)["count"])
            weighted = self.children_of_active[fanout]
            for _ in range(n if weighted else 0):
                try:
                    out = self.sim.mutate(
                        job.source_endpoint, update=1, parent=self.rng.choice(weighted)
                    )
                except MutationError:  # no live child there any more: skip it
                    continue
                at = await self.db_now()
                before = 1.0 - self.rng.random()  # in (0, 1]
                for child_id in out["updated"]:
                    self.changes.append(Change(job.target_table, int(child_id), day, before, at))
                    children += 1
        return parents, children

    async def settle_changes(self, day: int) -> None:
        """Mark the changes this cycle staged."""
        pending = [c for c in self.changes if c.caught is None]
        by_table: dict[str, list[Change]] = {}
        for c in pending:
            by_table.setdefault(c.table, []).append(c)
        async with self.ts.pool.acquire() as conn:
            for name, changes in by_table.items():
                rows = await conn.fetch(
                    f"SELECT (data->>'id')::bigint AS id, updated_at, created_at"
                    f" FROM {quote_ident(name)} WHERE source_instance_id = $1"
                    " AND deleted_at IS NULL AND (data->>'id')::bigint = ANY($2::bigint[])",
                    INSTANCE_ID,
                    [c.child_id for c in changes],
                )
                staged = {r["id"]: r for r in rows}
                for c in changes:
                    row = staged.get(c.child_id)
                    if row is None:
                        continue
                    stamp = row["updated_at"] or row["created_at"]
                    if stamp is not None and stamp > c.at:
                        c.caught = day

    async def planned(self) -> int:
        plans = await self.ts.plan(list(FANOUT_JOBS), now=self.clock())
        return sum(p.requests or 0 for p in plans)

    async def cycle(self, day: int, *, full: bool = False) -> Cycle:
        started = time.perf_counter()
        cycle = Cycle(day)
        cycle.parent_requests = sum((await self.run(PARENT_JOBS)).values())
        cycle.planned = await self.planned() if not full else 0
        cycle.requests = await self.run(FANOUT_JOBS, full=full)
        async with self.ts.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT notes FROM dw_etl_runs WHERE job_id = ANY($1::int[])"
                " ORDER BY run_id DESC LIMIT $2",
                list(FANOUT_JOBS),
                len(FANOUT_JOBS),
            )
        for row in rows:
            notes = row["notes"] if isinstance(row["notes"], dict) else {}
            for reason, n in (notes.get("fanout") or {}).items():
                if isinstance(n, int) and reason != "mode":
                    cycle.reasons[reason] = cycle.reasons.get(reason, 0) + n
        cycle.seconds = time.perf_counter() - started
        return cycle

    async def exact(self) -> list[str]:
        """Staged children of each fan-out equal the simulator's truth (count and id sum)."""
        differ = []
        async with self.ts.pool.acquire() as conn:
            for fanout in FANOUT_JOBS:
                job = self.jobs[fanout]
                row = await conn.fetchrow(
                    "SELECT count(*) AS n, COALESCE(sum((data->>'id')::bigint), 0) AS s"
                    f" FROM {quote_ident(job.target_table)}"
                    " WHERE source_instance_id = $1 AND deleted_at IS NULL",
                    INSTANCE_ID,
                )
                truth = self.sim.truth(job.source_endpoint)
                assert row is not None
                if (row["n"], row["s"]) != (truth["count"], truth["id_sum"]):
                    differ.append(
                        f"job {fanout}: staged {row['n']} rows (id sum {row['s']}),"
                        f" truth {truth['count']} (id sum {truth['id_sum']})"
                    )
        return differ


async def main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    print("$ " + shlex.join([sys.executable, *sys.argv]))
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()};"
        f" simulator scale {args.scale} (production = 100), seed {args.seed},"
        f" {args.days} days, {args.parent_change:.1%} parents and {args.child_change:.1%}"
        f" children changed per day, {args.active:.0%} of parents active"
    )
    ok = True
    async with AsyncExitStack() as stack:
        dsn, where = await bench_database(stack)
        print(f"database: {where}")
        settings = Settings.from_dsn(
            dsn, concurrency=args.concurrency, log_format="json", log_level="ERROR"
        )
        configure_logging(settings.log_level, settings.log_format)
        sim = await stack.enter_async_context(
            SimulatorServer(
                SimulatorOptions(scale=args.scale, seed=args.seed, size_overrides=PRODUCTION_SIZES)
            )
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
        jobs = {job.id: job for job in ts.inventory()}
        bench = Bench(args, ts, sim, jobs)

        sizes = [
            (
                f"{j} {jobs[j].name}",
                jobs[j].parameter_source_table or "",
                f"{sim.truth(PARENT_TEMPLATE[bench.parent_job(j)])['count']:,}",
                f"{sim.truth(jobs[j].source_endpoint)['count']:,}",
            )
            for j in FANOUT_JOBS
        ]
        print(table(["fan-out job", "parent table", "parents", "children"], sizes))

        await bench.run(PARENT_JOBS)
        full = await bench.cycle(0)
        bench.choose_active()
        print(
            f"\nfull cycle: {full.total:,} fan-out requests ({duration(full.total)} at 10 req/s),"
            f" {full.seconds:.1f} s here"
        )

        daily: list[Cycle] = []
        rows = []
        for day in range(1, args.days + 1):
            bench.clock.now += DAY
            parents, children = await bench.change_upstream(day)
            cycle = await bench.cycle(day)
            await bench.settle_changes(day)
            daily.append(cycle)
            pending = sum(1 for c in bench.changes if c.caught is None)
            rows.append(
                (
                    day,
                    parents,
                    children,
                    cycle.reasons.get("new", 0),
                    cycle.reasons.get("changed", 0),
                    cycle.reasons.get("due", 0),
                    cycle.reasons.get("failed", 0),
                    cycle.planned,
                    cycle.total,
                    cycle.parent_requests,
                    pending,
                )
            )
        print()
        print(
            table(
                [
                    "day",
                    "parents chg",
                    "children chg",
                    "new",
                    "changed",
                    "due",
                    "failed",
                    "planned",
                    "requests",
                    "parent-job req",
                    "pending",
                ],
                rows,
            )
        )

        mean_daily = statistics.fmean(c.total for c in daily)
        ratio = full.total / mean_daily if mean_daily else float("inf")
        caught = [c.delay(args.days) for c in bench.changes if c.caught is not None]
        waiting = [c.delay(args.days) for c in bench.changes if c.caught is None]
        # the mean over staged changes and pending ones (which have waited at least this long)
        mean_delay = statistics.fmean(caught + waiting) if bench.changes else 0.0
        max_delay = max(caught + waiting, default=0.0)
        off_plan = [c for c in daily if c.planned != c.total]

        final = await bench.cycle(args.days + 1, full=True)
        differ = await bench.exact()

        print()
        summary = [
            ("full cycle (requests)", f"{full.total:,}", duration(full.total)),
            ("daily cycle, mean (requests)", f"{mean_daily:,.0f}", duration(mean_daily)),
            (
                "daily cycle, max (requests)",
                f"{max(c.total for c in daily):,}",
                duration(max(c.total for c in daily)),
            ),
            ("ratio full / mean daily", f"{ratio:.1f}x", "goal >= 20x"),
            (
                "child changes",
                f"{len(bench.changes):,}",
                f"{len(caught):,} staged, {len(waiting):,} pending",
            ),
            ("delay, mean (days)", f"{mean_delay:.2f}", "goal <= 2"),
            ("delay, max (days)", f"{max_delay:.2f}", f"goal <= {MAX_REFRESH_DAYS}"),
            ("plan = requests", f"{len(daily) - len(off_plan)} of {len(daily)} days", ""),
            (
                "final --full cycle",
                f"{final.total:,} requests",
                "staging = truth" if not differ else "; ".join(differ),
            ),
        ]
        print(table(["", "value", ""], summary))
        ok = (
            not bench.failed
            and not differ
            and ratio >= 20
            and mean_delay <= 2
            and max_delay <= MAX_REFRESH_DAYS
        )
        for f in bench.failed:
            print(f"failed: {f}")
    print(f"\n{'PASS' if ok else 'FAIL'} in {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Request economy of the fan-out jobs: full cycle vs daily cycles"
    )
    p.add_argument("--scale", type=float, default=10.0, help="simulator scale (100 = production)")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--parent-change", type=float, default=0.01, help="parents changed per day")
    p.add_argument("--child-change", type=float, default=0.005, help="children changed per day")
    p.add_argument("--active", type=float, default=0.10, help="fraction of parents active")
    p.add_argument(
        "--parent-changes-anywhere",
        action="store_true",
        help="parent changes hit any parent, not only active ones (a stress variant)",
    )
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seed", type=int, default=1729)
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
