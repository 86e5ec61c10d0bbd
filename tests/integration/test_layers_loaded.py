"""The house rules, checked in a real interpreter: what the command line and `validate` load
(the source-level rules: tests/unit/test_layers.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli_support import cli

pytestmark = pytest.mark.integration


async def test_help_loads_no_simulator_module() -> None:
    out = await cli("--help", python=["-X", "importtime", "-m", "trialsync_async"])
    assert out.returncode == 0, out.stderr
    assert "usage: trialsync-async" in out.stdout
    loaded = [line for line in out.stderr.splitlines() if "ccsim" in line]
    assert not loaded, loaded[:3]


def test_validate_needs_no_database_no_api_and_no_simulator() -> None:
    """`validate` checks the inventory offline: it loads no database driver, HTTP client,
    engine or simulator module."""
    code = (
        "import sys, trialsync_async.validate; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('asyncpg', 'aiohttp', 'ccsim') or m.startswith(('trialsync_async.db', "
        "'trialsync_async.engine', 'trialsync_async.api', 'trialsync_async.app'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
