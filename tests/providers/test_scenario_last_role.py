"""Scenario rules matched on the role of the last message (`last_role`): a rule that
calls a tool answers the user's turn only, so the turn carrying the tool's result falls
through to the mock's default, which quotes it. An agent loop (Codex CLI's, in
tests/test_real_clients.py) ends instead of calling the tool forever."""

from __future__ import annotations

import json

import pytest

from chatmock_lab.config import ConfigError
from chatmock_lab.providers.scenario import load_scenario, parse_scenario
from tests.support import openai_client_for

SCENARIO = """
rules:
  - match: {contains: "list the files", last_role: user}
    reply:
      tool_calls: [{name: run, arguments: {cmd: "ls"}}]
"""

TOOL = {
    "type": "function",
    "function": {
        "name": "run",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
    },
}


def test_the_tool_result_turn_falls_through_to_the_quote(tmp_path, start_server) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(SCENARIO)
    server = start_server(scenario=path)
    asked = [{"role": "user", "content": "please list the files"}]
    with openai_client_for(server) as client:
        first = client.chat.completions.create(model="m", messages=asked, tools=[TOOL])
        call = first.choices[0].message.tool_calls[0]
        assert (call.function.name, json.loads(call.function.arguments)) == ("run", {"cmd": "ls"})
        history = [
            *asked,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "a.txt b.txt"},
        ]
        second = client.chat.completions.create(model="m", messages=history, tools=[TOOL])
    # The last user message still says "list the files"; only the role changed.
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.tool_calls is None
    assert "a.txt b.txt" in second.choices[0].message.content


def test_the_codex_scenario_file_loads() -> None:
    from tests.test_real_clients import CODEX_SHELL_SCENARIO

    rule = load_scenario(CODEX_SHELL_SCENARIO).rules[0]
    assert rule.last_role == "user"
    assert [c.name for c in rule.reply.tool_calls] == ["exec_command"]


def test_an_unknown_role_is_named() -> None:
    with pytest.raises(ConfigError, match=r"rules\[0\]\.match\.last_role.*'tool'"):
        parse_scenario({"rules": [{"match": {"last_role": "function"}, "reply": "x"}]})
