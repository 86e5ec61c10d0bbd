"""Rendering the status page: Jinja2 templates (package data), filters, security headers."""

from __future__ import annotations

import functools
import secrets
from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from trialsync_async.text import span


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("trialsync_async.service", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when, duration=_duration, number=_number, ago=_ago, span=_span, rate=_rate,
        percent=_percent,
    )  # fmt: skip
    return env


def html(template: str, *, status: int = 200, **context: Any) -> web.Response:
    """A rendered page. Its one inline style and script carry a fresh nonce, so the
    Content-Security-Policy can refuse every other script (and any framing)."""
    nonce = secrets.token_urlsafe(16)
    text = _templates().get_template(template).render(nonce=nonce, **context)
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(
        {
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
                "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }
    )
    return response


# --- template filters -------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _ago(seconds: float | None) -> str:
    return "—" if seconds is None else f"{_duration(max(seconds, 0.0))} ago"


def _number(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,}"


def _span(seconds: float | None) -> str:
    """Coarsely: ``45 s``, ``4 min``, ``5.2 h``, ``9.4 d`` (text.span)."""
    return "—" if seconds is None else span(max(seconds, 0.0))


def _rate(per_second: float | None) -> str:
    if per_second is None:
        return "—"
    return f"{per_second:,.0f}" if per_second >= 100 else f"{per_second:.1f}"


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.1%}"
