"""Throughput of the Clinical Conductor simulator, measured from a separate client process.

Starts the simulator in a child process (latency 0, page cache off so every page is rendered)
and drives it with aiohttp over several keep-alive connections:

* small pages: ``$top=10`` on /api/v1/appointments/odata -> requests/s
* large pages: ``$top=1000`` on /api/v1/patient-visits/odata -> records/s

Run: ``.venv/bin/python bench/bench_simulator.py [--duration 5] [--connections 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from typing import Any

import aiohttp
import orjson

from ccsim import SimulatorOptions, SimulatorProcess

SMALL = "/api/v1/appointments/odata"
LARGE = "/api/v1/patient-visits/odata"
TARGET_RPS = 2_000
TARGET_RECORDS = 50_000


def items(payload: object) -> list[Any]:
    if isinstance(payload, dict):
        return payload.get("Items") or payload.get("value") or []
    return payload  # type: ignore[return-value]


async def drive(
    base_url: str, headers: dict[str, str], path: str, top: int, total: int,
    connections: int, duration: float,
) -> tuple[int, int, int, list[float], float]:  # fmt: skip
    """Requests, records, bytes, latencies and elapsed seconds of ``duration`` of load."""
    pages = max(1, total // top)
    skips = itertools.cycle(range(0, pages * top, top))
    latencies: list[float] = []
    counts = [0, 0, 0]
    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(headers=headers, connector=conn) as session:
        deadline = time.perf_counter() + duration
        start = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() < deadline:
                url = f"{base_url}{path}?$top={top}&$skip={next(skips)}"
                t = time.perf_counter()
                async with session.get(url) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status} for {url}")
                latencies.append(time.perf_counter() - t)
                counts[0] += 1
                counts[1] += len(items(orjson.loads(body)))
                counts[2] += len(body)

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return counts[0], counts[1], counts[2], latencies, elapsed


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


async def main(args: argparse.Namespace) -> int:
    opts = SimulatorOptions(scale=args.scale, page_cache_size=0)
    async with SimulatorProcess(opts) as sim:
        truth = sim.truth()["templates"]
        print(
            f"simulator bench: scale={args.scale} connections={args.connections} "
            f"duration={args.duration}s per phase (server in a child process, page cache off)"
        )
        # warm-up (first-touch work such as prefix sums and record templates)
        await drive(sim.base_url, sim.auth_header, SMALL, 10, 100, 2, 0.3)
        await drive(sim.base_url, sim.auth_header, LARGE, 1000, 2000, 2, 0.3)
        n, recs, _size, lat, el = await drive(
            sim.base_url, sim.auth_header, SMALL, 10, truth[SMALL]["count"],
            args.connections, args.duration,
        )  # fmt: skip
        rps = n / el
        print(
            f"small pages ($top=10, {SMALL}): {n} requests, {recs} records in {el:.2f} s"
            f" = {rps:,.0f} requests/s (p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms)"
        )
        n2, recs2, size2, lat2, el2 = await drive(
            sim.base_url, sim.auth_header, LARGE, 1000, truth[LARGE]["count"],
            args.connections, args.duration,
        )  # fmt: skip
        rec_s = recs2 / el2
        print(
            f"large pages ($top=1000, {LARGE}): {n2} requests, {recs2} records in {el2:.2f} s"
            f" = {rec_s:,.0f} records/s, {size2 / el2 / 1e6:.1f} MB/s"
            f" (p50 {pct(lat2, 50):.1f} ms, p99 {pct(lat2, 99):.1f} ms)"
        )
        ok_rps, ok_rec = rps >= TARGET_RPS, rec_s >= TARGET_RECORDS
        print(
            f"targets: >= {TARGET_RPS:,} requests/s {'PASS' if ok_rps else 'FAIL'}; "
            f">= {TARGET_RECORDS:,} records/s {'PASS' if ok_rec else 'FAIL'}"
        )
        return 0 if ok_rps and ok_rec else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--scale", type=float, default=1.0, help="simulator scale")
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        raise SystemExit(runner.run(main(parser.parse_args())))
