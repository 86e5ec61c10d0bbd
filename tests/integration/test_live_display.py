"""The live display as a person sees it: the CLI under a real pseudo-terminal, its bytes fed
through a terminal emulator (pyte), the final screen and scrollback read back; and the same
run off a terminal (pipes), where it writes JSON logs only."""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass

import orjson
import pyte
import pytest

from tests.cli_support import REPO, cli
from tests.engine_support import fetch, loader
from tests.sim_support import sim_fixture

pytestmark = pytest.mark.integration

JOBS = {1: "Sites", 2: "Studies", 3: "Patients"}  # independent plain jobs: run side by side
# Small pages and some latency: the jobs overlap (each job's "run started" line redraws
# the live region with the job in it, however short its run).
RUN_ARGS = ["--page-size", "2", "--concurrency", "1", "--parallel-jobs", "3"]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z \[\w+ *\] ")
# A running job's line (a finished one has its status before "fetched"); maybe cut short.
LIVE_LINE = re.compile(r"^job +\d+ (?!.*(success|failed|interrupted|skipped)  fetched).*fetched ")
ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*(\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)

sim = sim_fixture(scope="function", latency_mean_s=0.05, latency_jitter_s=0.0)


def _in_pty(argv: list[str], env: dict[str, str], cols: int, rows: int) -> tuple[int, bytes]:
    """Run ``argv`` with stdin/stdout/stderr on a new pty of ``cols`` x ``rows``."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO,
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal is gone
                break
            if not data:
                break
            chunks.append(data)
        else:
            proc.kill()
            raise AssertionError(f"timed out; output so far: {b''.join(chunks)[-2000:]!r}")
        return proc.wait(timeout=30), b"".join(chunks)
    finally:
        os.close(master)


@dataclass
class Terminal:
    """What the terminal shows at the end: scrollback then screen, one padded row each."""

    cols: int
    rows: list[str]

    @classmethod
    def replay(cls, raw: bytes, cols: int, lines: int) -> Terminal:
        screen = pyte.HistoryScreen(cols, lines, history=100_000)
        pyte.ByteStream(screen).feed(raw)
        history = [
            "".join(row[x].data for x in range(cols)) for row in screen.history.top
        ]  # fmt: skip
        return cls(cols, history + [row.ljust(cols) for row in screen.display])

    def count(self, line: str) -> int:
        """How often ``line`` starts a row and runs on whole (wrapped rows included)."""
        flow = "".join(self.rows)
        return sum(
            1
            for start in range(0, len(flow), self.cols)
            if flow.startswith(line, start)
            and not flow[start + len(line) : start + _wrapped(len(line), self.cols)].strip()
        )

    def texts(self) -> list[str]:
        return [row.rstrip() for row in self.rows]


def _wrapped(length: int, cols: int) -> int:
    return max(-(-length // cols), 1) * cols


def _written_lines(raw: bytes) -> list[str]:
    """Each line as the program wrote it: escapes removed, the text after the last carriage
    return (the live region is redrawn in place after one)."""
    text = ESCAPES.sub("", raw.decode("utf-8", "replace")).replace("\r\n", "\n")
    return [part.rsplit("\r", 1)[-1] for part in text.split("\n")]


def _pieces(raw: bytes) -> list[str]:
    """Every line drawn, redraws in place included."""
    text = ESCAPES.sub("", raw.decode("utf-8", "replace")).replace("\r\n", "\n")
    return [piece for part in text.split("\n") for piece in part.split("\r")]


@pytest.mark.parametrize("cols", [220, 46])
async def test_live_display_under_a_pty(db_dsn: str, sim, cols: int) -> None:
    async with loader(db_dsn, sim):
        pass  # instance 1 pointed at the simulator, with its key
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.update(DATABASE_URL=db_dsn, TRIALSYNC_LOG_LEVEL="info", TRIALSYNC_LOG_FORMAT="auto",
               TERM="xterm-256color")  # fmt: skip
    argv = [sys.executable, "-m", "trialsync_async"]
    argv += [arg for job_id in JOBS for arg in ("--job", str(job_id))] + RUN_ARGS
    rc, raw = await asyncio.to_thread(_in_pty, argv, env, cols, 30)
    term = Terminal.replay(raw, cols, 30)
    shown = "\n".join(term.texts())
    assert rc == 0, shown

    # The display ran: every job had live lines, side by side, none wider than the terminal.
    live = [p for p in _pieces(raw) if LIVE_LINE.match(p)]
    assert {int(p.split()[1]) for p in live} == set(JOBS), shown
    drawn = _written_lines(raw)
    assert any(LIVE_LINE.match(a) and LIVE_LINE.match(b) for a, b in itertools.pairwise(drawn))
    assert all(len(p) <= cols for p in live), [p for p in live if len(p) > cols]
    # ... and nothing of it is left: no stale live line on the screen or in the scrollback.
    assert not [t for t in term.texts() if LIVE_LINE.match(t)], shown

    # Every log line written is there whole, exactly once.
    logged = [line for line in _written_lines(raw) if LOG_LINE.match(line)]
    for job_id, name in JOBS.items():
        for event in ("run started", "run finished"):
            mine = [x for x in logged if event in x and f"job={name} " in x]
            assert len(mine) == 1, (event, name, logged)
            assert f"job_id={job_id}" in mine[0]
    for line in logged:
        assert term.count(line) == 1, (line, shown)

    # One finished line per job, with the run row's counts under the run row's names.
    runs = await fetch(db_dsn, "SELECT * FROM dw_etl_runs ORDER BY job_id")
    assert [r["job_id"] for r in runs] == list(JOBS)
    for run in runs:
        head = re.compile(rf"^job +{run['job_id']} \S")
        finished = [t for t in term.texts() if head.match(t) and "success" in t]
        assert len(finished) == 1, shown
        counts = (
            f"success  fetched {run['records_fetched']:,}  written {run['records_loaded']:,}  "
            f"unchanged {run['records_unchanged']:,}  requests {run['requests_made']:,}  "
        )
        rest = finished[0][finished[0].index("success") :]
        if rest.endswith("…"):  # cut to the terminal's width
            assert counts.startswith(rest[:-1]), (rest, counts)
        else:
            assert rest.startswith(counts) and rest.endswith(" s"), (rest, counts)

    # The summary, after it all, with the same words.
    assert "3 of 3 jobs succeeded" in shown
    assert term.count("3 of 3 jobs succeeded") == 1
    [header] = [x for x in _written_lines(raw) if re.match(r"job +name +status ", x)]
    assert term.count(header.rstrip()) == 1  # wrapped on a narrow terminal, but whole
    for word in ("fetched", "written", "inserted", "updated", "unchanged", "deleted", "requests"):
        assert word in header
    assert " rows " not in shown


async def test_off_a_terminal_json_logs_and_no_display(db_dsn: str, sim) -> None:
    async with loader(db_dsn, sim):
        pass
    env = {"DATABASE_URL": db_dsn, "TRIALSYNC_LOG_LEVEL": "info",
           "TRIALSYNC_PROGRESS_SECONDS": "0.2"}  # fmt: skip
    args = [a for job_id in JOBS for a in ("--job", str(job_id))]
    rc, out, err = await cli(*args, *RUN_ARGS, env={**env, "TRIALSYNC_LOG_FORMAT": "auto"})
    assert rc == 0, err
    assert "\x1b" not in out + err
    events = [orjson.loads(line) for line in err.splitlines()]  # every line is JSON
    progress = [e for e in events if e["event"] == "progress"]
    assert progress and all({"fetched", "written", "requests"} <= set(e) for e in progress)
    finished = [e for e in events if e["event"] == "run finished"]
    assert sorted(e["job"] for e in finished) == sorted(JOBS.values())
    assert not LIVE_LINE.search(out) and "3 of 3 jobs succeeded" in out


async def test_a_failed_run_is_logged_at_error_level(db_dsn: str, sim) -> None:
    env = {"DATABASE_URL": db_dsn}
    rc, _, err = await cli("instances", "set", "1", "--base-url", sim.base_url, env=env)
    assert rc == 0, err
    rc, _, err = await cli("--job", "1", env=env)  # instance 1 has no key: the run fails
    assert rc == 1
    [event] = [e for e in map(orjson.loads, err.splitlines()) if e["event"] == "run finished"]
    assert event["level"] == "error" and event["status"] == "failed"
    assert event["job"] == "Sites" and event["job_id"] == 1
    assert isinstance(event["seconds"], float) and event["fetched"] == 0
    assert "has no key" in event["error"]
