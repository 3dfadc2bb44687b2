"""Deterministic sample values for JSON Schemas.

The mock provider has to answer tool calls (and JSON-mode requests) for whatever schema a
client sends, so it needs *some* valid value without an LLM. ``sample_from_schema`` walks the
schema and builds the smallest informative value that validates, always the same one for the
same input so that recorded conversations and tests stay stable.

Numbers are 1 (or a small lower bound: ``minimum: 0``), moved into the bounds
(``schema_numbers``). The root is a tool's arguments or a structured output, so one that
names no type gives an object; ``sample_arguments`` always gives an object.

Accepted dialects: JSON Schema draft 4 to 2020-12 and the OpenAPI subset used by Gemini
(uppercase type names, ``nullable``, integer limits serialised as strings).

Known limitations (best effort, the value may then fail validation):

* ``pattern`` is not solved: a handful of plausible candidates are tried (with ``regex``, for
  its timeout: 0.2 s of matching per sample) and the first match wins, otherwise the regular
  free-text value is returned.
* ``not``, ``if``/``then``/``else``, ``contains``, ``patternProperties``,
  ``propertyNames`` and ``dependentSchemas`` are ignored; ``$ref`` only resolves local JSON
  pointers (``#``, ``#/$defs/...``, ``#/definitions/...``), not ``$id``/anchors or remote URIs.
* ``allOf`` is merged shallowly, so conflicting subschemas are not reconciled.
* ``oneOf`` picks the first non-null branch without checking the others do not match too.
* ``uniqueItems`` is only enforced for string and number items.
* A ``format`` value is padded/truncated when ``minLength``/``maxLength`` demand it, which can
  break the format.
* Sizes are capped so no schema can demand a huge answer or long work (``minItems`` and
  ``minProperties`` at 100, ``minLength`` at 1000, about 10,000 characters in all, ``const``
  and ``enum`` values counted by their size, 64 levels, 20,000 steps of ``$ref`` and ``allOf``
  work). Past the budget, objects and arrays stop growing, even below ``required`` or
  ``minItems``: the value is then invalid but still small, strict JSON.
* A ``const`` or ``enum`` value JSON cannot carry (``NaN``, infinities, bytes) is ignored.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

import regex

from chatmock_lab.providers.schema_numbers import is_real, sample_integer, sample_number

__all__ = ["sample_arguments", "sample_from_schema"]

# A ``$ref`` that is already on the path and this deep switches to minimal values.
_MAX_REF_DEPTH = 8
# Absolute cap: stops pathological schemas (pure self references, required cycles).
_HARD_REF_LIMIT = 64
# Caps on minItems/minProperties and minLength: a 264-byte schema must not get a million.
_MAX_COUNT = 100
_MAX_TEXT = 1000
# Roughly the characters of output in all, and the nesting depth; past them objects and
# arrays come out empty (arrays of arrays, required cycles, 800-level schemas).
_OUTPUT_BUDGET = 10_000
_MAX_DEPTH = 64
# References followed plus keys merged, per sample.
_STEP_BUDGET = 20_000
# Regular-expression matching per sample, and per candidate string, in seconds.
_REGEX_SECONDS = 0.2
_REGEX_TRY = 0.02
# A const or enum value this short is still given past the budget (validity costs little).
_SMALL_FIXED = 64

_FORMAT_VALUES: Mapping[str, str] = MappingProxyType(
    {
        "date-time": "2025-01-01T00:00:00Z",
        "date": "2025-01-01",
        "time": "00:00:00Z",
        "duration": "P1D",
        "email": "user@example.com",
        "idn-email": "user@example.com",
        "uri": "https://example.com",
        "url": "https://example.com",
        "iri": "https://example.com",
        "uri-reference": "https://example.com",
        "iri-reference": "https://example.com",
        "uri-template": "https://example.com/{id}",
        "uuid": "00000000-0000-4000-8000-000000000000",
        "ipv4": "192.0.2.1",
        "ipv6": "2001:db8::1",
        "hostname": "example.com",
        "idn-hostname": "example.com",
        "json-pointer": "/example",
        "relative-json-pointer": "0",
        "regex": "^.*$",
        "byte": "ZXhhbXBsZQ==",
    }
)

_PATTERN_SEEDS: tuple[str, ...] = (
    "example",
    "abc",
    "ABC",
    "123",
    "a1",
    "A1",
    "x",
    "0",
    "en-US",
    "USD",
    "#000000",
    "+15555550100",
    "00:00",
)

_REGEX_META = frozenset("\\.[]{}()*+?^$|")

_OBJECT_HINTS = ("properties", "required", "additionalProperties", "minProperties")
_ARRAY_HINTS = ("items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems")
_STRING_HINTS = ("minLength", "maxLength", "pattern")
_NUMBER_HINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_NUMERIC_FORMATS = frozenset({"int32", "int64", "float", "double"})
_COMPOSITION_KEYS = frozenset({"$ref", "allOf", "anyOf", "oneOf"})
# Keywords beyond `type` and the hints above that say what kind of value a schema wants.
_KINDS = frozenset({"const", "enum", "anyOf", "oneOf", "format"})
# What keeps a tool's parameters from being sampled as an object.
_NOT_OBJECT = _KINDS | {"type", "allOf", "$ref", "items", "prefixItems", "not"}

# When allOf/$ref merging meets the same bound twice, the tighter one must win.
_LOWER_BOUNDS = frozenset({"minimum", "minLength", "minItems", "minProperties"})
_UPPER_BOUNDS = frozenset({"maximum", "maxLength", "maxItems", "maxProperties"})


@dataclass
class _Budget:
    """What is left of the output budget of one sample, shared by every context in it."""

    left: int = _OUTPUT_BUDGET
    # Seconds of regular-expression matching left for solving `pattern`s.
    regex_seconds: float = _REGEX_SECONDS
    # Work left for following `$ref`s and merging `allOf`s: `allOf: [{$ref: "#"}] * 2` would
    # otherwise branch 2^64 times.
    steps: int = _STEP_BUDGET


@dataclass(frozen=True)
class _Ctx:
    root: Mapping[str, Any]
    seed: str
    refs: tuple[str, ...] = ()
    minimal: bool = False
    budget: _Budget = field(default_factory=_Budget)
    depth: int = 0

    def enter(self, ref: str) -> _Ctx:
        recursive = ref in self.refs and len(self.refs) >= _MAX_REF_DEPTH
        return replace(self, refs=(*self.refs, ref), minimal=self.minimal or recursive)

    def deeper(self) -> _Ctx:
        """The context of a value nested in this one."""
        return replace(self, depth=self.depth + 1)

    @property
    def exhausted(self) -> bool:
        return len(self.refs) > _HARD_REF_LIMIT or self.budget.left <= 0 or self.depth > _MAX_DEPTH


def sample_from_schema(schema: dict[str, Any] | bool | None, *, seed_text: str = "") -> Any:
    """Return a JSON-compatible value that validates against ``schema``.

    ``seed_text`` (whitespace-collapsed) replaces the ``"example <name>"`` text of free-form
    strings, letting the caller echo e.g. the user prompt; strings fixed by ``enum``,
    ``const`` or ``format`` are unaffected.  A ``False`` schema accepts nothing and yields
    ``None``.
    """
    root: Mapping[str, Any] = schema if isinstance(schema, dict) else {}
    ctx = _Ctx(root=root, seed=" ".join(seed_text.split()))
    if schema is None or schema is True:
        return {}
    if not isinstance(schema, dict):
        return _sample(schema, ctx, None)
    # Flattened once: a second pass would find the step budget spent by the first.
    flat, flat_ctx = _flatten(schema, ctx)
    if flat is None:
        return None
    if _schema_type(flat) is None and not _KINDS & _json_only(flat).keys():
        return _sample_object(flat, flat_ctx)
    return _sample(flat, flat_ctx, None)


def sample_arguments(schema: Any) -> dict[str, Any]:
    """Tool-call arguments for a tool's ``parameters``: always a JSON object, strict JSON.

    Every dialect's tools take an object, so a root asking for something else (``type:
    string``, a ``const``, an ``anyOf`` of arrays) still gets one: its declared properties,
    or ``{}``.
    """
    value = sample_from_schema(schema if isinstance(schema, dict) else None)
    if not isinstance(value, dict) and isinstance(schema, dict):
        shape = {k: v for k, v in schema.items() if k not in _NOT_OBJECT}
        value = sample_from_schema({**shape, "type": "object"})
    return value if isinstance(value, dict) and _is_json(value) else {}


def _sample(schema: Any, ctx: _Ctx, name: str | None) -> Any:
    if schema is False:
        return None
    if not isinstance(schema, dict):
        # True, None and malformed schemas all accept anything.
        return _free_text(ctx, name)
    flat, ctx = _flatten(schema, ctx)
    if flat is None:
        return None

    ctx.budget.left -= 1 + len(name or "")  # the value, and roughly its key
    if (ctx.minimal or ctx.exhausted) and _allows_null(flat, ctx):
        return None
    flat = _json_only(flat)
    if "const" in flat:
        return _fixed(flat["const"], ctx)
    enum = flat.get("enum")
    if isinstance(enum, list) and enum:
        return _fixed(enum[0], ctx)
    for key in ("anyOf", "oneOf"):
        alternatives = flat.get(key)
        if isinstance(alternatives, list) and alternatives:
            choice = _first_non_null(alternatives, ctx)
            if choice is None:
                return None
            rest = {k: v for k, v in flat.items() if k != key}
            if ctx.depth > _MAX_DEPTH:
                # Alternatives nested in alternatives, hundreds deep: stop choosing.
                choice = {k: v for k, v in choice.items() if k not in _COMPOSITION_KEYS}
            return _sample(_merge(rest, choice), ctx.deeper(), name)

    kind = _schema_type(flat)
    if kind == "null":
        return None
    if kind == "object":
        return {} if ctx.exhausted else _sample_object(flat, ctx)
    if kind == "array":
        return [] if ctx.exhausted else _sample_array(flat, ctx, name)
    if kind == "integer":
        return sample_integer(flat)
    if kind == "number":
        return sample_number(flat)
    if kind == "boolean":
        return True
    return _sample_string(flat, ctx, name)


def _fixed(value: Any, ctx: _Ctx) -> Any:
    """A `const` or `enum` value, charged by its size: a 10 KB const under two `minItems:
    100` would otherwise be copied 10,000 times. Past the budget a big one is left out."""
    size = len(json.dumps(value))
    if ctx.budget.left <= 0 and size > _SMALL_FIXED:
        return None
    ctx.budget.left -= size
    return copy.deepcopy(value)


def _json_only(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without const and enum values JSON cannot carry (a NaN in an answer)."""
    if "const" in schema and not _is_json(schema["const"]):
        schema = {key: value for key, value in schema.items() if key != "const"}
    enum = schema.get("enum")
    if isinstance(enum, list) and not _is_json(enum):
        schema = {**schema, "enum": [item for item in enum if _is_json(item)]}
    return schema


def _is_json(value: Any, depth: int = 0) -> bool:
    """Strict JSON (Python callers and scenario files can put NaN, bytes or sets in)."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, list):
        return all(_is_json(item, depth + 1) for item in value)
    return isinstance(value, dict) and all(
        isinstance(key, str) and _is_json(item, depth + 1) for key, item in value.items()
    )


def _flatten(schema: dict[str, Any], ctx: _Ctx) -> tuple[dict[str, Any] | None, _Ctx]:
    """Inline ``$ref`` and ``allOf``; ``None`` means the schema can never be satisfied."""
    while isinstance(schema.get("$ref"), str):
        ref: str = schema["$ref"]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        target = _lookup(ctx.root, ref)
        if target is False:
            return None, ctx
        target = target if isinstance(target, dict) else {}
        ctx.budget.steps -= 1
        if ctx.exhausted or ctx.budget.steps <= 0:
            # Stop following references (and compositions that could lead back to one) but keep
            # the target's own keywords so the value still has the right shape.
            target = {k: v for k, v in target.items() if k not in _COMPOSITION_KEYS}
        else:
            ctx = ctx.enter(ref)
        schema = _merge(siblings, target)

    all_of = schema.get("allOf")
    if not isinstance(all_of, list):
        return schema, ctx
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    deepest = ctx
    for sub in all_of:
        if sub is False:
            return None, ctx
        if not isinstance(sub, dict) or ctx.budget.steps <= 0:
            # Past the step budget the rest of the allOf is not merged (the value may then
            # miss what those branches ask for).
            continue
        # Merging copies what was merged so far: charged, so a 3 MB allOf is not quadratic.
        ctx.budget.steps -= 1 + len(merged.get("properties") or ()) + len(sub)
        flat, sub_ctx = _flatten(sub, ctx)
        if flat is None:
            return None, ctx
        merged = _merge(merged, flat)
        if len(sub_ctx.refs) > len(deepest.refs) or sub_ctx.minimal:
            deepest = replace(ctx, refs=sub_ctx.refs, minimal=deepest.minimal or sub_ctx.minimal)
    return merged, deepest


def _lookup(root: Mapping[str, Any], ref: str) -> Any:
    """Resolve a local JSON pointer; ``None`` when it cannot be followed."""
    if not ref.startswith("#"):
        return None
    fragment = unquote(ref[1:])
    if fragment == "":
        return root
    if not fragment.startswith("/"):
        return None
    node: Any = root
    for raw in fragment[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _merge(primary: Mapping[str, Any], secondary: Mapping[str, Any]) -> dict[str, Any]:
    """Shallow merge where ``primary`` wins, except for keywords that combine naturally."""
    merged = dict(secondary)
    for key, value in primary.items():
        other = merged.get(key)
        if key not in merged:
            merged[key] = value
        elif key == "properties" and isinstance(value, dict) and isinstance(other, dict):
            merged[key] = {**other, **value}
        elif key == "required" and isinstance(value, list) and isinstance(other, list):
            merged[key] = list(dict.fromkeys([*value, *other]))
        elif key == "type":
            merged[key] = _merge_types(value, other)
        elif key == "enum" and isinstance(value, list) and isinstance(other, list):
            common = [item for item in value if item in other]
            merged[key] = common or value
        elif key in _LOWER_BOUNDS and is_real(value) and is_real(other):
            merged[key] = max(value, other)
        elif key in _UPPER_BOUNDS and is_real(value) and is_real(other):
            merged[key] = min(value, other)
        else:
            merged[key] = value
    return merged


def _merge_types(primary: Any, secondary: Any) -> Any:
    first, second = _type_names(primary), _type_names(secondary)
    common = [name for name in first if name in second]
    if not common:
        return primary
    return common[0] if len(common) == 1 else common


def _type_names(value: Any) -> list[str]:
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    lowered = (name.lower() for name in names if isinstance(name, str))
    return [name for name in lowered if name != "type_unspecified"]


def _schema_type(schema: Mapping[str, Any]) -> str | None:
    names = _type_names(schema.get("type"))
    concrete = [name for name in names if name != "null"]
    if concrete:
        return concrete[0]
    if names:
        return "null"
    if any(key in schema for key in _OBJECT_HINTS):
        return "object"
    if any(key in schema for key in _ARRAY_HINTS):
        return "array"
    if any(key in schema for key in _STRING_HINTS):
        return "string"
    if any(key in schema for key in _NUMBER_HINTS):
        return "number"
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt.lower() in _NUMERIC_FORMATS:
        return "number"
    return None


def _is_null_schema(schema: Any, ctx: _Ctx) -> bool:
    if not isinstance(schema, dict):
        return False
    flat, _ = _flatten(schema, ctx)
    if flat is None:
        return False
    if "const" in flat:
        return flat["const"] is None
    enum = flat.get("enum")
    if isinstance(enum, list) and enum:
        return all(item is None for item in enum)
    names = _type_names(flat.get("type"))
    return bool(names) and all(name == "null" for name in names)


def _allows_null(schema: Mapping[str, Any], ctx: _Ctx) -> bool:
    if schema.get("nullable") is True or "null" in _type_names(schema.get("type")):
        return True
    if "const" in schema:
        return schema["const"] is None
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return None in enum
    return any(
        isinstance(alternatives, list) and any(_is_null_schema(alt, ctx) for alt in alternatives)
        for alternatives in (schema.get("anyOf"), schema.get("oneOf"))
    )


def _first_non_null(alternatives: list[Any], ctx: _Ctx) -> dict[str, Any] | None:
    for alt in alternatives:
        if alt is True:
            return {}
        if isinstance(alt, dict) and not _is_null_schema(alt, ctx):
            return alt
    return None


def _sample_object(schema: Mapping[str, Any], ctx: _Ctx) -> dict[str, Any]:
    raw_props = schema.get("properties")
    props: Mapping[str, Any] = raw_props if isinstance(raw_props, dict) else {}
    raw_required = schema.get("required")
    required: list[str] = []
    if isinstance(raw_required, list):
        required = [key for key in raw_required if isinstance(key, str)]

    if required or ctx.minimal:
        wanted = list(dict.fromkeys(required))
    else:
        # Without required properties an empty object would be valid but useless to a client.
        wanted = [key for key, sub in props.items() if sub is not False]
    wanted = _add_dependencies(schema, wanted)
    # Declared order reads more naturally than the order of the required list.
    chosen = set(wanted)
    ordered = [key for key in props if key in chosen]
    ordered += [key for key in wanted if key not in props]

    inner = ctx.deeper()
    result: dict[str, Any] = {}
    for key in ordered:
        if ctx.budget.left <= 0:
            # Even required properties: 20,000 of them must not make 20,000 values.
            break
        result[key] = _sample(props.get(key, {}), inner, key)

    min_props = min(_as_int(schema.get("minProperties")) or 0, _MAX_COUNT)
    for key, sub in props.items():
        if len(result) >= min_props or ctx.budget.left <= 0:
            break
        if key not in result and sub is not False:
            result[key] = _sample(sub, inner, key)
    extra = schema.get("additionalProperties")
    index = 1
    while len(result) < min_props and extra is not False and ctx.budget.left > 0:
        key = f"property{index}"
        index += 1
        if key not in result:
            result[key] = _sample(extra if isinstance(extra, dict) else {}, inner, key)
    return result


def _add_dependencies(schema: Mapping[str, Any], wanted: list[str]) -> list[str]:
    deps: dict[str, list[str]] = {}
    for key in ("dependencies", "dependentRequired"):
        value = schema.get(key)
        if isinstance(value, dict):
            for prop, needed in value.items():
                if isinstance(needed, list):
                    deps.setdefault(prop, []).extend(n for n in needed if isinstance(n, str))
    result, seen = list(wanted), set(wanted)
    for prop in result:  # the list grows while iterating, which resolves transitive needs
        for needed in deps.get(prop, ()):
            if needed not in seen:
                seen.add(needed)
                result.append(needed)
    return result


def _sample_array(schema: Mapping[str, Any], ctx: _Ctx, name: str | None) -> list[Any]:
    prefix = schema.get("prefixItems")
    items = schema.get("items")
    if isinstance(prefix, list):
        tuple_schemas, rest = prefix, items
    elif isinstance(items, list):
        tuple_schemas, rest = items, schema.get("additionalItems")
    else:
        tuple_schemas, rest = [], items

    min_items = min(_as_int(schema.get("minItems")) or 0, _MAX_COUNT)
    max_items = _as_int(schema.get("maxItems"))
    count = min_items if ctx.minimal else max(min_items, len(tuple_schemas), 1)
    if max_items is not None:
        count = min(count, max_items)
    if rest is False:
        count = min(count, len(tuple_schemas))

    inner = ctx.deeper()
    values = []
    for index in range(count):
        if ctx.budget.left <= 0:
            break
        values.append(
            _sample(tuple_schemas[index] if index < len(tuple_schemas) else rest, inner, name)
        )
    if schema.get("uniqueItems") is True:
        values = _make_unique(values)
    return values


def _make_unique(values: list[Any]) -> list[Any]:
    seen: set[str] = set()
    result: list[Any] = []
    for index, value in enumerate(values):
        candidate = value
        if _fingerprint(candidate) in seen:
            if isinstance(value, str):
                candidate = f"{value} {index + 1}"
            elif is_real(value):
                candidate = value + index
        seen.add(_fingerprint(candidate))
        result.append(candidate)
    return result


def _fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _free_text(ctx: _Ctx, name: str | None) -> str:
    if ctx.seed:
        return ctx.seed
    return f"example {name}" if name else "example"


def _sample_string(schema: Mapping[str, Any], ctx: _Ctx, name: str | None) -> str:
    min_len = min(_as_int(schema.get("minLength")) or 0, _MAX_TEXT)
    max_len = _as_int(schema.get("maxLength"))
    fmt = schema.get("format")
    value = _FORMAT_VALUES.get(fmt.lower(), "") if isinstance(fmt, str) else ""
    value = value or _free_text(ctx, name)
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        value = _fit_pattern(pattern, value, min_len, max_len, ctx.budget)
    value = _fit_length(value, min_len, max_len)
    ctx.budget.left -= len(value)
    return value


def _fit_length(value: str, min_len: int, max_len: int | None) -> str:
    if len(value) < min_len:
        value += "x" * (min_len - len(value))
    if max_len is not None and len(value) > max_len:
        value = value[:max_len]
        if len(value.rstrip()) >= min_len:
            value = value.rstrip()
    return value


def _fit_pattern(
    pattern: str, value: str, min_len: int, max_len: int | None, budget: _Budget
) -> str:
    # `regex`, not `re` (tiktoken's own dependency): it reads ECMA named groups and takes a
    # timeout, so a 50-byte `^(0+0+)+y$` cannot backtrack for minutes on the event loop.
    try:
        compiled = regex.compile(pattern)
    except (regex.error, RecursionError, OverflowError):
        return value
    for candidate in _pattern_candidates(pattern, value, min_len, max_len):
        fits = len(candidate) >= min_len and (max_len is None or len(candidate) <= max_len)
        if not fits:
            continue
        if budget.regex_seconds <= 0:
            break
        started = time.monotonic()
        try:
            found = compiled.search(candidate, timeout=min(budget.regex_seconds, _REGEX_TRY))
        except TimeoutError:
            found = None
        budget.regex_seconds -= time.monotonic() - started
        if found:
            return candidate
    return value


def _pattern_candidates(
    pattern: str, value: str, min_len: int, max_len: int | None
) -> Iterator[str]:
    yield value
    yield from _FORMAT_VALUES.values()
    yield from _PATTERN_SEEDS
    prefix = _literal_prefix(pattern)
    if prefix:
        yield prefix
        yield prefix + value
    start = max(min_len - len(prefix), 1)
    stop = start + 16 if max_len is None else min(start + 16, max_len - len(prefix) + 1)
    for length in range(start, stop):
        for char in "aA0":
            yield prefix + char * length


def _literal_prefix(pattern: str) -> str:
    """Literal text right after a leading ``^``, e.g. ``sk-`` for ``^sk-[a-z]+$``."""
    if not pattern.startswith("^"):
        return ""
    chars: list[str] = []
    for char in pattern[1:]:
        if char in _REGEX_META:
            # A {n} quantifier may forbid exactly one copy of the previous character.
            if char == "{" and chars:
                chars.pop()
            break
        chars.append(char)
    return "".join(chars)


def _as_int(value: Any) -> int | None:
    """Integer keyword value; Gemini serialises int64 limits such as ``minItems`` as strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    # (Not past the digits Python converts.)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 4000:
        return int(value.strip())
    return None
