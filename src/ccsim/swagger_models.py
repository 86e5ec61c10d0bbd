"""Subset of the Clinical Conductor swagger the simulator renders, loaded from package data.

``data/swagger_subset.json`` is generated from ``cc_openapi.json`` (Swagger 2.0) by
``scripts/extract_swagger_subset.py``; do not hand-edit it, re-run the script (a unit test fails
when the two disagree). It holds, for each response model the simulator serves and every model
it references, the property names with type, format, enum, ``$ref`` (bare model name), ``items``
and ``maxLength`` (descriptions dropped; property order as in the spec), and the swagger GET
paths whose 200 response is a list (array or ``PageResultOf...``).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

_DATA: dict[str, Any] = json.loads(
    (files("ccsim") / "data" / "swagger_subset.json").read_text(encoding="utf-8")
)

# Swagger model name -> {"required": [...], "properties": {name: schema}}.
DEFINITIONS: dict[str, dict[str, Any]] = _DATA["definitions"]

# Swagger GET paths whose 200 response is a list (array or PageResultOf...), sorted.
SWAGGER_LIST_PATHS: tuple[str, ...] = tuple(_DATA["swagger_list_paths"])

__all__ = ["DEFINITIONS", "SWAGGER_LIST_PATHS"]
