"""The dlt peer: load one simulator endpoint into PostgreSQL with a dlt ``rest_api`` source.

Runs inside the throwaway virtual environment that ``bench_peers.dlt_python()`` builds (it has
dlt[postgres] and nothing of this project)::

    <venv>/bin/python bench/peer_dlt.py '<json arguments>'

and prints one JSON object on stdout (everything else goes to stderr): ``how``, ``seconds``
(``pipeline.run``: extract, normalize and load; the dataset left by an earlier run is dropped
before), ``rows`` (``count(*)`` of the destination table), ``requests`` (every HTTP request sent
to ``base_url``, retries and the probe included), ``peak_rss_mib`` (this process's
``ru_maxrss``), ``phases`` (extract/normalize/load seconds from the pipeline trace), ``table``.

Arguments (a JSON object): ``base_url``, ``api_key``, ``auth_header``, ``dsn``, ``endpoint``
(``/api/v1/...``; a fan-out names ``{parent_param}`` in it), ``parents`` (null, or the parent
values), ``parent_param``, ``page_size``, ``workers``, ``schema`` (the dataset), ``table``,
``data_selector`` (``"value"`` for an OData envelope, ``"Items"`` for a PageResult, ``"$"`` for a
bare array; null: one ``$top=1`` probe request decides), ``split_pages`` (plain endpoints: one
request per page fanned out over the extract workers, instead of dlt's sequential paginator;
needs a total, so it costs the probe and falls back to the paginator for bare arrays),
``max_table_nesting`` (null: dlt's default normalisation into child tables; 0: nested values
stay JSON columns of one table), ``pipelines_dir``.

How dlt is configured (dlt 1.31):

* extract workers: ``EXTRACT__WORKERS`` (dlt's default 5) and ``EXTRACT__MAX_PARALLEL_ITEMS``
  (default 20; set to at least ``workers``), the fields of ``PipeIteratorConfiguration`` in
  ``dlt/extract/pipe_iterator.py``. Only *parallelized* resources use that pool: the fan-out
  child is a rest_api resource with ``"parallelized": True`` whose path names
  ``{resources.peer_parents.id}``; its generator yields one deferred call per parent (all pages
  of that parent), which the pool runs ``workers`` at a time.
* a plain endpoint is one rest_api resource with an ``offset`` paginator (``limit_param
  "$top"``, ``offset_param "$skip"``, ``limit page_size``, ``total_path`` ``['@odata.count']``
  or ``Count`` with ``$count=true`` when the answer shape carries a total, and
  ``stop_after_empty_page``): dlt requests its pages one after another, so ``workers`` does not
  matter there unless ``split_pages``.
* destination postgres, ``loader_file_format="csv"`` (COPY FROM STDIN), write disposition
  ``replace``, load workers dlt's default (20), normalize workers dlt's default (1, in
  process); telemetry off. A Unix-socket DSN (``...@/db?host=/dir``, as pgserver gives) is
  rewritten with the directory as a percent-encoded host: dlt insists on a host.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

TELEMETRY_OFF = {"RUNTIME__DLTHUB_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING"}


class RequestCounter:
    """Counts the HTTP requests sent to ``base_url`` (every try of dlt's retrying client)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.count = 0
        self._lock = threading.Lock()

    def install(self) -> None:
        from requests.adapters import HTTPAdapter  # type: ignore[import-untyped,unused-ignore]

        send = HTTPAdapter.send
        counter = self

        def counting_send(self: HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
            if str(request.url).startswith(counter.base_url):
                with counter._lock:
                    counter.count += 1
            return send(self, request, *args, **kwargs)

        HTTPAdapter.send = counting_send  # type: ignore[method-assign]


def peak_rss_mib() -> float:
    """This process's peak RSS since its exec (VmHWM), or its children's if higher.
    ``ru_maxrss`` of RUSAGE_SELF is not that: Linux carries the high-water mark of the process
    it was forked from across the exec, so a peer started by a 150 MiB loader reported 150 MiB
    whatever it used itself."""
    own = 0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    own = int(line.split()[1])  # KiB
    except OSError:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # KiB on Linux


def dlt_dsn(dsn: str) -> str:
    """``postgresql://u@/db?host=/socket/dir`` (a Unix socket, as pgserver names it) with the
    directory moved into the host part, percent-encoded: dlt requires a host and libpq decodes
    it back."""
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    hosts = [v for k, v in query if k == "host"]
    if parts.hostname or not hosts:
        return dsn
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + quote(hosts[0], safe="")
    rest = urlencode([(k, v) for k, v in query if k != "host"])
    return urlunsplit((parts.scheme, netloc, parts.path, rest, parts.fragment))


# data selector -> where that answer shape keeps the total (sent ``$count=true``)
TOTAL_PATHS: dict[str, str | None] = {"value": "['@odata.count']", "Items": "Count", "$": None}


def probe(args: dict[str, Any]) -> tuple[str, int | None]:
    """(data selector, total) from one ``$top=1&$count=true`` request (the first parent's for
    a fan-out): the answer is an OData envelope, a PageResult or a bare array."""
    import requests  # type: ignore[import-untyped,unused-ignore]

    path = str(args["endpoint"])
    if args.get("parents"):
        path = path.replace("{" + str(args["parent_param"]) + "}", str(args["parents"][0]))
    answer = requests.get(
        str(args["base_url"]).rstrip("/") + path,
        params={"$top": "1", "$count": "true"},
        headers={str(args["auth_header"]): str(args["api_key"])},
        timeout=120,
    )
    answer.raise_for_status()
    body = answer.json()
    if isinstance(body, list):
        return "$", None
    if isinstance(body, dict) and "value" in body:
        count = body.get("@odata.count")
        return "value", None if count is None else int(count)
    if isinstance(body, dict) and "Items" in body:
        count = body.get("Count")
        return "Items", None if count is None else int(count)
    raise RuntimeError(f"cannot tell where the records are in {str(body)[:200]}")


def paginator(args: dict[str, Any], *, total_path: str | None) -> dict[str, Any]:
    return {
        "type": "offset",
        "limit": int(args["page_size"]),
        "offset": 0,
        "offset_param": "$skip",
        "limit_param": "$top",
        "total_path": total_path,
        "stop_after_empty_page": True,
    }


def build_source(args: dict[str, Any]) -> Any:
    import dlt  # type: ignore[import-not-found,unused-ignore]
    from dlt.sources.rest_api import (  # type: ignore[import-not-found,unused-ignore]
        rest_api_source,
    )

    table = str(args["table"])
    selector = str(args["data_selector"])
    total_path = TOTAL_PATHS[selector]
    count_params = {"$count": "true"} if total_path else {}
    resources: list[Any] = []
    child: dict[str, Any]
    parents = args.get("parents")
    if parents is not None:
        parent_param = str(args["parent_param"])
        values = [str(v) for v in parents]

        def parent_items() -> Iterator[list[dict[str, str]]]:
            yield [{"id": v} for v in values]  # one list: one page for the child

        resources.append(dlt.resource(parent_items, name="peer_parents", selected=False))
        path = str(args["endpoint"]).replace(
            "{" + parent_param + "}", "{resources.peer_parents.id}"
        )
        child = {
            "name": table,
            "endpoint": {
                "path": path.lstrip("/"),
                "params": count_params,
                "data_selector": selector,
                "paginator": paginator(args, total_path=total_path),
            },
            "parallelized": True,
        }
    elif args.get("split_pages") and args.get("total") is not None:
        # one request per page, the pages fanned out like parents ($skip from the parent item)
        page_size = int(args["page_size"])
        offsets = list(range(0, int(args["total"]), page_size))

        def page_items() -> Iterator[list[dict[str, int]]]:
            yield [{"skip": s} for s in offsets]

        resources.append(dlt.resource(page_items, name="peer_pages", selected=False))
        child = {
            "name": table,
            "endpoint": {
                "path": str(args["endpoint"]).lstrip("/"),
                "params": {"$top": page_size, "$skip": "{resources.peer_pages.skip}"},
                "data_selector": selector,
                "paginator": "single_page",
            },
            "parallelized": True,
        }
    else:
        child = {
            "name": table,
            "endpoint": {
                "path": str(args["endpoint"]).lstrip("/"),
                "params": count_params,
                "data_selector": selector,
                "paginator": paginator(args, total_path=total_path),
            },
        }
    resources.append(child)
    config: Any = {
        "client": {
            "base_url": str(args["base_url"]).rstrip("/") + "/",
            "auth": {
                "type": "api_key",
                "name": str(args["auth_header"]),
                "api_key": str(args["api_key"]),
                "location": "header",
            },
        },
        "resource_defaults": {"write_disposition": "replace"},
        "resources": resources,
    }
    nesting = args.get("max_table_nesting")
    return rest_api_source(config, name="peer", max_table_nesting=nesting)


def phase_seconds(pipeline: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    trace = pipeline.last_trace
    for step in getattr(trace, "steps", []) or []:
        if step.started_at and step.finished_at and step.step in ("extract", "normalize", "load"):
            out[step.step] = round((step.finished_at - step.started_at).total_seconds(), 3)
    return out


def describe(args: dict[str, Any], version: str, split: bool) -> str:
    workers = int(args["workers"])
    if args.get("parents") is not None:
        mode = f"{workers} workers (parallelized child per parent)"
    elif split:
        mode = f"{workers} workers (one parallelized request per page)"
    else:
        mode = "sequential offset paginator"
    nesting = args.get("max_table_nesting")
    shape = "nested tables" if nesting is None else f"max_table_nesting {nesting}"
    return f"dlt {version} rest_api, {mode}, csv/COPY, {shape}"


def run(args: dict[str, Any]) -> dict[str, Any]:
    workers = int(args["workers"])
    os.environ.update(TELEMETRY_OFF)
    os.environ["EXTRACT__WORKERS"] = str(workers)
    os.environ["EXTRACT__MAX_PARALLEL_ITEMS"] = str(max(20, workers))
    counter = RequestCounter(str(args["base_url"]).rstrip("/"))
    counter.install()
    plain = args.get("parents") is None
    if args.get("parents") == [] and args.get("data_selector") is None:
        args["data_selector"] = "value"  # nothing to probe, nothing will be requested
    if args.get("data_selector") is None or (plain and args.get("split_pages")):
        args["data_selector"], args["total"] = probe(args)
    split = bool(plain and args.get("split_pages") and args.get("total") is not None)

    import dlt  # type: ignore[import-not-found,unused-ignore]
    from dlt.destinations import postgres  # type: ignore[import-not-found,unused-ignore]

    pipeline = dlt.pipeline(
        pipeline_name="trialsync_peer",
        pipelines_dir=str(args["pipelines_dir"]),
        destination=postgres(credentials=dlt_dsn(str(args["dsn"]))),
        dataset_name=str(args["schema"]),
    )
    with pipeline.sql_client() as client:  # a previous run's tables and stored schema go
        if client.has_dataset():
            client.drop_dataset()
    started = time.perf_counter()
    pipeline.run(build_source(args), loader_file_format="csv")
    seconds = time.perf_counter() - started

    table = pipeline.default_schema.naming.normalize_table_identifier(str(args["table"]))
    rows = 0
    with pipeline.sql_client() as client:
        if table in pipeline.default_schema.tables:  # absent when nothing was extracted
            qualified = client.make_qualified_table_name(table)
            rows = int(client.execute_sql(f"SELECT count(*) FROM {qualified}")[0][0])
    return {
        "how": describe(args, dlt.__version__, split),
        "seconds": seconds,
        "rows": rows,
        "requests": counter.count,
        "peak_rss_mib": peak_rss_mib(),
        "phases": phase_seconds(pipeline),
        "table": f"{args['schema']}.{table}",
    }


def main() -> int:
    args = json.loads(sys.argv[1])
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # dlt's own prints must not reach stdout
        result = run(args)
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
