"""The canonical event stream collected into a response."""

from __future__ import annotations

import asyncio

import pytest

from chatmock_lab.core import (
    Error,
    Finish,
    ProxyError,
    ReasoningDelta,
    ReasoningPart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    Usage,
    acollect,
    collect,
)


def test_text_deltas_merge_into_one_part() -> None:
    response = collect([TextDelta("Hel"), TextDelta("lo"), Finish("stop")])
    assert response.parts == [TextPart("Hello")]
    assert response.text() == "Hello"
    assert response.finish_reason == "stop"


def test_reasoning_then_text_keeps_order_and_signature() -> None:
    response = collect(
        [
            ReasoningDelta("think "),
            ReasoningDelta("hard"),
            ReasoningDelta(signature="sig-1"),
            TextDelta("answer"),
            Finish(),
        ]
    )
    assert response.parts == [
        ReasoningPart(text="think hard", signature="sig-1"),
        TextPart("answer"),
    ]
    assert response.reasoning() == "think hard"


def test_a_signed_reasoning_block_is_closed_and_a_new_one_starts() -> None:
    response = collect(
        [ReasoningDelta("a"), ReasoningDelta(signature="s1"), ReasoningDelta("b"), Finish()]
    )
    assert [p.text for p in response.parts] == ["a", "b"]


def test_interleaved_parallel_tool_call_argument_deltas() -> None:
    events = [
        ToolCallStart(index=0, id="call_A", name="get_weather"),
        ToolCallStart(index=1, id="call_B", name="get_time"),
        ToolCallDelta(index=0, arguments='{"city":'),
        ToolCallDelta(index=1, arguments='{"zone":"Europe/'),
        ToolCallDelta(index=0, arguments='"Paris"}'),
        ToolCallDelta(index=1, arguments='Paris"}'),
        ToolCallEnd(index=1),
        ToolCallEnd(index=0),
        Usage(input_tokens=10, output_tokens=7),
        Finish("tool_calls"),
    ]
    response = collect(events)
    assert response.tool_calls() == [
        ToolCallPart(id="call_A", name="get_weather", arguments={"city": "Paris"}),
        ToolCallPart(id="call_B", name="get_time", arguments={"zone": "Europe/Paris"}),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(input_tokens=10, output_tokens=7)
    assert response.usage.total_tokens == 17


def test_text_tool_text_interleaving_keeps_produced_order() -> None:
    response = collect(
        [
            TextDelta("before"),
            ToolCallStart(index=0, id="c1", name="f"),
            ToolCallDelta(index=0, arguments="{}"),
            TextDelta("after"),
            Finish("tool_calls"),
        ]
    )
    kinds = [type(p).__name__ for p in response.parts]
    assert kinds == ["TextPart", "ToolCallPart", "TextPart"]


def test_unclosed_tool_calls_are_closed_and_imply_tool_calls_finish() -> None:
    response = collect(
        [
            ToolCallStart(index=3, id="c", name="f"),
            ToolCallDelta(index=3, arguments='{"a": [1, 2]}'),
        ]
    )
    assert response.tool_calls()[0].arguments == {"a": [1, 2]}
    assert response.finish_reason == "tool_calls"


def test_invalid_argument_json_is_kept_as_raw_text() -> None:
    response = collect(
        [
            ToolCallStart(index=0, id="c", name="f"),
            ToolCallDelta(index=0, arguments="{oops"),
            ToolCallEnd(index=0),
        ]
    )
    assert response.tool_calls()[0].arguments == "{oops"


def test_empty_arguments_are_an_empty_object() -> None:
    response = collect(
        [ToolCallStart(index=0, id="c", name="f"), ToolCallEnd(index=0), Finish("tool_calls")]
    )
    assert response.tool_calls()[0].arguments == {}


def test_delta_for_unknown_call_is_an_error() -> None:
    with pytest.raises(ProxyError, match="unknown call index 5"):
        collect([ToolCallDelta(index=5, arguments="{}")])


def test_error_event_raises_its_error() -> None:
    boom = ProxyError("upstream said no", status=429, retry_after=3)
    with pytest.raises(ProxyError) as caught:
        collect([TextDelta("partial"), Error(boom)])
    assert caught.value is boom
    assert caught.value.kind == "rate_limit"


def test_acollect_matches_collect() -> None:
    events = [ReasoningDelta("r"), TextDelta("t"), Usage(1, 2), Finish("length")]

    async def generate():
        for event in events:
            yield event

    assert asyncio.run(acollect(generate())) == collect(events)


def test_error_kinds_and_statuses_agree() -> None:
    assert ProxyError("x", status=404).kind == "not_found"
    assert ProxyError("x", kind="overloaded").status == 503
    assert ProxyError("x", status=529).kind == "overloaded"
    assert ProxyError("x", status=418).kind == "invalid_request"
    assert ProxyError("x").status == 500
