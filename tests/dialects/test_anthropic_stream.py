"""The Anthropic stream renderer as a state machine, fed event sequences no mock produces."""

from __future__ import annotations

import json

from chatmock_lab.core import (
    Error,
    Finish,
    ProxyError,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from chatmock_lab.dialects.anthropic import MessageStreamRenderer
from tests.support import sse_events


def render(events, include_thinking: bool = True) -> list[tuple[str, dict]]:
    renderer = MessageStreamRenderer(id="msg_1", model="m", include_thinking=include_thinking)
    frames = renderer.start()
    for event in events:
        frames += renderer.feed(event)
    frames += renderer.finish()
    return sse_events(b"".join(frames).decode())


def blocks(events) -> list[tuple[str, int, str | None]]:
    out = []
    for name, data in events:
        if name == "content_block_start":
            out.append(("start", data["index"], data["content_block"]["type"]))
        elif name == "content_block_delta":
            out.append(("delta", data["index"], data["delta"]["type"]))
        elif name == "content_block_stop":
            out.append(("stop", data["index"], None))
    return out


def test_text_arriving_during_unfinished_tool_calls_waits_for_them() -> None:
    events = render(
        [
            ToolCallStart(index=0, id="a", name="f"),
            ToolCallDelta(index=0, arguments='{"x":'),
            TextDelta("note"),
            ToolCallDelta(index=0, arguments="1}"),
            ToolCallEnd(index=0),
            Finish("tool_calls"),
        ]
    )
    assert blocks(events) == [
        ("start", 0, "tool_use"),
        ("delta", 0, "input_json_delta"),
        ("delta", 0, "input_json_delta"),
        ("stop", 0, None),
        ("start", 1, "text"),
        ("delta", 1, "text_delta"),
        ("stop", 1, None),
    ]
    arguments = "".join(
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["index"] == 0
    )
    assert json.loads(arguments) == {"x": 1}


def test_calls_without_end_events_are_closed_at_finish_in_order() -> None:
    events = render(
        [
            ToolCallStart(index=7, id="a", name="f"),
            ToolCallStart(index=3, id="b", name="g"),
            ToolCallDelta(index=3, arguments='{"b":2}'),
            ToolCallDelta(index=7, arguments='{"a":1}'),
            Finish("tool_calls"),
        ]
    )
    starts = [
        (d["index"], d["content_block"]["id"]) for n, d in events if n == "content_block_start"
    ]
    assert starts == [(0, "a"), (1, "b")]
    per_block = {0: "", 1: ""}
    for name, data in events:
        if name == "content_block_delta":
            per_block[data["index"]] += data["delta"]["partial_json"]
    assert per_block == {0: '{"a":1}', 1: '{"b":2}'}
    assert [n for n, _ in events][-2:] == ["message_delta", "message_stop"]


def test_reasoning_blocks_split_at_signatures_and_hidden_when_not_asked() -> None:
    sequence = [
        ReasoningDelta("one"),
        ReasoningDelta(signature="s1"),
        ReasoningDelta("two"),
        TextDelta("answer"),
        Finish(),
    ]
    assert [b for b in blocks(render(sequence)) if b[0] == "start"] == [
        ("start", 0, "thinking"),
        ("start", 1, "thinking"),
        ("start", 2, "text"),
    ]
    assert blocks(render(sequence, include_thinking=False)) == [
        ("start", 0, "text"),
        ("delta", 0, "text_delta"),
        ("stop", 0, None),
    ]


def test_usage_reported_first_goes_into_message_start_and_final_usage_into_message_delta() -> None:
    events = render(
        [Usage(input_tokens=11), TextDelta("x"), Usage(input_tokens=11, output_tokens=5), Finish()]
    )
    assert events[0][1]["message"]["usage"]["input_tokens"] == 11
    assert events[-2][1]["usage"] == {
        "input_tokens": 11,
        "output_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_cached_tokens_are_split_out_as_anthropic_counts_them() -> None:
    events = render(
        [
            Usage(input_tokens=100, cached_tokens=60, cache_write_tokens=10, output_tokens=1),
            Finish(),
        ]
    )
    usage = events[-2][1]["usage"]
    assert (
        usage["input_tokens"],
        usage["cache_read_input_tokens"],
        usage["cache_creation_input_tokens"],
    ) == (30, 60, 10)


def test_an_error_during_a_tool_call_closes_the_block_then_reports() -> None:
    events = render(
        [
            ToolCallStart(index=0, id="a", name="f"),
            ToolCallDelta(index=0, arguments="{"),
            Error(ProxyError("lost", status=502)),
            TextDelta("ignored"),
        ]
    )
    assert [n for n, _ in events][-2:] == ["content_block_stop", "error"]
    assert events[-1][1]["error"] == {"type": "api_error", "message": "lost"}


def test_an_empty_stream_is_still_a_complete_message() -> None:
    names = [n for n, _ in render([])]
    assert names == ["message_start", "ping", "message_delta", "message_stop"]


def test_foreign_tool_ids_are_made_valid() -> None:
    events = render([ToolCallStart(index=0, id="call:abc/1", name="f"), Finish("tool_calls")])
    assert events[2][1]["content_block"]["id"] == "call_abc_1"
