"""The simulator as a child process and its command line."""

from __future__ import annotations

import argparse
import json
import urllib.request

import pytest

from ccsim import FaultOptions, SimulatorOptions, SimulatorProcess
from ccsim.cli import add_arguments, options_from_args, options_to_argv

pytestmark = pytest.mark.integration


def test_cli_round_trips_every_knob() -> None:
    opts = SimulatorOptions(
        seed=7,
        scale=0.5,
        api_key="k-123",
        api_key_header="X-ApiKey",
        latency_mean_s=0.01,
        latency_jitter_s=0.002,
        per_record_cost_s=0.0001,
        rate_limit_rps=12.5,
        rate_limit_burst=3,
        max_concurrency=9,
        faults=FaultOptions(p_500=0.1, p_reset=0.05, p_html=0.01, hang_seconds=2.5),
        fail_parents={"/api/v1/studies/{studyId}/subjects/odata": frozenset({"1", "2"})},
        shape_overrides={"odata": "envelope", "/api/v1/sites": "pageresult"},
        size_overrides={"studies": 10.0},
        churn=0.01,
        page_cache_size=8,
        natural_order="shuffled",
        page_overlap=0.2,
        max_top=250,
        global_list_drop=0.25,
        reject_filter_fields=("lastUpdatedOn", "createdOn"),
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([*options_to_argv(opts), "--api-key", "k-123"])
    assert options_from_args(args) == opts
    helptext = parser.format_help()
    assert "--p-hang" in helptext and "default: 1729" in helptext
    assert "--natural-order" in helptext and "--page-overlap" in helptext
    assert "--global-list-drop" in helptext and "--reject-filter-fields" in helptext


def test_subprocess_serves_and_stops() -> None:
    with SimulatorProcess(SimulatorOptions(scale=0.02, api_key="proc-key")) as sim:
        assert sim.base_url.endswith("/CCSWEB")
        req = urllib.request.Request(
            sim.base_url + "/api/v1/studies/odata?$top=1000", headers=sim.auth_header
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            rows = json.loads(resp.read())
        truth = sim.truth("/api/v1/studies/odata")
        assert len(rows) == truth["count"] and sum(r["id"] for r in rows) == truth["id_sum"]
        assert sim.stats()["by_status"] == {"200": 1}
        sim.reset_stats()
        assert sim.stats()["requests"] == 0
        proc = sim.proc
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None  # killed on exit


async def test_subprocess_async_context() -> None:
    async with SimulatorProcess(SimulatorOptions(scale=0.02)) as sim:
        assert sim.truth()["templates"]["/api/v1/sites"]["count"] == 40
        assert sim.configure(rate_limit_rps=5)["rate_limit_rps"] == 5
    assert sim.proc is None


def test_a_taken_port_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from ccsim.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port), "--no-uvloop"]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
