"""One ApiClient, and so one rate limiter, per API instance, shared by every job of a process."""

from __future__ import annotations

import asyncio

from trialsync_async.api import ApiClient, InstanceLimiter
from trialsync_async.api.breaker import CircuitBreaker
from trialsync_async.api.concurrency import AdaptiveSlots, VegasLimit
from trialsync_async.db.catalog import Instance
from trialsync_async.settings import Settings


def make_client(
    settings: Settings,
    *,
    instance_id: int,
    base_url: str,
    api_key: str,
    auth_header: str,
    rate_limit: float | None,
    max_connections: int | None = None,
) -> ApiClient:
    """A client with its own limiter and breaker, configured from ``settings``."""
    connections = max_connections or settings.http_connections
    return ApiClient(
        instance_id=instance_id,
        base_url=base_url,
        api_key=api_key,
        auth_header=auth_header,
        limiter=InstanceLimiter(rate_limit),
        slots=AdaptiveSlots(
            VegasLimit(
                initial=min(settings.http_start_concurrency, connections), maximum=connections
            )
        ),
        throttle_patience=settings.http_throttle_patience,
        retry=settings.retry_policy(),
        breaker=CircuitBreaker(
            failures=settings.breaker_failures, seconds=settings.breaker_seconds
        ),
        timeout=settings.http_timeout,
        connect_timeout=settings.http_connect_timeout,
        max_connections=connections,
    )


class ClientRegistry:
    """Opens a client (one aiohttp session, one limiter, one breaker) per instance on first use."""

    def __init__(self, settings: Settings, *, share: int = 1) -> None:
        self.settings = settings
        self.share = share  # replicas splitting each instance's rate limit (the service)
        self._rates: dict[int, float | None] = {}
        self._clients: dict[int, ApiClient] = {}
        self._lock = asyncio.Lock()

    def _rate(self, rate: float | None) -> float | None:
        return rate / self.share if rate else None

    def rebalance(self, share: int, rates: dict[int, float | None] | None = None) -> None:
        """Give each instance's limiter ``rate / share`` (``rates``: the instances' current
        configured rates, when they may have changed). A limiter is replaced only when its
        rate changes: requests already waiting on the old one still pass at its spacing."""
        self.share = max(1, share)
        self._rates.update(rates or {})
        for instance_id, client in self._clients.items():
            wanted = self._rate(self._rates.get(instance_id))
            if wanted != client.limiter.ceiling:  # AIMD moves the rate, not the ceiling
                client.limiter.set_rate(wanted)

    @property
    def all(self) -> list[ApiClient]:
        return list(self._clients.values())

    async def get(self, instance: Instance) -> ApiClient:
        async with self._lock:
            client = self._clients.get(instance.id)
            if client is None:
                client = make_client(
                    self.settings,
                    instance_id=instance.id,
                    base_url=instance.base_url,
                    api_key=instance.require_key(),
                    auth_header=instance.auth_header,
                    rate_limit=self._rate(instance.rate_limit),
                )
                self._rates[instance.id] = instance.rate_limit
                await client.open()
                self._clients[instance.id] = client
            return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
