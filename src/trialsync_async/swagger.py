"""The API's swagger (Swagger 2.0, ``data/cc_openapi.json``), read for ``validate``: which GET
paths exist, what their records look like, and whether a JSON path exists in a record.

Path templates match on their literal segments; placeholder names are compared by the caller.
Property names match ignoring case, as the loader matches record keys, and the swagger's own
spelling is returned so a caller can tell when the casing differs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import orjson

from trialsync_async.errors import ConfigError

PACKAGED_SWAGGER: Traversable = files("trialsync_async") / "data" / "cc_openapi.json"
PLACEHOLDER = re.compile(r"^\{([^{}]*)\}$")
PAGE_PREFIX = "PageResultOf"
Shape = Literal["page", "array", "object", "unknown"]
Template = tuple[str | None, ...]  # literal segments; None where a placeholder stands


def template(path: str) -> Template:
    """``/api/v1/studies/{id}`` → ``("api", "v1", "studies", None)``."""
    return tuple(None if PLACEHOLDER.match(s) else s for s in path.strip("/").split("/"))


def placeholder_names(path: str) -> list[str]:
    return [m.group(1) for s in path.strip("/").split("/") if (m := PLACEHOLDER.match(s))]


@dataclass(frozen=True, slots=True)
class Records:
    """What a GET returns: its shape and the schema of one record (None: not declared)."""

    shape: Shape
    schema: Mapping[str, Any] | None
    model: str  # the response's definition name, or a short description


@dataclass(frozen=True, slots=True)
class Lookup:
    """A JSON path looked up in a record schema.

    ``spelled``: the swagger's spelling of the segments found (all of them when ``found``);
    ``unchecked``: a free-form object on the way, so nothing can be said; ``problem``: why not
    found."""

    found: bool
    spelled: tuple[str, ...] = ()
    unchecked: bool = False
    problem: str = ""


class Swagger:
    """The GET operations and definitions of one Swagger 2.0 document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        if not isinstance(document.get("paths"), dict):
            raise ConfigError(detail="the swagger has no paths")
        self.definitions: Mapping[str, Any] = document.get("definitions") or {}
        self.paths: Mapping[str, Mapping[str, Any]] = document["paths"]
        self._by_template: dict[Template, list[str]] = {}
        for path in self.paths:
            self._by_template.setdefault(template(path), []).append(path)

    def find(self, endpoint: str) -> list[str]:
        """Swagger paths with the endpoint's literal segments (any placeholder names)."""
        return list(self._by_template.get(template(endpoint), []))

    def has_get(self, path: str) -> bool:
        return isinstance(self.paths.get(path, {}).get("get"), dict)

    def literal_matches(self, endpoint: str) -> list[str]:
        """GET paths with the same literal segments in the same order, placeholders aside:
        the candidates when only the placeholders are wrong."""
        wanted = [s for s in template(endpoint) if s is not None]
        return [
            p
            for t, paths in self._by_template.items()
            if [s for s in t if s is not None] == wanted
            for p in paths
            if self.has_get(p)
        ]

    def records(self, path: str) -> Records:
        """The records a GET of ``path`` returns: a page's items, an array's items, or the
        object itself."""
        responses = self.paths[path]["get"].get("responses") or {}
        ok = next((responses[c] for c in sorted(responses) if str(c).startswith("2")), None)
        schema = ok.get("schema") if isinstance(ok, dict) else None
        if not isinstance(schema, dict):
            return Records("unknown", None, "no response schema")
        name = self.ref_name(schema)
        resolved = self.resolve(schema)
        if resolved.get("type") == "array":
            item = resolved.get("items")
            item_name = self.ref_name(item) if isinstance(item, dict) else ""
            return Records("array", item if isinstance(item, dict) else None, f"{item_name}[]")
        if name.startswith(PAGE_PREFIX):
            items = self.properties(resolved).get("Items")
            item = self.resolve(items).get("items") if isinstance(items, dict) else None
            if not isinstance(item, dict):
                return Records("page", None, name)
            return Records("page", item, self.ref_name(item) or name)
        return Records("object", schema, name or str(resolved.get("type", "object")))

    @staticmethod
    def ref_name(schema: Mapping[str, Any]) -> str:
        ref = schema.get("$ref")
        return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow ``$ref`` (to ``#/definitions/…``) until a schema of its own."""
        seen: set[str] = set()
        while isinstance(ref := schema.get("$ref"), str):
            name = ref.rsplit("/", 1)[-1]
            target = self.definitions.get(name)
            if name in seen or not isinstance(target, dict):
                return {}
            seen.add(name)
            schema = target
        return schema

    def properties(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """The schema's properties, ``allOf`` parts merged."""
        schema = self.resolve(schema)
        found: dict[str, Any] = {}
        for part in schema.get("allOf") or []:
            if isinstance(part, dict):
                found.update(self.properties(part))
        props = schema.get("properties")
        if isinstance(props, dict):
            found.update(props)
        return found

    def lookup(self, schema: Mapping[str, Any], path: Sequence[str]) -> Lookup:
        """Whether ``path`` (``study.id``) exists in records of ``schema``; names match
        ignoring case."""
        spelled: list[str] = []
        current: Mapping[str, Any] = schema
        for segment in path:
            resolved = self.resolve(current)
            where = ".".join(spelled) or self.ref_name(current) or "the record"
            if resolved.get("type") == "array":
                return Lookup(False, tuple(spelled), problem=f"{where} is an array")
            props = self.properties(resolved)
            if not props:
                if resolved.get("type") in (None, "object"):
                    return Lookup(False, tuple(spelled), unchecked=True)
                return Lookup(False, tuple(spelled), problem=f"{where} is a {resolved['type']}")
            name = segment if segment in props else _casefold_match(props, segment)
            if name is None:
                model = self.ref_name(current) or where
                known = ", ".join(sorted(props)[:8]) + (", …" if len(props) > 8 else "")
                return Lookup(
                    False, tuple(spelled), problem=f"{model} has no {segment!r} (has {known})"
                )
            spelled.append(name)
            current = props[name] if isinstance(props[name], dict) else {}
        return Lookup(True, tuple(spelled))


def _casefold_match(props: Mapping[str, Any], segment: str) -> str | None:
    folded = segment.casefold()
    return next((k for k in props if k.casefold() == folded), None)


def load_swagger(path: Path | None = None) -> Swagger:
    """The swagger file (``None``: the one the package ships)."""
    source: Path | Traversable = PACKAGED_SWAGGER if path is None else path
    try:
        document = orjson.loads(source.read_bytes())
    except FileNotFoundError as exc:
        raise ConfigError(detail=f"swagger {source} not found") from exc
    except orjson.JSONDecodeError as exc:
        raise ConfigError(detail=f"{source}: not JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("swagger") != "2.0":
        raise ConfigError(detail=f"{source}: not a Swagger 2.0 document")
    return Swagger(document)
