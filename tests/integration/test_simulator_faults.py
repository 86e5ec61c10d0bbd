"""Rate limiting, concurrency cap, injected faults and runtime configuration."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import orjson
import pytest

from ccsim import FaultOptions, SimulatorServer
from tests.sim_support import client_session, get_json, sim_options

pytestmark = pytest.mark.integration

STUDIES = "/api/v1/studies/odata"
SUBJECTS = "/api/v1/studies/{studyId}/subjects/odata"


async def outcome(session: aiohttp.ClientSession, url: str) -> str:
    """Classify one request the way a client experiences it."""
    try:
        async with session.get(url) as resp:
            body = await resp.read()
            if resp.status != 200:
                return str(resp.status)
            if resp.content_type == "text/html":
                return "html"
            try:
                orjson.loads(body)
            except orjson.JSONDecodeError:
                return "truncated"
            return "200"
    except aiohttp.ClientPayloadError:
        return "reset"
    except (aiohttp.ServerDisconnectedError, TimeoutError):
        return "hang"


async def run_many(sim: SimulatorServer, n: int, concurrency: int = 16) -> list[str]:
    conn = aiohttp.TCPConnector(force_close=True, limit=concurrency)  # no client-side retries
    timeout = aiohttp.ClientTimeout(total=10)
    results: list[str] = []
    async with aiohttp.ClientSession(
        headers=sim.auth_header, connector=conn, timeout=timeout
    ) as session:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                results.append(await outcome(session, sim.url(STUDIES + "?$top=20")))

        await asyncio.gather(*(one() for _ in range(n)))
    return results


async def test_each_fault_at_its_rate() -> None:
    faults = FaultOptions(
        p_500=0.1, p_503=0.1, p_429=0.1, p_reset=0.1, p_hang=0.1, p_truncated=0.1, p_html=0.1,
        hang_seconds=0.02,
    )  # fmt: skip
    async with SimulatorServer(sim_options(faults=faults)) as sim:
        got = Counter(await run_many(sim, 1000))
        stats = sim.stats()
        # aiohttp retries a request once when the server disconnects without answering (hang),
        # so rates are measured on what the server saw; the client still sees every kind
        served = stats["requests"]
        assert 1000 <= served <= 1150
        for kind in ("500", "503", "429", "reset", "hang", "truncated", "html"):
            assert 0.05 <= stats["faults"][kind] / served <= 0.15, (kind, stats["faults"])
            assert got[kind] > 0, (kind, got)
        assert sum(stats["faults"].values()) + stats["by_status"]["200"] == served
        # same seed, same configuration -> the same fault sequence (sequential client)
        sim.configure(faults={"p_hang": 0.0})
        first = await run_many(sim, 200, concurrency=1)
        sim.configure(faults={"p_hang": 0.0})  # reconfiguring restarts the fault RNG
        assert await run_many(sim, 200, concurrency=1) == first


async def test_single_fault_kind_rate_and_admin_is_never_faulted() -> None:
    async with SimulatorServer(sim_options(faults={"p_500": 0.1})) as sim:
        got = Counter(await run_many(sim, 1000))
        assert 50 <= got["500"] <= 150 and got["500"] + got["200"] == 1000
        sim.configure(faults={"p_500": 1.0})
        async with client_session(sim) as http:
            status, _ = await get_json(http, sim.url(STUDIES))
            assert status == 500
            for path in ("truth", "stats", "config", "health", "catalog"):
                status, _ = await get_json(http, f"{sim.admin_url}/{path}")
                assert status == 200, path


async def test_rate_limit_429_with_retry_after() -> None:
    async with (
        SimulatorServer(sim_options(rate_limit_rps=20, rate_limit_burst=5)) as sim,
        client_session(sim) as http,
    ):
        statuses, retry_after = [], []
        for _ in range(30):
            async with http.get(sim.url(STUDIES + "?$top=1")) as r:
                statuses.append(r.status)
                if r.status == 429:
                    retry_after.append(r.headers["Retry-After"])
        assert statuses[:5] == [200] * 5
        assert statuses.count(429) >= 15
        assert all(v.isdigit() and int(v) >= 1 for v in retry_after)
        await asyncio.sleep(0.3)  # tokens refill at 20/s
        async with http.get(sim.url(STUDIES + "?$top=1")) as r:
            assert r.status == 200
        assert sim.stats()["by_status"]["429"] == statuses.count(429)
        # lift the limit at runtime through the admin API
        async with http.post(f"{sim.admin_url}/config", json={"rate_limit_rps": None}) as r:
            assert r.status == 200
            assert (await r.json())["api_key"] == "***"
        results = await asyncio.gather(*(get_json(http, sim.url(STUDIES)) for _ in range(40)))
        assert {s for s, _ in results} == {200}


async def test_max_concurrency_503() -> None:
    async with SimulatorServer(sim_options(max_concurrency=3, latency_mean_s=0.2)) as sim:
        async with client_session(sim, limit=20) as http:
            results = await asyncio.gather(*(get_json(http, sim.url(STUDIES)) for _ in range(10)))
        statuses = Counter(s for s, _ in results)
        assert statuses[200] == 3 and statuses[503] == 7
        assert sim.stats()["max_in_flight"] == 3


async def test_latency_and_per_record_cost() -> None:
    opts = sim_options(latency_mean_s=0.05, per_record_cost_s=0.0005)
    async with SimulatorServer(opts) as sim, client_session(sim) as http:
        loop = asyncio.get_running_loop()
        t = loop.time()
        await get_json(http, sim.url("/api/v1/system/devices/odata?$top=200"))
        assert loop.time() - t >= 0.05 + 0.1


async def test_fail_parents_and_runtime_config() -> None:
    async with SimulatorServer(sim_options()) as sim, client_session(sim) as http:
        _, studies = await get_json(http, sim.url(STUDIES + "?$top=3"))
        bad, good = studies[0]["id"], studies[1]["id"]
        sim.configure(fail_parents={SUBJECTS: [str(bad)]})
        status, _ = await get_json(http, sim.url(f"/api/v1/studies/{bad}/subjects/odata"))
        assert status == 500
        status, _ = await get_json(http, sim.url(f"/api/v1/studies/{good}/subjects/odata"))
        assert status == 200
        assert sim.stats()["faults"]["fail_parent"] == 1
        body = {"fail_parents": {}, "faults": {"p_503": 1.0}}
        async with http.post(f"{sim.admin_url}/config", json=body) as r:
            assert r.status == 200
        async with http.get(sim.url(f"/api/v1/studies/{bad}/subjects/odata")) as r:
            assert r.status == 503 and r.headers["Retry-After"] == "1"
        async with http.post(f"{sim.admin_url}/config", json={"faults": {"p_503": 2}}) as r:
            assert r.status == 400
        async with http.post(f"{sim.admin_url}/config", json={"nonsense": 1}) as r:
            assert r.status == 400
