"""Where the tests' PostgreSQL comes from, and per-test databases cloned from a template.

Order: ``TRIALSYNC_TEST_DSN`` (a server you run); else testcontainers when a Docker engine
answers; else an embedded PostgreSQL 16 (pgserver) in a throwaway directory. Each test gets
its own database, cloned from a migrated template with ``CREATE DATABASE … TEMPLATE``.

``RestartablePostgres`` is separate from all that: a private cluster a test may stop and
start again (e.g. while the loader runs), built from the binaries of the ``pgserver`` wheel.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

from trialsync_async.db.connect import connect, recreate_database
from trialsync_async.db.migrator import MigrationReport, migrate
from trialsync_async.embedded import EmbeddedPostgres
from trialsync_async.inventory import load_inventory
from trialsync_async.settings import Settings

TEMPLATE_DB = f"trialsync_template_{os.getpid()}"


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def postgres_server(tmp_dir: Path) -> Iterator[str]:
    """Yield the DSN of a server the tests may create databases on."""
    dsn = os.environ.get("TRIALSYNC_TEST_DSN")
    if dsn:
        yield dsn
    elif _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
    else:
        with EmbeddedPostgres(tmp_dir, cleanup="delete") as pg:
            yield pg.dsn()


async def migrate_database(dsn: str, jobs_file: Path | None = None) -> MigrationReport:
    """``migrate`` with the packaged migrations and the given (default: packaged) inventory."""
    conn = await connect(dsn)
    try:
        return await migrate(
            conn,
            jobs=load_inventory(jobs_file),
            default_instance_url=Settings().default_instance_url,
        )
    finally:
        await conn.close()


async def create_template(server_dsn: str) -> str:
    """A database migrated once per session, cloned by every test that needs the schema."""
    await migrate_database(await recreate_database(server_dsn, TEMPLATE_DB))
    return TEMPLATE_DB


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# --- a PostgreSQL a test can restart ---------------------------------------------------

StopMode = Literal["smart", "fast", "immediate"]

UNPRIVILEGED_USER = "pgserver"
"""The system account PostgreSQL runs as when the tests run as root (PostgreSQL refuses
root). The same account pgserver itself switches to, so both servers share it."""

PG_CTL_TIMEOUT = 30
"""Seconds ``pg_ctl -w`` waits for a start or stop to complete."""

_SERVER_SETTINGS = """
# RestartablePostgres: throwaway test cluster, durability traded for speed.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
logging_collector = off
log_min_messages = warning
"""


class RestartablePostgresError(RuntimeError):
    """initdb/pg_ctl failed; the message carries their output and the server log's tail."""


@dataclass(frozen=True, slots=True)
class _Account:
    name: str
    uid: int
    gid: int


def pgserver_bin_dir() -> Path:
    """``pginstall/bin`` of the installed ``pgserver`` wheel (found without importing it)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RestartablePostgresError(
            "the pgserver wheel is not installed: pip install -e '.[dev]'"
        )
    for location in spec.submodule_search_locations:
        bin_dir = Path(location) / "pginstall" / "bin"
        if (bin_dir / "pg_ctl").is_file() and (bin_dir / "initdb").is_file():
            return bin_dir
    raise RestartablePostgresError(f"no pginstall/bin/pg_ctl in {spec.submodule_search_locations}")


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def _ensure_account(name: str) -> _Account:
    """The system account ``name``, created (no home, no login) when missing. Needs root."""
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if shutil.which("useradd"):
            cmd = ["useradd", "--system", "--user-group", "--no-create-home"]
            cmd += ["--shell", "/usr/sbin/nologin", name]
        elif shutil.which("adduser"):  # busybox (Alpine)
            cmd = ["adduser", "-S", "-D", "-H", name]
        else:
            raise RestartablePostgresError(
                f"running as root and no account {name!r}: create it (useradd) or run "
                "the tests as an unprivileged user"
            ) from None
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        # Another process may have created it at the same moment; look again either way.
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise RestartablePostgresError(
                f"could not create account {name!r}: {done.stderr.strip() or done.stdout}"
            ) from None
    return _Account(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


@functools.cache
def _make_install_usable_by_others(install: Path) -> None:
    """Let another account run the wheel's binaries and read its lib/ and share/ (as
    pgserver does for root; wheels unpacked with a tight umask lack these bits)."""
    for parent in install.parents:
        _add_mode(parent, stat.S_IXOTH)
    traverse = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
    for top in ("bin", "lib", "share"):
        root = install / top
        if not root.is_dir():
            continue
        _add_mode(root, traverse)
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                _add_mode(Path(dirpath, d), traverse)
            for f in filenames:
                file = Path(dirpath, f)
                if not file.is_symlink():
                    _add_mode(file, traverse if top == "bin" else stat.S_IRGRP | stat.S_IROTH)


def _chown_tree(root: Path, account: _Account) -> None:
    os.chown(root, account.uid, account.gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(Path(dirpath, name), account.uid, account.gid, follow_symlinks=False)


class RestartablePostgres:
    """A private PostgreSQL cluster that a test may stop and start at will.

    Independent of the session server: its own ``initdb``, its own TCP port on 127.0.0.1
    (kept across restarts, so a DSN stays valid), trust authentication, no fsync. Uses the
    ``pgserver`` wheel's binaries.

    Where the files live: ``base_dir/cluster`` (``data/`` and ``postgres.log``). As root,
    PostgreSQL must run as another account (it refuses root), so every initdb/pg_ctl runs
    as ``UNPRIVILEGED_USER`` (created when missing), and the cluster lives in a private
    directory of that account under the system temp dir, linked from ``base_dir/cluster``:
    that account must be able to reach the data directory by its absolute path at every
    pg_ctl call, and pytest strips group/other access from its own temp root
    (``/tmp/pytest-of-root``) whenever another pytest session starts, which would lock a
    cluster inside ``tmp_path`` out mid-test.

    ``with RestartablePostgres(tmp) as pg:`` starts it (initdb on first start); leaving the
    block stops it and deletes ``base_dir`` and the cluster. Blocking methods are safe to
    call from a thread; ``restart_async`` runs them in one so the event loop keeps going.
    """

    def __init__(
        self,
        base_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        user: str = "postgres",
    ) -> None:
        self.base_dir = Path(base_dir).absolute()
        self._account = _ensure_account(UNPRIVILEGED_USER) if os.geteuid() == 0 else None
        if self._account is None:
            self.cluster_dir = self.base_dir / "cluster"
        else:
            name = f"trialsync-restartable-pg-{uuid.uuid4().hex[:12]}"
            self.cluster_dir = Path(tempfile.gettempdir()).absolute() / name
        self.data_dir = self.cluster_dir / "data"
        self.log_file = self.cluster_dir / "postgres.log"
        self.host = host
        self.user = user
        self.port = port if port is not None else free_tcp_port(host)
        self._port_fixed = port is not None
        self._bin = pgserver_bin_dir()
        self._lock = threading.RLock()
        self._started_once = False

    def __repr__(self) -> str:
        return f"RestartablePostgres(data_dir={str(self.data_dir)!r}, port={self.port})"

    # --- connection ------------------------------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        """``postgresql://postgres@127.0.0.1:<port>/<database>``; the same across restarts."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{quote(database, safe='')}"

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the server (initdb first if needed) and return once it accepts TCP
        connections. No-op when already running."""
        with self._lock:
            self._ensure_initialised()
            if self.is_running():
                return
            # Only a first start may move to another port: later ones must keep the DSN.
            tries = 3 if not (self._started_once or self._port_fixed) else 1
            for attempt in range(1, tries + 1):
                log_offset = self._log_size()
                code, output = self._pg_ctl(
                    "start",
                    "-w",
                    "-t",
                    str(PG_CTL_TIMEOUT),
                    "-l",
                    str(self.log_file),
                    "-o",
                    f"-p {self.port}",
                )
                if code == 0:
                    break
                log_text = self._log_since(log_offset)
                if attempt < tries and "could not bind" in log_text:
                    self.port = free_tcp_port(self.host)  # lost a race for the port
                    continue
                raise RestartablePostgresError(
                    f"pg_ctl start failed (exit {code}) for {self.data_dir} on port "
                    f"{self.port}:\n{output.strip()}\n--- tail of {self.log_file} ---\n"
                    f"{self._tail(log_text)}"
                )
            self._wait_for_port()
            self._started_once = True

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server and wait until it is gone; no-op when not running.

        ``fast`` disconnects clients and shuts down cleanly; ``immediate`` is a crash
        (recovery on the next start); ``smart`` waits for clients to disconnect.
        """
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown pg_ctl stop mode {mode!r}")
        with self._lock:
            if not self.is_running():
                return
            log_offset = self._log_size()
            code, output = self._pg_ctl("stop", "-w", "-t", str(PG_CTL_TIMEOUT), "-m", mode)
            if code != 0 and self.is_running():
                raise RestartablePostgresError(
                    f"pg_ctl stop -m {mode} failed (exit {code}):\n{output.strip()}\n"
                    f"--- tail of {self.log_file} ---\n{self._tail(self._log_since(log_offset))}"
                )

    def restart(self, down_seconds: float = 0.0, *, mode: StopMode = "fast") -> None:
        """Stop, stay down ``down_seconds``, start again (same port, same data)."""
        with self._lock:
            self.stop(mode)
            if down_seconds > 0:
                time.sleep(down_seconds)
            self.start()

    async def restart_async(self, down_seconds: float = 0.0, *, mode: StopMode = "fast") -> None:
        """``restart`` without blocking the event loop: pg_ctl runs in a worker thread and
        the down time is an ``asyncio.sleep``, so other tasks (the loader) keep running."""
        await asyncio.to_thread(self.stop, mode)
        if down_seconds > 0:
            await asyncio.sleep(down_seconds)
        await asyncio.to_thread(self.start)

    def is_running(self) -> bool:
        """Whether a postmaster runs on ``data_dir`` (``pg_ctl status``).

        Raises RestartablePostgresError when pg_ctl cannot tell (e.g. it cannot reach the
        data directory), rather than report a running server as stopped.
        """
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        code, output = self._pg_ctl("status")
        if code in (0, 3):  # 3: no server running
            return code == 0
        raise RestartablePostgresError(f"pg_ctl status failed (exit {code}):\n{output.strip()}")

    def pid(self) -> int | None:
        """The postmaster's process id, None when not running."""
        if not self.is_running():
            return None
        return self._pid_from_file()

    def close(self) -> None:
        """Stop the server (crash it, or signal it, if a clean stop fails) and delete
        ``base_dir`` and the cluster."""
        with self._lock:
            try:
                try:
                    self.stop("fast")
                except RestartablePostgresError:
                    try:
                        self.stop("immediate")
                    except RestartablePostgresError:
                        self._signal_postmaster()
                        raise
            finally:
                shutil.rmtree(self.cluster_dir, ignore_errors=True)
                shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> RestartablePostgres:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------

    def _ensure_initialised(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.cluster_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._account is not None:
            _make_install_usable_by_others(self._bin.parent)
            _chown_tree(self.cluster_dir, self._account)
            link = self.base_dir / "cluster"
            if not link.exists():
                link.symlink_to(self.cluster_dir, target_is_directory=True)
        code, output = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        if code != 0:
            raise RestartablePostgresError(f"initdb failed (exit {code}):\n{output.strip()}")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_SERVER_SETTINGS)

    def _pg_ctl(self, *args: str) -> tuple[int, str]:
        return self._run("pg_ctl", "-D", str(self.data_dir), *args)

    def _run(self, program: str, *args: str) -> tuple[int, str]:
        """Run one of the wheel's programs (as the unprivileged account when root);
        return its exit code and combined output."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", HOME=str(self.cluster_dir))
        switch: dict[str, Any] = {}
        if self._account is not None:
            for parent in self.cluster_dir.parents:  # the account must reach the cluster
                _add_mode(parent, stat.S_IXOTH)  # traverse only, not list
            switch = {"user": self._account.uid, "group": self._account.gid, "extra_groups": []}
        # A file, not a pipe: the postmaster pg_ctl leaves behind could hold a pipe open.
        with tempfile.TemporaryFile("w+") as out:
            try:
                done = subprocess.run(
                    [str(self._bin / program), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.cluster_dir,
                    env=env,
                    timeout=PG_CTL_TIMEOUT + 15,
                    check=False,
                    **switch,
                )
                code = done.returncode
            except subprocess.TimeoutExpired:
                code = -1
            out.seek(0)
            return code, out.read()

    def _pid_from_file(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _signal_postmaster(self) -> None:
        """Last resort when pg_ctl cannot stop our own postmaster: SIGQUIT, then SIGKILL."""
        pid = self._pid_from_file()
        if pid is None:
            return
        for sig, grace in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 0.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)

    def _wait_for_port(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0):
                    return
            except OSError as exc:
                if time.monotonic() > deadline:
                    tail = self._tail(self._log_since(0))
                    raise RestartablePostgresError(
                        f"PostgreSQL started but {self.host}:{self.port} refuses connections "
                        f"({exc}); --- tail of {self.log_file} ---\n{tail}"
                    ) from exc
                time.sleep(0.05)

    def _log_size(self) -> int:
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    @staticmethod
    def _tail(text: str, lines: int = 40) -> str:
        return "\n".join(text.strip().splitlines()[-lines:]) or "(empty)"
