"""Typed views: the swagger → columns mapping (typed_views.py) and the SQL made from it
(db/typed_views.py), without a database."""

from __future__ import annotations

from typing import Any

import pytest

from trialsync_async.db import typed_views as db_views
from trialsync_async.inventory import load_inventory, parse_job
from trialsync_async.swagger import Swagger, load_swagger
from trialsync_async.typed_views import (
    STAGING_COLUMNS,
    TypedColumn,
    ViewSpec,
    columns_for,
    plan_views,
    snake_case,
    view_name,
)

pytestmark = pytest.mark.unit


def _swagger(definitions: dict[str, Any], record: str = "Thing") -> Swagger:
    return Swagger(
        {
            "swagger": "2.0",
            "paths": {
                "/api/v1/things/odata": {
                    "get": {
                        "responses": {
                            "200": {
                                "schema": {
                                    "type": "array",
                                    "items": {"$ref": f"#/definitions/{record}"},
                                }
                            }
                        }
                    }
                },
                "/api/v1/words": {
                    "get": {
                        "responses": {
                            "200": {"schema": {"type": "array", "items": {"type": "string"}}}
                        }
                    }
                },
            },
            "definitions": definitions,
        }
    )


def _thing(**props: Any) -> dict[str, Any]:
    return {"Thing": {"type": "object", "properties": props}}


def _columns(**props: Any) -> dict[str, tuple[str, tuple[str, ...]]]:
    swagger = _swagger(_thing(**props))
    return {c.name: (c.kind, c.path) for c in columns_for(swagger, {"$ref": "#/definitions/Thing"})}


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("firstName", "first_name"),
        ("id", "id"),
        ("ID", "id"),
        ("studyID", "study_id"),
        ("HTMLCode", "html_code"),
        ("Items", "items"),
        ("address1", "address1"),
        ("phone2Type", "phone2_type"),
        ("already_snake", "already_snake"),
        ("with-dash and space", "with_dash_and_space"),
        ("1stVisit", "c_1st_visit"),
        ("$", "column"),
        ("x" * 80, "x" * 63),
    ],
)
def test_snake_case(name: str, snake: str) -> None:
    assert snake_case(name) == snake


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "integer", "format": "int32"}, "integer"),
        ({"type": "integer"}, "integer"),
        ({"type": "integer", "format": "int64"}, "bigint"),
        ({"type": "number", "format": "double"}, "numeric"),
        ({"type": "number", "format": "float"}, "numeric"),
        ({"type": "number", "format": "decimal"}, "numeric"),
        ({"type": "number"}, "numeric"),
        ({"type": "boolean"}, "boolean"),
        ({"type": "string", "format": "date"}, "date"),
        ({"type": "string", "format": "date-time"}, "timestamptz"),
        ({"type": "string", "format": "uuid"}, "text"),
        ({"type": "string"}, "text"),
        ({"type": "string", "enum": ["A", "B"]}, "text"),
        ({"type": "integer", "format": "int32", "enum": [0, 1]}, "text"),
        ({"type": "array", "items": {"type": "string"}}, "jsonb"),
        ({"type": "array", "items": {"$ref": "#/definitions/Other"}}, "jsonb"),
        ({"type": "object", "additionalProperties": {"type": "string"}}, "jsonb"),
        ({"type": "object"}, "jsonb"),
        ({"$ref": "#/definitions/Color"}, "text"),  # a $ref to an enum is its scalar
        ({}, "text"),
    ],
)
def test_types_from_type_and_format(schema: dict[str, Any], kind: str) -> None:
    swagger = _swagger(
        {
            **_thing(value=schema),
            "Color": {"type": "string", "enum": ["red", "blue"]},
            "Other": {"type": "object", "properties": {"id": {"type": "integer"}}},
        }
    )
    [column] = columns_for(swagger, {"$ref": "#/definitions/Thing"})
    assert (column.name, column.kind, column.path) == ("value", kind, ("value",))


def test_a_ref_with_an_id_gets_an_id_column_of_the_ids_type_after_it() -> None:
    swagger = _swagger(
        {
            **_thing(
                id={"type": "integer", "format": "int32"},
                study={"$ref": "#/definitions/Study"},
                site={"$ref": "#/definitions/Site"},
                note={"$ref": "#/definitions/Note"},
                tags={"type": "array", "items": {"$ref": "#/definitions/Study"}},
                name={"type": "string"},
            ),
            "Study": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "Site": {"type": "object", "properties": {"Id": {"type": "string", "format": "uuid"}}},
            "Note": {"type": "object", "properties": {"text": {"type": "string"}}},
        }
    )
    columns = columns_for(swagger, {"$ref": "#/definitions/Thing"})
    assert [(c.name, c.kind, c.path, c.origin) for c in columns] == [
        ("id", "integer", ("id",), "property"),
        ("study", "jsonb", ("study",), "property"),
        ("study_id", "integer", ("study", "id"), "ref_id"),
        ("site", "jsonb", ("site",), "property"),
        ("site_id", "text", ("site", "Id"), "ref_id"),  # the model's spelling of its id
        ("note", "jsonb", ("note",), "property"),  # no id: no id column
        ("tags", "jsonb", ("tags",), "property"),  # arrays: jsonb only
        ("name", "text", ("name",), "property"),
    ]


def test_collisions_resolve_in_a_fixed_order() -> None:
    """Staging columns first, then properties in the swagger's order, then the id columns."""
    columns = _columns(
        firstName={"type": "string"},
        first_name={"type": "string"},
        FirstName={"type": "string"},
        updatedAt={"type": "string", "format": "date-time"},
        study={"type": "object", "properties": {"id": {"type": "integer", "format": "int64"}}},
        studyId={"type": "integer"},
    )
    assert columns == {
        "first_name": ("text", ("firstName",)),
        "first_name_2": ("text", ("first_name",)),
        "first_name_3": ("text", ("FirstName",)),
        "updated_at_2": ("timestamptz", ("updatedAt",)),
        "study": ("jsonb", ("study",)),
        "study_id_2": ("bigint", ("study", "id")),
        "study_id": ("integer", ("studyId",)),
    }
    assert not set(columns) & set(STAGING_COLUMNS)


def test_the_same_swagger_gives_the_same_columns() -> None:
    swagger = load_swagger()
    jobs = load_inventory(None)
    assert plan_views(jobs, swagger) == plan_views(jobs, swagger)


def test_the_shipped_inventory_and_swagger() -> None:
    plan = plan_views(load_inventory(None), load_swagger())
    views = {v.view: v for v in plan.views}
    skipped = {s.table: s for s in plan.skipped}
    assert len(views) + len(skipped) == 88  # every staging table migrate creates
    patients = {c.name: c for c in views["dim_patients"].columns}
    assert patients["id"].kind == "integer"
    assert patients["first_name"].path == ("firstName",)
    assert patients["date_of_birth"].kind == "timestamptz"
    assert patients["primary_site_id"].path == ("primarySite", "id")
    assert patients["import_id"].kind == "bigint"
    assert patients["custom_fields"].kind == "jsonb"
    assert views["dim_studies"].job_id == 2  # job 164 (disabled) writes the table too
    assert "dim_system_lookup_lists_staging" in skipped  # plain strings
    assert "endpoint not in the swagger" in skipped["dim_invoices_staging"].reason
    for spec in views.values():
        names = [c.name for c in spec.columns] + list(STAGING_COLUMNS)
        assert len(names) == len(set(names)), spec.view
        assert all(len(n) <= 63 for n in names)


def test_a_table_whose_jobs_have_no_model_is_skipped_with_the_reason() -> None:
    def job(job_id: int, endpoint: str, table: str, **more: Any) -> Any:
        return parse_job(
            {
                "id": job_id,
                "name": f"job {job_id}",
                "source_endpoint": endpoint,
                "target_table": table,
                "paged": endpoint.endswith("/odata"),
                **more,
            }
        )

    swagger = _swagger(_thing(id={"type": "integer"}))
    plan = plan_views(
        [
            job(1, "/api/v1/things/odata", "dim_things_staging"),
            job(2, "/api/v1/words", "dim_words_staging", record_key="$"),
            job(3, "/api/v1/nowhere/odata", "dim_nowhere_staging"),
        ],
        swagger,
    )
    assert [(v.view, v.table, v.job_id, v.model) for v in plan.views] == [
        ("dim_things", "dim_things_staging", 1, "Thing")
    ]
    assert [(s.table, s.job_ids, s.reason) for s in plan.skipped] == [
        ("dim_nowhere_staging", (3,), "job 3: endpoint not in the swagger"),
        ("dim_words_staging", (2,), "job 2: records are strings, no properties declared"),
    ]


def test_view_name() -> None:
    assert view_name("dim_patients_staging") == "dim_patients"


# --- the SQL --------------------------------------------------------------------------------


def test_column_expressions_cast_through_the_null_safe_functions() -> None:
    def expr(kind: Any, *path: str) -> str:
        return db_views.column_expression(TypedColumn("c", kind, path))

    assert expr("integer", "id") == """"staging_typed"."to_int"(data->'id') AS "c\""""
    assert expr("text", "study", "name") == """data->'study'->>'name' AS "c\""""
    assert expr("jsonb", "o") == """NULLIF(data->'o', 'null'::jsonb) AS "c\""""
    assert expr("timestamptz", "a", "b").startswith('"staging_typed"."to_timestamptz"(data->')
    assert expr("text", "it's") == """data->>'it''s' AS "c\""""  # keys are quoted literals


def test_the_staging_columns_agree_and_the_hash_follows_the_definition() -> None:
    assert db_views.STAGING_COLUMNS == STAGING_COLUMNS
    spec = ViewSpec("dim_x", "dim_x_staging", 1, "X", (TypedColumn("id", "integer", ("id",)),))
    other = ViewSpec("dim_x", "dim_x_staging", 1, "X", (TypedColumn("id", "bigint", ("id",)),))
    statement = db_views.create_statement(spec)
    assert statement.endswith('FROM "dim_x_staging"\nWHERE deleted_at IS NULL')
    assert db_views.definition_hash(spec) != db_views.definition_hash(other)
    assert db_views.definition_hash(spec) in db_views.comment_of(spec)


def test_compare_tells_missing_differing_and_unchanged_views() -> None:
    spec = ViewSpec(
        "dim_x",
        "dim_x_staging",
        1,
        "X",
        (TypedColumn("id", "integer", ("id",)), TypedColumn("on", "date", ("on",))),
    )
    names = ["id", "on", *STAGING_COLUMNS]
    types = ["integer", "date", "integer", "timestamp without time zone", "whatever"]
    row = {"names": names, "types": types, "comment": db_views.comment_of(spec)}
    assert db_views.compare(spec, None).action == "create"
    assert db_views.compare(spec, row).action == "unchanged"
    assert db_views.compare(spec, {**row, "comment": "old"}).action == "replace"
    retyped = db_views.compare(spec, {**row, "types": ["integer", "text", *types[2:]]})
    assert (retyped.action, retyped.detail) == (
        "recreate",
        "columns differ: retyped on text -> date",
    )
    fewer = db_views.compare(spec, {**row, "names": names[1:], "types": types[1:]})
    assert (fewer.action, fewer.detail) == ("recreate", "columns differ: added id")
