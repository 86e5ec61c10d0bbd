"""``instances test``: one cheap request to an API instance through the client the runs use
(same headers, key header, limiter), to tell reachable from not and a good key from a bad one.

One attempt only, no retries: the point is what the instance answers now, and how fast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from trialsync_async.api.client import AUTH_STATUSES
from trialsync_async.db.catalog import Instance
from trialsync_async.engine.clients import make_client
from trialsync_async.errors import (
    ApiError,
    AuthError,
    ClientRequestError,
    EndpointNotFound,
    InstanceUnreachable,
    RetriesExhausted,
)
from trialsync_async.settings import Settings

PROBE_PATH = "/api/v1/studies/odata"
"""A list every Clinical Conductor instance serves (the API reference's primary study list)."""
PROBE_PARAMS = {"$top": 1}


@dataclass(frozen=True, slots=True)
class InstanceProbe:
    """What one request told about an instance. ``key_accepted`` is None when the answer
    says nothing about the key (no answer, or a server error)."""

    instance_id: int
    name: str
    base_url: str
    auth_header: str
    rate_limit: float | None
    endpoint: str
    reachable: bool
    key_accepted: bool | None
    status: int | None
    latency_ms: float | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.reachable and self.key_accepted is True

    def to_json(self) -> dict[str, object]:
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "base_url": self.base_url,
            "auth_header": self.auth_header,
            "rate_limit": self.rate_limit,
            "endpoint": self.endpoint,
            "ok": self.ok,
            "reachable": self.reachable,
            "key_accepted": self.key_accepted,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "detail": self.detail,
        }


def _answered_status(outcomes: dict[str, int]) -> int | None:
    """The HTTP status of the one attempt, from the client's outcome counters."""
    for outcome in outcomes:
        if outcome.startswith("http_"):
            return int(outcome.removeprefix("http_"))
    return None


async def probe_instance(settings: Settings, instance: Instance) -> InstanceProbe:
    """GET the probe list with ``$top=1`` once; raises MissingApiKeyError when there is no key."""
    client = make_client(
        settings.with_overrides(http_max_attempts=1),
        instance_id=instance.id,
        base_url=instance.base_url,
        api_key=instance.require_key(),
        auth_header=instance.auth_header,
        rate_limit=instance.rate_limit,
        max_connections=1,
    )
    status: int | None
    reachable, accepted = True, None
    started = time.perf_counter()
    async with client:
        try:
            await client.get_page(PROBE_PATH, PROBE_PARAMS)
            status, accepted, detail = 200, True, "key accepted"
        except AuthError as exc:
            status, accepted = int(exc.context["status"]), False
            detail = f"key rejected (HTTP {status}): check the key of instance {instance.id}"
        except (EndpointNotFound, ClientRequestError) as exc:
            status, detail = int(exc.context["status"]), str(exc)
        except (RetriesExhausted, InstanceUnreachable) as exc:
            status = _answered_status(client.stats.outcomes)
            # a 2xx the client could not read (an HTML page, a cut body) is an answer too
            reachable = status is not None or "malformed" in client.stats.outcomes
            detail = str(exc.context.get("detail", exc))
        except ApiError as exc:
            status, reachable, detail = None, False, str(exc)
    latency = round((time.perf_counter() - started) * 1000, 1) if reachable else None
    if status in AUTH_STATUSES:
        accepted = False
    return InstanceProbe(
        instance_id=instance.id,
        name=instance.name,
        base_url=instance.base_url,
        auth_header=instance.auth_header,
        rate_limit=instance.rate_limit,
        endpoint=PROBE_PATH,
        reachable=reachable,
        key_accepted=accepted,
        status=status,
        latency_ms=latency,
        detail=detail,
    )
