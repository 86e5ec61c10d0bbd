"""Adaptive pressure over real sockets: a simulator with limits the loader is not told, and a
server that answers nothing but 429. Counts, not times."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ccsim import SimulatorServer
from tests.engine_support import loader, staged
from tests.sim_support import sim_options
from trialsync_async.engine.clients import make_client
from trialsync_async.errors import RetriesExhausted
from trialsync_async.settings import Settings

pytestmark = pytest.mark.integration

STUDIES, SUBJECTS = 2, 10  # job 2, then job 10: one request per study


def share(stats: dict, *codes: str) -> tuple[int, int]:
    by = stats["by_status"]
    return sum(by.get(c, 0) for c in codes), sum(by.values())


@pytest.mark.parametrize("hints", [True, False], ids=["retry-after", "bare-statuses"])
async def test_a_hidden_limit_fails_no_unit_and_few_requests_are_refused(
    db_dsn: str, hints: bool
) -> None:
    """The server takes 30 requests/s and 4 at once (429 and 503 beyond, with or without
    Retry-After); the instance has no limit and the job asks with 16 workers. Every unit
    succeeds, staging matches the truth, and the refusals stay a small share."""
    options = sim_options(scale=0.05, rate_limit_rps=30, max_concurrency=4, retry_after_hints=hints)
    async with (
        SimulatorServer(options) as sim,
        loader(db_dsn, sim, rate_limit=0, concurrency=16) as ts,
    ):
        [studies] = await ts.run_jobs([STUDIES])
        sim.reset_stats()
        [subjects] = await ts.run_jobs([SUBJECTS])
        truth = sim.truth("/api/v1/subjects/odata")["count"]
        stats = sim.stats()
    assert studies.ok, studies.error
    assert subjects.ok, subjects.error
    assert subjects.progress.units_failed == 0
    rows, _, _ = await staged(db_dsn, "dim_subjects_staging")
    assert rows == truth
    refused, total = share(stats, "429", "503")
    assert total >= studies.progress.inserted  # one request per study at least
    assert refused <= 0.15 * total, stats["by_status"]
    pressure = subjects.progress.notes["pressure"]
    assert pressure["ceiling"] is None and pressure["throttled"] == subjects.progress.throttled
    if stats["by_status"].get("429"):
        assert pressure["decreases"] >= 1 and pressure["rate"] is not None


async def test_a_server_answering_only_429_is_given_up_on_with_a_clear_message() -> None:
    async def throttled(request: web.Request) -> web.Response:
        return web.Response(status=429, text="slow down")

    app = web.Application()
    app.router.add_get("/CCSWEB/api/v1/studies/odata", throttled)
    async with TestServer(app) as server:
        settings = Settings(http_max_attempts=2, http_throttle_patience=0.3)
        client = make_client(
            settings, instance_id=1, base_url=str(server.make_url("/CCSWEB")), api_key="k",
            auth_header="CCAPIKey", rate_limit=50,
        )  # fmt: skip
        async with client:
            with pytest.raises(RetriesExhausted, match=r"HTTP 429 for \d+ s .* stays throttled"):
                await client.get_page("/api/v1/studies/odata")
    # more than the two attempts a failure gets: a 429 is not an attempt, until the patience
    assert client.stats.outcomes["http_429"] > 2
    assert client.limiter.decreases >= 1
