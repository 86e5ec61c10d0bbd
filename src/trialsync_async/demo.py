"""``make demo``: the simulator and (when DATABASE_URL is unset) an embedded PostgreSQL, instance
1 pointed at the simulator, every active job run once, and the summary printed."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence

from trialsync_async.app import TrialSync
from trialsync_async.db.connect import recreate_database
from trialsync_async.embedded import EmbeddedPostgres
from trialsync_async.engine.job_run import JobResult
from trialsync_async.settings import Settings

DEMO_SCALE = 1.0
# The simulator runs in this process with no server-side limit, so the demo instance has
# none either (0 = no limit); against the real API keep the default 10 requests/second.
DEMO_RATE_LIMIT = 0.0
DEMO_INSTANCE = 1
DEMO_DATABASE = "trialsync_demo"

RunJobs = Callable[
    [TrialSync, argparse.Namespace, Sequence[int] | None], Awaitable[list[JobResult]]
]


async def run_demo(settings: Settings, args: argparse.Namespace, run_jobs: RunJobs) -> int:
    if settings.database_url:
        print("demo: loading into DATABASE_URL; instance 1 is pointed at the simulator")
        return await _demo(settings, args, run_jobs)
    # A fresh database on the embedded server each time, so that staging tables hold exactly
    # this simulator's data (a smaller --scale than last time would leave orphans behind).
    with EmbeddedPostgres(settings.embedded_dir) as pg:
        dsn = await recreate_database(pg.dsn(), DEMO_DATABASE)
        print(f"demo: embedded PostgreSQL in {settings.embedded_dir}, database {DEMO_DATABASE}")
        return await _demo(settings.with_overrides(database_url=dsn), args, run_jobs)


async def _demo(settings: Settings, args: argparse.Namespace, run_jobs: RunJobs) -> int:
    from ccsim import SimulatorOptions, SimulatorServer

    scale = args.scale if args.scale is not None else DEMO_SCALE
    async with (
        SimulatorServer(SimulatorOptions(scale=scale)) as sim,
        TrialSync(settings) as ts,
    ):
        report = await ts.migrate()
        print(
            f"database ready ({len(report.staging_tables)} staging tables); "
            f"simulator at {sim.base_url} (scale {scale})"
        )
        await ts.set_instance(
            DEMO_INSTANCE,
            base_url=sim.base_url,
            api_key=sim.api_key,
            auth_header=sim.options.api_key_header,
            rate_limit=DEMO_RATE_LIMIT,
        )
        results = await run_jobs(ts, args, None)
    return 0 if all(r.ok for r in results) else 1
