"""What every command family shares: exit codes, option types, ``--json``, the handler shape,
and the stop on SIGINT/SIGTERM a run owns."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Protocol, TypeAlias

import structlog

from trialsync_async.log import json_logs
from trialsync_async.settings import Settings

EXIT_OK = 0
EXIT_FAILED = 1  # a job failed, or a clear error was printed
EXIT_USAGE = 2  # a bad option or environment variable: nothing was run
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}

Handler = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]
"""A command: its settings and parsed arguments in, its exit status out."""
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

log = structlog.get_logger(__name__)


class UsageError(Exception):
    """A usage error argparse cannot see (exit 2, nothing run)."""


def int_at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range ({bound})")
        return value

    return parse


def not_negative(text: str) -> float:
    """A number that is 0 or more (``--rate-limit 0`` = none)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"{text} is negative (0 means none)")
    return value


def add_json(parser: argparse.ArgumentParser, default: object = False) -> None:
    parser.add_argument(
        "--json", action="store_true", default=default, help="one JSON document, not a table"
    )


def handles(parser: argparse.ArgumentParser, handler: Handler) -> argparse.ArgumentParser:
    """``parser``'s command is run by ``handler``."""
    parser.set_defaults(handler=handler)
    return parser


class Stoppable(Protocol):
    def stop(self) -> None: ...


class Stopped(Exception):
    """The run was cancelled by a second signal or the end of its grace: exit ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class GracefulStop:
    """SIGINT (Ctrl-C) and SIGTERM (docker stop) while a run goes on: stop taking work, commit
    what was fetched, record positions, print the summary, exit 130/143 (``serve``: 0). A
    second signal, or ``grace`` seconds passing, cancels at once (runs still end
    'interrupted'; :class:`Stopped` carries the exit status).

    ``async with GracefulStop(grace) as stop:`` around the run; pass ``stop.attach`` as the
    run's ``on_runner``. ``margin``: of the grace, time the service keeps beyond its own stop
    (not announced); ``clean_exit``: a signal is how it is meant to end (``serve``)."""

    def __init__(self, grace: float, *, margin: float = 0.0, clean_exit: bool = False) -> None:
        self.grace = grace
        self.margin = margin
        self.clean_exit = clean_exit
        self.signal: signal.Signals | None = None
        self.runners: list[Stoppable] = []
        self._task: asyncio.Task[object] | None = None

    def attach(self, runner: Stoppable) -> None:
        self.runners.append(runner)
        if self.signal is not None:
            runner.stop()

    async def __aenter__(self) -> GracefulStop:
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if isinstance(exc, asyncio.CancelledError) and self.signal is not None:
            raise Stopped(self.exit_code or 130) from None

    def _on_signal(self, sig: signal.Signals) -> None:
        assert self._task is not None
        if self.signal is not None:
            self._task.cancel()
            return
        self.signal = sig
        grace = self.grace - self.margin
        if json_logs():
            log.warning("stopping", signal=sig.name, grace_seconds=grace)
        else:
            print(
                f"\n{sig.name}: stopping; committing what was fetched "
                f"(up to {grace:g} s; again to abort)",
                file=sys.stderr,
            )
        for runner in self.runners:
            runner.stop()
        asyncio.get_running_loop().call_later(self.grace, self._task.cancel)

    @property
    def exit_code(self) -> int | None:
        if self.signal is None:
            return None
        return EXIT_OK if self.clean_exit else EXIT_SIGNAL.get(self.signal)
