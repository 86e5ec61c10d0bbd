"""scripts/extract_swagger_subset.py run as a maintainer runs it: the committed subset
(ccsim/data/swagger_subset.json) is what it writes, and ``--check`` notices a stale one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_support import REPO

pytestmark = pytest.mark.integration

SCRIPT = REPO / "scripts" / "extract_swagger_subset.py"


def test_data_file_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, (
        f"swagger_subset.json is stale; run python {SCRIPT.name}\n{proc.stderr}"
    )


def test_check_detects_a_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "subset.json"
    out.write_text("{}\n", encoding="utf-8")
    args = [sys.executable, str(SCRIPT), "--out", str(out)]
    assert subprocess.run([*args, "--check"], check=False).returncode == 1
    assert subprocess.run(args, check=False).returncode == 0
    assert subprocess.run([*args, "--check"], check=False).returncode == 0
