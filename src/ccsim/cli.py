"""Command line for the simulator: ``python -m ccsim --port 8800 --scale 1``.

``trialsync-async simulate ARGS`` hands ARGS to :func:`main` (imported only then).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from ccsim import options as o
from ccsim.field_changes import parse_field_changes
from ccsim.server import SimulatorServer
from ccsim.transforms import TRANSFORM_KINDS, parse_transforms

DEFAULT_CLI_PORT = 8800


def _pairs(values: Sequence[str] | None, what: str) -> list[tuple[str, str]]:
    out = []
    for v in values or ():
        if "=" not in v:
            raise SystemExit(f"--{what} expects KEY=VALUE, got {v!r}")
        k, _, val = v.rpartition("=")
        out.append((k, val))
    return out


def _json_objects(values: Sequence[str] | None, flag: str) -> list[dict[str, Any]]:
    """Each value of a repeatable ``--flag JSON`` as a JSON object (ValueError otherwise)."""
    out = []
    for v in values or ():
        try:
            obj = orjson.loads(v)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"--{flag} expects a JSON object, got {v!r}: {exc}") from None
        if not isinstance(obj, dict):
            raise ValueError(f"--{flag} expects a JSON object, got {v!r}")
        out.append(obj)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every simulator knob to ``parser`` (defaults are shown in the help)."""
    g = parser.add_argument_group("server")
    g.add_argument("--host", default=o.DEFAULT_HOST, help="bind address (default: %(default)s)")
    g.add_argument(
        "--port",
        type=int,
        default=DEFAULT_CLI_PORT,
        help="port, 0 = any free (default: %(default)s)",
    )
    g.add_argument(
        "--api-key",
        default=os.environ.get("TRIALSYNC_SIM_API_KEY", o.DEFAULT_API_KEY),
        help="accepted API key (default: $TRIALSYNC_SIM_API_KEY, else the test key "
        "printed at startup)",
    )
    g.add_argument(
        "--api-key-header",
        default=o.DEFAULT_API_KEY_HEADER,
        help="header carrying the key (default: %(default)s)",
    )
    g.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    g.add_argument("--access-log", action="store_true", help="log each request (never headers)")
    g.add_argument(
        "--ready-json",
        action="store_true",
        help="print one JSON line {base_url, port, pid} once listening (for scripts)",
    )
    g.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit when this process is gone (default: %(default)s)",
    )
    g = parser.add_argument_group("data")
    g.add_argument(
        "--scale",
        type=float,
        default=o.DEFAULT_SCALE,
        help="data size factor; 1 = small site, 100 = production (default: %(default)s)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=o.DEFAULT_SEED,
        help="seed of all generated data and faults (default: %(default)s)",
    )
    g.add_argument(
        "--size",
        action="append",
        metavar="TEMPLATE_OR_SPACE=N",
        help="records per parent (or total) at scale 1 for one endpoint (repeatable)",
    )
    g.add_argument(
        "--churn",
        type=float,
        default=o.DEFAULT_CHURN,
        help="probability that a data request mutates its space (default: %(default)s)",
    )
    g.add_argument(
        "--page-cache",
        type=int,
        default=o.DEFAULT_PAGE_CACHE_SIZE,
        help="rendered pages kept in an LRU (default: %(default)s)",
    )
    g = parser.add_argument_group("shapes")
    g.add_argument(
        "--odata-shape",
        choices=o.SHAPES,
        default=None,
        help="force this shape on every OData list (default: per swagger)",
    )
    g.add_argument(
        "--list-shape",
        choices=o.SHAPES,
        default=None,
        help="force this shape on every plain list (default: array)",
    )
    g.add_argument(
        "--shape",
        action="append",
        metavar="TEMPLATE=SHAPE",
        help="shape of one endpoint template (repeatable)",
    )
    g = parser.add_argument_group("paging faults")
    g.add_argument(
        "--natural-order",
        choices=o.NATURAL_ORDERS,
        default=o.DEFAULT_NATURAL_ORDER,
        help="order of OData lists without $orderby and of plain lists: 'id', or 'shuffled' "
        "(a stable seeded hash order; inserts land anywhere) (default: %(default)s)",
    )
    g.add_argument(
        "--page-overlap",
        type=float,
        default=o.DEFAULT_PAGE_OVERLAP,
        help="probability that an OData page not at the start of its sequence repeats the "
        "preceding record at its head ($top+1 records) (default: %(default)s)",
    )
    g.add_argument(
        "--max-top",
        type=int,
        default=o.DEFAULT_MAX_TOP,
        help=f"silent server cap on $top, 1..{o.MAX_TOP} (default: %(default)s)",
    )
    g = parser.add_argument_group("request economy")
    g.add_argument(
        "--global-list-drop",
        type=float,
        default=o.DEFAULT_GLOBAL_LIST_DROP,
        help="fraction of records (stable, seeded) missing from the global lists "
        "/subjects/odata and /visits/odata only; 1 = empty (default: %(default)s)",
    )
    g.add_argument(
        "--reject-filter-fields",
        default="",
        metavar="FIELD[,FIELD...]",
        help="answer 400 (OData error) to a $filter on these fields, e.g. lastUpdatedOn "
        "(default: none)",
    )
    g = parser.add_argument_group("bad answers")
    g.add_argument(
        "--transform",
        action="append",
        metavar="JSON",
        help='an answer transform (repeatable), e.g. \'{"kind": "empty_page", '
        '"template": "/api/v1/patients/odata", "after": 2, "times": 1}\'; kinds: '
        + ", ".join(TRANSFORM_KINDS)
        + "; fields: template, parent, after, times, same_page, amount, index, depth, seconds, "
        "chunk (see ccsim.transforms)",
    )
    g.add_argument(
        "--field-change",
        action="append",
        metavar="JSON",
        help='reshape every record of one endpoint (repeatable), e.g. \'{"template": '
        '"/api/v1/studies/odata", "field": "name", "change": "retype"}\'; '
        'change: retype, drop or add (with "value", default "new")',
    )
    g = parser.add_argument_group("latency and limits")
    g.add_argument(
        "--latency",
        type=float,
        default=o.DEFAULT_LATENCY_MEAN_S,
        help="mean added latency in seconds (default: %(default)s)",
    )
    g.add_argument(
        "--jitter",
        type=float,
        default=o.DEFAULT_LATENCY_JITTER_S,
        help="latency standard deviation in seconds (default: %(default)s)",
    )
    g.add_argument(
        "--per-record-cost",
        type=float,
        default=o.DEFAULT_PER_RECORD_COST_S,
        help="extra seconds per record returned (default: %(default)s)",
    )
    g.add_argument(
        "--rate-limit",
        type=float,
        default=o.DEFAULT_RATE_LIMIT_RPS,
        help="requests/second per key, beyond -> 429 (default: unlimited)",
    )
    g.add_argument(
        "--rate-burst",
        type=int,
        default=o.DEFAULT_RATE_LIMIT_BURST,
        help="token-bucket burst (default: ceil(rate))",
    )
    g.add_argument(
        "--max-concurrency",
        type=int,
        default=o.DEFAULT_MAX_CONCURRENCY,
        help="requests in flight, beyond -> 503 (default: unlimited)",
    )
    g.add_argument(
        "--load-latency",
        type=float,
        default=0.0,
        help="extra seconds per other request in flight: a server that queues "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--no-retry-after",
        action="store_true",
        help="answer 429 and overload 503 without a Retry-After header",
    )
    g = parser.add_argument_group("faults (probability per request)")
    for kind, text in (
        ("500", "HTTP 500"),
        ("503", "HTTP 503"),
        ("429", "HTTP 429 with Retry-After"),
        ("reset", "connection reset mid-body"),
        ("hang", "no answer for --hang-seconds, then close"),
        ("truncated", "status 200 with truncated JSON"),
        ("html", "status 200 with an HTML error page"),
    ):
        g.add_argument(
            f"--p-{kind}", type=float, default=0.0, help=f"{text} (default: %(default)s)"
        )
    g.add_argument(
        "--hang-seconds",
        type=float,
        default=o.DEFAULT_HANG_SECONDS,
        help="how long a hang lasts (default: %(default)s)",
    )
    g.add_argument(
        "--fail-parent",
        action="append",
        metavar="TEMPLATE=PARENT",
        help="always answer 500 for this parent value, e.g. "
        "'/api/v1/studies/{studyId}/subjects/odata=12345' (repeatable)",
    )


def options_from_args(args: argparse.Namespace) -> o.SimulatorOptions:
    fail: dict[str, set[str]] = {}
    for t, v in _pairs(args.fail_parent, "fail-parent"):
        fail.setdefault(t, set()).add(v)
    shapes = dict(_pairs(args.shape, "shape"))
    if args.odata_shape:
        shapes["odata"] = args.odata_shape
    if args.list_shape:
        shapes["list"] = args.list_shape
    return o.SimulatorOptions(
        seed=args.seed,
        scale=args.scale,
        api_key=args.api_key,
        api_key_header=args.api_key_header,
        host=args.host,
        port=args.port,
        latency_mean_s=args.latency,
        latency_jitter_s=args.jitter,
        per_record_cost_s=args.per_record_cost,
        rate_limit_rps=args.rate_limit,
        rate_limit_burst=args.rate_burst,
        max_concurrency=args.max_concurrency,
        load_latency_s=args.load_latency,
        retry_after_hints=not args.no_retry_after,
        faults=o.FaultOptions(
            p_500=args.p_500,
            p_503=args.p_503,
            p_429=args.p_429,
            p_reset=args.p_reset,
            p_hang=args.p_hang,
            p_truncated=args.p_truncated,
            p_html=args.p_html,
            hang_seconds=args.hang_seconds,
        ),
        fail_parents={t: frozenset(v) for t, v in fail.items()},
        shape_overrides=shapes,
        size_overrides={k: float(v) for k, v in _pairs(args.size, "size")},
        churn=args.churn,
        page_cache_size=args.page_cache,
        natural_order=args.natural_order,
        page_overlap=args.page_overlap,
        max_top=args.max_top,
        global_list_drop=args.global_list_drop,
        reject_filter_fields=o.field_names(args.reject_filter_fields),
        transforms=parse_transforms(_json_objects(args.transform, "transform")),
        field_changes=parse_field_changes(_json_objects(args.field_change, "field-change")),
        access_log=args.access_log,
    ).validate()


def options_to_argv(opts: o.SimulatorOptions) -> list[str]:
    """The command-line arguments reproducing ``opts`` (the key is passed via the environment
    variable TRIALSYNC_SIM_API_KEY by :mod:`process`, not on the command line)."""
    f = opts.faults
    argv = [
        "--host", opts.host, "--port", str(opts.port), "--scale", repr(opts.scale),
        "--seed", str(opts.seed), "--api-key-header", opts.api_key_header,
        "--latency", repr(opts.latency_mean_s), "--jitter", repr(opts.latency_jitter_s),
        "--per-record-cost", repr(opts.per_record_cost_s), "--churn", repr(opts.churn),
        "--load-latency", repr(opts.load_latency_s),
        "--page-cache", str(opts.page_cache_size), "--hang-seconds", repr(f.hang_seconds),
        "--p-500", repr(f.p_500), "--p-503", repr(f.p_503), "--p-429", repr(f.p_429),
        "--p-reset", repr(f.p_reset), "--p-hang", repr(f.p_hang),
        "--p-truncated", repr(f.p_truncated), "--p-html", repr(f.p_html),
        "--natural-order", opts.natural_order, "--page-overlap", repr(float(opts.page_overlap)),
        "--max-top", str(opts.max_top),
        "--global-list-drop", repr(float(opts.global_list_drop)),
    ]  # fmt: skip
    if opts.reject_filter_fields:
        argv += ["--reject-filter-fields", ",".join(opts.reject_filter_fields)]
    if opts.rate_limit_rps is not None:
        argv += ["--rate-limit", repr(opts.rate_limit_rps)]
    if opts.rate_limit_burst is not None:
        argv += ["--rate-burst", str(opts.rate_limit_burst)]
    if opts.max_concurrency is not None:
        argv += ["--max-concurrency", str(opts.max_concurrency)]
    if not opts.retry_after_hints:
        argv.append("--no-retry-after")
    for t, vals in opts.fail_parents.items():
        argv += [a for v in sorted(vals) for a in ("--fail-parent", f"{t}={v}")]
    for k, shape in opts.shape_overrides.items():
        argv += ["--shape", f"{k}={shape}"]
    for k, size in opts.size_overrides.items():
        argv += ["--size", f"{k}={size!r}"]
    for transform in opts.transforms:
        argv += ["--transform", orjson.dumps(transform.to_dict()).decode()]
    for change in opts.field_changes:
        argv += ["--field-change", orjson.dumps(change.to_dict()).decode()]
    if opts.access_log:
        argv.append("--access-log")
    return argv


async def serve(
    opts: o.SimulatorOptions, *, ready_json: bool = False, parent_pid: int | None = None
) -> None:
    """Serve until SIGINT/SIGTERM (or until ``parent_pid`` exits)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with SimulatorServer(opts) as sim:
        if ready_json:
            line = {"base_url": sim.base_url, "port": sim.port, "pid": os.getpid()}
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
        else:
            print(f"Clinical Conductor simulator listening on {sim.base_url}")
            print(f"API key header {opts.api_key_header}: {opts.api_key}")
            print(f"admin: {sim.admin_url}/truth | /stats | /config | /mutate   (Ctrl-C to stop)")
        sys.stdout.flush()
        if parent_pid is not None:
            watchdog = asyncio.create_task(_watch_parent(parent_pid, stop))
        await stop.wait()
        if parent_pid is not None:
            watchdog.cancel()


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    while True:
        await asyncio.sleep(1.0)
        if os.getppid() != pid:
            stop.set()
            return


def run_from_args(args: argparse.Namespace) -> int:
    """Block serving until Ctrl-C; returns the process exit code."""
    try:
        opts = options_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    factory = None
    if not args.no_uvloop:
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:  # pragma: no cover - uvloop is optional
            factory = None
    try:
        with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(opts, ready_json=args.ready_json, parent_pid=args.parent_pid))
    except OSError as exc:  # the port is taken, the host is not ours, ...
        print(
            f"error: cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}"
            " (another simulator running? --port N picks another port)",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m ccsim") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Clinical Conductor API simulator (base path /CCSWEB).",
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
