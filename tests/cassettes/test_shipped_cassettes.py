"""The cassettes shipped in cassettes/, replayed offline into the official SDKs.

They were recorded by cassettes/record_from_fakes.py from chatmock_lab.testing's fakes;
here nothing of the fakes runs and no credential is given: the cassette answers, and the
proxy uses stand-in credentials. Only loopback is ever connected to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anthropic
import openai
import pytest
from google import genai
from google.genai import types
from openai.types.chat import ChatCompletionMessageFunctionToolCall

import chatmock_lab
from chatmock_lab.cli import main as cli_main

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

# The prompts and answers recorded by cassettes/record_from_fakes.py.
MAX_TOKENS = 50
TEXT_PROMPT = "Say hello in three words."
TEXT_ANSWER = "Hello, cassette world."
STREAM_PROMPT = "Count to three."
STREAM_ANSWER = "One, two, three."
TOOL_PROMPT = "What is the weather in Paris?"
REASONING_PROMPT = "What is 6 times 7?"
REASONING_TEXT = "Six sevens make forty-two."
REASONING_ANSWER = "42"
CITY: dict[str, object] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
WEATHER_DESCRIPTION = "The current weather in a city."


@dataclass(frozen=True)
class Shipped:
    file: str
    provider: str
    fakes: tuple[str, ...]
    model: str
    reasoning_model: str
    # Not credentials: where the provider sends requests, which decides their shape.
    env: Mapping[str, str] = field(default_factory=dict)


SHIPPED = [
    Shipped(
        "openai_compatible.yaml",
        "openai",
        ("FakeOpenAIUpstream",),
        "fake-model-1",
        "fake-model-1",
    ),
    Shipped("chatgpt.yaml", "chatgpt", ("FakeCodexBackend",), "gpt-5", "gpt-5"),
    Shipped("copilot.yaml", "copilot", ("FakeGitHub", "FakeOpenAIUpstream"), "gpt-4.1", "gpt-5"),
]


@pytest.mark.parametrize("shipped", SHIPPED, ids=[s.provider for s in SHIPPED])
def test_shipped_cassette_replays_offline_into_every_sdk(shipped: Shipped) -> None:
    path = CASSETTES / shipped.file
    # Repeats allowed: the openai SDK plays all four interactions, then the anthropic
    # and google-genai SDKs play two of them again.
    with chatmock_lab.cassette(
        path, "none", env=shipped.env, allow_playback_repeats=True
    ) as session:
        metadata = session.transport.cassette.metadata
        assert metadata["providers"] == [shipped.provider]
        assert all(fake in metadata["source"] for fake in shipped.fakes)
        assert "not from the real service" in metadata["source"]
        assert metadata["recorded_with"] == "cassettes/record_from_fakes.py"

        with openai.OpenAI(base_url=session.endpoints.openai, api_key="x", max_retries=0) as gpt:
            text = gpt.chat.completions.create(
                model=shipped.model,
                max_tokens=MAX_TOKENS,
                messages=[{"role": "user", "content": TEXT_PROMPT}],
            )
            assert text.choices[0].message.content == TEXT_ANSWER

            chunks = [
                chunk.choices[0].delta.content or ""
                for chunk in gpt.chat.completions.create(
                    model=shipped.model,
                    max_tokens=MAX_TOKENS,
                    messages=[{"role": "user", "content": STREAM_PROMPT}],
                    stream=True,
                )
                if chunk.choices
            ]
            assert len([c for c in chunks if c]) > 1
            assert "".join(chunks) == STREAM_ANSWER

            tool = gpt.chat.completions.create(
                model=shipped.model,
                max_tokens=MAX_TOKENS,
                messages=[{"role": "user", "content": TOOL_PROMPT}],
                tools=[
                    {
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "description": WEATHER_DESCRIPTION,
                            "parameters": CITY,
                        },
                    }
                ],
            )
            assert tool.choices[0].finish_reason == "tool_calls"
            (call,) = tool.choices[0].message.tool_calls or []
            assert isinstance(call, ChatCompletionMessageFunctionToolCall)
            assert call.function.name == "get_weather"
            assert json.loads(call.function.arguments) == {"city": "Paris"}

            thought = gpt.chat.completions.create(
                model=shipped.reasoning_model,
                max_tokens=MAX_TOKENS,
                messages=[{"role": "user", "content": REASONING_PROMPT}],
                reasoning_effort="low",
            )
            message = thought.choices[0].message
            assert message.content == REASONING_ANSWER
            assert (message.model_extra or {}).get("reasoning_content") == REASONING_TEXT
        assert session.unplayed() == []

        # The same upstream requests, from the other dialects: the same model, prompt,
        # token limit and tool.
        with anthropic.Anthropic(
            base_url=session.endpoints.anthropic, api_key="x", max_retries=0
        ) as claude:
            answer = claude.messages.create(
                model=shipped.model,
                max_tokens=MAX_TOKENS,
                messages=[{"role": "user", "content": TOOL_PROMPT}],
                tools=[
                    {
                        "name": "get_weather",
                        "description": WEATHER_DESCRIPTION,
                        "input_schema": CITY,
                    }
                ],
            )
        assert answer.stop_reason == "tool_use"
        (use,) = answer.content
        assert isinstance(use, anthropic.types.ToolUseBlock)
        assert (use.name, use.input) == ("get_weather", {"city": "Paris"})

        with genai.Client(
            api_key="x", http_options=types.HttpOptions(base_url=session.endpoints.gemini)
        ) as gemini:
            pieces = [
                chunk.text or ""
                for chunk in gemini.models.generate_content_stream(
                    model=shipped.model,
                    contents=STREAM_PROMPT,
                    config=types.GenerateContentConfig(max_output_tokens=MAX_TOKENS),
                )
            ]
        assert "".join(pieces) == STREAM_ANSWER

        assert session.played == 6
        assert session.unplayed() == []


def test_shipped_cassettes_hold_no_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["cassettes", "check", str(CASSETTES)]) == 0
    report = capsys.readouterr().out
    for shipped in SHIPPED:
        assert f"{CASSETTES / shipped.file}: ok" in report
