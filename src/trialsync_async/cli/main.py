"""The command line: the parser assembled from the command families, and ``main``.

Each family module registers its subcommands with a handler (``common.handles``); ``main``
parses, builds the settings, runs the handler on the event loop and turns what can go wrong
into one line and an exit status (0 ok, 1 failed, 2 usage, 130/143 signals), never a
traceback. Nothing below ``cli/`` parses arguments or prints.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import asyncpg

from trialsync_async import __version__
from trialsync_async.cli import (
    demo,
    history,
    instances,
    jobs,
    migrate,
    plan,
    run,
    schema,
    serve,
    validate,
    views,
)
from trialsync_async.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Handler,
    Stopped,
    UsageError,
)
from trialsync_async.errors import (
    ConfigError,
    InvalidSettingError,
    NotMigratedError,
    TrialSyncError,
)
from trialsync_async.log import configure_logging
from trialsync_async.settings import Settings
from trialsync_async.text import printable


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trialsync-async",
        description="Copy the Clinical Conductor API into PostgreSQL staging tables.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run.add_commands(parser, sub)  # --job/--all (no command) and retry-failed
    migrate.add_commands(sub)
    validate.add_commands(sub)
    views.add_commands(sub)
    plan.add_commands(sub)
    serve.add_commands(sub)
    jobs.add_commands(sub)
    instances.add_commands(sub)
    # Listed for --help only: main() hands `simulate ...` to the simulator's own parser, so
    # the simulator package is imported only when it is asked for.
    sub.add_parser(
        "simulate", add_help=False,
        help="run the Clinical Conductor API simulator (see `simulate --help`)",
    )  # fmt: skip
    history.add_commands(sub)
    schema.add_commands(sub)
    demo.add_commands(sub)
    return parser


def unknown_option(parser: argparse.ArgumentParser, argv: Sequence[str]) -> str | None:
    """The first ``--option`` no parser on the command's path knows, if any.

    argparse alone takes the value after a mistyped option for the command (``--jobb 3`` says
    ``invalid choice: '3'``) and never names the option.
    """
    values: dict[str, bool] = {}  # option -> takes a value
    commands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        for option in action.option_strings:
            values[option] = action.nargs != 0
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            return None
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            if name not in values:  # argparse takes an unambiguous prefix
                prefixed = [option for option in values if option.startswith(name)]
                if len(prefixed) != 1:
                    return name
                name = prefixed[0]
            if values[name] and "=" not in token:
                next(tokens, None)
        elif token in commands:
            return unknown_option(commands[token], list(tokens))
    return None


def _simulate(argv: list[str]) -> int:
    try:
        from ccsim.cli import main as simulator_main
    except ImportError:
        print("error: the simulator (package ccsim) is not installed", file=sys.stderr)
        return EXIT_FAILED
    return simulator_main(argv, prog="trialsync-async simulate")


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(
    argv: Sequence[str] | None = None,
    *,
    settings_factory: Callable[[], Settings] = Settings.from_env,
) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv), settings_factory)
    except BrokenPipeError:  # `trialsync-async jobs list | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit, no traceback
        return EXIT_OK


def _main(argv: list[str], settings_factory: Callable[[], Settings]) -> int:
    if argv[:1] == ["simulate"]:
        return _simulate(argv[1:])
    parser = build_parser()
    if option := unknown_option(parser, argv):
        parser.error(f"unrecognized option {option} (see --help)")
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            run.check_usage(args)
    except UsageError as exc:
        parser.error(str(exc))
    if args.command is None and not (args.job or args.all):
        parser.print_help()
        return EXIT_USAGE
    handler: Handler = args.handler
    try:
        settings = settings_factory()
    except (ConfigError, UsageError) as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        configure_logging(settings.log_level, settings.log_format)
        return _run(handler(settings, args))
    except (InvalidSettingError, UsageError) as exc:  # a refused option value: nothing changed
        print(f"{parser.prog}: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except Stopped as exc:  # a second signal, or the grace passed
        print("interrupted", file=sys.stderr)
        return exc.code
    except TrialSyncError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except asyncpg.UndefinedTableError:  # a table dropped after the opening check
        print(f"error: {NotMigratedError(pending='')}", file=sys.stderr)
        return EXIT_FAILED
    except asyncpg.PostgresError as exc:  # one line, never a traceback (SQLSTATE for the search)
        print(f"error: the database refused a statement: {exc} (SQLSTATE {exc.sqlstate})",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
