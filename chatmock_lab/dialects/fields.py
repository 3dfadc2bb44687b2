"""Reading fields out of a decoded JSON body, with errors that name the field.

Every dialect validates the same way: a missing or mistyped field raises
`InvalidRequest` whose `param` is the field's path (`messages[2].content`), so each
dialect can render it in its own error shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from chatmock_lab.core.errors import InvalidRequest

T = TypeVar("T")

_MISSING = object()

_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _matches(value: Any, kind: type) -> bool:
    # JSON has no int/bool distinction problem, but Python does: True is an int.
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def expect(value: Any, kind: type[T], path: str) -> T:
    if not _matches(value, kind):
        raise InvalidRequest(
            f"{path}: expected {_TYPE_NAMES[kind]}, got {describe(value)}", param=path
        )
    return value  # `_matches` checked it is a `kind`


def expect_object(value: Any, path: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        where = path or "the request body"
        raise InvalidRequest(
            f"{where}: expected an object, got {describe(value)}", param=path or None
        )
    return value


def required(obj: dict[str, Any], key: str, kind: type[T], path: str = "") -> T:
    field_path = join(path, key)
    if key not in obj or obj[key] is None:
        raise InvalidRequest(f"{field_path}: this field is required", param=field_path)
    return expect(obj[key], kind, field_path)


def optional(obj: dict[str, Any], key: str, kind: type[T], path: str = "") -> T | None:
    value = obj.get(key)
    if value is None:
        return None
    return expect(value, kind, join(path, key))


def optional_number(
    obj: dict[str, Any],
    key: str,
    path: str = "",
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | None:
    value = optional(obj, key, float, path)
    if value is None:
        return None
    _check_range(value, join(path, key), minimum, maximum)
    return float(value)


def optional_int(
    obj: dict[str, Any],
    key: str,
    path: str = "",
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    value = optional(obj, key, int, path)
    if value is None:
        return None
    _check_range(value, join(path, key), minimum, maximum)
    return value


def _check_range(value: float, path: str, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise InvalidRequest(f"{path}: must be at least {minimum}, got {value}", param=path)
    if maximum is not None and value > maximum:
        raise InvalidRequest(f"{path}: must be at most {maximum}, got {value}", param=path)


def one_of(value: Any, allowed: tuple[str, ...], path: str) -> str:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise InvalidRequest(f"{path}: expected one of {options}, got {value!r}", param=path)
    return value


def string_list(value: Any, path: str, *, max_items: int | None = None) -> list[str]:
    """A string or a list of strings (stop sequences and the like), as a list."""
    if isinstance(value, str):
        return [value]
    items = expect(value, list, path)
    for i, item in enumerate(items):
        expect(item, str, join(path, i))
    if max_items is not None and len(items) > max_items:
        raise InvalidRequest(f"{path}: at most {max_items} items allowed", param=path)
    return list(items)


def json_schema_object(value: Any, path: str) -> dict[str, Any]:
    """A tool's JSON Schema: an object whose `type`, if given, is `object`."""
    schema = expect(value, dict, path)
    schema_type = schema.get("type")
    if schema_type is not None and str(schema_type).lower() != "object":
        raise InvalidRequest(
            f"{path}: a tool's parameter schema must have type 'object', got {schema_type!r}",
            param=path,
        )
    properties = schema.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise InvalidRequest(f"{join(path, 'properties')}: expected an object", param=path)
    return schema


def note_unread(
    obj: dict[str, Any],
    path: str,
    read: frozenset[str],
    not_carried: dict[str, str],
    dropped: list[str],
    *,
    name_of: Callable[[str], str] | None = None,
) -> None:
    """A "field: why" note in `dropped` for each key of `obj` (at `path`) that the
    parser did not read: why it is not carried (`not_carried`), or that it is not
    documented. `name_of` gives the name a key is known by (Gemini accepts snake_case
    for camelCase fields); the note keeps the key as the client spelled it. Empty
    values lose nothing, so they are not noted."""
    for key, value in obj.items():
        name = name_of(key) if name_of is not None else key
        if name in read or value is None or value == [] or value == {}:
            continue
        why = not_carried.get(name, "not a documented field; ignored")
        dropped.append(f"{join(path, key) if path else key}: {why}")


# Longer than any real model name; a name is echoed in every chunk of an answer, so a
# long one would multiply the size of the stream.
MAX_MODEL_NAME_CHARS = 256


def check_model_name(name: str, param: str = "model") -> str:
    """`name`, refused with a 400 when it could reach another path than a model's: a
    dot segment (`..`), an empty segment, a backslash, `?` or `#`, or a control
    character (NUL included). `/` between segments stays: `provider/model` prefixes and
    OpenRouter's `vendor/model` names need it."""
    if not name:
        raise InvalidRequest(f"{param}: the model name is empty", param=param)
    if len(name) > MAX_MODEL_NAME_CHARS:
        raise InvalidRequest(
            f"{param}: a model name of {len(name)} characters; at most"
            f" {MAX_MODEL_NAME_CHARS} are accepted",
            param=param,
        )
    bad = next((c for c in name if ord(c) < 32 or ord(c) == 127 or c in "\\?#"), None)
    if bad is not None:
        raise InvalidRequest(
            f"{param}: the model name holds {bad!r}, which no model name has", param=param
        )
    if any(segment in ("", ".", "..") for segment in name.split("/")):
        raise InvalidRequest(
            f"{param}: {name[:100]!r} has an empty or dot segment; not a model name",
            param=param,
        )
    return name
