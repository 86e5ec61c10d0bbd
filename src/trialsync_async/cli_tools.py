"""The operator's toolkit commands: ``validate`` and ``instances test``. Argument parsing and
printing only; validate.py and engine/instance_check.py (via ``TrialSync``) do the work."""

from __future__ import annotations

import argparse
from pathlib import Path

from trialsync_async.db.catalog import is_this_machine
from trialsync_async.engine.instance_check import InstanceProbe
from trialsync_async.output import print_json, print_table
from trialsync_async.validate import Report

EXIT_OK = 0
EXIT_FAILED = 1
MESSAGE_WIDTH = 120
VALIDATE_HEADERS = ["job", "name", "severity", "check", "message"]
PROBE_HEADERS = ["instance", "name", "base_url", "reachable", "status", "latency", "key", "rate/s"]


def add_validate_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = sub.add_parser(
        "validate",
        help="check the job inventory against the API's swagger and itself (no database)",
        description="Check every active job's endpoint, placeholders, paging, record key and "
        "parameter paths against the packaged swagger, and the inventory against itself "
        "(cycles, duplicate ids, parameter sources, parents, shared targets). Exit 1 on any "
        "error.",
    )
    validate.add_argument(
        "--jobs",
        type=Path,
        metavar="FILE",
        help="the inventory to check (default TRIALSYNC_JOBS_FILE, else the packaged one)",
    )
    _json(validate)


def add_instance_test(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = actions.add_parser(
        "test",
        help="one cheap request: reachable?, latency, key accepted?, rate limit",
        description="GET /api/v1/studies/odata?$top=1 once (no retries), with the client, "
        "key and header the runs use. Exit 0 when the instance answers and accepts the key.",
    )
    test.add_argument("instance_id", type=int, metavar="ID")
    _json(test)


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document, not a table")


def print_validation(report: Report, *, as_json: bool) -> int:
    """The findings, one row each; exit 1 when any is an error."""
    if as_json:
        print_json(report.to_json())
    else:
        rows = [
            (
                f.job_id if f.job_id is not None else "",
                f.job[:24],
                f.severity,
                f.check,
                _cut(f.message),
            )
            for f in report.findings
        ]
        if rows:
            print_table(VALIDATE_HEADERS, rows, title="inventory findings")
        counts = ", ".join(f"{report.count(s)} {s}" for s in ("error", "warning", "info"))
        verdict = "ok" if report.ok else "FAILED"
        print(f"\n{report.jobs_checked} jobs checked: {counts}: {verdict}")
    return EXIT_OK if report.ok else EXIT_FAILED


def _cut(message: str) -> str:
    """A table cell short enough for every column to fit in 200 characters (--json has the
    whole message)."""
    return message if len(message) <= MESSAGE_WIDTH else message[: MESSAGE_WIDTH - 1] + "…"


def _key(probe: InstanceProbe) -> str:
    if probe.key_accepted is None:
        return "unknown"
    return "accepted" if probe.key_accepted else "rejected"


def print_probe(probe: InstanceProbe, *, as_json: bool) -> int:
    """One row for the instance and a line saying what was learnt; exit 0 when reachable and
    the key is accepted. The key itself is never printed, only its header's name."""
    if as_json:
        print_json(probe.to_json())
    else:
        latency = f"{probe.latency_ms:.0f} ms" if probe.latency_ms is not None else ""
        rate = f"{probe.rate_limit:g}" if probe.rate_limit else "none"
        row = (
            probe.instance_id,
            probe.name,
            probe.base_url,
            probe.reachable,
            probe.status,
            latency,
            _key(probe),
            rate,
        )
        print_table(PROBE_HEADERS, [row])
        print(f"\nGET {probe.endpoint}?$top=1 ({probe.auth_header} header): {probe.detail}")
        if not probe.reachable and is_this_machine(probe.base_url):
            print("(this machine: is `trialsync-async simulate` running?)")
    return EXIT_OK if probe.ok else EXIT_FAILED
