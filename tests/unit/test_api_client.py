"""ApiClient: classification, retries, counters (aioresponses, no network)."""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core
from structlog.testing import capture_logs
from yarl import URL

from trialsync_async.api.client import ApiClient
from trialsync_async.api.limits import InstanceLimiter
from trialsync_async.api.paging import LinkPaging, OffsetPaging, walk
from trialsync_async.api.retry import RetryPolicy
from trialsync_async.engine.clients import make_client
from trialsync_async.errors import (
    ApiError,
    AuthError,
    ClientRequestError,
    EndpointNotFound,
    MissingApiKeyError,
    RetriesExhausted,
)
from trialsync_async.settings import Settings

pytestmark = pytest.mark.unit

BASE = "http://cc.test/CCSWEB"
PATH = "/api/v1/studies/odata"
URL_ = BASE + PATH
KEY = "secret-key-123"
FAST = Settings(
    http_max_attempts=3, http_backoff_base=0.001, http_backoff_max=0.002, http_max_retry_after=0.05
).retry_policy()
OK = {"@odata.context": "c", "value": [{"id": 1}]}


def new_client(
    *,
    instance_id: int = 1,
    base_url: str = BASE,
    api_key: str = KEY,
    auth_header: str = "CCAPIKey",
    rate_limit: float | None = None,
    limiter: InstanceLimiter | None = None,
    retry: RetryPolicy = FAST,
) -> ApiClient:
    """A client as the engine makes them; ``limiter`` shares one limiter between clients."""
    client = make_client(
        Settings(), instance_id=instance_id, base_url=base_url, api_key=api_key,
        auth_header=auth_header, rate_limit=rate_limit,
    )  # fmt: skip
    client.retry = retry
    if limiter is not None:
        client.limiter = limiter
    return client


class _CompatResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 omits the ``stream_writer`` aiohttp 3.14 requires
    (pnuckowski/aioresponses#289); supply a stub until it is fixed upstream."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


_NEEDS_SHIM = "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    if _NEEDS_SHIM:
        monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[ApiClient]:
    async with new_client() as c:
        yield c


def calls(m: aioresponses, url: str = URL_) -> list:
    return m.requests.get(("GET", URL(url)), [])


async def test_ok_sends_key_header(client: ApiClient, mocked: aioresponses) -> None:
    mocked.get(URL_, payload=OK)
    page = await client.get_page(PATH)
    assert page.records == [{"id": 1}]
    [call] = calls(mocked)
    assert call.kwargs["headers"]["CCAPIKey"] == KEY
    assert call.kwargs["allow_redirects"] is False
    assert client.stats.requests == 1 and client.stats.outcomes["ok"] == 1
    assert client.stats.records == 1


async def test_custom_auth_header(mocked: aioresponses) -> None:
    mocked.get(URL_, payload=OK)
    async with new_client(base_url=BASE + "/", auth_header="X-ApiKey") as c:
        await c.get_page(PATH)
    assert calls(mocked)[0].kwargs["headers"]["X-ApiKey"] == KEY


async def test_query_params(client: ApiClient, mocked: aioresponses) -> None:
    mocked.get(re.compile(r".*"), payload=OK)
    await client.get_page(PATH, {"$top": 10, "$filter": "status eq 'Active'"})
    [(_, url)] = list(mocked.requests)
    assert url.path == "/CCSWEB" + PATH
    assert url.query["$top"] == "10" and url.query["$filter"] == "status eq 'Active'"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_retry_then_success(client: ApiClient, mocked: aioresponses, status: int) -> None:
    mocked.get(URL_, status=status)
    mocked.get(URL_, status=status)
    mocked.get(URL_, payload=OK)
    page = await client.get_page(PATH)
    assert page.records == [{"id": 1}]
    assert len(calls(mocked)) == 3
    assert client.stats.retries == 2 and client.stats.requests == 3
    assert client.stats.outcomes[f"http_{status}"] == 2


async def test_retry_after_honoured_and_pauses_instance(
    client: ApiClient, mocked: aioresponses
) -> None:
    mocked.get(URL_, status=429, headers={"Retry-After": "1"})  # capped to 0.05 by FAST
    mocked.get(URL_, payload=OK)
    start = time.monotonic()
    await client.get_page(PATH)
    assert time.monotonic() - start >= 0.045
    assert len(calls(mocked)) == 2


PAUSE = 0.3
"""Seconds a 429 holds the instance back in the test below (its Retry-After, capped)."""


async def test_429_slows_the_instance_and_its_request_waits_as_asked(
    mocked: aioresponses,
) -> None:
    """A 429 with Retry-After lowers the shared limiter's rate (one decrease, for both
    clients); the throttled request goes again only after Retry-After; a worker of another
    client on the same instance is not paused for it (the lower rate holds it) and no 429 is
    an attempt toward giving up (max_attempts=1 here)."""
    sent: dict[str, float] = {}

    def stamp(name: str) -> Callable[..., None]:
        def callback(url: URL, **kwargs: Any) -> None:  # None: answer as registered
            sent[name] = time.monotonic()

        return callback

    subjects = "/api/v1/subjects/odata"
    mocked.get(URL_, status=429, headers={"Retry-After": "5"}, callback=stamp("429"))
    mocked.get(URL_, payload=OK, callback=stamp("retry"))
    mocked.get(BASE + subjects, payload=OK, callback=stamp("other client"))
    policy = replace(FAST, max_attempts=1, max_retry_after=PAUSE)
    limiter = InstanceLimiter(None)  # the instance's one limiter, shared by both clients
    async with (
        new_client(limiter=limiter, retry=policy) as a,
        new_client(limiter=limiter, retry=policy) as b,
    ):
        throttled = asyncio.create_task(a.get_page(PATH))
        deadline = time.monotonic() + 1.0
        while "429" not in sent or limiter.decreases == 0:
            assert time.monotonic() < deadline, "the 429 did not lower the instance's rate"
            await asyncio.sleep(0.001)
        assert limiter.rate is not None  # unlimited until the server said otherwise
        other = await b.get_page(subjects)
        await throttled
    assert other.records == [{"id": 1}]
    assert sent["retry"] - sent["429"] >= PAUSE - 0.01  # Retry-After 5, capped at PAUSE
    assert sent["other client"] < sent["retry"]  # not paused: the throttled request waited
    assert limiter.decreases == 1 and limiter.throttles == 1
    assert a.stats.outcomes["http_429"] == 1 and a.stats.retries == 1


@pytest.mark.parametrize(
    "exc",
    [
        TimeoutError(),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("Response payload is not completed"),
        aiohttp.ClientConnectionError("reset"),
    ],
)
async def test_transport_errors_retried(
    client: ApiClient, mocked: aioresponses, exc: Exception
) -> None:
    mocked.get(URL_, exception=exc)
    mocked.get(URL_, payload=OK)
    assert (await client.get_page(PATH)).records == [{"id": 1}]
    assert client.stats.retries == 1


@pytest.mark.parametrize(
    "body", [b'{"value": [{"id": 1', b"<html>Error</html>", b"plain text", b""]
)
async def test_malformed_200_retried(client: ApiClient, mocked: aioresponses, body: bytes) -> None:
    mocked.get(URL_, status=200, body=body)
    mocked.get(URL_, payload=OK)
    assert (await client.get_page(PATH)).records == [{"id": 1}]
    assert client.stats.outcomes["malformed"] == 1


async def test_retries_exhausted(client: ApiClient, mocked: aioresponses) -> None:
    mocked.get(URL_, status=503, repeat=True)
    with pytest.raises(RetriesExhausted) as info:
        await client.get_page(PATH)
    assert len(calls(mocked)) == FAST.max_attempts
    assert info.value.context["attempts"] == 3
    assert info.value.context["endpoint"] == PATH
    assert "503" in str(info.value)


async def test_timeouts_exhausted(client: ApiClient, mocked: aioresponses) -> None:
    mocked.get(URL_, exception=TimeoutError(), repeat=True)
    with pytest.raises(RetriesExhausted, match="timeout"):
        await client.get_page(PATH)
    assert client.stats.outcomes["timeout"] == 3


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_error_not_retried(client: ApiClient, mocked: aioresponses, status: int) -> None:
    mocked.get(URL_, status=status, repeat=True)
    with pytest.raises(AuthError) as info:
        await client.get_page(PATH)
    assert len(calls(mocked)) == 1
    assert KEY not in str(info.value)
    assert info.value.context == {"status": status, "instance_id": 1}


@pytest.mark.parametrize("status", [404, 501])
async def test_endpoint_not_found(client: ApiClient, mocked: aioresponses, status: int) -> None:
    mocked.get(URL_, status=status, repeat=True)
    with pytest.raises(EndpointNotFound):
        await client.get_page(PATH)
    assert len(calls(mocked)) == 1


@pytest.mark.parametrize("status", [400, 405, 422, 302])
async def test_other_4xx_and_redirects(
    client: ApiClient, mocked: aioresponses, status: int
) -> None:
    mocked.get(URL_, status=status, payload={"error": {"message": "bad $filter"}}, repeat=True)
    with pytest.raises(ClientRequestError):
        await client.get_page(PATH)
    assert len(calls(mocked)) == 1


async def test_400_detail_from_body(client: ApiClient, mocked: aioresponses) -> None:
    mocked.get(URL_, status=400, payload={"error": {"message": "bad $filter"}})
    with pytest.raises(ClientRequestError, match=r"bad \$filter"):
        await client.get_page(PATH)


async def test_other_client_error_not_retried(client: ApiClient, mocked: aioresponses) -> None:
    mocked.get(URL_, exception=aiohttp.TooManyRedirects(None, ()), repeat=True)  # type: ignore[arg-type]
    with pytest.raises(ApiError):
        await client.get_page(PATH)
    assert len(calls(mocked)) == 1


async def test_retry_logs_without_secret(client: ApiClient, mocked: aioresponses) -> None:
    mocked.get(re.compile(r".*"), status=503)
    mocked.get(re.compile(r".*"), payload=OK)
    with capture_logs() as logs:
        await client.get_page(PATH, {"$filter": "lastName eq 'Doe'"})
    [entry] = [e for e in logs if e["event"] == "api_retry"]
    assert entry["endpoint"] == PATH and entry["instance_id"] == 1 and entry["attempt"] == 1
    assert KEY not in repr(logs) and "Doe" not in repr(logs)
    assert KEY not in repr(client)


def test_missing_key_refused() -> None:
    with pytest.raises(MissingApiKeyError):
        new_client(instance_id=9, api_key="")


@pytest.mark.parametrize("path", ["/a/../b", "/a b", "/a?x=1", "relative", "/a#f"])
async def test_unrendered_paths_refused(client: ApiClient, path: str) -> None:
    with pytest.raises(ValueError):
        await client.get_page(path)


async def test_not_open() -> None:
    c = new_client()
    with pytest.raises(RuntimeError):
        await c.get_page(PATH)


async def test_clients_of_one_instance_share_one_limiter(mocked: aioresponses) -> None:
    mocked.get(URL_, payload=OK, repeat=True)
    rate = 100.0
    shared = InstanceLimiter(rate)
    stamps: list[float] = []
    async with (
        new_client(instance_id=7, limiter=shared) as a,
        new_client(instance_id=7, limiter=shared) as b,
        new_client(instance_id=8, rate_limit=rate) as other,
    ):
        assert a.limiter is b.limiter and a.limiter is not other.limiter

        async def run(c: ApiClient) -> None:
            for _ in range(5):
                await c.get_page(PATH)
                stamps.append(time.monotonic())

        start = time.monotonic()
        await asyncio.gather(run(a), run(b))
    assert time.monotonic() - start >= 9 / rate - 0.002


# --- paging strategies over HTTP ------------------------------------------------------


def _odata(ids: range, next_link: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.context": "c", "value": [{"id": i} for i in ids]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body


async def test_paging_on_the_wire(client: ApiClient, mocked: aioresponses) -> None:
    mocked.get(URL_ + "?$top=1000&$skip=0", payload=_odata(range(1000)))
    mocked.get(URL_ + "?$top=1000&$skip=1000", payload=_odata(range(1000, 1200)))
    pages = [p async for p in walk(client, PATH, OffsetPaging(5000, count=False))]
    assert [len(p) for p in pages] == [1000, 200]  # $top clamped to the API's 1000


async def test_next_link_host_not_trusted(client: ApiClient, mocked: aioresponses) -> None:
    evil = "https://evil.example/steal/api/v1/studies/odata?$top=2&$skip=2"
    mocked.get(URL_ + "?$top=2&$skip=0", payload=_odata(range(2), evil))
    mocked.get(URL_ + "?$top=2&$skip=2", payload=_odata(range(2, 3)))
    paging = LinkPaging(link=[("$top", 2), ("$skip", 0)])
    pages = [p async for p in walk(client, PATH, paging)]
    assert [r["id"] for p in pages for r in p] == [0, 1, 2]
    assert all(url.host == "cc.test" for _, url in mocked.requests)
