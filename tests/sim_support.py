"""Helpers for test suites that talk to the simulator.

The ``sim`` and ``http`` fixtures live in tests/conftest.py; a module that needs other
simulator options, or a simulator of each test's own, overrides ``sim`` with one line made by
:func:`sim_fixture` (see the conftest docstring). :func:`brute` and :func:`random_query` check
the simulator's query engine against brute force (no sockets).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import aiohttp
import orjson
import pytest_asyncio

from ccsim.catalog import Kind, Parent
from ccsim.dataset import View
from ccsim.odata import Query
from ccsim.options import SimulatorOptions
from ccsim.server import SimulatorServer

TEST_SCALE = 0.02
TEST_SEED = 4242


def sim_options(**changes: Any) -> SimulatorOptions:
    """Options for fast tests: small scale, fixed seed, plus ``changes``."""
    return SimulatorOptions(scale=TEST_SCALE, seed=TEST_SEED).with_changes(**changes)


def sim_fixture(*, scope: Literal["module", "function"] = "module", **changes: Any) -> Any:
    """A ``sim`` fixture: a simulator started with ``sim_options(**changes)``, one per module
    (default) or one per test (``scope="function"``). Bind it to a module-level name, e.g.
    ``sim = sim_fixture(scope="function")``; the fixture is called ``sim`` whatever the name."""

    @pytest_asyncio.fixture(name="sim", scope=scope, loop_scope="session")
    async def _sim() -> AsyncIterator[SimulatorServer]:
        async with SimulatorServer(sim_options(**changes)) as server:
            yield server

    return _sim


@asynccontextmanager
async def client_session(
    sim: SimulatorServer, *, limit: int = 32
) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session sending the simulator's API key."""
    conn = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(headers=sim.auth_header, connector=conn) as session:
        yield session


def items_of(payload: Any) -> list[Any]:
    """Records of a list response in any of the three shapes."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        if "value" in payload:
            return payload["value"]
        if "Items" in payload:
            return payload["Items"]
    raise ValueError(f"not a list response: {str(payload)[:200]}")


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as resp:
        body = await resp.read()
        return resp.status, (orjson.loads(body) if body else None)


async def fetch_all(
    session: aiohttp.ClientSession,
    base_url: str,
    path: str,
    *,
    kind: Kind = Kind.ODATA,
    top: int = 1000,
) -> list[Any]:
    """Every record of one endpoint: OData lists paged with $top/$skip, plain lists in one
    request, an object as a one-element list."""
    if kind is not Kind.ODATA:
        status, payload = await get_json(session, base_url + path)
        if status != 200:
            raise AssertionError(f"{path}: HTTP {status}: {payload}")
        return [payload] if kind is Kind.OBJECT else items_of(payload)
    out: list[Any] = []
    skip = 0
    sep = "&" if "?" in path else "?"
    while True:
        status, payload = await get_json(session, f"{base_url}{path}{sep}$top={top}&$skip={skip}")
        if status != 200:
            raise AssertionError(f"{path}: HTTP {status}: {payload}")
        page = items_of(payload)
        out.extend(page)
        if len(page) < top:
            return out
        skip += len(page)


async def parent_values(
    session: aiohttp.ClientSession, base_url: str, kind: Parent
) -> list[tuple[int, ...]]:
    """Every parent value (as path parameters) of an endpoint fanning out from ``kind``."""
    if kind is Parent.NONE:
        return [()]
    if kind is Parent.STUDY:
        return [(r["id"],) for r in await fetch_all(session, base_url, "/api/v1/studies/odata")]
    if kind is Parent.PATIENT:
        return [(r["id"],) for r in await fetch_all(session, base_url, "/api/v1/patients/odata")]
    if kind is Parent.PATIENT_VISIT:
        rows = await fetch_all(session, base_url, "/api/v1/patient-visits/odata")
        return [(r["id"],) for r in rows]
    child = "visits" if kind is Parent.STUDY_VISIT else "subjects"
    studies = await parent_values(session, base_url, Parent.STUDY)

    async def one(sid: int) -> list[tuple[int, ...]]:
        rows = await fetch_all(session, base_url, f"/api/v1/studies/{sid}/{child}/odata")
        return [(sid, r["id"]) for r in rows]

    pairs = await asyncio.gather(*(one(s) for (s,) in studies))
    return [p for group in pairs for p in group]


def fill(template: str, values: tuple[int, ...]) -> str:
    """``/api/v1/studies/{studyId}/x`` + (12,) -> ``/api/v1/studies/12/x``."""
    out = template
    for v in values:
        start = out.index("{")
        out = out[:start] + str(v) + out[out.index("}", start) + 1 :]
    return out


# --- the query engine against brute force ---------------------------------------------------


def brute(view: View, q: Query) -> tuple[list[int], int]:
    sp = view.space
    exc = view.exceptions()
    dead = set(exc.deleted)
    rows = []
    for r in range(view.n):
        if r in dead:
            continue
        slot = view.slot_of(r)
        rid, ts = sp.id_of(slot), sp.ts_of(slot)
        if q.id_lo is not None and rid < q.id_lo:
            continue
        if q.id_hi is not None and rid >= q.id_hi:
            continue
        if q.ts_lo is not None and ts < q.ts_lo:
            continue
        if q.ts_hi is not None and ts >= q.ts_hi:
            continue
        rows.append((ts if q.order_by == "ts" else rid, slot))
    rows.sort(reverse=q.desc)
    return [s for _, s in rows[q.skip : q.skip + q.top]], len(rows)


def random_query(rng: random.Random, view: View) -> Query:
    sp = view.space
    ids = [sp.id_of(view.slot_of(r)) for r in range(view.n)] or [0]
    tss = [sp.ts_of(view.slot_of(r)) for r in range(view.n)] or [0]
    kw: dict = {
        "top": rng.choice([0, 1, 3, 10, 50, 1000]),
        "skip": rng.choice([0, 0, 1, 5, 17, 40]),
        "order_by": rng.choice(["id", "ts"]),
        "desc": rng.random() < 0.5,
    }
    if rng.random() < 0.5:
        kw["id_lo"] = rng.choice(ids) + rng.choice([-1, 0, 1])
    if rng.random() < 0.3:
        kw["id_hi"] = rng.choice(ids) + rng.choice([-1, 0, 1])
    if rng.random() < 0.5:
        kw["ts_lo"] = rng.choice(tss) + rng.choice([-1, 0, 1])
    if rng.random() < 0.3:
        kw["ts_hi"] = rng.choice(tss) + rng.choice([-1, 0, 1])
    return Query(**kw)
