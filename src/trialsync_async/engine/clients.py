"""One ApiClient per API instance, shared by every job running in the process."""

from __future__ import annotations

import asyncio

from trialsync_async.api import ApiClient, RetryPolicy
from trialsync_async.api.breaker import (
    DEFAULT_BREAKER_FAILURES,
    DEFAULT_BREAKER_SECONDS,
    CircuitBreaker,
)
from trialsync_async.db.catalog import Instance


class ClientRegistry:
    """Opens a client (one aiohttp session, one rate limiter) per instance on first use."""

    def __init__(
        self,
        *,
        timeout: float,
        retry: RetryPolicy,
        max_connections: int = 16,
        breaker_failures: int = DEFAULT_BREAKER_FAILURES,
        breaker_seconds: float = DEFAULT_BREAKER_SECONDS,
    ) -> None:
        self.breaker_failures = breaker_failures
        self.breaker_seconds = breaker_seconds
        self.timeout = timeout
        self.retry = retry
        self.max_connections = max_connections
        self._clients: dict[int, ApiClient] = {}
        self._lock = asyncio.Lock()

    async def get(self, instance: Instance) -> ApiClient:
        async with self._lock:
            client = self._clients.get(instance.id)
            if client is None:
                client = ApiClient(
                    instance_id=instance.id,
                    base_url=instance.base_url,
                    api_key=instance.require_key(),
                    auth_header=instance.auth_header,
                    rate_limit=instance.rate_limit,
                    retry=self.retry,
                    timeout_total=self.timeout,
                    timeout_read=self.timeout,
                    max_connections=self.max_connections,
                    breaker=CircuitBreaker(
                        failures=self.breaker_failures, seconds=self.breaker_seconds
                    ),
                )
                await client.open()
                self._clients[instance.id] = client
            return client

    def requests_made(self, instance_id: int) -> int:
        client = self._clients.get(instance_id)
        return client.stats.requests if client else 0

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
