"""Peers to compare the loader against: the same endpoint loaded into the same PostgreSQL by
someone else's code, each in a child process of its own (its peak RSS is its own).

* :func:`run_dlt`: dlt (https://dlthub.com) with a ``rest_api`` source, in a throwaway virtual
  environment built once by :func:`dlt_python` (see ``peer_dlt.py`` for how dlt is set up);
* :func:`run_threads`: ``workers`` threads of stdlib ``http.client`` (one keep-alive connection
  per thread), the records collected and then written with one ``COPY`` (asyncpg);
* :func:`run_peer`: dlt when its environment can be built, else the threads.

A plain endpoint (``parents`` None) is paged with ``$top``/``$skip``; a fan-out endpoint names
``{parent_param}`` in its path (``/api/v1/studies/{studyId}/subjects/odata``) and is requested
once per parent value (each answer paged too). The answer may be an OData envelope
(``{"value": [...], "@odata.count": N}``), a PageResult (``{"Items": [...], "Count": N}``) or a
bare array. ``$count=true`` is sent so that shapes with a total need no trailing empty page.

Run as a script this module is the threads peer's child process:
``python bench_peers.py threads '<json arguments>'`` prints one JSON result line.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import http.client
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

DLT_VERSION = "1.31.0"  # pinned: figures stay comparable between runs
DLT_REQUIREMENT = f"dlt[postgres]=={DLT_VERSION}"  # the postgres extra brings psycopg2-binary
CACHE_ENV = "TRIALSYNC_BENCH_CACHE"
HERE = Path(__file__).resolve().parent
PEER_DLT_SCRIPT = HERE / "peer_dlt.py"
VENV_BUILD_TIMEOUT_S = 900.0
HTTP_TIMEOUT_S = 300.0
_READY = ".trialsync-ready"  # written last: a venv without it is half built


@dataclass(frozen=True)
class PeerResult:
    """What one peer run measured (inside the peer process, which reports it as JSON)."""

    how: str  # e.g. "dlt 1.31.0 rest_api, 20 workers (...), csv/COPY, ..."
    seconds: float  # wall time of the load (no venv setup), measured inside the peer
    rows: int  # rows in the destination table afterwards
    requests: int  # HTTP requests the peer sent (counted by the peer itself)
    peak_rss_mib: float  # the peer process's own ru_maxrss
    table: str = ""  # schema.table the peer wrote
    phases: tuple[tuple[str, float], ...] = ()  # dlt: extract/normalize/load seconds


def _say(message: str) -> None:
    print(f"[bench_peers] {message}", file=sys.stderr, flush=True)


def _cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "trialsync-bench"


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _imports_dlt(python: Path) -> bool:
    probe = [str(python), "-c", "import dlt, psycopg2"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.cache
def dlt_python() -> Path | None:
    """The interpreter of a throwaway virtual environment with ``dlt[postgres]``
    (psycopg2-binary), built once under ``$TRIALSYNC_BENCH_CACHE`` or
    ``~/.cache/trialsync-bench`` as ``dlt-<version>`` and reused (a file lock keeps concurrent
    builders apart); None when it cannot be built (no network): callers then use the threads
    peer."""
    root = _cache_root()
    venv = root / f"dlt-{DLT_VERSION}"
    python = _venv_python(venv)
    if (venv / _READY).exists() and python.exists():
        return python
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(root / f"dlt-{DLT_VERSION}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (venv / _READY).exists() and python.exists():
                return python
            return _build_dlt_venv(venv)
    except OSError as exc:
        _say(f"no dlt environment: {exc}")
        return None


def _build_dlt_venv(venv: Path) -> Path | None:
    python = _venv_python(venv)
    shutil.rmtree(venv, ignore_errors=True)  # a half-built one
    _say(f"building a virtual environment with {DLT_REQUIREMENT} at {venv} (once)")
    started = time.perf_counter()
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         DLT_REQUIREMENT],
    ]  # fmt: skip
    for argv in steps:
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=VENV_BUILD_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            _say(f"cannot build the dlt environment: {exc}")
            shutil.rmtree(venv, ignore_errors=True)
            return None
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            _say(f"cannot build the dlt environment ({' '.join(argv[2:4])}):\n{tail}")
            shutil.rmtree(venv, ignore_errors=True)
            return None
    if not _imports_dlt(python):
        _say("the dlt environment was built but cannot import dlt and psycopg2")
        shutil.rmtree(venv, ignore_errors=True)
        return None
    (venv / _READY).write_text(f"{DLT_REQUIREMENT}\n")
    _say(f"built in {time.perf_counter() - started:.1f} s")
    return python


def default_table(endpoint: str) -> str:
    """``/api/v1/studies/{studyId}/subjects/odata`` -> ``subjects``."""
    segments = [s for s in endpoint.split("?")[0].split("/") if s and s != "odata" and "{" not in s]
    name = re.sub(r"[^0-9a-zA-Z]+", "_", segments[-1] if segments else "records")
    return name.strip("_").lower() or "records"


def _result(line: str) -> PeerResult:
    data = json.loads(line)
    phases = tuple((str(k), float(v)) for k, v in dict(data.get("phases") or {}).items())
    return PeerResult(
        how=str(data["how"]),
        seconds=float(data["seconds"]),
        rows=int(data["rows"]),
        requests=int(data["requests"]),
        peak_rss_mib=float(data["peak_rss_mib"]),
        table=str(data.get("table", "")),
        phases=phases,
    )


def _run_child(argv: list[str], *, cwd: str, timeout: float | None) -> PeerResult:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
    )  # the child's stderr (progress, warnings) goes straight to ours
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"peer {Path(argv[1]).name} failed (exit status {done.returncode})")
    return _result(lines[-1])


def _common_args(
    *,
    base_url: str,
    api_key: str,
    auth_header: str,
    dsn: str,
    endpoint: str,
    parents: Sequence[str] | None,
    parent_param: str | None,
    page_size: int,
    workers: int,
    schema: str,
    table: str | None,
) -> dict[str, Any]:
    if parents is not None and not parent_param:
        raise ValueError("a fan-out (parents given) needs parent_param")
    if parents is not None and "{" + str(parent_param) + "}" not in endpoint:
        raise ValueError(f"endpoint {endpoint!r} does not name {{{parent_param}}}")
    if page_size < 1 or workers < 1:
        raise ValueError("page_size and workers must be >= 1")
    return {
        "base_url": base_url,
        "api_key": api_key,
        "auth_header": auth_header,
        "dsn": dsn,
        "endpoint": endpoint,
        "parents": None if parents is None else [str(p) for p in parents],
        "parent_param": parent_param,
        "page_size": page_size,
        "workers": workers,
        "schema": schema,
        "table": table or default_table(endpoint),
    }


def run_dlt(
    *,
    base_url: str,
    api_key: str,
    auth_header: str,
    dsn: str,
    endpoint: str,
    parents: Sequence[str] | None = None,
    parent_param: str | None = None,
    page_size: int = 1000,
    workers: int = 20,
    schema: str = "peer",
    table: str | None = None,
    data_selector: str | None = None,
    split_pages: bool = False,
    max_table_nesting: int | None = 0,
    timeout: float | None = None,
) -> PeerResult:
    """Load ``endpoint`` with dlt into ``schema.table`` (replaced).

    ``data_selector``: ``"value"`` (OData envelope), ``"Items"`` (PageResult) or ``"$"`` (bare
    array); None: the peer finds out with one ``$top=1`` request (counted in ``requests``, not
    in ``seconds``). ``split_pages``: a plain endpoint's pages as parallel requests (one
    ``$top=1`` probe for the total first) instead of dlt's sequential paginator.
    ``max_table_nesting``: 0 keeps nested values as JSON columns of one table (like the
    loader's JSONB rows); None lets dlt normalise them into child tables.
    Raises RuntimeError when the dlt environment cannot be built or the peer fails."""
    python = dlt_python()
    if python is None:
        raise RuntimeError("no dlt environment (see the messages above); use run_threads")
    args = _common_args(
        base_url=base_url, api_key=api_key, auth_header=auth_header, dsn=dsn, endpoint=endpoint,
        parents=parents, parent_param=parent_param, page_size=page_size, workers=workers,
        schema=schema, table=table,
    )  # fmt: skip
    args.update(
        data_selector=data_selector, split_pages=split_pages, max_table_nesting=max_table_nesting
    )
    with tempfile.TemporaryDirectory(prefix="tsbench-dlt-") as work:
        args["pipelines_dir"] = str(Path(work) / "pipelines")
        argv = [str(python), str(PEER_DLT_SCRIPT), json.dumps(args)]
        return _run_child(argv, cwd=work, timeout=timeout)


def run_threads(
    *,
    base_url: str,
    api_key: str,
    auth_header: str,
    dsn: str,
    endpoint: str,
    parents: Sequence[str] | None = None,
    parent_param: str | None = None,
    page_size: int = 1000,
    workers: int = 20,
    schema: str = "peer",
    table: str | None = None,
    timeout: float | None = None,
) -> PeerResult:
    """Load ``endpoint`` with ``workers`` threads into ``<schema>_threads.<table>`` (replaced;
    one ``data jsonb`` column, one ``COPY``), in a child process running this module."""
    args = _common_args(
        base_url=base_url, api_key=api_key, auth_header=auth_header, dsn=dsn, endpoint=endpoint,
        parents=parents, parent_param=parent_param, page_size=page_size, workers=workers,
        schema=f"{schema}_threads", table=table,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tsbench-threads-") as work:
        argv = [sys.executable, str(Path(__file__).resolve()), "threads", json.dumps(args)]
        return _run_child(argv, cwd=work, timeout=timeout)


def run_peer(
    *,
    base_url: str,
    api_key: str,
    auth_header: str,
    dsn: str,
    endpoint: str,
    parents: Sequence[str] | None = None,
    parent_param: str | None = None,
    page_size: int = 1000,
    workers: int = 20,
    schema: str = "peer",
    table: str | None = None,
    timeout: float | None = None,
) -> PeerResult:
    """:func:`run_dlt` when :func:`dlt_python` has an environment, else :func:`run_threads`."""
    run = run_dlt if dlt_python() is not None else run_threads
    return run(
        base_url=base_url, api_key=api_key, auth_header=auth_header, dsn=dsn, endpoint=endpoint,
        parents=parents, parent_param=parent_param, page_size=page_size, workers=workers,
        schema=schema, table=table, timeout=timeout,
    )  # fmt: skip


# --- the threads peer (child process) ------------------------------------------------------


def _own_peak_rss_mib() -> float:
    """This process's peak RSS since its exec (VmHWM): ``ru_maxrss`` carries the high-water
    mark of the process it was forked from across the exec (the loader's, here)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Http:
    """GET JSON with one keep-alive ``http.client`` connection per thread; counts requests."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        self.https = parts.scheme == "https"
        self.netloc = parts.netloc
        self.prefix = parts.path
        self.headers = {**headers, "Accept": "application/json", "Connection": "keep-alive"}
        self.requests = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = kind(self.netloc, timeout=HTTP_TIMEOUT_S)
            self._local.conn = conn
        return conn

    def get(self, path: str, params: dict[str, str]) -> Any:
        target = f"{self.prefix}{path}?{urlencode(params, safe='$')}"
        for attempt in range(2):  # a kept-alive connection the server closed: reconnect once
            conn = self._connection()
            with self._lock:
                self.requests += 1
            try:
                conn.request("GET", target, headers=self.headers)
                answer = conn.getresponse()
                body = answer.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
                continue
            if answer.status != 200:
                raise RuntimeError(f"GET {target}: HTTP {answer.status} {body[:200]!r}")
            return json.loads(body)
        raise AssertionError("unreachable")


Row = tuple[str]  # one record as JSON text, a row for COPY


def _page(answer: Any) -> tuple[list[Row], int | None]:
    """(rows, total or None) of an envelope, a PageResult or a bare array; each record encoded
    at once (JSON text is smaller than the parsed dicts)."""
    records: Any = None
    total: Any = None
    if isinstance(answer, list):
        records = answer
    elif isinstance(answer, dict):
        for key, count in (("value", "@odata.count"), ("Items", "Count")):
            if key in answer:
                records, total = answer[key] or [], answer.get(count)
                break
    if not isinstance(records, list):
        raise RuntimeError(f"cannot tell where the records are in {str(answer)[:200]}")
    rows = [(json.dumps(r, ensure_ascii=False),) for r in records]
    return rows, None if total is None else int(total)


def _fetch_all(http_: _Http, path: str, page_size: int) -> list[Row]:
    """Every page of one path, one after another: the total ends it, else a short page."""
    records: list[Row] = []
    skip = 0
    while True:
        params = {"$top": str(page_size), "$skip": str(skip), "$count": "true"}
        page, total = _page(http_.get(path, params))
        records += page
        skip += page_size
        if (total is not None and skip >= total) or (total is None and len(page) < page_size):
            return records


def _fetch_plain(http_: _Http, pool: ThreadPoolExecutor, args: dict[str, Any]) -> list[Row]:
    """The first page tells the total, the other pages are fetched ``workers`` at a time
    (without a total: in waves of ``workers`` pages until a short one)."""
    path, page_size, workers = str(args["endpoint"]), int(args["page_size"]), int(args["workers"])

    def fetch(skip: int) -> tuple[list[Row], int | None]:
        params = {"$top": str(page_size), "$skip": str(skip), "$count": "true"}
        return _page(http_.get(path, params))

    records, total = fetch(0)
    if total is not None:
        for page, _ in pool.map(fetch, range(page_size, total, page_size)):
            records += page
        return records
    skip = page_size
    short = len(records) < page_size
    while not short:
        wave = list(pool.map(fetch, range(skip, skip + workers * page_size, page_size)))
        for page, _ in wave:
            records += page
            short = short or len(page) < page_size
        skip += workers * page_size
    return records


async def _copy(dsn: str, schema: str, table: str, records: list[Row]) -> int:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        qschema = '"' + schema.replace('"', '""') + '"'
        qtable = qschema + '."' + table.replace('"', '""') + '"'
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {qschema}")
        await conn.execute(f"DROP TABLE IF EXISTS {qtable}")
        await conn.execute(f"CREATE TABLE {qtable} (data jsonb NOT NULL)")
        await conn.copy_records_to_table(
            table, schema_name=schema, columns=["data"], records=records
        )
        return int(await conn.fetchval(f"SELECT count(*) FROM {qtable}"))
    finally:
        await conn.close()


def _threads_main(args: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    workers, page_size = int(args["workers"]), int(args["page_size"])
    http_ = _Http(str(args["base_url"]), {str(args["auth_header"]): str(args["api_key"])})
    started = time.perf_counter()
    records: list[Row] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="peer") as pool:
        if args["parents"] is None:
            records = _fetch_plain(http_, pool, args)
        else:
            placeholder = "{" + str(args["parent_param"]) + "}"
            paths = [
                str(args["endpoint"]).replace(placeholder, quote(str(p), safe=""))
                for p in args["parents"]
            ]
            for part in pool.map(lambda p: _fetch_all(http_, p, page_size), paths):
                records += part
    schema, table = str(args["schema"]), str(args["table"])
    rows = asyncio.run(_copy(str(args["dsn"]), schema, table, records))
    seconds = time.perf_counter() - started
    return {
        "how": f"{workers} threads (http.client keep-alive), one COPY into jsonb",
        "seconds": seconds,
        "rows": rows,
        "requests": http_.requests,
        "peak_rss_mib": _own_peak_rss_mib(),
        "table": f"{schema}.{table}",
    }


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] != "threads":
        print("usage: bench_peers.py threads '<json arguments>'", file=sys.stderr)
        return 2
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        result = _threads_main(json.loads(argv[1]))
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
