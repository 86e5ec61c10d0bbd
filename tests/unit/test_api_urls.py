"""Endpoint templates: placeholders and hostile values."""

from __future__ import annotations

import pytest

from trialsync_async.api.urls import placeholders, render_path
from trialsync_async.errors import ConfigError

pytestmark = pytest.mark.unit

TEMPLATE = "/api/v1/studies/{studyId}/visits/{visitId}/elements/odata"


def test_placeholders() -> None:
    assert placeholders(TEMPLATE) == ("studyId", "visitId")
    assert placeholders("/api/v1/studies/odata") == ()
    assert placeholders("/a/{x}/b/{x}") == ("x",)


@pytest.mark.parametrize("template", ["/a/{}/b", "/a/{x-y}", "/a/{x", "/a/x}", "/a/{{x}}"])
def test_bad_templates(template: str) -> None:
    with pytest.raises(ConfigError):
        placeholders(template)


def test_render() -> None:
    assert (
        render_path(TEMPLATE, {"studyId": 2388, "visitId": "111"})
        == "/api/v1/studies/2388/visits/111/elements/odata"
    )


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("../x", "..%2Fx"),
        ("1?$top=5", "1%3F%24top%3D5"),
        ("a/b", "a%2Fb"),
        ("a b#c", "a%20b%23c"),
        ("%2F", "%252F"),
        ("ü", "%C3%BC"),
    ],
)
def test_hostile_values_stay_one_segment(value: str, segment: str) -> None:
    path = render_path("/api/v1/studies/{studyId}/subjects/odata", {"studyId": value})
    assert path == f"/api/v1/studies/{segment}/subjects/odata"
    assert "?" not in path and "#" not in path
    assert path.count("/") == 6


@pytest.mark.parametrize("value", [None, "", ".", ".."])
def test_refused_values(value: object) -> None:
    with pytest.raises(ValueError):
        render_path("/api/v1/studies/{studyId}", {"studyId": value})


def test_missing_value() -> None:
    with pytest.raises(ConfigError, match="visitId"):
        render_path(TEMPLATE, {"studyId": 1})


def test_extra_value() -> None:
    with pytest.raises(ConfigError, match="other"):
        render_path(TEMPLATE, {"studyId": 1, "visitId": 2, "other": 3})
