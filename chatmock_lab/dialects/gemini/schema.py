"""Gemini's OpenAPI-subset Schema as JSON Schema.

`responseSchema` and a declaration's `parameters` use the Schema object of the Gemini API
reference: upper-case type names (`"type": "STRING"`) and `nullable` instead of a `null`
type. Their JSON Schema twins (`responseJsonSchema`, `parametersJsonSchema`) need nothing.
"""

from __future__ import annotations

from typing import Any

_OPENAPI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
# Schema keywords whose values are user data or names, never schemas to normalise.
_SCHEMA_LEAVES = {"enum", "required", "const", "default", "example", "examples", "propertyOrdering"}


def openapi_to_json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-subset Schema (`"type": "STRING"`, `nullable`) as JSON Schema."""
    if isinstance(schema, list):
        return [openapi_to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str) and value.upper() in _OPENAPI_TYPES:
            out["type"] = value.lower()
        elif key == "nullable":
            continue
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {k: openapi_to_json_schema(v) for k, v in value.items()}
        elif key in _SCHEMA_LEAVES:
            out[key] = value
        else:
            out[key] = openapi_to_json_schema(value)
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
