"""Log lines go through one sink: stderr, or the live display while it runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from trialsync_async.log import configure_logging, emit_line, route_logs

pytestmark = pytest.mark.unit


@pytest.fixture
def json_logging() -> Iterator[None]:
    """configure_logging as the CLI calls it, on a root logger without pytest's handlers."""
    root, saved = logging.getLogger(), structlog.get_config()
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()
    configure_logging("info", "json")
    yield
    root.handlers[:], root.level = handlers, level
    structlog.configure(**saved)


def test_lines_go_to_stderr_or_to_the_route(capsys: pytest.CaptureFixture[str]) -> None:
    emit_line("one")
    seen: list[str] = []
    route_logs(seen.append)
    try:
        emit_line("two")
    finally:
        route_logs(None)
    emit_line("three")
    assert seen == ["two"]
    assert capsys.readouterr().err == "one\nthree\n"


@pytest.mark.usefixtures("json_logging")
def test_structlog_and_stdlib_records_share_the_route(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    route_logs(seen.append)
    try:
        structlog.get_logger("t").info("run started", job="Sites", api_key="s3cret")
        logging.getLogger("asyncpg").warning("from stdlib")
    finally:
        route_logs(None)
    assert capsys.readouterr().err == ""
    assert len(seen) == 2 and seen[1] == "from stdlib"
    assert '"event":"run started"' in seen[0] and "s3cret" not in seen[0]
