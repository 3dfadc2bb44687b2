"""Tests for the deterministic JSON Schema sampler used by the mock provider."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import httpx
import jsonschema
import pytest

from chatmock_lab.providers.schema_sample import sample_from_schema
from chatmock_lab.server import BackgroundServer
from tests.support import openai_client_for

DRAFT4 = "http://json-schema.org/draft-04/schema#"
DRAFT7 = "http://json-schema.org/draft-07/schema#"


def _valid(schema: dict[str, Any] | bool, **kwargs: Any) -> Any:
    value = sample_from_schema(schema, **kwargs)
    # The draft's own checker: a bare FormatChecker() applies draft-3 rules to "time".
    checker = jsonschema.validators.validator_for(schema).FORMAT_CHECKER
    jsonschema.validate(value, schema, format_checker=checker)
    return value


def _lower_gemini(schema: Any) -> Any:
    """Turn a Gemini/OpenAPI schema into standard JSON Schema for the validator."""
    if isinstance(schema, list):
        return [_lower_gemini(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key in {"minItems", "maxItems", "minLength", "maxLength"} and isinstance(value, str):
            out[key] = int(value)
        elif key in {"nullable", "format", "propertyOrdering"}:
            continue
        else:
            out[key] = _lower_gemini(value)
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


# --- empty / trivial schemas -------------------------------------------------------------


@pytest.mark.parametrize("schema", [{}, True, None, {"description": "anything"}])
def test_an_untyped_root_gives_an_object(schema: Any) -> None:
    # The root is a tool's arguments (`parameters: {}`) or a structured output: an object.
    assert sample_from_schema(schema) == {}


@pytest.mark.parametrize("schema", [{}, True])
def test_an_untyped_property_gives_example_text(schema: Any) -> None:
    value = _valid({"type": "object", "properties": {"note": schema}, "required": ["note"]})
    assert value == {"note": "example note"}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"minLength": 3}, "example"),
        ({"format": "date"}, "2025-01-01"),
        ({"minimum": 2}, 2),
        ({"items": {"type": "integer"}}, [1]),
        ({"enum": ["a", "b"]}, "a"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "example"),
    ],
)
def test_a_root_that_implies_a_type_keeps_it(schema: dict[str, Any], expected: Any) -> None:
    assert _valid(schema) == expected


def test_false_schema_gives_none() -> None:
    assert sample_from_schema(False) is None


# --- scalars -------------------------------------------------------------------------------


def test_plain_string() -> None:
    assert _valid({"type": "string"}) == "example"


def test_boolean_and_null() -> None:
    assert _valid({"type": "boolean"}) is True
    assert _valid({"type": "null"}) is None


def test_integer_default_and_type() -> None:
    value = _valid({"type": "integer"})
    assert value == 1
    assert type(value) is int


def test_number_default_is_float() -> None:
    value = _valid({"type": "number"})
    assert value == 1.0
    assert isinstance(value, float)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "minimum": 5}, 5),
        ({"type": "integer", "minimum": -3}, -3),
        ({"type": "integer", "minimum": 2.5}, 3),
        ({"type": "integer", "maximum": -7}, -7),
        ({"type": "integer", "maximum": 100}, 1),
        ({"type": "integer", "minimum": 10, "maximum": 20}, 10),
        ({"type": "number", "minimum": 0.5}, 0.5),
        ({"type": "number", "minimum": 0, "maximum": 2}, 0.0),
        ({"type": "number", "maximum": -1.5}, -1.5),
    ],
)
def test_numeric_bounds(schema: dict[str, Any], expected: float) -> None:
    assert _valid(schema) == expected


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "exclusiveMinimum": 5}, 6),
        ({"type": "integer", "exclusiveMaximum": 0}, -1),
        ({"type": "integer", "exclusiveMinimum": 1.5}, 2),
        ({"type": "integer", "minimum": 0, "exclusiveMinimum": 3}, 4),
        ({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, 0.5),
        ({"type": "number", "exclusiveMinimum": 2}, 3.0),
        ({"type": "number", "exclusiveMaximum": 1}, 0.0),
    ],
)
def test_exclusive_bounds_draft6(schema: dict[str, Any], expected: float) -> None:
    assert _valid(schema) == expected


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "minimum": 5, "exclusiveMinimum": True}, 6),
        ({"type": "integer", "minimum": 5, "exclusiveMinimum": False}, 5),
        ({"type": "integer", "maximum": 0, "exclusiveMaximum": True}, -1),
        (
            {"type": "number", "minimum": 0, "maximum": 1, "exclusiveMinimum": True},
            1.0,
        ),
        (
            {"type": "number", "minimum": 0, "maximum": 0.5, "exclusiveMinimum": True},
            0.25,
        ),
    ],
)
def test_exclusive_bounds_draft4_boolean_form(schema: dict[str, Any], expected: float) -> None:
    schema = {"$schema": DRAFT4, **schema}
    assert _valid(schema) == expected


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "multipleOf": 5}, 5),
        ({"type": "integer", "multipleOf": 5, "minimum": 12}, 15),
        ({"type": "integer", "multipleOf": 4, "exclusiveMinimum": 8}, 12),
        ({"type": "integer", "multipleOf": 3, "maximum": -1}, -3),
        ({"type": "integer", "multipleOf": 2.5, "minimum": 1}, 5),
        ({"type": "integer", "multipleOf": 0.1, "minimum": 3}, 3),
        ({"type": "number", "multipleOf": 0.25, "minimum": 0.3}, 0.5),
        ({"type": "number", "multipleOf": 0.1, "exclusiveMinimum": 0.25}, 0.4),
    ],
)
def test_multiple_of(schema: dict[str, Any], expected: float) -> None:
    assert _valid(schema) == expected


# What zod's z.number().int() writes into every integer's JSON Schema.
SAFE = 9007199254740991
ZOD_INT = {"type": "integer", "minimum": -SAFE, "maximum": SAFE}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "minimum": -SAFE, "maximum": SAFE}, 1),
        ({"type": "integer", "minimum": -SAFE}, 1),
        ({"type": "integer", "minimum": -SAFE, "maximum": 0}, 0),
        ({"type": "integer", "minimum": -SAFE, "exclusiveMaximum": 0}, -1),
        ({"type": "integer", "minimum": -SAFE, "maximum": -20, "multipleOf": 3}, -21),
        ({"type": "integer", "minimum": -SAFE, "maximum": SAFE, "multipleOf": 5}, 5),
        ({"type": "integer", "exclusiveMinimum": -SAFE - 1, "exclusiveMaximum": SAFE + 1}, 1),
        # A large lower bound is the nearest natural value there is.
        ({"type": "integer", "minimum": 10**12, "maximum": SAFE}, 10**12),
        ({"type": "number", "minimum": -SAFE, "maximum": SAFE}, 1.0),
        ({"type": "number", "minimum": -1.7976931348623157e308}, 1.0),
        ({"type": "number", "exclusiveMinimum": 0, "maximum": SAFE}, 1.0),
        ({"type": "number", "exclusiveMinimum": 0, "maximum": 0.5}, 0.25),
        ({"type": "number", "minimum": -SAFE, "exclusiveMaximum": 1}, 0.0),
        ({"type": "number", "minimum": -SAFE, "maximum": -0.5}, -0.5),
        ({"type": "number", "minimum": -SAFE, "multipleOf": 0.25}, 0.25),
        ({"type": "number", "minimum": -SAFE, "maximum": -3, "multipleOf": 0.5}, -3.0),
    ],
)
def test_wide_bounds_give_small_natural_numbers(schema: dict[str, Any], expected: float) -> None:
    value = _valid(schema)
    assert value == expected
    assert type(value) is type(expected)


def test_zod_integer_property_and_gemini_int64_bounds() -> None:
    zod = {
        "type": "object",
        "properties": {"count": {"type": "integer", "minimum": -SAFE, "maximum": SAFE}},
        "required": ["count"],
        "additionalProperties": False,
    }
    assert _valid(zod) == {"count": 1}
    gemini = {"type": "INTEGER", "format": "int64", "minimum": "-9223372036854775808"}
    assert sample_from_schema(gemini) == 1
    # A bound past the largest float (or past Python's digit limit) is no bound at all.
    assert sample_from_schema({"type": "number", "minimum": 10**400}) == 1.0
    assert sample_from_schema({"type": "array", "minItems": "9" * 5000}) == ["example"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string", "minLength": 10}, "examplexxx"),
        ({"type": "string", "maxLength": 3}, "exa"),
        ({"type": "string", "minLength": 2, "maxLength": 4}, "exam"),
        ({"type": "string", "maxLength": 0}, ""),
    ],
)
def test_string_lengths(schema: dict[str, Any], expected: str) -> None:
    assert _valid(schema) == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("date-time", "2025-01-01T00:00:00Z"),
        ("date", "2025-01-01"),
        ("time", "00:00:00Z"),
        ("email", "user@example.com"),
        ("uri", "https://example.com"),
        ("url", "https://example.com"),
        ("uuid", "00000000-0000-4000-8000-000000000000"),
        ("ipv4", "192.0.2.1"),
        ("ipv6", "2001:db8::1"),
        ("hostname", "example.com"),
    ],
)
def test_string_formats(fmt: str, expected: str) -> None:
    assert _valid({"type": "string", "format": fmt}) == expected


def test_unknown_format_falls_back_to_text() -> None:
    assert _valid({"type": "string", "format": "zip-code"}) == "example"


@pytest.mark.parametrize(
    "pattern",
    [
        "^[A-Z]{3}$",
        "^[0-9]{5}$",
        r"^\d{5}(-\d{4})?$",
        "^sk-[a-z0-9]{8}$",
        "^[a-z]+$",
        "^example",
        "^#[0-9a-fA-F]{6}$",
        r"^\d{4}-\d{2}-\d{2}$",
    ],
)
def test_common_patterns_are_matched(pattern: str) -> None:
    _valid({"type": "string", "pattern": pattern})


def test_unsatisfied_pattern_still_returns_a_string() -> None:
    # The documented limitation: no regex solver, but the result must still be a string.
    value = sample_from_schema({"type": "string", "pattern": r"^(?=.*[!@#])\w{3}[!@#]$"})
    assert isinstance(value, str)


# --- enum / const --------------------------------------------------------------------------


def test_enum_returns_first_value() -> None:
    assert _valid({"type": "string", "enum": ["celsius", "fahrenheit"]}) == "celsius"
    assert _valid({"enum": [3, 1, 2]}) == 3
    assert _valid({"type": ["string", "null"], "enum": [None, "x"]}) is None


def test_const_wins_over_type_and_default() -> None:
    assert _valid({"const": "fixed"}) == "fixed"
    assert _valid({"type": "integer", "const": 42, "default": 7}) == 42


def test_default_is_ignored() -> None:
    assert _valid({"type": "string", "default": "dflt"}) == "example"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "number", "const": math.nan}, 1.0),
        ({"type": "number", "const": math.inf, "minimum": 3}, 3.0),
        ({"type": "object", "const": {"x": [math.nan]}}, {}),
        ({"type": "number", "enum": [math.nan, -math.inf, 2.5]}, 2.5),
        ({"type": "integer", "enum": [math.nan]}, 1),
        ({"const": math.nan}, {}),
    ],
)
def test_values_json_cannot_carry_are_never_given(schema: dict[str, Any], expected: Any) -> None:
    value = sample_from_schema(schema)
    assert value == expected
    json.dumps(value, allow_nan=False)  # raises on NaN or an infinity


def test_const_value_is_a_copy() -> None:
    schema = {"const": {"a": [1]}}
    value = sample_from_schema(schema)
    value["a"].append(2)
    assert schema == {"const": {"a": [1]}}


# --- type lists and inference --------------------------------------------------------------


def test_type_list_picks_first_non_null() -> None:
    assert _valid({"type": ["null", "integer"]}) == 1
    assert _valid({"type": ["string", "integer"]}) == "example"
    assert _valid({"type": ["null"]}) is None


def test_missing_type_is_inferred() -> None:
    assert _valid({"properties": {"a": {"type": "integer"}}}) == {"a": 1}
    assert _valid({"items": {"type": "boolean"}}) == [True]
    assert _valid({"minLength": 8}) == "examplex"


# --- objects ---------------------------------------------------------------------------------


def test_object_fills_only_required() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "integer"},
            "c": {"type": "boolean"},
        },
        "required": ["c", "a"],
        "additionalProperties": False,
    }
    value = _valid(schema)
    assert value == {"a": "example a", "c": True}


def test_object_without_required_fills_all_declared() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 18}},
    }
    assert _valid(schema) == {"name": "example name", "age": 18}


def test_required_but_undeclared_property_is_present() -> None:
    assert _valid({"type": "object", "required": ["x"]}) == {"x": "example x"}


def test_nested_objects_with_required() -> None:
    schema = {
        "type": "object",
        "properties": {
            "user": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "minimum": 1000},
                    "email": {"type": "string", "format": "email"},
                    "nick": {"type": "string"},
                    "address": {
                        "type": "object",
                        "properties": {"zip": {"type": "string"}, "city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
                "required": ["id", "email", "address"],
            },
            "note": {"type": "string"},
        },
        "required": ["user"],
    }
    assert _valid(schema) == {
        "user": {
            "id": 1000,
            "email": "user@example.com",
            "address": {"city": "example city"},
        }
    }


def test_min_properties_adds_optional_properties() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "required": ["a"],
        "minProperties": 2,
    }
    assert _valid(schema) == {"a": "example a", "b": "example b"}


def test_dependent_required_is_honoured() -> None:
    schema = {
        "type": "object",
        "properties": {"card": {"type": "string"}, "cvv": {"type": "string"}},
        "required": ["card"],
        "dependentRequired": {"card": ["cvv"]},
    }
    assert set(_valid(schema)) == {"card", "cvv"}


# --- arrays ----------------------------------------------------------------------------------


def test_array_defaults_to_one_item() -> None:
    assert _valid({"type": "array", "items": {"type": "integer"}}) == [1]
    assert _valid({"type": "array"}) == ["example"]


def test_array_min_and_max_items() -> None:
    assert _valid({"type": "array", "items": {"type": "integer"}, "minItems": 3}) == [1, 1, 1]
    assert _valid({"type": "array", "items": {"type": "integer"}, "maxItems": 0}) == []


def test_array_of_objects() -> None:
    schema = {
        "type": "array",
        "minItems": 2,
        "items": {
            "type": "object",
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
            "required": ["sku", "qty"],
        },
    }
    value = _valid(schema)
    assert value == [{"sku": "example sku", "qty": 1}] * 2


def test_array_items_inherit_property_name() -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {}}}}
    assert _valid(schema) == {"tags": ["example tags"]}


def test_unique_items_are_distinct() -> None:
    strings = {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True}
    assert len(set(_valid(strings))) == 3
    integers = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "uniqueItems": True}
    assert len(set(_valid(integers))) == 2


def test_prefix_items_tuple() -> None:
    schema = {
        "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}],
        "items": False,
    }
    assert _valid(schema) == ["example", 1, True]


def test_prefix_items_extended_to_min_items() -> None:
    schema = {
        "type": "array",
        "prefixItems": [{"type": "string"}],
        "items": {"type": "integer"},
        "minItems": 3,
    }
    assert _valid(schema) == ["example", 1, 1]


def test_draft7_tuple_items_list() -> None:
    schema = {
        "$schema": DRAFT7,
        "type": "array",
        "items": [{"type": "integer", "minimum": 4}, {"type": "string", "format": "date"}],
        "additionalItems": False,
    }
    assert _valid(schema) == [4, "2025-01-01"]


# --- combinators -----------------------------------------------------------------------------


def test_any_of_skips_null() -> None:
    schema = {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 7}]}
    assert _valid(schema) == 7


def test_one_of_skips_null() -> None:
    schema = {"oneOf": [{"type": "null"}, {"type": "string", "format": "uuid"}]}
    assert _valid(schema) == "00000000-0000-4000-8000-000000000000"


def test_any_of_only_null() -> None:
    assert _valid({"anyOf": [{"type": "null"}, {"const": None}]}) is None


def test_any_of_keeps_parent_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "anyOf": [{"required": ["b"]}, {"required": ["a"]}],
    }
    assert _valid(schema) == {"b": 1}


def test_pydantic_optional_field() -> None:
    schema = {
        "type": "object",
        "properties": {
            "limit": {"anyOf": [{"type": "integer", "maximum": 50}, {"type": "null"}]},
            "query": {"type": "string"},
        },
        "required": ["query", "limit"],
    }
    assert _valid(schema) == {"limit": 1, "query": "example query"}


def test_all_of_merges_properties_and_required() -> None:
    schema = {
        "allOf": [
            {
                "type": "object",
                "properties": {"id": {"type": "integer"}},
                "required": ["id"],
            },
            {
                "properties": {"name": {"type": "string"}, "extra": {"type": "string"}},
                "required": ["name"],
            },
        ]
    }
    assert _valid(schema) == {"id": 1, "name": "example name"}


def test_all_of_takes_tightest_bounds() -> None:
    schema = {"allOf": [{"type": "integer", "minimum": 3}, {"minimum": 9}, {"maximum": 20}]}
    assert _valid(schema) == 9


# --- $ref ------------------------------------------------------------------------------------


def test_ref_to_defs() -> None:
    schema = {
        "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
        "type": "object",
        "properties": {"unit": {"$ref": "#/$defs/Unit"}},
        "required": ["unit"],
    }
    assert _valid(schema) == {"unit": "c"}


def test_ref_to_definitions_with_siblings() -> None:
    schema = {
        "$schema": DRAFT7,
        "definitions": {"Pos": {"type": "integer", "minimum": 1}},
        "type": "array",
        "items": {"$ref": "#/definitions/Pos"},
        "minItems": 2,
    }
    assert _valid(schema) == [1, 1]


def test_ref_chain_and_all_of_ref() -> None:
    schema = {
        "$defs": {
            "Base": {
                "type": "object",
                "properties": {"id": {"type": "string"}},
                "required": ["id"],
            },
            "Alias": {"$ref": "#/$defs/Base"},
            "Child": {
                "allOf": [
                    {"$ref": "#/$defs/Alias"},
                    {"properties": {"n": {"type": "integer"}}, "required": ["n"]},
                ]
            },
        },
        "$ref": "#/$defs/Child",
    }
    assert _valid(schema) == {"id": "example id", "n": 1}


def test_recursive_tree_terminates_and_validates() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
        "$ref": "#/$defs/Node",
    }
    value = _valid(schema)
    depth = 0
    node = value
    while node.get("children"):
        node = node["children"][0]
        depth += 1
    assert 1 <= depth <= 12
    assert node == {}


def test_recursive_tree_with_required_children_uses_empty_lists() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["name", "children"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    value = _valid(schema)
    assert "[]" in json.dumps(value)


def test_recursive_nullable_ref_becomes_none() -> None:
    schema = {
        "$defs": {
            "Link": {
                "type": "object",
                "properties": {
                    "next": {"anyOf": [{"$ref": "#/$defs/Link"}, {"type": "null"}]},
                },
                "required": ["next"],
            }
        },
        "$ref": "#/$defs/Link",
    }
    value = _valid(schema)
    assert "null" in json.dumps(value)


@pytest.mark.parametrize(
    ("schema", "expected_type"),
    [
        ({"$ref": "#"}, dict),
        ({"type": "object", "properties": {"self": {"$ref": "#"}}, "required": ["self"]}, dict),
        ({"allOf": [{"$ref": "#"}], "type": "object"}, dict),
        ({"anyOf": [{"$ref": "#"}], "type": "array"}, list),
    ],
)
def test_pathological_self_references_terminate(
    schema: dict[str, Any], expected_type: type
) -> None:
    assert isinstance(sample_from_schema(schema), expected_type)


def test_unresolvable_ref_falls_back() -> None:
    remote = {"$ref": "https://example.com/other.json"}
    assert sample_from_schema(remote) == {}
    assert sample_from_schema({"type": "array", "items": remote}) == ["example"]
    assert sample_from_schema({"$ref": "#/$defs/missing", "type": "integer"}) == 1


# --- Gemini / OpenAPI ------------------------------------------------------------------------


def test_gemini_uppercase_types_and_nullable() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "title": {"type": "STRING", "nullable": True},
            "count": {"type": "INTEGER", "minimum": 2},
            "ratio": {"type": "NUMBER", "format": "double"},
            "ok": {"type": "BOOLEAN"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "2"},
            "mode": {"type": "STRING", "format": "enum", "enum": ["FAST", "SLOW"]},
        },
        "required": ["title", "count", "ratio", "ok", "tags", "mode"],
        "propertyOrdering": ["title", "count", "ratio", "ok", "tags", "mode"],
    }
    value = sample_from_schema(schema)
    jsonschema.validate(value, _lower_gemini(schema))
    assert value == {
        "title": "example title",
        "count": 2,
        "ratio": 1.0,
        "ok": True,
        "tags": ["example tags", "example tags"],
        "mode": "FAST",
    }


def test_gemini_any_of_and_unspecified_type() -> None:
    unspecified = {"type": "OBJECT", "properties": {"a": {"type": "TYPE_UNSPECIFIED"}}}
    schema = {"anyOf": [{"type": "NULL"}, unspecified]}
    value = sample_from_schema(schema)
    jsonschema.validate(value, _lower_gemini({"anyOf": [{"type": "NULL"}, {"type": "OBJECT"}]}))
    assert value == {"a": "example a"}


# --- realistic tool schemas / determinism / seed ---------------------------------------------

GET_WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
    "additionalProperties": False,
}


def test_openai_get_weather_tool() -> None:
    assert _valid(GET_WEATHER) == {"city": "example city"}


def test_openai_strict_tool_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit", None]},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
        },
        "required": ["location", "unit", "days"],
        "additionalProperties": False,
    }
    assert _valid(schema) == {"location": "example location", "unit": "celsius", "days": 1}


def test_anthropic_style_input_schema_with_nested_array() -> None:
    schema = {
        "type": "object",
        "properties": {
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "start": {"type": "string", "format": "date-time"},
                        "attendees": {
                            "type": "array",
                            "items": {"type": "string", "format": "email"},
                            "minItems": 1,
                        },
                    },
                    "required": ["start", "attendees"],
                },
            }
        },
        "required": ["events"],
    }
    assert _valid(schema) == {
        "events": [{"start": "2025-01-01T00:00:00Z", "attendees": ["user@example.com"]}]
    }


@pytest.mark.parametrize(
    "schema",
    [
        GET_WEATHER,
        {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0.5}, "minItems": 2},
        {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/X"}], "$defs": {"X": {"type": "string"}}},
    ],
)
def test_deterministic(schema: dict[str, Any]) -> None:
    original = copy.deepcopy(schema)
    first = sample_from_schema(schema, seed_text="hello")
    second = sample_from_schema(copy.deepcopy(schema), seed_text="hello")
    assert first == second
    assert schema == original


def test_seed_text_replaces_free_text_only() -> None:
    value = _valid(
        {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "unit": {"enum": ["a", "b"]},
                "when": {"type": "string", "format": "date"},
            },
        },
        seed_text="  weather   in Paris ",
    )
    assert value == {"query": "weather in Paris", "unit": "a", "when": "2025-01-01"}
    assert sample_from_schema({"type": "string", "maxLength": 4}, seed_text="abcdefgh") == "abcd"


# --- size and depth limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "items": {"type": "integer"}, "minItems": 1000000},
        {"type": "string", "minLength": 1000000},
        {"type": "object", "minProperties": 1000000},
        {"type": "object", "minProperties": 1000000, "additionalProperties": {"minLength": 10**6}},
        # Nesting multiplies: a million lists of a million strings of a million characters.
        {
            "type": "array",
            "minItems": 1000000,
            "items": {
                "type": "array",
                "minItems": 1000000,
                "items": {"type": "string", "minLength": 1000000},
            },
        },
        # Two required self references: a full answer would have 2^64 leaves.
        {
            "$ref": "#/$defs/node",
            "$defs": {
                "node": {
                    "type": "object",
                    "properties": {"a": {"$ref": "#/$defs/node"}, "b": {"$ref": "#/$defs/node"}},
                    "required": ["a", "b"],
                }
            },
        },
    ],
)
def test_a_small_schema_cannot_demand_a_huge_answer(schema: dict[str, Any]) -> None:
    assert len(json.dumps(sample_from_schema(schema))) < 100_000


def test_huge_minimum_sizes_are_clamped_to_a_small_bound() -> None:
    assert sample_from_schema({"type": "array", "minItems": 10**6}) == ["example"] * 100
    assert sample_from_schema({"type": "string", "minLength": 10**6}) == "example" + "x" * 993
    assert len(sample_from_schema({"type": "object", "minProperties": 10**6})) == 100
    # Sizes a schema really needs are kept.
    assert len(_valid({"type": "array", "items": {"type": "integer"}, "minItems": 50})) == 50


def test_an_800_level_schema_does_not_exhaust_the_stack() -> None:
    nested: dict[str, Any] = {"type": "string"}
    alternatives: dict[str, Any] = {"type": "string"}
    for _ in range(800):
        nested = {"type": "object", "properties": {"a": nested}, "required": ["a"]}
        alternatives = {"anyOf": [alternatives, {"type": "integer"}]}
    value = sample_from_schema(nested)
    depth = 0
    while value:
        value, depth = value["a"], depth + 1
    assert 32 < depth < 100
    assert sample_from_schema(alternatives) == "example"


# --- through the server: the mock provider's tool calls and structured output ------------------


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"type": "object", "properties": {"count": ZOD_INT}, "required": ["count"]}, {"count": 1}),
        ({}, {}),
        (
            {
                "type": "object",
                "properties": {"xs": {"type": "array", "items": ZOD_INT, "minItems": 1000000}},
                "required": ["xs"],
            },
            {"xs": [1] * 100},
        ),
    ],
)
def test_mock_tool_arguments_are_small_json(
    server: BackgroundServer, parameters: dict[str, Any], expected: Any
) -> None:
    with openai_client_for(server) as client:
        reply = client.chat.completions.create(
            model="mock",
            messages=[{"role": "user", "content": "count them"}],
            tools=[{"type": "function", "function": {"name": "tally", "parameters": parameters}}],
            tool_choice="required",
        )
    calls = reply.choices[0].message.tool_calls
    assert calls is not None and calls[0].type == "function"
    assert _strict_json(calls[0].function.arguments) == expected


def test_mock_structured_output_has_a_small_integer(server: BackgroundServer) -> None:
    schema = {
        "type": "object",
        "properties": {"count": ZOD_INT},
        "required": ["count"],
        "additionalProperties": False,
    }
    with openai_client_for(server) as client:
        reply = client.chat.completions.create(
            model="mock",
            messages=[{"role": "user", "content": "count them"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "tally", "schema": schema, "strict": True},
            },
        )
    assert _strict_json(reply.choices[0].message.content or "") == {"count": 1}


def test_nan_in_a_tool_schema_is_refused_as_not_json(server: BackgroundServer) -> None:
    # The SDKs refuse to send NaN; the proxy refuses it too (it is not JSON), naming where.
    parameters = {
        "type": "object",
        "properties": {"x": {"type": "number", "const": math.nan}},
        "required": ["x"],
    }
    body = {
        "model": "mock",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": parameters}}],
        "tool_choice": "required",
    }
    reply = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 400
    assert "NaN is not a JSON value" in reply.json()["error"]["message"]
