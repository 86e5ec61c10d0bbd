from __future__ import annotations

import pytest

from trialsync_async.errors import IdentifierError
from trialsync_async.identifiers import (
    json_text_expr,
    parse_json_path,
    quote_ident,
    staging_index_name,
    validate_staging_table,
)

pytestmark = pytest.mark.unit


def test_json_expressions_are_built_from_segments() -> None:
    assert json_text_expr(("id",)) == "data->>'id'"
    assert json_text_expr(("study", "id")) == "data->'study'->>'id'"
    assert parse_json_path("visit.id") == ("visit", "id")


@pytest.mark.parametrize("path", ["", "a..b", "a'b", "a b", "1a", "a.b'--", "a;b"])
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(IdentifierError):
        parse_json_path(path)


@pytest.mark.parametrize(
    "name", ["dim_x", "x_staging", "dim_X_staging", "dim_x_staging;", "fact__staging" * 5]
)
def test_bad_table_names_are_refused(name: str) -> None:
    with pytest.raises(IdentifierError):
        validate_staging_table(name)


def test_quoting_and_index_names() -> None:
    assert quote_ident('a"b') == '"a""b"'
    assert staging_index_name("dim_example_staging", "instance_entity") == (
        "idx_dim_example_instance_entity"
    )
