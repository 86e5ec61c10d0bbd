"""structlog set-up: JSON lines when not on a terminal, a console renderer on one.

A processor masks any event field whose name says it holds a secret, so an API key passed
into a log call by mistake never reaches the output.

Every rendered line (structlog's and stdlib logging's) goes through one sink: standard error,
or, while the live display runs, the display's console (``route_logs``), which prints it
above the live region so log lines and the display never overwrite each other.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
import structlog

from trialsync_async.text import printable

SECRET_FIELD_MARKERS = ("key", "password", "secret", "token", "authorization")
MASK = "***"


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for name in list(event):
        lowered = name.lower()
        if any(marker in lowered for marker in SECRET_FIELD_MARKERS) and event[name] is not None:
            if lowered in ("key_field", "record_key"):
                continue
            event[name] = MASK
    return event


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


LineTarget = Callable[[str], None]
_target: LineTarget | None = None
_lock = threading.RLock()  # a target that logs must not deadlock


def route_logs(target: LineTarget | None) -> None:
    """Send every log line to ``target`` (one rendered line per call); ``None``: stderr."""
    global _target
    with _lock:
        _target = target


def emit_line(line: str) -> None:
    """Write one rendered log line to the current target."""
    with _lock:
        if _target is not None:
            _target(line)
            return
        # Looked up per line, not bound at set-up: a redirected stderr (pytest) is honoured.
        stream = sys.stderr
        stream.write(line + "\n")
        stream.flush()


class SinkLogger:
    """A structlog logger writing each rendered event through ``emit_line``."""

    def msg(self, message: str) -> None:
        emit_line(message)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg
    failure = msg


_SINK_LOGGER = SinkLogger()


def _sink_logger(*_args: Any) -> SinkLogger:
    return _SINK_LOGGER


class _SinkHandler(logging.Handler):
    """stdlib logging records (asyncpg, aiohttp) through the same sink as structlog's."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            emit_line(self.format(record))
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


_JSON = True


def json_logs() -> bool:
    """Whether log lines are JSON objects (then every line to stderr should be one)."""
    return _JSON


def terminal_safe(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Console logs: control characters in string values (API text) written as ``\\x1b``;
    a traceback keeps its line breaks."""
    return {
        key: (value if key == "exception" else printable(value)) if isinstance(value, str)
        else value
        for key, value in event.items()
    }  # fmt: skip


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog (and stdlib logging) once for the process."""
    global _JSON
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    _JSON = use_json
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    handler = _SinkHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.basicConfig(level=numeric, handlers=[handler])
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if use_json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            # never the locals: they hold records (patient data) and request headers
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
        )
    )
    readable: list[Any] = [] if use_json else [terminal_safe]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            *readable,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_sink_logger,
        cache_logger_on_first_use=False,
    )
