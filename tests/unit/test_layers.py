"""The house rules, checked in the source: which layer may import which, and a loader that
never imports the simulator unless asked (what a real interpreter loads:
tests/integration/test_layers_loaded.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.cli_support import REPO

pytestmark = pytest.mark.unit

PACKAGE = REPO / "src" / "trialsync_async"

# layer → the trialsync_async modules it may import (besides its own layer)
ALLOWED = {
    "api": {"trialsync_async.errors", "trialsync_async.facts", "trialsync_async.__version__"},
    "db": {
        "trialsync_async.errors",
        "trialsync_async.facts",
        "trialsync_async.identifiers",
        "trialsync_async.inventory",
        "trialsync_async.records",
        "trialsync_async.embedded",
        "trialsync_async.jobgraph",
    },
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "trialsync_async":
            found.update(f"trialsync_async.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def test_only_cli_imports_cli_and_service() -> None:
    """Nothing but cli/ imports cli/ or service/ (the service imports itself and below;
    ``python -m trialsync_async`` is the command line)."""
    for name, path in sorted(_modules().items()):
        if name == "trialsync_async.__main__":
            continue
        for module in _imports(path):
            top = module.split(".")[:2]
            if top == ["trialsync_async", "cli"]:
                assert name.startswith("trialsync_async.cli"), f"{name} imports {module}"
            if top == ["trialsync_async", "service"]:
                assert name.startswith(("trialsync_async.cli", "trialsync_async.service")), (
                    f"{name} imports {module}"
                )


def test_nothing_below_cli_parses_arguments_or_prints() -> None:
    """argparse and print() belong to cli/ (the simulator has its own command line)."""
    for name, path in sorted(_modules().items()):
        if name.startswith("trialsync_async.cli"):
            continue
        tree = ast.parse(path.read_text())
        assert "argparse" not in _imports(path), f"{name} imports argparse"
        printing = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
        ]
        assert not printing, f"{name} prints (lines {printing})"


def test_api_and_db_never_import_the_engine() -> None:
    for name, path in sorted(_modules().items()):
        if name.startswith(("trialsync_async.api", "trialsync_async.db")):
            for module in _imports(path):
                assert not module.startswith("trialsync_async.engine"), f"{name} imports {module}"


def test_the_engine_imports_no_command_logic() -> None:
    """engine/ is the run path: commands/ (plan, probe, instance test) sit above it."""
    for name, path in sorted(_modules().items()):
        if name.startswith("trialsync_async.engine"):
            for module in _imports(path):
                assert not module.startswith("trialsync_async.commands"), f"{name} imports {module}"


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_point_one_way(layer: str) -> None:
    own = f"trialsync_async.{layer}"
    for path in sorted((PACKAGE / layer).glob("*.py")):
        for module in _imports(path):
            if not module.startswith("trialsync_async") or module.startswith(own):
                continue
            assert module in ALLOWED[layer], f"{path.name} imports {module}"


def test_no_module_of_the_loader_imports_the_simulator() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "cli" and path.name in ("demo.py", "main.py"):
            continue  # lazily, inside the functions that need it
        assert not any(m.startswith("ccsim") for m in _imports(path)), path


def test_every_named_query_used_exists_and_every_query_is_used() -> None:
    """``query("name")`` with a literal name, everywhere: a search for a name finds its users,
    and a statement nobody calls is not kept."""
    import re

    from trialsync_async.db.queries import names as query_names

    src = REPO / "src" / "trialsync_async"
    called: set[str] = set()
    literals: set[str] = set()
    for path in src.rglob("*.py"):
        text = path.read_text()
        called |= set(re.findall(r'query\("([a-z0-9_]+)"\)', text))
        literals |= set(re.findall(r'"([a-z0-9_]+)"', text))
    names = query_names()
    assert called <= names, f"named in code but not in queries.sql: {sorted(called - names)}"
    assert names <= literals, f"in queries.sql but used nowhere: {sorted(names - literals)}"
