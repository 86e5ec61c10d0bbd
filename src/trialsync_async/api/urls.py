"""Endpoint templates such as ``/api/v1/studies/{studyId}/visits/{visitId}/elements/odata``.

Every value becomes exactly ONE percent-encoded path segment, so values taken from API
data (``../x``, ``1?$top=5``, ``a/b``) can never change the path or add a query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from trialsync_async.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def placeholders(template: str) -> tuple[str, ...]:
    """Placeholder names of ``template`` in order of first appearance, without repeats.

    Raises ConfigError for an invalid name (``{}``, ``{a-b}``) or a stray brace.
    """
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(template):
        name = match.group(1)
        if not _NAME.fullmatch(name):
            raise ConfigError(detail=f"invalid placeholder {{{name}}} in {template!r}")
        if name not in names:
            names.append(name)
    if "{" in _PLACEHOLDER.sub("", template) or "}" in _PLACEHOLDER.sub("", template):
        raise ConfigError(detail=f"unbalanced brace in endpoint template {template!r}")
    return tuple(names)


def encode_segment(value: object) -> str:
    """Percent-encode ``value`` as one path segment.

    Raises ValueError for None, "" (would produce ``//``) and "."/".." (dot segments are
    resolved by URL normalisation, even when percent-encoded, so they could climb the path).
    """
    if value is None:
        raise ValueError("a path parameter value is None")
    text = str(value)
    if text in ("", ".", ".."):
        raise ValueError(f"refused path parameter value {text!r}")
    return quote(text, safe="")


def render_path(template: str, values: Mapping[str, object]) -> str:
    """Fill every placeholder of ``template`` from ``values``.

    Raises ConfigError when a placeholder has no value or ``values`` has keys the
    template does not use; ValueError for a value that cannot be a path segment.
    """
    names = placeholders(template)
    missing = [n for n in names if n not in values]
    extra = sorted(k for k in values if k not in names)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing value(s) for {', '.join(missing)}")
        if extra:
            parts.append(f"unused value(s) {', '.join(extra)}")
        raise ConfigError(detail=f"endpoint {template!r}: {'; '.join(parts)}")
    return _PLACEHOLDER.sub(lambda m: encode_segment(values[m.group(1)]), template)
