"""The Anthropic Messages dialect through the official anthropic SDK against the running proxy."""

from __future__ import annotations

import base64
import json

import anthropic
import httpx
import jsonschema
import pytest

from chatmock_lab.core import ImagePart
from chatmock_lab.providers.mock import SIGNATURE_PREFIX
from tests.support import RecordingProvider, png_data_url, sse_events

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
}
USER = [{"role": "user", "content": "Hello Claude"}]


def anthropic_client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-test-not-a-secret", max_retries=0)


@pytest.fixture
def claude(server):
    with anthropic_client(server.url) as client:
        yield client


def raw_events(url: str, body: dict, **headers: str) -> list[tuple[str, dict]]:
    response = httpx.post(
        f"{url}/v1/messages",
        json={**body, "stream": True},
        headers={"anthropic-version": "2023-06-01", "x-api-key": "k", **headers},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse_events(response.text)


def test_non_streaming_and_streaming_agree(claude) -> None:
    request = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 256, "messages": USER}
    message = claude.messages.create(**request)
    assert message.id.startswith("msg_")
    assert (message.type, message.role, message.model) == (
        "message",
        "assistant",
        "claude-sonnet-4-5-20250929",
    )
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "You said: Hello Claude"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None

    with claude.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == message.content[0].text
    assert final.content[0].text == message.content[0].text
    assert final.usage.input_tokens == message.usage.input_tokens
    assert final.usage.output_tokens == message.usage.output_tokens

    pieces, usage = [], {}
    for event in claude.messages.create(stream=True, **request):
        if event.type == "content_block_delta":
            pieces.append(event.delta.text)
        if event.type == "message_start":
            usage["input"] = event.message.usage.input_tokens
        if event.type == "message_delta":
            usage["output"] = event.usage.output_tokens
    assert "".join(pieces) == message.content[0].text
    assert usage == {"input": message.usage.input_tokens, "output": message.usage.output_tokens}


def test_raw_event_sequence_for_text(server) -> None:
    events = raw_events(server.url, {"model": "c", "max_tokens": 50, "messages": USER})
    names = [name for name, _ in events]
    assert names[:4] == ["message_start", "ping", "content_block_start", "content_block_delta"]
    assert names[-4:] == [
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert set(names[3:-3]) == {"content_block_delta"}
    for name, data in events:
        assert data["type"] == name
        if name.startswith("content_block"):
            assert data["index"] == 0
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] > 0
    assert events[2][1]["content_block"] == {"type": "text", "text": ""}
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "You said: Hello Claude"
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] > 0


def test_raw_event_sequence_for_thinking_then_text(server) -> None:
    body = {
        "model": "c",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": USER,
    }
    events = raw_events(server.url, body)
    blocks = [
        (n, d.get("index"), (d.get("delta") or d.get("content_block") or {}).get("type"))
        for n, d in events
    ]
    thinking = [b for b in blocks if b[1] == 0]
    text = [b for b in blocks if b[1] == 1]
    assert thinking[0] == ("content_block_start", 0, "thinking")
    assert {b[2] for b in thinking[1:-2]} == {"thinking_delta"}
    assert thinking[-2:] == [
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
    ]
    assert text[0] == ("content_block_start", 1, "text")
    assert text[-1] == ("content_block_stop", 1, None)
    # Block 0 is closed before block 1 opens.
    assert blocks.index(("content_block_stop", 0, None)) < blocks.index(
        ("content_block_start", 1, "text")
    )
    assert [n for n, _ in events][-2:] == ["message_delta", "message_stop"]
    signature = next(
        d["delta"]["signature"]
        for n, d in events
        if d.get("delta", {}).get("type") == "signature_delta"
    )
    assert base64.b64decode(signature).startswith(SIGNATURE_PREFIX)


def test_thinking_round_trip_through_the_sdk(claude) -> None:
    request = {
        "model": "claude-opus-4-1",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "messages": USER,
    }
    message = claude.messages.create(**request)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert "thinking budget of 2000 tokens" in message.content[0].thinking
    assert base64.b64decode(message.content[0].signature).startswith(SIGNATURE_PREFIX)
    with claude.messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in message.content]
    assert final.usage.output_tokens == message.usage.output_tokens
    # Thinking blocks sent back with their signature are accepted.
    follow_up = claude.messages.create(
        model="claude-opus-4-1",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[
            *USER,
            {"role": "assistant", "content": [b.model_dump() for b in message.content]},
            {"role": "user", "content": "and again"},
        ],
    )
    assert follow_up.content[-1].text == "You said: and again"


def test_thinking_is_not_sent_when_not_enabled(claude) -> None:
    message = claude.messages.create(
        model="c", max_tokens=100, messages=USER, thinking={"type": "disabled"}
    )
    assert [b.type for b in message.content] == ["text"]


def test_raw_event_sequence_for_two_parallel_tool_calls(tmp_path, start_server) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(
        json.dumps(
            {
                "rules": [
                    {
                        "reply": {
                            "text": "Let me check both.",
                            "tool_calls": [
                                {
                                    "name": "get_weather",
                                    "arguments": {"city": "Paris", "unit": "celsius"},
                                },
                                {
                                    "name": "get_weather",
                                    "arguments": {"city": "Tokyo", "unit": "fahrenheit"},
                                },
                            ],
                        }
                    }
                ]
            }
        )
    )
    server = start_server(scenario=scenario, mock_chunk_chars=5)
    body = {"model": "c", "max_tokens": 500, "messages": USER, "tools": [WEATHER]}
    events = raw_events(server.url, body)
    opened = [(d["index"], d["content_block"]) for n, d in events if n == "content_block_start"]
    assert [i for i, _ in opened] == [0, 1, 2]
    assert opened[0][1] == {"type": "text", "text": ""}
    assert [(b["type"], b["name"], b["input"]) for _, b in opened[1:]] == [
        ("tool_use", "get_weather", {}),
        ("tool_use", "get_weather", {}),
    ]
    assert opened[1][1]["id"] != opened[2][1]["id"]
    # One block at a time: every delta belongs to the block opened last and not yet stopped.
    current = None
    arguments: dict[int, str] = {1: "", 2: ""}
    for name, data in events:
        if name == "content_block_start":
            assert current is None
            current = data["index"]
        elif name == "content_block_delta":
            assert data["index"] == current
            if data["delta"]["type"] == "input_json_delta":
                arguments[current] += data["delta"]["partial_json"]
        elif name == "content_block_stop":
            assert data["index"] == current
            current = None
    assert json.loads(arguments[1]) == {"city": "Paris", "unit": "celsius"}
    assert json.loads(arguments[2]) == {"city": "Tokyo", "unit": "fahrenheit"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    with anthropic_client(server.url) as client:
        message = client.messages.create(**body)
        with client.messages.stream(**body) as stream:
            final = stream.get_final_message()
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert [b.input for b in final.content[1:]] == [b.input for b in message.content[1:]]


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "get_weather"}])
def test_forced_tool_use_is_schema_valid(claude, choice) -> None:
    message = claude.messages.create(
        model="c", max_tokens=200, messages=USER, tools=[WEATHER], tool_choice=choice
    )
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use" and block.name == "get_weather"
    jsonschema.validate(block.input, WEATHER["input_schema"])


def test_tool_round_trip(claude) -> None:
    first = claude.messages.create(
        model="c", max_tokens=200, messages=USER, tools=[WEATHER], tool_choice={"type": "any"}
    )
    call = first.content[0]
    second = claude.messages.create(
        model="c",
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            *USER,
            # Echoed as an SDK user would, null fields (such as `caller`) included.
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": call.id,
                        "content": [{"type": "text", "text": "21 C, clear"}],
                    },
                ],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert "get_weather returned: 21 C, clear" in second.content[0].text
    failed = claude.messages.create(
        model="c",
        max_tokens=200,
        messages=[
            *USER,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": call.id,
                        "content": "boom",
                        "is_error": True,
                    }
                ],
            },
        ],
    )
    assert "get_weather failed with: boom" in failed.content[0].text


def test_system_blocks_images_documents_and_headers(start_server) -> None:
    recorder = RecordingProvider()
    running = start_server(provider=recorder)
    with anthropic.Anthropic(
        base_url=running.url, auth_token="bearer-token", max_retries=0
    ) as client:
        png = png_data_url(8, 8).split(",", 1)[1]
        message = client.messages.create(
            model="claude-3-5-haiku-latest",
            max_tokens=100,
            system=[
                {
                    "type": "text",
                    "text": "You are terse.",
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "text", "text": "Answer in French."},
            ],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": png,
                            },
                        },
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/a.jpg"},
                        },
                        {
                            "type": "document",
                            "source": {
                                "type": "text",
                                "media_type": "text/plain",
                                "data": "doc text",
                            },
                            "title": "Notes",
                        },
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBERi0xLjQ=",
                            },
                        },
                        {
                            "type": "text",
                            "text": "What is this?",
                            "cache_control": {"type": "ephemeral"},
                        },
                    ],
                }
            ],
            # Sampling fields are gone from the newest SDK's signature but still on the wire.
            extra_body={"top_k": 5, "temperature": 0.5},
            stop_sequences=["\n\nHuman:"],
            metadata={"user_id": "user-1"},
            extra_headers={
                "anthropic-beta": "prompt-caching-2024-07-31, interleaved-thinking-2025-05-14"
            },
        )
    assert message.content[0].text == "You said: What is this? [2 images] [2 documents]"
    assert message.model == "claude-3-5-haiku-latest"
    (seen,) = recorder.requests
    assert [p.text for p in seen.system] == ["You are terse.", "Answer in French."]
    assert seen.system[0].cache_control == {"type": "ephemeral"}
    parts = seen.messages[0].parts
    assert parts[0] == ImagePart(data=png, media_type="image/png")
    assert parts[1] == ImagePart(url="https://example.com/a.jpg")
    assert (parts[2].text, parts[2].title) == ("doc text", "Notes")
    assert (parts[3].media_type, parts[3].data) == ("application/pdf", "JVBERi0xLjQ=")
    assert (seen.top_k, seen.temperature, seen.stop, seen.user) == (
        5,
        0.5,
        ["\n\nHuman:"],
        "user-1",
    )
    assert seen.extensions["anthropic-beta"] == [
        "prompt-caching-2024-07-31",
        "interleaved-thinking-2025-05-14",
    ]


def test_stop_sequence_and_max_tokens(claude) -> None:
    stopped = claude.messages.create(
        model="c",
        max_tokens=100,
        messages=[{"role": "user", "content": "one two three"}],
        stop_sequences=["two"],
    )
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == "two"
    assert stopped.content[0].text == "You said: one "
    capped = claude.messages.create(model="c", max_tokens=2, messages=USER)
    assert capped.stop_reason == "max_tokens"
    assert capped.usage.output_tokens == 2


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"tools": [WEATHER]},
        {"system": "You are a meticulous assistant."},
        {
            "system": [{"type": "text", "text": "Be brief."}],
            "tools": [WEATHER],
            "tool_choice": {"type": "auto"},
        },
    ],
)
def test_count_tokens_equals_the_mocks_input_tokens(claude, extra) -> None:
    for messages in (
        USER,
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe it"},
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": png_data_url(300, 200).split(",", 1)[1],
                        },
                    },
                ],
            }
        ],
    ):
        counted = claude.messages.count_tokens(model="c", messages=messages, **extra)
        message = claude.messages.create(model="c", max_tokens=100, messages=messages, **extra)
        assert counted.input_tokens == message.usage.input_tokens


def test_an_image_counts_by_size_not_base64_length(claude) -> None:
    def count(width: int, height: int) -> int:
        data = png_data_url(width, height).split(",", 1)[1]
        return claude.messages.count_tokens(
            model="c",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": data},
                        }
                    ],
                }
            ],
        ).input_tokens

    base = count(1, 1)
    assert count(300, 250) - base == 100 - 1  # 75,000 px / 750 per token, vs 1 token


def test_model_names_pass_unchanged(claude) -> None:
    for model in ("claude-sonnet-4-5-20250929", "claude-3-5-haiku-latest", "claude-opus-4-1"):
        assert claude.messages.create(model=model, max_tokens=10, messages=USER).model == model


def test_models_list_in_anthropics_shape(claude) -> None:
    page = claude.models.list()
    assert [m.id for m in page.data] == ["mock", "mock-reasoning", "mock-embedding"]
    assert page.data[0].type == "model"
    assert claude.models.retrieve("claude-opus-4-1").id == "claude-opus-4-1"


def test_pings_keep_a_silent_stream_alive(tmp_path, start_server) -> None:
    scenario = tmp_path / "s.json"
    scenario.write_text(
        json.dumps({"rules": [{"reply": {"text": "slow", "chunk_chars": 2, "delay_ms": 300}}]})
    )
    server = start_server(scenario=scenario, keepalive_seconds=0.05)
    names = [
        n for n, _ in raw_events(server.url, {"model": "c", "max_tokens": 50, "messages": USER})
    ]
    between = names[names.index("content_block_start") : names.index("content_block_stop")]
    assert "ping" in between
    assert names.count("message_start") == 1 and names[-1] == "message_stop"


def test_beta_query_parameter_is_accepted(server) -> None:
    response = httpx.post(
        f"{server.url}/v1/messages?beta=true",
        json={"model": "c", "max_tokens": 10, "messages": USER},
        headers={"anthropic-version": "2023-06-01", "x-api-key": "k"},
    )
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == "You said: Hello Claude"
