"""``make demo``: the simulator and (when DATABASE_URL is unset) an embedded PostgreSQL, instance
1 pointed at the simulator, every active job run once, and the summary printed.

Without DATABASE_URL it loads the database every other command uses (``embedded.DATABASE``
in the working copy's embedded cluster), made afresh each time, unless an instance of it
points at a real API. Afterwards instance 1 points at ``TRIALSYNC_DEFAULT_INSTANCE_URL``,
where ``trialsync-async simulate`` listens, so jobs can be run again on the same data.
"""

from __future__ import annotations

import argparse
from contextlib import AsyncExitStack
from urllib.parse import urlsplit

import asyncpg

from trialsync_async.app import TrialSync
from trialsync_async.cli.common import EXIT_FAILED, EXIT_OK, SubParsers, handles, int_at_least
from trialsync_async.cli.run import add_run_options, run_settings, run_with_progress
from trialsync_async.db.catalog import is_this_machine
from trialsync_async.db.connect import (
    database_exists,
    drop_database,
    recreate_database,
    with_database,
)
from trialsync_async.embedded import DATABASE, EmbeddedPostgres
from trialsync_async.errors import DemoWouldReplaceData
from trialsync_async.settings import Settings

DEMO_SCALE = 1.0
# The simulator runs in this process with no server-side limit, so the demo instance has
# none either (0 = no limit); against the real API keep the default 10 requests/second.
DEMO_RATE_LIMIT = 0.0
DEMO_INSTANCE = 1
OLD_DEMO_DATABASE = "trialsync_demo"  # where earlier versions loaded the demo: dropped


def add_commands(sub: SubParsers) -> None:
    demo = sub.add_parser(
        "demo", help="start the simulator (and PostgreSQL if needed) and run every active job"
    )
    demo.add_argument("--scale", type=float, default=None, help="simulator data scale")
    demo.add_argument(
        "--instances", type=int_at_least(1, 9), default=1, metavar="N",
        help="load N API instances side by side, each from a simulator of its own (instance "
        "K: seed + K - 1, so different data); default 1",
    )  # fmt: skip
    add_run_options(demo)
    handles(demo, run_demo)


async def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    settings = run_settings(settings, args)
    if settings.database_url:
        print("demo: loading into DATABASE_URL; instance 1 is pointed at the simulator")
        return await _demo(settings, args)
    # A fresh database each time, so that staging tables hold exactly this simulator's data
    # (a smaller --scale than last time would leave orphans behind).
    data_dir = settings.embedded_path()
    with EmbeddedPostgres(data_dir) as pg:
        server = pg.dsn()
        if await database_exists(server, DATABASE):
            await refuse_real_data(
                settings.with_overrides(database_url=with_database(server, DATABASE))
            )
        dsn = await recreate_database(server, DATABASE)
        await drop_database(server, OLD_DEMO_DATABASE)
        print(f"demo: embedded PostgreSQL in {data_dir}, database {DATABASE} (made afresh)")
        return await _demo(settings.with_overrides(database_url=dsn), args)


async def refuse_real_data(settings: Settings) -> None:
    """``DemoWouldReplaceData`` when an instance of the database points at a host that is
    not this machine (a real API: its data is not the demo's to drop)."""
    async with TrialSync(settings, require_schema=False) as ts:
        try:
            instances = await ts.list_instances()
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedColumnError):
            return  # not (fully) migrated: nothing loaded here yet
    for row in instances:
        if not is_this_machine(row.base_url):
            host = urlsplit(row.base_url).hostname or ""
            raise DemoWouldReplaceData(database=DATABASE, instance_id=row.id, host=host)


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from ccsim import SimulatorOptions, SimulatorServer

    scale = args.scale if args.scale is not None else DEMO_SCALE
    extra = getattr(args, "instances", 1) - 1  # instances 2.. from simulators of their own
    async with (
        SimulatorServer(SimulatorOptions(scale=scale)) as sim,
        TrialSync(settings, require_schema=False) as ts,
        AsyncExitStack() as others,
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
        for k in range(DEMO_INSTANCE + 1, DEMO_INSTANCE + 1 + extra):
            seed = SimulatorOptions().seed + k - DEMO_INSTANCE
            other = await others.enter_async_context(
                SimulatorServer(SimulatorOptions(scale=scale, seed=seed))
            )
            await ts.set_instance(
                k, name=f"demo {k}", base_url=other.base_url, api_key=other.api_key,
                auth_header=other.options.api_key_header, rate_limit=DEMO_RATE_LIMIT,
                is_active=True,
            )  # fmt: skip
            print(f"instance {k}: simulator at {other.base_url} (seed {seed})")
        try:
            results, stop = await run_with_progress(ts, args, None)
        finally:  # this simulator stops now: point at where `simulate` listens
            await ts.set_instance(DEMO_INSTANCE, base_url=settings.default_instance_url)
            for k in range(DEMO_INSTANCE + 1, DEMO_INSTANCE + 1 + extra):
                # Their simulators stop too, and nothing listens in their place.
                await ts.set_instance(k, is_active=False)
    if extra:
        print(f"\ninstances 2..{1 + extra} are inactive now (their simulators stopped): their "
              "rows stay; `runs --instance N`, `stats --instance N`")  # fmt: skip
    simulate = "trialsync-async simulate" + (f" --scale {scale:g}" if scale != DEMO_SCALE else "")
    print(
        f"\ninstance {DEMO_INSTANCE} now points at {settings.default_instance_url}: start "
        f"`{simulate}` in another terminal to run jobs on the same data, e.g. "
        "`trialsync-async --job 3`; see the README's First hour"
    )
    return stop.exit_code or (EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)
