"""Run the simulator in a child process (so it does not share the loader's CPU)."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import urllib.request
from typing import Any, cast
from urllib.parse import quote

from ccsim.cli import options_to_argv
from ccsim.options import SimulatorOptions


class SimulatorProcess:
    """``with SimulatorProcess(SimulatorOptions(scale=1)) as sim: sim.base_url ...``

    Starts ``python -m ccsim --port 0 ...``, waits for its ready line and
    kills it on exit (also at interpreter exit, and the child exits if this process dies).
    Works as a sync or async context manager.
    """

    def __init__(
        self,
        options: SimulatorOptions | None = None,
        *,
        startup_timeout: float = 30.0,
        use_uvloop: bool = True,
    ) -> None:
        self.options = (options or SimulatorOptions()).validate()
        self.startup_timeout = startup_timeout
        self.use_uvloop = use_uvloop
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.port = 0

    @property
    def api_key(self) -> str:
        return self.options.api_key

    @property
    def auth_header(self) -> dict[str, str]:
        return {self.options.api_key_header: self.options.api_key}

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}/__sim"

    def start(self) -> SimulatorProcess:
        argv = [sys.executable, "-m", "ccsim", *options_to_argv(self.options)]
        argv += ["--ready-json", "--parent-pid", str(os.getpid())]
        if not self.use_uvloop:
            argv.append("--no-uvloop")
        env = dict(os.environ, TRIALSYNC_SIM_API_KEY=self.options.api_key)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        atexit.register(self.stop)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.daemon = True
        reader.start()
        reader.join(self.startup_timeout)
        if not line or not line[0].strip():
            self.stop()
            raise RuntimeError("the simulator process did not become ready")
        info = json.loads(line[0])
        self.base_url = info["base_url"]
        self.port = int(info["port"])
        return self

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call an admin endpoint; each answers a JSON object (errors raise ``HTTPError``)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.admin_url}/{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=300) as resp:
            return cast(dict[str, Any], json.loads(resp.read()))

    def truth(self, template: str | None = None) -> dict[str, Any]:
        q = "" if template is None else "?template=" + quote(template, safe="")
        return self._admin("GET", "truth" + q)

    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "stats")

    def reset_stats(self) -> None:
        self._admin("POST", "reset", {})

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._admin("POST", "config", changes)

    def mutate(self, template: str, **kw: Any) -> dict[str, Any]:
        return self._admin("POST", "mutate", {"template": template, **kw})

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SimulatorProcess:
        import asyncio

        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)
