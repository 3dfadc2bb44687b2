"""A test suite written the way a user of chatmock-lab writes one.

The "application" below is ordinary code on the official SDKs, configured only by the
environment (OPENAI_BASE_URL and friends), as real code is. The tests use nothing from
chatmock-lab but its pytest plugin's `chatmock` fixture, which replays the shipped
cassette `cassettes/copilot.yaml` (recorded from the fake Copilot upstream); pytest-socket
blocks every connection that is not to loopback, so nothing can reach a real service.
"""

from __future__ import annotations

import json
import socket

import anthropic
import openai
import pytest
from google import genai
from google.genai import types
from pytest_socket import SocketConnectBlockedError

pytestmark = [
    pytest.mark.allow_hosts(["127.0.0.1"]),
    # The same recorded answers serve every test; several tests ask the same question.
    pytest.mark.chatmock("../../cassettes/copilot.yaml", allow_playback_repeats=True),
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


# The application under test.


def greet(client: openai.OpenAI) -> str:
    reply = client.chat.completions.create(
        model="gpt-4.1",
        max_tokens=50,
        messages=[{"role": "user", "content": "Say hello in three words."}],
    )
    return reply.choices[0].message.content or ""


def count_aloud(client: openai.OpenAI) -> list[str]:
    stream = client.chat.completions.create(
        model="gpt-4.1",
        max_tokens=50,
        messages=[{"role": "user", "content": "Count to three."}],
        stream=True,
    )
    return [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]


def weather_lookup(client: openai.OpenAI, city: str) -> dict[str, object]:
    reply = client.chat.completions.create(
        model="gpt-4.1",
        max_tokens=50,
        messages=[{"role": "user", "content": f"What is the weather in {city}?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    (call,) = reply.choices[0].message.tool_calls or []
    return {"tool": call.function.name, **json.loads(call.function.arguments)}  # type: ignore[union-attr]


def explain_product(client: openai.OpenAI) -> tuple[str, str]:
    """The answer, and the model's reasoning shown beside it in the app."""
    reply = client.chat.completions.create(
        model="gpt-5",
        max_tokens=50,
        messages=[{"role": "user", "content": "What is 6 times 7?"}],
        reasoning_effort="low",
    )
    message = reply.choices[0].message
    return message.content or "", (message.model_extra or {}).get("reasoning_content", "")


# The tests.


def test_greeting(chatmock) -> None:
    assert greet(openai.OpenAI(max_retries=0)) == "Hello, cassette world."


def test_streamed_count_arrives_in_pieces(chatmock) -> None:
    pieces = count_aloud(openai.OpenAI(max_retries=0))
    assert "".join(pieces) == "One, two, three."
    assert len([p for p in pieces if p]) > 1


def test_weather_question_becomes_a_tool_call(chatmock) -> None:
    assert weather_lookup(openai.OpenAI(max_retries=0), "Paris") == {
        "tool": "get_weather",
        "city": "Paris",
    }


def test_reasoning_is_shown_beside_the_answer(chatmock) -> None:
    assert explain_product(openai.OpenAI(max_retries=0)) == ("42", "Six sevens make forty-two.")


def test_the_same_recording_answers_a_claude_client(chatmock) -> None:
    reply = anthropic.Anthropic(max_retries=0).messages.create(
        model="gpt-4.1",
        max_tokens=50,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[
            {
                "name": "get_weather",
                "description": "The current weather in a city.",
                "input_schema": WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
            }
        ],
    )
    (call,) = [block for block in reply.content if block.type == "tool_use"]
    assert (reply.stop_reason, call.name, call.input) == (
        "tool_use",
        "get_weather",
        {"city": "Paris"},
    )


def test_and_a_gemini_client(chatmock) -> None:
    # Kept in a variable: a google-genai client closes its HTTP client when collected.
    client = genai.Client()
    reply = client.models.generate_content(
        model="gpt-4.1",
        contents="Say hello in three words.",
        config=types.GenerateContentConfig(max_output_tokens=50),
    )
    assert reply.text == "Hello, cassette world."


def test_a_question_never_recorded_fails_loudly(chatmock) -> None:
    with pytest.raises(openai.NotFoundError, match=r"copilot\.yaml: no recorded request matches"):
        weather_lookup(openai.OpenAI(max_retries=0), "Oslo")


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_the_network_really_is_blocked() -> None:
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
