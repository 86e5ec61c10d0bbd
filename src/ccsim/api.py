"""Answers to API requests as plain data (status, body bytes), independent of the web server."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import orjson

from ccsim.catalog import EndpointSpec, Kind, Parent, Route
from ccsim.dataset import Dataset, View
from ccsim.field_changes import FieldChange, cache_key, change_record, changed_renderer
from ccsim.global_lists import GlobalViews, UnknownParent, split_query_parent
from ccsim.odata import FilterFieldRejected, ODataError, Query, parse_query
from ccsim.ordering import NaturalOrder
from ccsim.paging import DEFAULT_RULES, PagingRules, head_query
from ccsim.records import Renderer, single_object
from ccsim.resolve import resolve_parent, view_for
from ccsim.shapes import list_body, list_prefix_suffix, shape_for

JSON = "application/json; charset=utf-8"
STREAM_THRESHOLD = 20_000  # plain lists longer than this are streamed in chunks
_CHUNK = 2_000
_CACHE_MAX_BYTES = 4 << 20

# Page-cache key: (template, path params, query items, link base, dataset epoch,
# sorted shape overrides, paging rules, field changes of the template).
_CacheKey = tuple[
    str,
    tuple[str, ...],
    tuple[tuple[str, str], ...],
    str,
    int,
    tuple[tuple[str, str], ...],
    PagingRules,
    bytes,
]


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes = b""
    chunks: Iterator[bytes] | None = None  # streamed body (huge plain lists)
    records: int = 0
    content_type: str = JSON
    space: str | None = None  # the space served (for churn)


def error_answer(status: int, code: str, message: str, target: str | None = None) -> Answer:
    """An OData-style error body: ``{"error": {"code", "message"[, "target"]}, "status"}``."""
    error = {"code": code, "message": message}
    if target is not None:
        error["target"] = target
    return Answer(status, orjson.dumps({"error": error, "status": status}))


def _entity_set(template: str) -> str:
    parts = [p for p in template.split("/") if p and not p.startswith("{") and p != "odata"]
    return "".join(w.capitalize() for w in parts[-1].split("-")) if parts else "Items"


class Api:
    def __init__(self, ds: Dataset, renderer: Renderer, cache_size: int) -> None:
        self.ds = ds
        self.renderer = renderer
        self.cache_size = cache_size
        self.order = NaturalOrder(ds)
        self.globals = GlobalViews(ds, renderer)
        self._cache: OrderedDict[_CacheKey, Answer] = OrderedDict()

    def answer(
        self,
        route: Route,
        query: Sequence[tuple[str, str]],
        link_base: str,
        origin: str,
        shape_overrides: Mapping[str, str],
        rules: PagingRules = DEFAULT_RULES,
        field_changes: Sequence[FieldChange] = (),
    ) -> Answer:
        """Answer a routed request; ``link_base`` is the absolute URL without its query;
        ``field_changes`` (those of this template) reshape every record rendered."""
        if route.status == 404:
            return error_answer(404, "NotFound", f"No HTTP resource matches {route.template}")
        if route.status == 501:
            msg = "Not implemented on this instance (CCE only)"
            return error_answer(501, "NotImplemented", msg)
        ep = route.endpoint
        if ep is None:  # a swagger list path this instance holds nothing for
            kind = route.empty_kind or Kind.LIST
            shape = shape_for(None, kind, route.template, shape_overrides)
            return Answer(200, list_body(shape, [], count=None, context=""))
        key: _CacheKey = (
            route.template,
            route.params,
            tuple(query),
            link_base,
            self.ds.epoch,
            tuple(sorted(shape_overrides.items())),
            rules,
            cache_key(field_changes),
        )
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return Answer(
                cached.status, cached.body, None, cached.records, cached.content_type, cached.space
            )
        ans = self._answer(
            ep, route, query, link_base, origin, shape_overrides, rules, field_changes
        )
        if (
            self.cache_size
            and ans.chunks is None
            and ans.status == 200
            and len(ans.body) <= _CACHE_MAX_BYTES
        ):
            self._cache[key] = ans
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return ans

    def _answer(
        self,
        ep: EndpointSpec,
        route: Route,
        query: Sequence[tuple[str, str]],
        link_base: str,
        origin: str,
        shape_overrides: Mapping[str, str],
        rules: PagingRules,
        field_changes: Sequence[FieldChange],
    ) -> Answer:
        ds = self.ds
        sp = ds[ep.space]
        p = resolve_parent(ds, ep.parent, route.params)
        if p is None:
            return error_answer(404, "NotFound", f"No record matches {route.template} parameters")
        if ep.kind is Kind.OBJECT:
            if ep.companion is None:
                body = self.renderer.render(sp.name, p)
            else:
                body = single_object(ds, ep.companion, p if ep.parent is not Parent.NONE else None)
            return Answer(200, change_record(body, field_changes), records=1, space=sp.name)
        odata_items = query
        view: View
        if ep.query_parent is not None and ep.kind is Kind.ODATA:
            try:
                odata_items, value = split_query_parent(ep.query_parent, query)
                view = self.globals.view(ep, value, rules.global_drop)
            except ODataError as exc:
                return error_answer(400, "BadRequest", str(exc))
            except UnknownParent:
                return error_answer(404, "NotFound", f"No record matches {ep.template} parameters")
        else:
            view = view_for(ds, ep, p)
        shape = shape_for(ep, ep.kind, ep.template, shape_overrides)
        context = f"{origin}/CCSWEB/api/v1/$metadata#{_entity_set(ep.template)}"
        render = changed_renderer(self.renderer.factory(sp.name).render, field_changes)
        if ep.kind is Kind.LIST:
            slots = self.order.all_slots(view, rules.natural_order)
            if len(slots) > STREAM_THRESHOLD:
                return Answer(
                    200,
                    chunks=self._stream(shape, context, slots, render),
                    records=len(slots),
                    space=sp.name,
                )
            body = list_body(shape, [render(s) for s in slots], count=None, context=context)
            return Answer(200, body, records=len(slots), space=sp.name)
        try:
            q = parse_query(
                odata_items,
                sp.spec.key,
                sp.spec.ts,
                max_top=rules.max_top,
                reject_fields=rules.reject_filter,
            )
        except FilterFieldRejected as exc:
            return error_answer(400, "BadRequest", str(exc), target=exc.field)
        except ODataError as exc:
            return error_answer(400, "BadRequest", str(exc))
        order = rules.natural_order
        page = self.order.run(view, q, order)
        head: list[int] = []
        if rules.overlap:
            hq = head_query(q, order)
            if hq is not None:
                head = self.order.run(view, hq, order).slots
        records = [render(s) for s in head + page.slots]
        next_skip = q.skip + len(page.slots)  # the repeated head record does not count
        next_link = None
        if page.slots and next_skip < page.count:
            next_link = _link(link_base, query, q, next_skip)
        body = list_body(
            shape,
            records,
            count=page.count if q.count else None,
            next_link=next_link,
            context=context,
        )
        return Answer(200, body, records=len(records), space=sp.name)

    @staticmethod
    def _stream(
        shape: str, context: str, slots: list[int], render: Callable[[int], bytes]
    ) -> Iterator[bytes]:
        head, tail = list_prefix_suffix(shape, context)
        yield head
        for i in range(0, len(slots), _CHUNK):
            part = b",".join(render(s) for s in slots[i : i + _CHUNK])
            yield (b"," + part) if i else part
        yield tail


def _link(base: str, query: Sequence[tuple[str, str]], q: Query, skip: int) -> str:
    items = [(k, v) for k, v in query if k.lower() not in ("$skip", "$top")]
    items += [("$top", str(q.top)), ("$skip", str(skip))]
    return base + "?" + urlencode(items, quote_via=quote, safe="$'(),:")
