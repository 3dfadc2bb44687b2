"""Scripted replies: matching, replies of every kind, pacing, and validation at startup."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import jsonschema
import pytest

from chatmock_lab.config import ConfigError
from chatmock_lab.providers.scenario import load_scenario, parse_scenario
from tests.support import openai_client_for, sse_payloads

SCENARIO = """
rules:
  - match: {model: "gpt-4*", contains: "weather"}
    reply:
      reasoning: "Weather needs a tool."
      tool_calls:
        - {name: get_weather, arguments: {city: Paris}}
        - {name: get_weather}
  - match: {contains: "weather"}
    reply: "Sunny everywhere."
  - match: {model: "slow-*"}
    reply: {text: "paced reply", chunk_chars: 2, delay_ms: 1}
  - match: {contains: "cut"}
    reply: {text: "cut short", finish_reason: length}
"""

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def scripted(tmp_path, start_server):
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    server = start_server(scenario=path)
    with openai_client_for(server) as client:
        yield server, client


def test_first_matching_rule_wins(scripted) -> None:
    _, client = scripted
    other_model = client.chat.completions.create(
        model="claude-x", messages=[{"role": "user", "content": "weather?"}]
    )
    assert other_model.choices[0].message.content == "Sunny everywhere."
    unmatched = client.chat.completions.create(
        model="claude-x", messages=[{"role": "user", "content": "hello"}]
    )
    assert unmatched.choices[0].message.content == "You said: hello"


def test_scripted_parallel_tool_calls_with_reasoning(scripted) -> None:
    _, client = scripted
    request = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "weather in two cities"}],
        "tools": [TOOL],
    }
    reply = client.chat.completions.create(**request)
    message = reply.choices[0].message
    assert reply.choices[0].finish_reason == "tool_calls"
    assert message.model_extra["reasoning_content"] == "Weather needs a tool."
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [
        {"city": "Paris"},
        {"city": "example city"},
    ]
    for call in message.tool_calls:
        jsonschema.validate(json.loads(call.function.arguments), TOOL["function"]["parameters"])
    assert len({c.id for c in message.tool_calls}) == 2
    with client.chat.completions.stream(**request) as stream:
        final = stream.get_final_completion()
    assert [c.function.arguments for c in final.choices[0].message.tool_calls] == [
        c.function.arguments for c in message.tool_calls
    ]


def test_parallel_call_deltas_interleave_on_the_wire(scripted) -> None:
    server, _ = scripted
    body = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={
            "model": "gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "weather"}],
            "tools": [TOOL],
        },
        timeout=5,
    ).text
    indexes = [
        p["choices"][0]["delta"]["tool_calls"][0]["index"]
        for p in sse_payloads(body)
        if isinstance(p, dict) and p.get("choices") and "tool_calls" in p["choices"][0]["delta"]
    ]
    assert indexes[:2] == [0, 1]  # both calls open first
    assert indexes[2:6] == [0, 1, 0, 1]  # then their arguments alternate


def test_pacing_overrides_chunk_size(scripted) -> None:
    _, client = scripted
    chunks = [
        c.choices[0].delta.content
        for c in client.chat.completions.create(
            model="slow-1", messages=[{"role": "user", "content": "x"}], stream=True
        )
        if c.choices and c.choices[0].delta.content
    ]
    assert chunks == ["pa", "ce", "d ", "re", "pl", "y"]


def test_finish_reason_override(scripted) -> None:
    _, client = scripted
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "cut"}])
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == "cut short"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (
            {"rules": [{"reply": {"error": {"status": 200, "message": "x"}}}]},
            "rules[0].reply.error.status",
        ),
        ({"rules": [{}, {"match": {"model": 3}, "reply": "x"}]}, "rules[0].reply"),
        (
            {"rules": [{"reply": "ok"}, {"match": {"model": 3}, "reply": "x"}]},
            "rules[1].match.model",
        ),
        ({"rules": [{"match": {"user": "x"}, "reply": "x"}]}, "rules[0].match.user"),
        ({"rules": [{"reply": {"txt": "x"}}]}, "rules[0].reply.txt"),
        (
            {"rules": [{"reply": {"tool_calls": [{"arguments": {}}]}}]},
            "rules[0].reply.tool_calls[0].name",
        ),
        ({"rules": [{"reply": {"chunk_chars": 0}}]}, "rules[0].reply.chunk_chars"),
        ({"rules": [{"reply": {"delay_ms": -1}}]}, "rules[0].reply.delay_ms"),
        ({"rules": [{"reply": {"finish_reason": "done"}}]}, "rules[0].reply.finish_reason"),
        ({"rules": [{"reply": {"error": {"status": 500}}}]}, "rules[0].reply.error.message"),
        ({"rules": "none"}, "rules"),
        ({"rulez": []}, "rulez"),
    ],
)
def test_invalid_scenarios_name_the_rule_and_field(data, where) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, source="s.json")
    assert f"scenario file s.json: {where}:" in str(caught.value)


def test_unreadable_and_unparsable_files(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_scenario(tmp_path / "missing.json")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{rules: [")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_scenario(bad_json)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("rules: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_scenario(bad_yaml)


def test_invalid_scenario_fails_at_startup(tmp_path) -> None:
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {"rules": [{"reply": "fine"}, {"reply": {"error": {"status": 99, "message": "m"}}}]}
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "chatmock_lab", "serve", "--port", "0", "--scenario", str(path)],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "rules[1].reply.error.status: expected an integer between 400 and 599" in result.stderr
    assert "Traceback" not in result.stderr
