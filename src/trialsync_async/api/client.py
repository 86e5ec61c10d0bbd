"""HTTP client for one Clinical Conductor API instance.

Per attempt: take an in-flight slot (api/concurrency.py: the adaptive limit), then the
instance's rate slot (api/limits.py), then send — in that order, so time spent queueing for a
slot never bunches requests past the rate limit, and never counts against the request
timeout. A 429 or 503 slows the instance down (AIMD on the rate; a 503 or a timeout also
lowers the in-flight limit); a 429 is not an attempt that counts toward giving up, until the
instance has been throttled for ``throttle_patience`` seconds without a break.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

import aiohttp
import orjson
import structlog
from yarl import URL

from trialsync_async import __version__, facts
from trialsync_async.api.breaker import CircuitBreaker
from trialsync_async.api.concurrency import AdaptiveSlots
from trialsync_async.api.limits import InstanceLimiter
from trialsync_async.api.pages import Expect, Page, parse_page
from trialsync_async.api.retry import RetryPolicy, parse_retry_after
from trialsync_async.errors import (
    ApiError,
    AuthError,
    ClientRequestError,
    EndpointNotFound,
    InstanceUnreachable,
    MalformedResponse,
    MissingApiKeyError,
    RetriesExhausted,
)

log = structlog.get_logger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Besides these, every 5xx but 501 is retried too."""
AUTH_STATUSES = frozenset({401, 403})
NOT_FOUND_STATUSES = frozenset({404, 501})

Params = Mapping[str, str | int | float] | Sequence[tuple[str, str | int | float]]

# Path characters that need no encoding (RFC 3986 pchar and "/"); anything else in a
# path means a caller skipped render_path.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*")


@dataclass(slots=True)
class ClientStats:
    """Counters for progress display. ``outcomes`` keys: ok, http_<status>, timeout,
    connection, malformed."""

    requests: int = 0
    retries: int = 0
    pages: int = 0
    records: int = 0
    bytes: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


class Tally(Protocol):
    """Where one job counts its HTTP attempts and retries on a shared client."""

    requests: int
    retries: int
    throttled: int  # 429 and 503 answers


class _Transient(Exception):
    """A failed attempt that may be retried; ``connection``: no HTTP answer at all."""

    def __init__(
        self,
        reason: str,
        *,
        retry_after: str | None = None,
        throttled: bool = False,
        connection: bool = False,
        overload: bool = False,
        rate_limited: bool = False,
    ):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled  # 429 or 503: slow down (AIMD)
        self.rate_limited = rate_limited  # 429: not an attempt toward giving up
        self.connection = connection
        self.overload = overload  # 503 or a timeout: fewer requests in flight


def _error_detail(body: bytes, fallback: str) -> str:
    """Short server-side explanation of a 4xx (OData/ASP.NET error bodies)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return fallback
    message: Any = None
    if isinstance(data, dict):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        message = message or data.get("Message") or data.get("message")
    return str(message)[:200] if message else fallback


class ApiClient:
    """Fetches pages from one API instance; use as ``async with ApiClient(...) as client``.

    ``limiter`` is the instance's one limiter: every client of the instance must get the same
    (the engine's ClientRegistry makes one client per instance). ``timeout`` bounds a request
    in all and the wait between two reads; ``connect_timeout`` the connection.
    """

    def __init__(
        self,
        *,
        instance_id: int,
        base_url: str,
        api_key: str,
        limiter: InstanceLimiter,
        slots: AdaptiveSlots,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        timeout: float,
        connect_timeout: float,
        max_connections: int,
        throttle_patience: float,
        auth_header: str = facts.AUTH_HEADER,
    ) -> None:
        if not api_key:
            raise MissingApiKeyError(instance_id=instance_id)
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        base = URL(base_url)
        if not base.is_absolute() or base.scheme not in ("http", "https"):
            raise ValueError("base_url must be an absolute http(s) URL")
        if base.query_string or base.fragment:
            raise ValueError("base_url must not have a query or fragment")
        self.instance_id = instance_id
        self._base = str(base).rstrip("/")
        self._headers = {auth_header: api_key}
        self.limiter = limiter
        self.slots = slots  # requests in flight: the adaptive limit
        self.throttle_patience = throttle_patience  # seconds of nothing but throttles
        self.retry = retry
        self._timeout = aiohttp.ClientTimeout(
            total=timeout, sock_connect=connect_timeout, sock_read=timeout
        )
        self.max_connections = max_connections
        self.stats = ClientStats()
        self.breaker = breaker
        self.host = f"{base.host}:{base.port}"
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never show the key
        return f"ApiClient(instance_id={self.instance_id!r}, limiter={self.limiter!r})"

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=self.max_connections,
            ttl_dns_cache=300,
            keepalive_timeout=30,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            raise_for_status=False,
            headers={"Accept": "application/json", "User-Agent": f"trialsync-async/{__version__}"},
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # --- requests --------------------------------------------------------------------

    def url(self, path: str, params: Params | None = None) -> URL:
        """Absolute URL of ``path`` (already rendered and encoded) under the base URL."""
        if not _SAFE_PATH.fullmatch(path):
            raise ValueError(f"not a rendered API path: {path!r} (query goes in params)")
        if any(seg in (".", "..") for seg in path.split("/")):
            raise ValueError(f"dot segment in API path {path!r}")
        url = URL(self._base + path, encoded=True)
        return url.with_query(params) if params else url

    def _check_breaker(self) -> None:
        if self.breaker.open_reason is not None:
            raise InstanceUnreachable(
                instance_id=self.instance_id, host=self.host, detail=self.breaker.open_reason
            )

    async def get_page(
        self,
        path: str,
        params: Params | None = None,
        *,
        tally: Tally | None = None,
        expect: Expect = "any",
    ) -> Page:
        """GET ``path`` with ``params`` and parse the body, retrying transient failures.

        Every attempt is counted in ``stats`` and in ``tally`` (the calling job's counters).
        ``expect="list"``: a single object is a malformed answer, not a record. Raises
        AuthError (401/403), EndpointNotFound (404/501), ClientRequestError (other 4xx, 3xx),
        RetriesExhausted (transient failures beyond ``retry.max_attempts``),
        InstanceUnreachable (the circuit breaker is open), RecordRejected (a body no retry
        can fix), ApiError (other client errors).
        """
        if self._session is None:
            raise RuntimeError("ApiClient is not open: use `async with ApiClient(...)`")
        url = self.url(path, params)
        attempt = tries = 0
        throttled_since: float | None = None
        while True:
            tries += 1
            limiter = self.limiter
            async with self.slots.held() as slot:
                self._check_breaker()
                await limiter.acquire()
                self._check_breaker()
                sent_at = slot.start()
                if tally is not None:
                    tally.requests += 1
                    tally.retries += tries > 1
                try:
                    page = await self._attempt(self._session, url, path, expect)
                except _Transient as failure:
                    transient = failure
                    if failure.connection:
                        self.breaker.failure(failure.reason)
                    else:
                        self.breaker.success()
                    if failure.overload:
                        slot.overloaded()
                except ApiError:
                    self.breaker.success()  # an HTTP answer: the host is there
                    slot.answered()
                    limiter.served()
                    raise
                else:
                    self.breaker.success()
                    slot.answered()
                    limiter.served()
                    return page
            self._check_breaker()
            self.stats.retries += 1
            if transient.throttled:  # 429 or 503: slow the instance down (AIMD)
                if tally is not None:
                    tally.throttled += 1
                hinted = parse_retry_after(transient.retry_after)
                asked = min(hinted, self.retry.max_retry_after) if hinted else None
                limiter.throttled(asked, sent_at=sent_at)
            if transient.rate_limited:  # a 429 is a signal, not an attempt that fails
                now = time.monotonic()
                throttled_since = throttled_since if throttled_since is not None else now
                if now - throttled_since <= self.throttle_patience:
                    await asyncio.sleep(asked or 0)  # as the server asks; then a slot anew
                    continue
                raise RetriesExhausted(
                    endpoint=path, attempts=tries,
                    detail=f"{transient.reason} for {now - throttled_since:.0f} s "
                    f"(TRIALSYNC_HTTP_THROTTLE_PATIENCE), the rate down to "
                    f"{limiter.rate or 0:.2g} requests/s: the API key stays throttled",
                ) from transient.__cause__  # fmt: skip
            throttled_since = None
            attempt += 1
            if not self.retry.can_retry(attempt):
                raise RetriesExhausted(
                    endpoint=path, attempts=attempt, detail=transient.reason
                ) from transient.__cause__
            delay = self.retry.delay(attempt, transient.retry_after)
            log.warning(
                "api_retry",
                instance_id=self.instance_id,
                endpoint=path,
                attempt=attempt,
                max_attempts=self.retry.max_attempts,
                delay=round(delay, 3),
                reason=transient.reason,
            )
            await asyncio.sleep(delay)

    async def _attempt(
        self, session: aiohttp.ClientSession, url: URL, path: str, expect: Expect
    ) -> Page:
        self.stats.requests += 1
        outcomes = self.stats.outcomes
        try:
            async with session.get(url, headers=self._headers, allow_redirects=False) as resp:
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                body = await resp.read()
        except TimeoutError as exc:
            outcomes["timeout"] += 1
            raise _Transient("timeout", connection=True, overload=True) from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            outcomes["connection"] += 1
            raise _Transient(
                f"connection error ({type(exc).__name__})",
                # could not connect at all (a reset mid-body means the host is there)
                connection=isinstance(exc, aiohttp.ClientConnectorError),
            ) from exc
        except aiohttp.ClientError as exc:
            outcomes["client_error"] += 1
            raise ApiError(detail=f"{type(exc).__name__} on {path}") from exc

        self.stats.bytes += len(body)
        if status in RETRY_STATUSES or (status >= 500 and status not in NOT_FOUND_STATUSES):
            outcomes[f"http_{status}"] += 1
            raise _Transient(
                f"HTTP {status}",
                retry_after=retry_after,
                throttled=status in (429, 503),
                overload=status == 503,
                rate_limited=status == 429,
            )
        if 200 <= status < 300:
            try:
                page = (
                    Page(records=[])
                    if status == 204
                    else parse_page(body, endpoint=path, expect=expect)
                )
            except MalformedResponse as exc:
                outcomes["malformed"] += 1
                raise _Transient(f"malformed response ({exc.context.get('detail')})") from exc
            outcomes["ok"] += 1
            self.stats.pages += 1
            self.stats.records += len(page.records)
            return page
        outcomes[f"http_{status}"] += 1
        if status in AUTH_STATUSES:
            raise AuthError(status=status, instance_id=self.instance_id)
        if status in NOT_FOUND_STATUSES:
            raise EndpointNotFound(status=status, endpoint=path)
        if 300 <= status < 400:
            # Not followed: aiohttp would carry the API key header to wherever it points.
            raise ClientRequestError(status=status, endpoint=path, detail="unexpected redirect")
        raise ClientRequestError(
            status=status, endpoint=path, detail=_error_detail(body, f"HTTP {status}")
        )
