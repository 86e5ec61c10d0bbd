"""The aiohttp application and :class:`SimulatorServer` (in-process use).

Request pipeline for ``/CCSWEB/api/...``: auth (401) -> rate limit per key (429 +
Retry-After) -> concurrency cap (503) -> latency -> routing (404/501) -> forced parent failure
(500) -> seeded fault -> seeded page-overlap draw (OData lists) -> answer (400/404/200; records
reshaped by the template's field changes, page cache) -> per-record cost -> churn -> answer
transforms (200 list answers not streamed nor hit by a reset/truncated fault, ``$top`` absent
or >= 2; see :mod:`ccsim.transforms`) -> sent (in slow pieces for ``slow_drip``). The
transforms act on the answer the page cache returned, never on the cached page itself. A
global list's parent (``?studyId=``) stands in for path parameters in ``fail_parents``
(``""`` when absent), in a transform's ``parent`` and in the statistics' ``by_parameters``. The
reserved prefix ``/CCSWEB/__sim/`` is unauthenticated, never faulted nor transformed and not
counted in the statistics; ``GET /CCSWEB/__sim/records?template=...&params=a/b`` dumps the live
records of one endpoint and parent (see :meth:`SimulatorServer.records`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from ccsim.api import JSON, Answer, Api, error_answer
from ccsim.catalog import ENDPOINTS, SPACE_BY_NAME, Kind, Route, Router
from ccsim.dataset import Dataset
from ccsim.dump import UnknownRecords, dump_records
from ccsim.field_changes import changes_by_template
from ccsim.global_lists import query_parent_value
from ccsim.hashing import salt
from ccsim.limits import FaultPicker, RateLimiter
from ccsim.mutations import MutationError, mutate
from ccsim.options import SimulatorOptions
from ccsim.paging import OverlapPicker, PagingRules
from ccsim.records import Renderer
from ccsim.stats import Stats
from ccsim.transforms import Drip, TransformRuntime, is_data_query, transform_body
from ccsim.truth import Truth

log = logging.getLogger(__name__)

BASE_PATH = "/CCSWEB"
ADMIN_PREFIX = f"{BASE_PATH}/__sim"
_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    b"<body><h1>Server Error in '/CCSWEB' Application.</h1>"
    b"<p>The service is temporarily unavailable. Please try again later.</p></body></html>"
)
_ACCESS_LOG_FORMAT = '%a "%r" %s %b %Tf'  # no headers: the API key never reaches a log


class SimulatorState:
    """Data, renderer, limits and statistics for one options value (rebuilt on data changes)."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.options = options
        self.router = Router()
        self.stats = Stats()
        self._build_data(options)
        self._build_behaviour(options)

    def _build_data(self, options: SimulatorOptions) -> None:
        sizes: dict[str, float] = {}
        by_template = {e.template: e.space for e in ENDPOINTS}
        for k, v in options.size_overrides.items():
            name = by_template.get(k, k)
            if name not in SPACE_BY_NAME:
                raise ValueError(f"size override for unknown template or space {k!r}")
            sizes[name] = float(v)
        self.ds = Dataset(options.seed, options.scale, sizes)
        self.renderer = Renderer(self.ds)
        self.api = Api(self.ds, self.renderer, options.page_cache_size)
        self.truth = Truth(self.ds)
        self.mutation_rng = random.Random(salt(options.seed, "mutations"))

    def _build_behaviour(self, options: SimulatorOptions) -> None:
        self.limiter = RateLimiter(options.rate_limit_rps, options.rate_limit_burst)
        self.faults = FaultPicker(options.faults, salt(options.seed, "faults"))
        self.latency_rng = random.Random(salt(options.seed, "latency"))
        self.churn_rng = random.Random(salt(options.seed, "churn"))
        self.overlap = OverlapPicker(options.page_overlap, salt(options.seed, "overlap"))
        self.transforms = TransformRuntime(options.transforms)
        self.field_changes = changes_by_template(options.field_changes)

    def reconfigure(self, options: SimulatorOptions) -> None:
        old = self.options
        data_keys = ("seed", "scale", "size_overrides", "page_cache_size")
        if any(getattr(old, k) != getattr(options, k) for k in data_keys):
            self._build_data(options)
        self.options = options
        self._build_behaviour(options)


class SimulatorServer:
    """The Clinical Conductor API simulator on 127.0.0.1 (port 0 = a free port).

    ``async with SimulatorServer(SimulatorOptions(scale=0.02)) as sim:`` then use
    ``sim.base_url`` (ends in ``/CCSWEB``) and ``sim.auth_header``.
    """

    def __init__(self, options: SimulatorOptions | None = None) -> None:
        self.state = SimulatorState((options or SimulatorOptions()).validate())
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.port: int | None = None

    # --- properties -----------------------------------------------------------------------------
    @property
    def options(self) -> SimulatorOptions:
        return self.state.options

    @property
    def dataset(self) -> Dataset:
        return self.state.ds

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the simulator is not running")
        return f"http://{self.options.host}:{self.port}{BASE_PATH}"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}/__sim"

    @property
    def api_key(self) -> str:
        return self.options.api_key

    @property
    def auth_header(self) -> dict[str, str]:
        return {self.options.api_key_header: self.options.api_key}

    def url(self, path: str) -> str:
        """Absolute URL of an API path such as ``/api/v1/studies/odata``."""
        return self.base_url + path

    # --- in-process admin API -------------------------------------------------------------------
    def truth(self, template: str | None = None) -> dict[str, Any]:
        """Expected ``count``/``id_sum`` per template (see module ``truth``)."""
        t = self.state.truth
        if template is not None:
            return t.one(template)
        return {
            "seed": self.options.seed,
            "scale": self.options.scale,
            "epoch": self.state.ds.epoch,
            "templates": t.all(),
        }

    def records(self, template: str, params: Sequence[str] = ()) -> list[Any]:
        """Every live record of ``template`` for path parameter values ``params`` (parsed JSON,
        exactly as the API renders them), in id order (slot order for keyless models),
        ignoring faults, page overlap, answer transforms and the natural order (but with the
        template's field changes); object endpoints give a one-element list. Raises
        ``KeyError`` (:class:`~.dump.UnknownRecords`) for an unknown template or parent,
        ``ValueError`` for a wrong number of parameters."""
        st = self.state
        changes = st.field_changes.get(template, ())
        return dump_records(st.ds, st.renderer, template, params, changes)

    def stats(self) -> dict[str, Any]:
        return self.state.stats.snapshot()

    def reset_stats(self) -> None:
        self.state.stats.reset()

    def mutate(
        self,
        target: str,
        *,
        insert: int = 0,
        update: int = 0,
        delete: int = 0,
        parent: str | None = None,
        update_ids: Sequence[int] = (),
        delete_ids: Sequence[int] = (),
        rename: bool = True,
    ) -> dict[str, Any]:
        """Insert/update/delete records of the space behind a template (or space name);
        ``rename=False`` updates leave names (and so the records embedding them) unchanged.
        The result names every changed record; see :func:`ccsim.mutations.mutate`."""
        return mutate(
            self.state.ds,
            target,
            insert=insert,
            update=update,
            delete=delete,
            parent=parent,
            update_ids=update_ids,
            delete_ids=delete_ids,
            rename=rename,
            rng=self.state.mutation_rng,
        )

    def configure(self, **changes: Any) -> SimulatorOptions:
        """Change knobs at runtime (faults may be a partial mapping); returns the new options.

        Changing seed, scale or size_overrides regenerates the data (and drops mutations);
        the fault (and page-overlap) RNG and the answer transforms' counters restart whenever
        the configuration changes.
        """
        new = self.options.with_changes(**changes)
        if new.host != self.options.host or new.port != self.options.port:
            raise ValueError("host and port cannot change while running")
        self.state.reconfigure(new)
        return new

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        app = self.build_app()
        opts = self.options
        access_log = logging.getLogger("ccsim.access")
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=access_log if opts.access_log else None,
            access_log_format=_ACCESS_LOG_FORMAT,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, opts.host, opts.port, backlog=1024)
        await site.start()
        addr = self._runner.addresses[0]
        self.port = int(addr[1])
        log.info("simulator listening on %s", self.base_url)

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        r = app.router
        r.add_get(f"{ADMIN_PREFIX}/health", self._health)
        r.add_get(f"{ADMIN_PREFIX}/truth", self._truth)
        r.add_get(f"{ADMIN_PREFIX}/stats", self._stats)
        r.add_post(f"{ADMIN_PREFIX}/reset", self._reset)
        r.add_post(f"{ADMIN_PREFIX}/mutate", self._mutate)
        r.add_get(f"{ADMIN_PREFIX}/config", self._get_config)
        r.add_post(f"{ADMIN_PREFIX}/config", self._post_config)
        r.add_get(f"{ADMIN_PREFIX}/catalog", self._catalog)
        r.add_get(f"{ADMIN_PREFIX}/records", self._records)
        r.add_get(BASE_PATH + "/{tail:.*}", self._handle_api)
        return app

    # --- admin handlers -------------------------------------------------------------------------
    @staticmethod
    def _json(obj: Any, status: int = 200) -> web.Response:
        return web.Response(
            body=orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS),
            status=status,
            headers={"Content-Type": JSON},
        )

    async def _health(self, request: web.Request) -> web.Response:
        o = self.options
        return self._json({"ok": True, "base_url": self.base_url, "seed": o.seed, "scale": o.scale})

    async def _truth(self, request: web.Request) -> web.Response:
        template = request.query.get("template")
        try:
            return self._json(self.truth(template))
        except KeyError:
            return self._json({"error": f"unknown template {template!r}"}, 404)

    async def _records(self, request: web.Request) -> web.Response:
        template = request.query.get("template")
        if not template:
            return self._json({"error": "give 'template'"}, 400)
        raw = request.query.get("params", "")
        params = [v for v in raw.split("/") if v] if raw else []
        try:
            return self._json(self.records(template, params))
        except UnknownRecords as exc:
            return self._json({"error": str(exc)}, 404)
        except ValueError as exc:
            return self._json({"error": str(exc)}, 400)

    async def _stats(self, request: web.Request) -> web.Response:
        return self._json(self.stats())

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return self._json({"ok": True})

    async def _read_json(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        data = orjson.loads(raw) if raw else {}
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    async def _mutate(self, request: web.Request) -> web.Response:
        try:
            body = await self._read_json(request)
            target = body.pop("template", None) or body.pop("space", None)
            if not isinstance(target, str):
                raise MutationError("give 'template' (or 'space')")
            result = self.mutate(
                target,
                insert=int(body.get("insert", 0)),
                update=int(body.get("update", 0)),
                delete=int(body.get("delete", 0)),
                parent=None if body.get("parent") is None else str(body["parent"]),
                update_ids=[int(i) for i in body.get("update_ids", ())],
                delete_ids=[int(i) for i in body.get("delete_ids", ())],
                rename=_flag(body.get("rename", True)),
            )
        except (ValueError, TypeError) as exc:
            return self._json({"error": str(exc)}, 400)
        return self._json(result)

    async def _get_config(self, request: web.Request) -> web.Response:
        return self._json(self.options.public_dict())

    async def _post_config(self, request: web.Request) -> web.Response:
        try:
            new = self.configure(**await self._read_json(request))
        except (ValueError, TypeError) as exc:
            return self._json({"error": str(exc)}, 400)
        return self._json(new.public_dict())

    async def _catalog(self, request: web.Request) -> web.Response:
        ds = self.state.ds
        out = []
        for e in ENDPOINTS:
            sp = ds[e.space]
            out.append(
                {
                    "template": e.template,
                    "kind": e.kind.value,
                    "parent": e.parent.value,
                    "space": e.space,
                    "model": e.model,
                    "key": e.key,
                    "ts": e.ts,
                    "size_at_scale_1": e.size,
                    "per_parent": sp.parent is not None and e.kind is not Kind.OBJECT,
                    "scaled": sp.spec.scaled,
                    "default_shape": e.default_shape,
                    "query_parameter": e.query_parent,
                }
            )
        return self._json(out)

    # --- API ------------------------------------------------------------------------------------
    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        st = self.state
        stats = st.stats
        opts = st.options
        stats.arrived()
        rel = request.path[len(BASE_PATH) :]
        route = st.router.match(rel)
        template = route.template if route is not None else "<unknown>"
        parent = _parent_values(route, request)
        if parent is not None:
            stats.parameters(template, ",".join(parent))
        key = request.headers.get(opts.api_key_header)
        if key is None or not hmac.compare_digest(key.encode(), opts.api_key.encode()):
            stats.finished(template, "401")
            msg = "Authorization has been denied for this request."
            return self._send(error_answer(401, "Unauthorized", msg))
        retry = st.limiter.check(key)
        if retry is not None:
            stats.finished(template, "429")
            ans = error_answer(429, "TooManyRequests", "Rate limit exceeded")
            return self._send(ans, {"Retry-After": str(retry)} if opts.retry_after_hints else None)
        if opts.max_concurrency is not None and stats.in_flight >= opts.max_concurrency:
            stats.finished(template, "503")
            ans = error_answer(503, "ServiceUnavailable", "Too many concurrent requests")
            return self._send(ans, {"Retry-After": "1"} if opts.retry_after_hints else None)
        stats.enter()
        try:
            return await self._serve(request, route, template, opts, parent)
        finally:
            stats.leave()

    async def _serve(
        self,
        request: web.Request,
        route: Route | None,
        template: str,
        opts: SimulatorOptions,
        parent: tuple[str, ...] | None,
    ) -> web.StreamResponse:
        st = self.state
        stats = st.stats
        if opts.latency_mean_s > 0 or opts.latency_jitter_s > 0 or opts.load_latency_s > 0:
            delay = st.latency_rng.gauss(opts.latency_mean_s, opts.latency_jitter_s)
            delay += opts.load_latency_s * (stats.in_flight - 1)  # a server that queues
            if delay > 0:
                await asyncio.sleep(delay)
        if route is None:
            stats.finished(template, "404")
            return self._send(error_answer(404, "NotFound", "No HTTP resource matches the URI"))
        if route.status == 200:
            failing = opts.fail_parents.get(route.template)
            if failing and "/".join(parent or ()) in failing:
                stats.finished(template, "500")
                stats.fault("fail_parent")
                return self._send(error_answer(500, "InternalServerError", "Forced failure"))
            fault = st.faults.draw()
            if fault is not None:
                stats.fault(fault)
                early = await self._early_fault(request, fault, opts)
                if early is not None:
                    label = fault if fault in ("hang", "html") else str(early.status)
                    stats.finished(template, label)
                    return early
        else:
            fault = None
        link_base = str(request.url.with_query(None))
        origin = f"{request.scheme}://{request.host}"
        ep = route.endpoint
        rules = PagingRules(
            opts.natural_order,
            opts.max_top,
            ep is not None and ep.kind is Kind.ODATA and st.overlap.draw(),
            opts.global_list_drop,
            frozenset(f.lower() for f in opts.reject_filter_fields),
        )
        query = list(request.query.items())
        ans = st.api.answer(
            route,
            query,
            link_base,
            origin,
            opts.shape_overrides,
            rules,
            st.field_changes.get(route.template, ()),
        )
        if ans.records and opts.per_record_cost_s > 0:
            await asyncio.sleep(ans.records * opts.per_record_cost_s)
        if ans.status == 200 and opts.churn > 0 and ans.space:
            if st.churn_rng.random() < opts.churn:
                self._churn(ans.space)
        if fault in ("reset", "truncated") and ans.status == 200:
            stats.finished(template, fault, ans.records)
            return await self._broken_body(request, ans, fault)
        drip: Drip | None = None
        if (
            ans.status == 200
            and ans.chunks is None
            and ep is not None
            and ep.kind is not Kind.OBJECT
        ):
            ans, drip = self._transform(ans, route, parent, query)
        stats.finished(template, str(ans.status), ans.records if ans.status == 200 else 0)
        if drip is not None:
            return await self._drip(request, ans, drip)
        if ans.chunks is not None:
            resp = web.StreamResponse(status=200, headers={"Content-Type": ans.content_type})
            await resp.prepare(request)
            for chunk in ans.chunks:
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        return self._send(ans)

    def _transform(
        self,
        ans: Answer,
        route: Route,
        parent: tuple[str, ...] | None,
        query: list[tuple[str, str]],
    ) -> tuple[Answer, Drip | None]:
        """``ans`` (a 200 list answer) changed by the transforms firing on this request."""
        if not is_data_query(query):
            return ans, None
        value = None if parent is None else "/".join(parent)
        picked = self.state.transforms.pick(route.template, value, query)
        if not picked:
            return ans, None
        for t in picked:
            self.state.stats.transformed(t.kind)
        key = route.endpoint.key if route.endpoint is not None else None
        out = transform_body(ans.body, picked, key or "id")
        records = ans.records if out.records is None else out.records
        changed = Answer(200, out.body, None, records, ans.content_type, ans.space)
        return changed, out.drip

    async def _drip(self, request: web.Request, ans: Answer, drip: Drip) -> web.StreamResponse:
        """Send ``ans`` in ``drip.chunk``-byte writes evenly spread over ``drip.seconds``
        (against a deadline, so that timer slack does not add up over many writes)."""
        body = ans.body
        resp = web.StreamResponse(status=ans.status, headers={"Content-Type": ans.content_type})
        resp.content_length = len(body)
        await resp.prepare(request)
        starts = range(0, max(len(body), 1), drip.chunk)
        loop = asyncio.get_running_loop()
        begin = loop.time()
        for n, start in enumerate(starts, 1):
            delay = begin + drip.seconds * n / len(starts) - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
            if self._closing.is_set():
                _abort(request)
                return resp
            await resp.write(body[start : start + drip.chunk])
        await resp.write_eof()
        return resp

    def _churn(self, space: str) -> None:
        rng = self.state.churn_rng
        u = rng.random()
        with contextlib.suppress(MutationError):
            if u < 0.5:
                self.mutate(space, update=1)
            elif u < 0.75:
                self.mutate(space, insert=1)
            else:
                self.mutate(space, delete=1)

    @staticmethod
    def _send(ans: Answer, headers: dict[str, str] | None = None) -> web.Response:
        h = {"Content-Type": ans.content_type}
        if headers:
            h.update(headers)
        return web.Response(body=ans.body, status=ans.status, headers=h)

    async def _early_fault(
        self, request: web.Request, fault: str, opts: SimulatorOptions
    ) -> web.StreamResponse | None:
        if fault == "500":
            return self._send(error_answer(500, "InternalServerError", "Injected failure"))
        if fault == "503":
            ans = error_answer(503, "ServiceUnavailable", "Injected unavailability")
            return self._send(ans, {"Retry-After": "1"})
        if fault == "429":
            ans = error_answer(429, "TooManyRequests", "Injected rate limit")
            return self._send(ans, {"Retry-After": "1"})
        if fault == "html":
            return web.Response(
                body=_HTML_PAGE, status=200, headers={"Content-Type": "text/html; charset=utf-8"}
            )
        if fault == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), opts.faults.hang_seconds)
            resp = web.StreamResponse(status=200)
            _abort(request)
            return resp
        return None

    async def _broken_body(
        self, request: web.Request, ans: Answer, fault: str
    ) -> web.StreamResponse:
        body = ans.body if ans.chunks is None else b"".join(ans.chunks)
        cut = body[: max(1, len(body) // 2)]
        if fault == "truncated":
            return web.Response(body=cut, status=200, headers={"Content-Type": ans.content_type})
        resp = web.StreamResponse(status=200, headers={"Content-Type": ans.content_type})
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(cut)
        _abort(request)
        return resp


def _parent_values(route: Route | None, request: web.Request) -> tuple[str, ...] | None:
    """The path parameters, or a global list's parent query value (``("",)`` when absent);
    None for endpoints without a parent."""
    if route is None:
        return None
    if route.params:
        return route.params
    if route.endpoint is not None and route.endpoint.query_parent is not None:
        return (query_parent_value(route.endpoint, list(request.query.items())) or "",)
    return None


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected true or false, not {value!r}")


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
