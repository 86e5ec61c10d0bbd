"""The command line as users run it: ``python -m trialsync_async ARGS`` in a child process.

``REPO`` is the repository's top directory (the child's working directory). :func:`cli` runs
a command to its end and returns its exit code and decoded output; :func:`start_cli` starts
one and hands back the process (for tests that signal it, or read it while it runs). Both log
JSON lines (``TRIALSYNC_LOG_FORMAT=json``) unless ``env`` says otherwise::

    rc, out, err = await cli("jobs", "list", env={"DATABASE_URL": db_dsn})
    rc, out, err = await cli("instances", "set", "1", "--api-key-stdin", env=env, stdin=b"k\\n")
    rc, out, err = await cli("instances", "test", "1", env=env, unset=["SIM_KEY"])
    done = await cli("--help", python=["-X", "importtime", "-m", "trialsync_async"])
    done.returncode, done.stdout, done.stderr
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
"""The repository's top directory (pyproject.toml, src/, tests/, scripts/, README.md)."""

MAIN = ("-m", "trialsync_async")
"""The interpreter's arguments before ARGS: the command line as installed."""


class CliResult(NamedTuple):
    """How a command ended; a tuple, so ``rc, out, err = await cli(...)`` reads it too."""

    returncode: int
    stdout: str
    stderr: str


def cli_env(env: Mapping[str, str] | None = None, *, unset: Iterable[str] = ()) -> dict[str, str]:
    """A child's environment: this process's without ``unset``, JSON logs, then ``env``."""
    drop = set(unset)
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return {**base, "TRIALSYNC_LOG_FORMAT": "json", **(env or {})}


async def start_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    unset: Iterable[str] = (),
    python: Sequence[str] = MAIN,
    stdin: int | None = None,
) -> asyncio.subprocess.Process:
    """Start ``python -m trialsync_async ARGS`` in ``REPO``, stdout and stderr piped.

    ``env`` adds to (``unset`` removes from) this process's environment (:func:`cli_env`);
    ``python`` replaces the interpreter's arguments before ARGS (e.g. ``-X importtime -m
    trialsync_async``, or ``-c CODE``); ``stdin`` as for :mod:`asyncio.subprocess` (default:
    inherited)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, *python, *args,
        env=cli_env(env, unset=unset), cwd=REPO, stdin=stdin,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    unset: Iterable[str] = (),
    python: Sequence[str] = MAIN,
    stdin: bytes | None = None,
) -> CliResult:
    """Run ``python -m trialsync_async ARGS`` to its end (see :func:`start_cli`); ``stdin`` is
    what the command reads on its standard input (nothing: end of file at once)."""
    proc = await start_cli(
        *args, env=env, unset=unset, python=python, stdin=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())
