"""The live display's lines and the summary: the words of the run row, fetched vs written."""

from __future__ import annotations

import pytest

from trialsync_async.cli.live import (
    NAME_WIDTH,
    eta,
    finished_line,
    fit_line,
    running_line,
    summary_table,
)
from trialsync_async.engine.result import JobResult, RunProgress

pytestmark = pytest.mark.unit

# Job 160 at its end: 13,733 records fetched, none of them new or changed.
P160 = RunProgress(unchanged=25_541, fetched=13_733, requests=1_204, units_total=40, units_done=10)


def test_running_line_tells_fetched_from_written() -> None:
    p = RunProgress(inserted=700, updated=34, unchanged=5, fetched=13_733, requests=1_204,
                    units_total=40, units_done=10)  # fmt: skip
    line = running_line(160, "PatientVisitsBySubject", p, elapsed=60.0, width=200)
    assert line == (
        "job 160 " + "PatientVisitsBySubject".ljust(NAME_WIDTH)
        + " fetched 13,733  written 734  requests 1,204 (20.1/s)  units 10/40  ETA 0:03:00"
    )  # fmt: skip
    assert " rows " not in line


def test_unknown_total_and_no_units_yet() -> None:
    line = running_line(3, "Patients", RunProgress(), elapsed=0.0, width=200)
    assert line.endswith("fetched 0  written 0  requests 0 (0.0/s)  units 0/?  ETA -")
    assert eta(RunProgress(units_total=5, units_done=5), 10.0) == "-"


def test_finished_line_has_the_summary_words() -> None:
    result = JobResult(160, "PatientVisitsBySubject", "success", progress=P160, seconds=83.25)
    assert finished_line(result, 200) == (
        "job 160 " + "PatientVisitsBySubject".ljust(NAME_WIDTH)
        + " success  fetched 13,733  written 0  unchanged 25,541  requests 1,204  83.2 s"
    )  # fmt: skip


def test_a_failed_job_ends_with_its_error() -> None:
    result = JobResult(3, "Patients", "failed", error="instance 1 has no key", seconds=0.04)
    line = finished_line(result, 200)
    assert "failed  fetched 0  written 0" in line and line.endswith("0.0 s  instance 1 has no key")
    ok = JobResult(3, "Patients", "success", error="ignored", seconds=1.0)
    assert "ignored" not in finished_line(ok, 200)


@pytest.mark.parametrize("width", range(1, 130))
def test_lines_never_exceed_the_width(width: int) -> None:
    """A narrow terminal: the name is shortened first, then the line is cut; never wrapped."""
    name = "A very long job name that will not fit anywhere"
    running = running_line(7, name, P160, elapsed=5.0, width=width)
    finished = finished_line(JobResult(7, name, "success", progress=P160), width)
    for line in (running, finished):
        assert len(line) <= width and "\n" not in line
        assert line.startswith("job   7"[: width - 1])


def test_the_name_gives_way_before_the_counts() -> None:
    line = fit_line("job 160", "PatientVisitsBySubject", "fetched 1  written 2", 40)
    assert line == "job 160 PatientVis… fetched 1  written 2"  # exactly 40 columns
    cut = fit_line("job 160", "PatientVisitsBySubject", "fetched 1  written 2  requests 3", 30)
    assert cut == "job 160 Patie… fetched 1  wri…"


def test_summary_uses_the_run_rows_words() -> None:
    results = [
        JobResult(160, "PatientVisitsBySubject", "success", progress=P160, seconds=83.2),
        JobResult(3, "Patients", "failed", error="boom", seconds=0.5),
    ]
    text = summary_table(results)
    header = text.splitlines()[0].split()
    assert header[:9] == ["job", "name", "status", "fetched", "written", "inserted", "updated",
                          "unchanged", "deleted"]  # fmt: skip
    assert "rows" not in header and "requests" in header
    row = text.splitlines()[2].split()
    assert row[:9] == ["160", "PatientVisitsBySubject", "success", "13733", "0", "0", "0",
                       "25541", "0"]  # fmt: skip
    assert text.endswith("1 of 2 jobs succeeded")
