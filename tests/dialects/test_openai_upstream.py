"""Translation to and from OpenAI-compatible upstreams, without a network."""

from __future__ import annotations

from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    Error,
    ImagePart,
    Message,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
    Usage,
    collect,
)
from chatmock_lab.dialects.openai import (
    UpstreamChatStream,
    build_upstream_request,
    events_from_completion,
)


def chunk(delta=None, finish=None, index=0, usage=None, choices=True) -> dict:
    payload: dict = {"object": "chat.completion.chunk"}
    payload["choices"] = (
        [{"index": index, "delta": delta or {}, "finish_reason": finish}] if choices else []
    )
    if usage is not None:
        payload["usage"] = usage
    return payload


def run(payloads) -> list:
    stream = UpstreamChatStream()
    events = []
    for payload in payloads:
        events += stream.feed(payload)
    return events + stream.close()


def test_text_reasoning_usage_and_finish() -> None:
    response = collect(
        run(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"reasoning_content": "think"}),
                chunk({"reasoning": " more"}),
                chunk({"content": "Hel"}),
                chunk({"content": "lo"}),
                chunk(finish="length"),
                chunk(
                    choices=False,
                    usage={
                        "prompt_tokens": 5,
                        "completion_tokens": 7,
                        "prompt_tokens_details": {"cached_tokens": 2},
                        "completion_tokens_details": {"reasoning_tokens": 3},
                    },
                ),
            ]
        )
    )
    assert response.text() == "Hello" and response.reasoning() == "think more"
    assert response.finish_reason == "length"
    assert response.usage == Usage(
        input_tokens=5, output_tokens=7, cached_tokens=2, reasoning_tokens=3
    )


def test_interleaved_tool_call_fragments_join_by_index() -> None:
    response = collect(
        run(
            [
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_A",
                                "type": "function",
                                "function": {"name": "a", "arguments": ""},
                            }
                        ]
                    }
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_B",
                                "type": "function",
                                "function": {"name": "b", "arguments": '{"y"'},
                            }
                        ]
                    }
                ),
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                chunk({"tool_calls": [{"index": 1, "function": {"arguments": ":2}"}}]}),
                chunk(finish="tool_calls"),
            ]
        )
    )
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls()] == [
        ("call_A", "a", {"x": 1}),
        ("call_B", "b", {"y": 2}),
    ]
    assert response.finish_reason == "tool_calls"


def test_every_call_at_index_zero_is_told_apart_by_its_id() -> None:
    response = collect(
        run(
            [
                chunk(
                    {
                        "tool_calls": [
                            {"index": 0, "id": "c1", "function": {"name": "a", "arguments": "{}"}}
                        ]
                    }
                ),
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c2",
                                "function": {"name": "b", "arguments": '{"k":1}'},
                            }
                        ]
                    }
                ),
                chunk(finish="stop"),
            ]
        )
    )
    assert [(c.id, c.arguments) for c in response.tool_calls()] == [("c1", {}), ("c2", {"k": 1})]
    assert response.finish_reason == "tool_calls"  # calls were made, whatever the upstream said


def test_split_choices_merge_into_one_answer() -> None:
    response = collect(
        run(
            [
                chunk({"content": "Let me look."}, index=0),
                chunk(
                    {
                        "tool_calls": [
                            {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}
                        ]
                    },
                    index=1,
                ),
                chunk(finish="stop", index=0),
                chunk(finish="tool_calls", index=1),
            ]
        )
    )
    assert response.text() == "Let me look."
    assert [c.id for c in response.tool_calls()] == ["c1"]


def test_error_payload_mid_stream() -> None:
    events = UpstreamChatStream().feed({"error": {"message": "overloaded", "type": "server_error"}})
    assert isinstance(events[0], Error)
    assert "overloaded" in events[0].error.message


def test_whole_completion_answer_to_a_streaming_request() -> None:
    response = collect(
        events_from_completion(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "hi",
                            "tool_calls": [
                                {
                                    "id": "c",
                                    "type": "function",
                                    "function": {"name": "f", "arguments": '{"a":1}'},
                                }
                            ],
                        },
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2},
            }
        )
    )
    assert response.text() == "hi"
    assert response.tool_calls()[0].arguments == {"a": 1}
    assert response.usage.total_tokens == 3


def test_upstream_request_from_a_rich_canonical_request() -> None:
    request = ChatRequest(
        model="grok-4",
        system=[TextPart("Be brief."), TextPart("Use metric units.")],
        messages=[
            Message(
                role="user",
                parts=[
                    TextPart("Look"),
                    ImagePart(data="AAAA", media_type="image/png", detail="low"),
                    DocumentPart(text="notes", title="n.txt"),
                ],
            ),
            Message(
                role="assistant",
                parts=[
                    ReasoningPart(text="hm", signature="s"),
                    TextPart("Calling."),
                    ToolCallPart(id="c1", name="f", arguments={"a": 1}),
                ],
            ),
            Message(
                role="tool",
                parts=[
                    ToolResultPart(tool_call_id="c1", content=[TextPart("42")]),
                    ToolResultPart(tool_call_id="c2", content=[TextPart("no")], is_error=True),
                ],
            ),
            Message(role="user", parts=[TextPart("Thanks")]),
        ],
        tools=[
            ToolDefinition(
                name="f",
                description="does f",
                parameters={"type": "object", "properties": {"a": {"type": "integer"}}},
            )
        ],
        tool_choice=ToolChoice(mode="required", allowed=["f"]),
        parallel_tool_calls=False,
        max_tokens=100,
        temperature=0.5,
        top_k=3,
        stop=["END"],
        reasoning=ReasoningConfig(budget_tokens=4096),
        response_format=ResponseFormat(type="json_schema", name="r", schema={"type": "object"}),
    )
    body, dropped = build_upstream_request(request, max_tokens_field="max_completion_tokens")
    assert body["model"] == "grok-4" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief.\n\nUse metric units."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                },
                {"type": "text", "text": "n.txt\n\nnotes"},
            ],
        },
        {
            "role": "assistant",
            "content": "Calling.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "tool", "tool_call_id": "c2", "content": "Error: no"},
        {"role": "user", "content": "Thanks"},
    ]
    assert body["tools"][0]["function"]["name"] == "f"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["parallel_tool_calls"] is False
    assert body["max_completion_tokens"] == 100 and "max_tokens" not in body
    assert (body["temperature"], body["stop"], body["reasoning_effort"]) == (0.5, ["END"], "medium")
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "r", "schema": {"type": "object"}},
    }
    assert any("top_k" in note for note in dropped)
    assert any("reasoning" in note for note in dropped)
