"""The Responses dialect as the Codex backend speaks it: request building, stream
parsing and error bodies, all pure (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from chatmock_lab.core import (
    ChatRequest,
    ChatResponse,
    DocumentPart,
    Error,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    ReasoningConfig,
    ReasoningDelta,
    ReasoningPart,
    ResponseFormat,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
    Usage,
    collect,
)
from chatmock_lab.dialects.responses import (
    REPLAY_REASONING,
    UpstreamResponsesStream,
    build_upstream_request,
    looks_like_encrypted_reasoning,
    upstream_error,
)

ENCRYPTED = "gAAAAABoX1y2abc_DEF-123=="
ANTHROPIC_SIGNATURE = "EqQBCkgIBxABGAIiQL0x/Yn+u9wSC8w=="
PNG_DATA = "iVBORw0KGgo="
WEATHER = ToolDefinition(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
TIME = ToolDefinition(name="get_time", parameters={"type": "object", "properties": {}})


def _rich_request() -> ChatRequest:
    return ChatRequest(
        model="gpt-5",
        system=[TextPart("You are terse."), TextPart("Answer in English.")],
        messages=[
            Message(
                "user",
                [
                    TextPart("What is in these?"),
                    ImagePart(data=PNG_DATA, media_type="image/png", detail="high"),
                    ImagePart(url="https://example.com/cat.jpg"),
                    DocumentPart(media_type="application/pdf", data="JVBERi0=", title="a.pdf"),
                ],
            ),
            Message(
                "assistant",
                [
                    ReasoningPart(text="Check both cities.", signature=ENCRYPTED),
                    TextPart("Looking it up."),
                    ToolCallPart(id="call_1", name="get_weather", arguments={"city": "Paris"}),
                    ToolCallPart(id="call_2", name="get_weather", arguments='{"city": "Ro'),
                ],
            ),
            Message(
                "tool",
                [
                    ToolResultPart(tool_call_id="call_1", content=[TextPart("18 C")]),
                    ToolResultPart(
                        tool_call_id="call_2", content=[TextPart("bad JSON")], is_error=True
                    ),
                ],
            ),
            Message("system", [TextPart("Be brief now.")]),
            Message("user", [TextPart("Summarize.")]),
        ],
        tools=[WEATHER, ToolDefinition(name="strict_tool", strict=True)],
        tool_choice=ToolChoice(mode="required", allowed=["get_weather"]),
        max_tokens=500,
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop=["END"],
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        response_format=ResponseFormat(
            type="json_schema", name="summary", schema={"type": "object"}, strict=True
        ),
        reasoning=ReasoningConfig(budget_tokens=4000),
    )


# --------------------------------------------------------------------------- requests


def test_rich_request_builds_every_field() -> None:
    body, notes = build_upstream_request(_rich_request(), prompt_cache_key="conv-1")

    assert body["model"] == "gpt-5"
    assert body["instructions"] == "You are terse.\n\nAnswer in English."
    assert body["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is in these?"},
                {
                    "type": "input_image",
                    "image_url": f"data:image/png;base64,{PNG_DATA}",
                    "detail": "high",
                },
                {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
                {
                    "type": "input_file",
                    "file_data": "data:application/pdf;base64,JVBERi0=",
                    "filename": "a.pdf",
                },
            ],
        },
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Check both cities."}],
            "encrypted_content": ENCRYPTED,
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Looking it up."}],
        },
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {
            "type": "function_call",
            "call_id": "call_2",
            "name": "get_weather",
            "arguments": '{"city": "Ro',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18 C"},
        {"type": "function_call_output", "call_id": "call_2", "output": "Error: bad JSON"},
        {
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": "Be brief now."}],
        },
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Summarize."}],
        },
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": WEATHER.parameters,
            "strict": False,
        },
        {
            "type": "function",
            "name": "strict_tool",
            "parameters": {"type": "object", "properties": {}},
            "strict": True,
        },
    ]
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert body["parallel_tool_calls"] is True
    # 4000 budget tokens: the same threshold table as the Chat Completions upstream.
    assert body["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert body["store"] is False
    assert body["stream"] is True
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["prompt_cache_key"] == "conv-1"
    assert body["text"] == {
        "format": {
            "type": "json_schema",
            "name": "summary",
            "schema": {"type": "object"},
            "strict": True,
        }
    }
    rejected = ("max_output_tokens", "temperature", "top_p", "top_k", "stop", "seed")
    for name in (*rejected, "presence_penalty", "frequency_penalty", "max_tokens"):
        assert name not in body
    for name in (*rejected, "presence_penalty", "frequency_penalty"):
        assert any(note.startswith(f"{name}: dropped deliberately") for note in notes), name
    assert len(notes) == 8


def test_minimal_request_has_empty_instructions_and_no_optional_fields() -> None:
    request = ChatRequest(model="gpt-5", messages=[Message("user", [TextPart("hi")])])
    body, notes = build_upstream_request(request)
    assert body == {
        "model": "gpt-5",
        "instructions": "",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ],
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
    }
    assert notes == []


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, "auto"),
        (ToolChoice(mode="auto"), "auto"),
        (ToolChoice(mode="none"), "none"),
        (ToolChoice(mode="required"), "required"),
        (
            ToolChoice(mode="required", allowed=["get_time"]),
            {"type": "function", "name": "get_time"},
        ),
    ],
)
def test_tool_choice(choice: ToolChoice | None, expected: Any) -> None:
    request = ChatRequest(model="m", tools=[WEATHER, TIME], tool_choice=choice)
    body, notes = build_upstream_request(request)
    assert body["tool_choice"] == expected
    assert [t["name"] for t in body["tools"]] == ["get_weather", "get_time"]
    assert notes == []


def test_allowed_tools_narrow_the_tool_list() -> None:
    request = ChatRequest(
        model="m",
        tools=[WEATHER, TIME, ToolDefinition(name="other")],
        tool_choice=ToolChoice(mode="auto", allowed=["get_time", "other"]),
        parallel_tool_calls=False,
    )
    body, notes = build_upstream_request(request)
    assert [t["name"] for t in body["tools"]] == ["get_time", "other"]
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False
    assert notes == ["tool_choice.allowed: sent as a narrowed tools list"]


def test_tool_choice_without_tools_is_noted() -> None:
    body, notes = build_upstream_request(
        ChatRequest(model="m", tool_choice=ToolChoice(mode="required"))
    )
    assert "tools" not in body and "tool_choice" not in body and "parallel_tool_calls" not in body
    assert notes == ["tool_choice: no tools to choose from"]


def test_reasoning_effort_and_json_object() -> None:
    request = ChatRequest(
        model="m",
        reasoning=ReasoningConfig(effort="high", include=False),
        response_format=ResponseFormat(type="json_object"),
    )
    body, _ = build_upstream_request(request)
    assert body["reasoning"] == {"effort": "high"}
    assert body["text"] == {"format": {"type": "json_object"}}


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (2048, "medium"), (8192, "high")])
def test_effort_from_budget(budget: int, effort: str) -> None:
    request = ChatRequest(model="m", reasoning=ReasoningConfig(budget_tokens=budget))
    assert build_upstream_request(request)[0]["reasoning"]["effort"] == effort


def _assistant_with(*parts: Any, **extensions: Any) -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=[Message("assistant", [*parts, TextPart("ok")])],
        extensions=dict(extensions),
    )


def test_encrypted_content_shape() -> None:
    assert looks_like_encrypted_reasoning(ENCRYPTED)
    assert not looks_like_encrypted_reasoning(ANTHROPIC_SIGNATURE)
    assert not looks_like_encrypted_reasoning("Y2hhdG1vY2stbGFiIG1vY2s=")


def test_foreign_and_unsigned_reasoning_is_dropped_with_notes() -> None:
    body, notes = build_upstream_request(
        _assistant_with(
            ReasoningPart("thought", signature=ANTHROPIC_SIGNATURE),
            ReasoningPart("plain thought"),
            ReasoningPart(redacted="opaque"),
        )
    )
    assert [item["type"] for item in body["input"]] == ["message"]
    assert notes == [
        "messages[0]: reasoning is not replayed (its signature is foreign)",
        "messages[0]: reasoning is not replayed (it has no encrypted content)",
        "messages[0]: redacted reasoning from another vendor is not sent",
    ]


def test_replay_flag_overrides_the_shape_rule() -> None:
    forced = _assistant_with(
        ReasoningPart("", signature=ANTHROPIC_SIGNATURE), **{REPLAY_REASONING: True}
    )
    body, notes = build_upstream_request(forced)
    assert body["input"][0] == {
        "type": "reasoning",
        "summary": [],
        "encrypted_content": ANTHROPIC_SIGNATURE,
    }
    assert notes == []
    refused = _assistant_with(ReasoningPart("x", signature=ENCRYPTED), **{REPLAY_REASONING: False})
    body, notes = build_upstream_request(refused)
    assert [item["type"] for item in body["input"]] == ["message"]
    assert len(notes) == 1


def test_parts_without_a_responses_form_are_noted() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message("user", [TextPart("a"), DocumentPart(text="notes", title="N")]),
            Message(
                "tool",
                [
                    ToolResultPart(
                        tool_call_id="c",
                        content=[TextPart("see"), ImagePart(url="https://x/y.png")],
                    )
                ],
            ),
            Message("assistant", [ToolCallPart(id="c2", name="f", signature="gemini-sig")]),
        ],
    )
    body, notes = build_upstream_request(request)
    assert body["input"][0]["content"][1] == {"type": "input_text", "text": "N\n\nnotes"}
    assert body["input"][1] == {"type": "function_call_output", "call_id": "c", "output": "see"}
    assert body["input"][2]["arguments"] == "{}"
    assert notes == [
        "messages[1]: images in tool results are not carried over",
        "messages[2]: the thought signature of call c2 is not sent",
    ]


# --------------------------------------------------------------------------- stream


def _run(*payloads: dict[str, Any], close: bool = True) -> list[Event]:
    stream = UpstreamResponsesStream()
    events: list[Event] = []
    for payload in payloads:
        events += stream.feed(payload["type"], payload)
    if close:
        events += stream.close()
    return events


def _completed(usage: dict[str, Any] | None = None, **response: Any) -> dict[str, Any]:
    return {
        "type": "response.completed",
        "response": {"status": "completed", "usage": usage, **response},
    }


USAGE = {
    "input_tokens": 20,
    "input_tokens_details": {"cached_tokens": 5},
    "output_tokens": 12,
    "output_tokens_details": {"reasoning_tokens": 4},
    "total_tokens": 32,
}


def _text_delta(delta: str, item: str = "msg_1", index: int = 0) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "item_id": item,
        "output_index": index,
        "content_index": 0,
        "delta": delta,
    }


def _summary_delta(delta: str, part: int, item: str = "rs_1") -> dict[str, Any]:
    return {
        "type": "response.reasoning_summary_text.delta",
        "item_id": item,
        "output_index": 0,
        "summary_index": part,
        "delta": delta,
    }


def _call_added(item: str, call_id: str, name: str, index: int) -> dict[str, Any]:
    return {
        "type": "response.output_item.added",
        "output_index": index,
        "item": {
            "type": "function_call",
            "id": item,
            "call_id": call_id,
            "name": name,
            "arguments": "",
        },
    }


def _call_done(item: str, call_id: str, name: str, index: int, arguments: str) -> dict[str, Any]:
    return {
        "type": "response.output_item.done",
        "output_index": index,
        "item": {
            "type": "function_call",
            "id": item,
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
            "status": "completed",
        },
    }


def _args_delta(item: str, index: int, delta: str) -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.delta",
        "item_id": item,
        "output_index": index,
        "delta": delta,
    }


def test_text_stream_with_usage() -> None:
    events = _run(
        {"type": "response.created", "response": {"status": "in_progress"}},
        {"type": "response.in_progress", "response": {"status": "in_progress"}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "message", "id": "msg_1"},
        },
        {"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0},
        _text_delta("Hel"),
        _text_delta("lo"),
        {
            "type": "response.output_text.done",
            "item_id": "msg_1",
            "output_index": 0,
            "text": "Hello",
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "message",
                "id": "msg_1",
                "content": [{"type": "output_text", "text": "Hello"}],
            },
        },
        _completed(USAGE),
    )
    usage = Usage(input_tokens=20, output_tokens=12, cached_tokens=5, reasoning_tokens=4)
    assert events == [TextDelta("Hel"), TextDelta("lo"), usage, Finish("stop")]
    assert collect(events) == ChatResponse(
        parts=[TextPart("Hello")], finish_reason="stop", usage=usage
    )


def test_reasoning_summaries_are_separated_and_signed() -> None:
    events = _run(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_1"},
        },
        {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "summary_index": 0},
        _summary_delta("First ", 0),
        _summary_delta("idea.", 0),
        {"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "summary_index": 1},
        _summary_delta("Second.", 1),
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [],
                "encrypted_content": ENCRYPTED,
            },
        },
        _text_delta("Done", index=1),
        _completed(),
    )
    assert events == [
        ReasoningDelta("First "),
        ReasoningDelta("idea."),
        ReasoningDelta("\n\nSecond."),
        ReasoningDelta("", signature=ENCRYPTED),
        TextDelta("Done"),
        Finish("stop"),
    ]
    response = collect(events)
    assert response.parts == [
        ReasoningPart("First idea.\n\nSecond.", signature=ENCRYPTED),
        TextPart("Done"),
    ]


def test_raw_reasoning_text_and_summary_only_in_done() -> None:
    events = _run(
        {
            "type": "response.reasoning_text.delta",
            "item_id": "rs_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "raw",
        },
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": {
                "type": "reasoning",
                "id": "rs_2",
                "summary": [
                    {"type": "summary_text", "text": "A"},
                    {"type": "summary_text", "text": "B"},
                ],
            },
        },
        _completed(),
    )
    assert events == [ReasoningDelta("raw"), ReasoningDelta("\n\nA\n\nB"), Finish("stop")]


def test_parallel_calls_with_interleaved_argument_deltas() -> None:
    events = _run(
        _call_added("fc_1", "call_a", "get_weather", 0),
        _call_added("fc_2", "call_b", "get_time", 1),
        _args_delta("fc_1", 0, '{"city":'),
        _args_delta("fc_2", 1, '{"tz":'),
        _args_delta("fc_1", 0, '"Paris"}'),
        # Joined by output_index when item_id is missing.
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '"UTC"}'},
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc_1",
            "output_index": 0,
            "arguments": '{"city":"Paris"}',
        },
        _call_done("fc_1", "call_a", "get_weather", 0, '{"city":"Paris"}'),
        _call_done("fc_2", "call_b", "get_time", 1, '{"tz":"UTC"}'),
        # A repeated done must not end the call twice.
        _call_done("fc_2", "call_b", "get_time", 1, '{"tz":"UTC"}'),
        _completed(USAGE),
    )
    assert events == [
        ToolCallStart(0, "call_a", "get_weather"),
        ToolCallStart(1, "call_b", "get_time"),
        ToolCallDelta(0, '{"city":'),
        ToolCallDelta(1, '{"tz":'),
        ToolCallDelta(0, '"Paris"}'),
        ToolCallDelta(1, '"UTC"}'),
        ToolCallEnd(0),
        ToolCallEnd(1),
        Usage(input_tokens=20, output_tokens=12, cached_tokens=5, reasoning_tokens=4),
        Finish("tool_calls"),
    ]
    response = collect(events)
    assert response.parts == [
        ToolCallPart(id="call_a", name="get_weather", arguments={"city": "Paris"}),
        ToolCallPart(id="call_b", name="get_time", arguments={"tz": "UTC"}),
    ]
    assert response.finish_reason == "tool_calls"


def test_arguments_only_in_done_events() -> None:
    events = _run(
        _call_added("fc_1", "call_a", "f", 0),
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc_1",
            "output_index": 0,
            "arguments": '{"a":1}',
        },
        _call_done("fc_1", "call_a", "f", 0, '{"a":1}'),
        _call_added("fc_2", "call_b", "g", 1),
        _call_done("fc_2", "call_b", "g", 1, '{"b":2}'),
        _completed(),
    )
    assert events == [
        ToolCallStart(0, "call_a", "f"),
        ToolCallDelta(0, '{"a":1}'),
        ToolCallEnd(0),
        ToolCallStart(1, "call_b", "g"),
        ToolCallDelta(1, '{"b":2}'),
        ToolCallEnd(1),
        Finish("tool_calls"),
    ]


def test_completed_closes_calls_left_open() -> None:
    events = _run(_call_added("fc_1", "call_a", "f", 0), _args_delta("fc_1", 0, "{}"), _completed())
    assert events[-2:] == [ToolCallEnd(0), Finish("tool_calls")]


def test_output_only_in_the_final_response() -> None:
    output = [
        {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hi"}]},
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "f",
            "arguments": "{}",
        },
    ]
    events = _run({"type": "response.done", "response": {"output": output, "usage": USAGE}})
    assert events[:4] == [
        TextDelta("Hi"),
        ToolCallStart(0, "call_1", "f"),
        ToolCallDelta(0, "{}"),
        ToolCallEnd(0),
    ]
    assert events[-1] == Finish("tool_calls")


@pytest.mark.parametrize(
    ("code", "message", "status", "retry_after"),
    [
        ("rate_limit_exceeded", "Rate limit reached. Please try again in 1.5s.", 429, 1.5),
        ("rate_limit_exceeded", "Please try again in 250ms.", 429, 0.25),
        ("usage_limit_reached", "Limit reached, try again in 30 seconds", 429, 30.0),
        ("insufficient_quota", "You exceeded your current quota.", 429, None),
        ("context_length_exceeded", "Your input exceeds the context window.", 400, None),
        ("usage_not_included", "Your plan does not include Codex.", 403, None),
        ("server_error", "Something went wrong.", 502, None),
    ],
)
def test_response_failed(code: str, message: str, status: int, retry_after: float | None) -> None:
    events = _run(
        {"type": "response.created", "response": {}},
        {
            "type": "response.failed",
            "response": {"status": "failed", "error": {"code": code, "message": message}},
        },
        _text_delta("ignored after the end"),
    )
    assert len(events) == 1
    assert isinstance(events[0], Error)
    error = events[0].error
    assert (error.status, error.code, error.retry_after) == (status, code, retry_after)
    assert message in error.message
    with pytest.raises(type(error)):
        collect(events)


def test_response_failed_without_error_details() -> None:
    [event] = _run({"type": "response.failed", "response": {"status": "failed"}})
    assert isinstance(event, Error)
    assert event.error.status == 502


def test_error_event() -> None:
    [event] = _run(
        _text_delta("partial"),
        {"type": "error", "code": "invalid_prompt", "message": "Bad prompt", "param": "input"},
    )[1:]
    assert isinstance(event, Error)
    assert (event.error.status, event.error.code, event.error.param) == (
        400,
        "invalid_prompt",
        "input",
    )


@pytest.mark.parametrize(
    ("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
def test_incomplete(reason: str, finish: FinishReason) -> None:
    events = _run(
        _text_delta("Once upon"),
        {
            "type": "response.incomplete",
            "response": {
                "status": "incomplete",
                "incomplete_details": {"reason": reason},
                "usage": USAGE,
            },
        },
    )
    assert isinstance(events[1], Usage)
    assert events[2] == Finish(finish)
    assert collect(events).finish_reason == finish


def test_missing_terminal_event_is_an_error() -> None:
    stream = UpstreamResponsesStream()
    assert stream.feed("response.output_text.delta", _text_delta("Hi")) == [TextDelta("Hi")]
    assert not stream.finished
    [event] = stream.close()
    assert isinstance(event, Error)
    assert event.error.status == 502
    assert "ended before completing" in event.error.message
    assert stream.close() == []


def test_exactly_one_finish_and_unknown_events_ignored() -> None:
    stream = UpstreamResponsesStream()
    events: list[Event] = []
    for payload in (
        {"type": "response.queued"},
        {"type": "response.web_search_call.in_progress", "item_id": "ws_1"},
        _text_delta("x"),
        _completed(),
        _completed(),
        {"type": "response.failed", "response": {"error": {"code": "server_error"}}},
    ):
        events += stream.feed(payload["type"], payload)
    events += stream.close()
    assert events == [TextDelta("x"), Finish("stop")]
    assert stream.finished


def test_event_name_used_when_data_has_no_type() -> None:
    stream = UpstreamResponsesStream()
    assert stream.feed("response.output_text.delta", {"delta": "a"}) == [TextDelta("a")]


# --------------------------------------------------------------------------- errors


def test_detail_body() -> None:
    error = upstream_error({"detail": "Instructions are required"}, 400)
    assert (error.status, error.kind) == (400, "invalid_request")
    assert "Instructions are required" in error.message


def test_validation_detail_list() -> None:
    error = upstream_error({"detail": [{"loc": ["body", "input"], "msg": "field required"}]}, 422)
    assert "field required" in error.message


def test_openai_error_body() -> None:
    body = {
        "error": {
            "message": "Provided authentication token is expired.",
            "type": "invalid_request_error",
            "code": "token_expired",
            "param": None,
        }
    }
    error = upstream_error(body, 401)
    assert (error.status, error.kind, error.code) == (401, "authentication", "token_expired")
    assert "token is expired" in error.message


def test_quota_body_with_now() -> None:
    body = {
        "error": {"type": "usage_limit_reached", "plan_type": "plus", "resets_at": 1_700_000_090}
    }
    error = upstream_error(body, 429, now=1_700_000_000.0)
    assert (error.status, error.kind, error.code) == (429, "rate_limit", "usage_limit_reached")
    assert error.retry_after == 90.0
    assert "plus" in error.message
    assert upstream_error(body, 429).retry_after is None
    assert upstream_error(body, 429, now=1_800_000_000.0).retry_after == 0.0


def test_rate_limit_message_and_plain_text() -> None:
    body = {"error": {"code": "rate_limit_exceeded", "message": "Please try again in 20s."}}
    assert upstream_error(body, 429).retry_after == 20.0
    error = upstream_error("  upstream exploded  ", 503)
    assert (error.status, error.kind) == (503, "overloaded")
    assert "upstream exploded" in error.message
    assert upstream_error(None, 500).message == "Upstream error 500: no details"


def test_tool_results_in_a_user_message_come_before_its_text() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message(
                "user",
                [ToolResultPart(tool_call_id="c", content=[TextPart("42")]), TextPart("Thanks")],
            )
        ],
    )
    body, notes = build_upstream_request(request)
    assert body["input"] == [
        {"type": "function_call_output", "call_id": "c", "output": "42"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Thanks"}]},
    ]
    assert notes == []
