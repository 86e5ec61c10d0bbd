"""The suite's own rules, checked in its source: every test module says whether it is a unit or
an integration test, a unit test starts no process and opens no socket or database, and no test
module imports another (shared helpers live in tests/*_support.py).

The check reads each module's syntax tree: what it imports, the dotted calls it makes and the
fixtures its functions ask for. It is a guard against the usual ways in, not a sandbox: a
helper in a support module that opened a socket would pass it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.cli_support import REPO

pytestmark = pytest.mark.unit

TESTS = REPO / "tests"
KINDS = ("unit", "integration")

# Modules whose import alone says "processes, sockets or a database" (prefix match).
NOT_IN_UNIT_MODULES = {
    "subprocess", "socket", "pty", "multiprocessing", "asyncpg", "aiohttp.web",
    "aiohttp.test_utils", "pgserver", "testcontainers", "docker", "selenium",
    "tests.pg_support", "tests.engine_support", "tests.browser_support",
}  # fmt: skip
# Names that start a server, a process or a database connection, wherever they come from.
NOT_IN_UNIT_NAMES = {
    "SimulatorServer", "SimulatorProcess", "EmbeddedPostgres", "RestartablePostgres",
    "TrialSync", "create_pool", "client_session", "sim_fixture", "cli", "start_cli",
}  # fmt: skip
# Dotted calls that do the same through a module a unit test may import for other reasons.
NOT_IN_UNIT_CALLS = {
    "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell",
    "asyncio.open_connection", "asyncio.start_server", "asyncio.open_unix_connection",
    "asyncio.start_unix_server", "os.system", "os.popen", "os.fork", "os.openpty",
    "os.posix_spawn", "os.execv", "os.execvp", "os.execve",
}  # fmt: skip
# Fixtures of tests/conftest.py that start PostgreSQL or the simulator.
NOT_IN_UNIT_FIXTURES = {
    "pg_server_dsn", "template_db", "db_dsn", "empty_db_dsn", "db", "settings",
    "restartable_pg", "restartable_db_dsn", "sim", "http",
}  # fmt: skip


def _modules(kind: str) -> list[Path]:
    return sorted((TESTS / kind).glob("test_*.py"))


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _imports(tree: ast.Module) -> list[tuple[int, str, str | None]]:
    """(line, module, imported name or None) of every import, at any depth."""
    out: list[tuple[int, str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            out.extend((node.lineno, module, alias.name) for alias in node.names)
    return out


def _within(module: str, prefixes: set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def unit_violations(source: str) -> list[str]:
    """What in a module's ``source`` a unit test may not do, one line each."""
    tree = ast.parse(source)
    found: list[str] = []
    for line, module, name in _imports(tree):
        full = module if name is None else f"{module}.{name}"
        if _within(module, NOT_IN_UNIT_MODULES) or _within(full, NOT_IN_UNIT_MODULES):
            found.append(f"line {line}: imports {full}")
        elif name in NOT_IN_UNIT_NAMES:
            found.append(f"line {line}: imports {name} from {module}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func) in NOT_IN_UNIT_CALLS:
            found.append(f"line {node.lineno}: calls {_dotted(node.func)}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            asked = {a.arg for a in node.args.args + node.args.kwonlyargs}
            for fixture in sorted(asked & NOT_IN_UNIT_FIXTURES):
                found.append(f"line {node.lineno}: {node.name} asks for the {fixture} fixture")
    return found


def test_every_test_module_is_marked_unit_or_integration() -> None:
    for kind in KINDS:
        for path in _modules(kind):
            marks = [
                ast.unparse(node.value)
                for node in ast.parse(path.read_text()).body
                if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)
            ]
            assert marks == [f"pytest.mark.{kind}"], f"{path.relative_to(REPO)}: {marks}"


def test_no_test_module_imports_another() -> None:
    for kind in KINDS:
        for path in _modules(kind):
            for line, module, name in _imports(ast.parse(path.read_text())):
                full = module if name is None else f"{module}.{name}"
                assert not full.startswith((".", "tests.unit", "tests.integration")), (
                    f"{path.relative_to(REPO)}:{line} imports {full}: move it to tests/*_support.py"
                )


def test_unit_modules_start_no_process_and_open_no_socket_or_database() -> None:
    found = {
        str(path.relative_to(REPO)): problems
        for path in _modules("unit")
        if (problems := unit_violations(path.read_text()))
    }
    assert not found, f"unit tests doing I/O (move them to tests/integration): {found}"


@pytest.mark.parametrize(
    "source",
    [
        "import subprocess",
        "from subprocess import run",
        "import asyncpg.pool",
        "from aiohttp import web",
        "from ccsim import SimulatorServer",
        "from tests.cli_support import cli",
        "import asyncio\nasync def f():\n    await asyncio.create_subprocess_exec('x')",
        "async def test_x(db_dsn):\n    pass",
        "def test_y(sim, tmp_path):\n    pass",
        "def f():\n    import socket",
    ],
)
def test_the_check_catches_the_usual_ways_in(source: str) -> None:
    assert unit_violations(source), source


def test_the_check_lets_pure_code_through() -> None:
    source = (
        "import aiohttp\nfrom aioresponses import aioresponses\n"
        "from tests.cli_support import REPO\nfrom tests.sim_support import items_of\n"
        "def test_x(tmp_path, monkeypatch):\n    pass\n"
    )
    assert unit_violations(source) == []
