"""``serve``: the service (schedules, replicas, HTTP) until SIGTERM, its normal end."""

from __future__ import annotations

import argparse

from trialsync_async.cli.common import EXIT_OK, GracefulStop, SubParsers, handles
from trialsync_async.settings import Settings

SERVICE_MARGIN = 2.0  # seconds the process keeps beyond the service's own stop grace


def add_commands(sub: SubParsers) -> None:
    serve = sub.add_parser(
        "serve",
        help="run as a service: schedules, replicas, /healthz /readyz /metrics, status page",
        description="Run jobs on their schedules until SIGTERM; any number of replicas may share "
        "one database. See the README's 'serve' section for the environment variables.",
    )
    serve.add_argument(
        "--listen", metavar="HOST:PORT",
        help="HTTP address (default TRIALSYNC_LISTEN or 127.0.0.1:8080; port 0 = any free)",
    )  # fmt: skip
    handles(serve, run_service)


async def run_service(settings: Settings, args: argparse.Namespace) -> int:
    from trialsync_async.service.daemon import Service

    service = Service(settings.with_overrides(listen=args.listen))
    stop = GracefulStop(
        settings.stop_grace_seconds + SERVICE_MARGIN, margin=SERVICE_MARGIN, clean_exit=True
    )
    async with stop:
        stop.attach(service)
        await service.run()
    return stop.exit_code or EXIT_OK
