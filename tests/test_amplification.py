"""Small requests must not cause large work: the mock's schema sampler is bounded in output
size and in time whatever the schema says, and tool-call arguments are always a strict-JSON
object (issue 18)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from chatmock_lab.config import ConfigError
from chatmock_lab.providers.scenario import load_scenario
from chatmock_lab.providers.schema_sample import sample_arguments, sample_from_schema
from chatmock_lab.server import BackgroundServer
from tests.support import openai_client_for

# What "bounded" means here: the budget is about 10,000 characters; JSON punctuation and
# one value that straddles the budget come on top.
BOUND = 40_000
BIG = "z" * 10_000
DEADLINE_S = 10.0


def _size(value: Any) -> int:
    # allow_nan=False: NaN and infinities are not JSON, and the answer must be JSON.
    return len(json.dumps(value, allow_nan=False))


def _within_deadline(call: Callable[[Any], Any], schema: Any) -> Any:
    """`call(schema)`, which must finish within a generous deadline: each of the nasty
    schemas took from seconds to forever before (a hang must fail, not stall the suite)."""
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(call(schema)), daemon=True)
    worker.start()
    worker.join(DEADLINE_S)
    assert results, f"sampling did not finish within {DEADLINE_S} s"
    return results[0]


NASTY: dict[str, Any] = {
    # The issue's 264-byte schema: a million items.
    "million_items": {
        "type": "object",
        "properties": {"xs": {"type": "array", "items": {"type": "string"}, "minItems": 10**6}},
        "required": ["xs"],
    },
    # A 10 KB const under two levels of minItems: copied 10,000 times, 99 MB, before.
    "const_reuse": {
        "type": "array",
        "minItems": 100,
        "items": {"type": "array", "minItems": 100, "items": {"const": BIG}},
    },
    "enum_reuse": {
        "type": "array",
        "minItems": 100,
        "items": {"type": "array", "minItems": 100, "items": {"enum": [BIG]}},
    },
    "ref_to_a_big_const": {
        "$defs": {"b": {"const": BIG}},
        "type": "object",
        "properties": {f"p{i}": {"$ref": "#/$defs/b"} for i in range(200)},
        "required": [f"p{i}" for i in range(200)],
    },
    "many_required_long_strings": {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "minLength": 1000} for i in range(5000)},
        "required": [f"p{i}" for i in range(5000)],
    },
    "many_optional_properties": {
        "type": "object",
        "properties": {f"p{i}": {"type": "string"} for i in range(20_000)},
    },
    "long_tuple": {"type": "array", "prefixItems": [{"type": "string", "minLength": 1000}] * 5000},
    "dependency_chain": {
        "type": "object",
        "dependentRequired": {f"p{i}": [f"p{i + 1}"] for i in range(5000)},
        "required": ["p0"],
    },
    # allOf of self references branched 2^64 times (a hang) before the step budget.
    "allof_self_refs": {"allOf": [{"$ref": "#"}, {"$ref": "#"}]},
    "allof_self_refs_object": {
        "allOf": [{"$ref": "#"}] * 3,
        "type": "object",
        "properties": {"a": {"$ref": "#"}},
        "required": ["a"],
    },
    "ref_loop": {
        "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
        "$ref": "#/$defs/a",
    },
    "ref_chain_5000": {
        "$defs": {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(5000)}
        | {"d5000": {"type": "string"}},
        "$ref": "#/$defs/d0",
    },
    "big_allof": {
        "allOf": [
            {"properties": {f"p{j}_{i}": {"type": "integer"} for i in range(200)}}
            for j in range(200)
        ]
    },
    "two_required_self_refs": {
        "$ref": "#/$defs/n",
        "$defs": {
            "n": {
                "type": "object",
                "properties": {"a": {"$ref": "#/$defs/n"}, "b": {"$ref": "#/$defs/n"}},
                "required": ["a", "b"],
            }
        },
    },
    # Catastrophic backtracking: `re` took minutes on the event loop for this pattern.
    "redos_pattern": {
        "type": "object",
        "properties": {
            f"s{i}": {"type": "string", "pattern": "^(0+0+)+y$", "minLength": 30} for i in range(50)
        },
        "required": [f"s{i}" for i in range(50)],
    },
    "polynomial_pattern": {"type": "string", "pattern": "^0*0*0*0*0*0*1$", "minLength": 1000},
    "anyof_of_many_nulls": {"anyOf": [{"type": "null"}] * 20_000 + [{"type": "string"}]},
}


@pytest.mark.parametrize("name", sorted(NASTY))
def test_a_nasty_schema_gives_a_bounded_sample_quickly(name: str) -> None:
    schema = NASTY[name]
    value = _within_deadline(sample_from_schema, schema)
    # Bounded whatever the schema's size: at most the budget plus one straddling value.
    assert _size(value) < BOUND + len(BIG)
    arguments = _within_deadline(sample_arguments, schema)
    assert isinstance(arguments, dict)
    assert _size(arguments) < BOUND + len(BIG)


def test_a_small_schema_gets_a_small_answer() -> None:
    for name in ("const_reuse", "enum_reuse", "million_items", "allof_self_refs"):
        schema = NASTY[name]
        assert _size(sample_from_schema(schema)) < BOUND + len(json.dumps(schema))


def test_what_fits_the_budget_stays_valid() -> None:
    # Clamped to 100 items of a 10,000-character budget: still the schema's shape.
    schema = {"type": "array", "items": {"type": "integer", "minimum": 3}, "minItems": 60}
    value = sample_from_schema(schema)
    jsonschema.validate(value, schema)
    assert value == [3] * 60
    pattern = {"type": "string", "pattern": "^[a-z]+$", "minLength": 30}
    jsonschema.validate(sample_from_schema(pattern), pattern)


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"type": "string"},
        {"type": "array", "items": {"type": "integer"}},
        {"type": "integer"},
        {"const": 3},
        {"enum": ["a"]},
        {"anyOf": [{"type": "string"}, {"type": "array"}]},
        {"$ref": "#"},
        {"type": "string", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
        {"description": "no type at all"},
    ],
)
def test_tool_arguments_are_always_an_object(parameters: dict[str, Any]) -> None:
    arguments = sample_arguments(parameters)
    assert isinstance(arguments, dict)
    json.dumps(arguments, allow_nan=False)


def test_properties_survive_a_root_that_names_another_type() -> None:
    schema = {"type": "string", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    assert sample_arguments(schema) == {"x": 1}


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, b"bytes", {1, 2}, {1: "int key"}, [math.nan]]
)
def test_values_json_cannot_carry_never_reach_the_arguments(value: Any) -> None:
    # A schema from JSON cannot hold these; a Python caller or a scenario file can.
    schema = {
        "type": "object",
        "properties": {"c": {"const": value}, "e": {"enum": [value, 2]}},
        "required": ["c", "e"],
    }
    arguments = sample_arguments(schema)
    json.dumps(arguments, allow_nan=False)
    assert arguments["e"] == 2


# --- arbitrary schemas ----------------------------------------------------------------------

_KEYS = st.sampled_from(["a", "b", "c", "k" * 300])
_SIZES = st.one_of(st.integers(0, 5), st.integers(10**5, 10**9), st.just("100000"))
_LEAVES = st.one_of(
    st.just({}),
    st.just(True),
    st.builds(dict, type=st.sampled_from(["string", "integer", "number", "boolean", "null"])),
    st.fixed_dictionaries({"type": st.just("string")}, optional={"minLength": _SIZES}),
    st.fixed_dictionaries({"const": st.one_of(st.just(BIG), st.just(math.nan), st.integers())}),
    st.fixed_dictionaries(
        {"enum": st.lists(st.one_of(st.just(BIG), st.text(max_size=5)), min_size=1, max_size=3)}
    ),
    st.fixed_dictionaries({"$ref": st.sampled_from(["#", "#/$defs/n", "#/nowhere"])}),
    st.fixed_dictionaries(
        {"pattern": st.sampled_from(["^(a+a+)+b$", "^[a-z]+$", "(x"])},
        optional={"minLength": _SIZES},
    ),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("array"), "items": children},
            optional={"minItems": _SIZES, "uniqueItems": st.booleans()},
        ),
        st.fixed_dictionaries(
            {"type": st.just("object"), "properties": st.dictionaries(_KEYS, children, max_size=4)},
            optional={"required": st.lists(_KEYS, max_size=4), "minProperties": _SIZES},
        ),
        st.builds(lambda alts: {"anyOf": alts}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda alts: {"allOf": alts}, st.lists(children, min_size=1, max_size=3)),
    )


_SCHEMAS = st.recursive(_LEAVES, _containers, max_leaves=12)


@seed(18)
@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(schema=_SCHEMAS, defs=_SCHEMAS)
def test_any_schema_gives_strict_json_of_bounded_size(schema: Any, defs: Any) -> None:
    if isinstance(schema, dict):
        schema = {**schema, "$defs": {"n": defs}}
    value = _within_deadline(sample_from_schema, schema)
    assert _size(value) < BOUND + 3 * len(BIG)
    arguments = _within_deadline(sample_arguments, schema)
    assert isinstance(arguments, dict)
    assert _size(arguments) < BOUND + 3 * len(BIG)


# --- through the server, with the official SDK ----------------------------------------------


def _tool_call_arguments(server: BackgroundServer, parameters: dict[str, Any]) -> str:
    with openai_client_for(server) as client:
        reply = client.chat.completions.create(
            model="mock",
            messages=[{"role": "user", "content": "call it"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": parameters}}],
            tool_choice="required",
        )
    calls = reply.choices[0].message.tool_calls
    assert calls is not None and calls[0].type == "function"
    return calls[0].function.arguments


def _strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    "name",
    ["million_items", "const_reuse", "ref_to_a_big_const", "allof_self_refs", "redos_pattern"],
)
def test_the_mock_answers_a_nasty_tool_schema_with_small_json(
    server: BackgroundServer, name: str
) -> None:
    schema = NASTY[name]
    if schema.get("type") not in (None, "object"):
        # The dialect takes object parameters only: the nasty part goes one level down.
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    arguments = _tool_call_arguments(server, schema)
    assert isinstance(_strict(arguments), dict)
    assert len(arguments) < BOUND + len(BIG)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, {}),
        ({"anyOf": [{"type": "integer"}]}, {}),
        ({"description": "untyped"}, {}),
        ({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}, {"n": 1}),
    ],
)
def test_mock_tool_arguments_are_a_json_object(
    server: BackgroundServer, parameters: dict[str, Any], expected: Any
) -> None:
    assert _strict(_tool_call_arguments(server, parameters)) == expected


def test_the_server_stays_responsive_while_sampling(server: BackgroundServer) -> None:
    # The schema that backtracked for minutes: answered, and /health with it, in seconds.
    body = {
        "model": "mock",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": NASTY["redos_pattern"]}}
        ],
        "tool_choice": "required",
    }
    with httpx.Client(base_url=server.url, timeout=10) as http:
        reply = http.post("/v1/chat/completions", json=body)
        assert reply.status_code == 200
        assert http.get("/health").status_code == 200


def test_a_scenario_with_nan_arguments_fails_at_load(tmp_path: Any) -> None:
    # YAML reads `.nan`; the mock would have sent `{"x":NaN}` as the call's arguments.
    path = tmp_path / "nan.yaml"
    path.write_text("rules:\n  - reply:\n      tool_calls: [{name: f, arguments: {x: .nan}}]\n")
    with pytest.raises(ConfigError, match=r"tool_calls\[0\]\.arguments: not JSON"):
        load_scenario(str(path))
