"""The committed swagger subset (ccsim/data/swagger_subset.json) matches its extractor."""

from __future__ import annotations

import runpy
from typing import Any

import pytest

from ccsim.catalog import ENDPOINTS, SPACES
from ccsim.swagger_models import DEFINITIONS, SWAGGER_LIST_PATHS
from tests.cli_support import REPO

pytestmark = pytest.mark.unit

SCRIPT = REPO / "scripts" / "extract_swagger_subset.py"


def test_roots_are_the_catalog_models() -> None:
    roots: tuple[str, ...] = runpy.run_path(str(SCRIPT))["ROOTS"]
    served = {s.model for s in SPACES if s.model} | {e.model for e in ENDPOINTS if e.model}
    assert len(roots) == len(set(roots))
    assert set(roots) == served


def test_loaded_names() -> None:
    assert isinstance(DEFINITIONS, dict)
    assert isinstance(SWAGGER_LIST_PATHS, tuple)
    for model in ("StudyViewModel", "PatientViewModel", "SiteModel", "InstanceDetails"):
        assert model in DEFINITIONS
        assert set(DEFINITIONS[model]) == {"required", "properties"}
    study: dict[str, Any] = DEFINITIONS["StudyViewModel"]["properties"]
    assert study["targetDates"] == {"type": "array", "items": {"$ref": "StudyTargetDateViewModel"}}
    assert "StudyTargetDateViewModel" in DEFINITIONS
    assert DEFINITIONS["APPayerView"]["properties"]["payerId"] == {
        "type": "integer",
        "format": "int32",
    }
    for path in ("/api/v1/sites", "/api/v1/studies/odata", "/api/v1/subjects/odata"):
        assert path in SWAGGER_LIST_PATHS
    assert list(SWAGGER_LIST_PATHS) == sorted(set(SWAGGER_LIST_PATHS))
    # every $ref resolves inside the subset
    for definition in DEFINITIONS.values():
        for prop in definition["properties"].values():
            ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
            assert ref is None or ref in DEFINITIONS
