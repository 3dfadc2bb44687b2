"""The non-streamed answer is the stream collected (`core/response.py`): its text, refusal,
reasoning and tool-call arguments are gathered in pieces and joined once, not grown with
`+=` (quadratic: a 3 MB echo took 13.6 s on the event loop, issue 18). No timing here;
`benchmarks/bench_collect.py` measures it. These check the collector's result is exactly
the one `+=` gave, for many small deltas and every way parts can interleave."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable

import httpx

from chatmock_lab.core import (
    Event,
    Finish,
    ReasoningDelta,
    ReasoningPart,
    RefusalDelta,
    RefusalPart,
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
from chatmock_lab.core.response import ResponseBuilder
from chatmock_lab.server import BackgroundServer
from tests.support import openai_client_for

PIECES = 50_000


def _pieces(prefix: str, count: int = PIECES) -> list[str]:
    return [f"{prefix}{i % 10}" for i in range(count)]


def test_many_text_deltas_make_one_part_with_all_the_text() -> None:
    pieces = _pieces("t")
    response = collect([TextDelta(p) for p in pieces])
    assert response.parts == [TextPart("".join(pieces))]
    assert response.text() == "".join(pieces)


def test_refusal_and_reasoning_are_joined_too() -> None:
    reasoning, refusal = _pieces("r"), _pieces("x")
    events: list[Event] = [ReasoningDelta(text=p) for p in reasoning]
    events.append(ReasoningDelta(signature="sig"))
    events += [RefusalDelta(p) for p in refusal]
    response = collect(events)
    assert response.parts == [
        ReasoningPart("".join(reasoning), signature="sig"),
        RefusalPart("".join(refusal)),
    ]
    assert response.refusal() == "".join(refusal)
    assert response.reasoning() == "".join(reasoning)


def test_tool_call_arguments_in_many_fragments() -> None:
    arguments = '{"xs": [' + ",".join(str(i) for i in range(20_000)) + "]}"
    fragments = [arguments[i : i + 3] for i in range(0, len(arguments), 3)]
    events: list[Event] = [ToolCallStart(index=0, id="call_1", name="f")]
    events += [ToolCallDelta(index=0, arguments=f) for f in fragments]
    events.append(ToolCallEnd(index=0))
    response = collect(events)
    assert response.parts == [
        ToolCallPart(id="call_1", name="f", arguments={"xs": list(range(20_000))})
    ]
    assert response.finish_reason == "tool_calls"


def _by_hand(events: Iterable[Event]) -> list[object]:
    """The parts as the old `+=` collector made them: the reference to compare with."""
    parts: list[object] = []
    for event in events:
        last = parts[-1] if parts else None
        if isinstance(event, TextDelta):
            if isinstance(last, TextPart):
                last.text += event.text
            else:
                parts.append(TextPart(event.text))
        elif isinstance(event, RefusalDelta):
            if isinstance(last, RefusalPart):
                last.text += event.text
            else:
                parts.append(RefusalPart(event.text))
        elif isinstance(event, ReasoningDelta):
            if not (isinstance(last, ReasoningPart) and last.signature is None):
                last = ReasoningPart()
                parts.append(last)
            assert isinstance(last, ReasoningPart)
            last.text += event.text
            if event.signature is not None:
                last.signature = event.signature
        elif isinstance(event, ToolCallStart):
            parts.append(ToolCallPart(id=event.id, name=event.name, arguments={}))
    return parts


def test_parts_split_and_join_where_they_did() -> None:
    # Every kind after every kind, with usage and empty deltas in between.
    events: list[Event] = [
        TextDelta("a"),
        Usage(input_tokens=1),
        TextDelta(""),
        TextDelta("b"),
        ReasoningDelta(text="r1"),
        ReasoningDelta(text="r2", signature="s1"),
        ReasoningDelta(text="r3"),
        TextDelta("c"),
        RefusalDelta("n1"),
        RefusalDelta("n2"),
        ToolCallStart(index=0, id="call_a", name="f"),
        TextDelta("d"),
        ToolCallEnd(index=0),
        TextDelta("e"),
        RefusalDelta("n3"),
        ReasoningDelta(signature="s2"),
        Finish(reason="stop"),
    ]
    assert collect(events).parts == _by_hand(events)


def test_build_twice_gives_the_same_answer() -> None:
    builder = ResponseBuilder()
    for piece in ("x", "y", "z"):
        builder.add(TextDelta(piece))
    first = builder.build()
    assert first.text() == "xyz"
    assert builder.build().text() == "xyz"


def test_acollect_joins_an_async_stream() -> None:
    pieces = _pieces("a")

    async def stream() -> AsyncIterator[Event]:
        for piece in pieces:
            yield TextDelta(piece)
        yield Finish()

    assert asyncio.run(acollect(stream())).text() == "".join(pieces)


def test_a_megabyte_echo_comes_back_whole(server: BackgroundServer) -> None:
    # The mock answers in 8-character deltas: 1 MB is 131,000 of them, collected server-side.
    prompt = "".join(f"{i:07d} " for i in range(131_072))
    with openai_client_for(server) as client:
        reply = client.chat.completions.create(
            model="mock", messages=[{"role": "user", "content": prompt}]
        )
    assert reply.choices[0].message.content == f"You said: {prompt}"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        anthropic = http.post(
            "/v1/messages",
            json={
                "model": "mock",
                "max_tokens": 10**6,
                "messages": [{"role": "user", "content": prompt}],
            },
        )
    assert anthropic.status_code == 200
    assert anthropic.json()["content"][0]["text"] == f"You said: {prompt}"


def test_a_streamed_responses_answer_ends_with_the_whole_text(server: BackgroundServer) -> None:
    # The Responses stream renderer folds its deltas too (into `response.completed`).
    # Read raw: the SDK's own parsing of 65,000 delta events took seconds, and the
    # SDK's Responses streams are tested elsewhere; the fold is what is tested here.
    prompt = "".join(f"{i:07d} " for i in range(65_536))
    body = {"model": "mock", "input": prompt, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/responses", json=body, timeout=60) as answer:
        completed = [
            json.loads(line[len("data: ") :])
            for line in answer.iter_lines()
            if line.startswith("data: ") and '"type":"response.completed"' in line[:40]
        ]
    assert len(completed) == 1
    (message,) = [o for o in completed[0]["response"]["output"] if o["type"] == "message"]
    assert message["content"][0]["text"] == f"You said: {prompt}"
