"""Rendering canonical answers as Chat Completions: the whole `chat.completion` and the
`chat.completion.chunk` stream, plus the assistant message both share with requests.

Source: OpenAI's API reference (the chat completion object, the chunk object). The
stream renderer is a pure state machine: one canonical event in, the bytes to send out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chatmock_lab.core import (
    ChatResponse,
    Error,
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    Usage,
    arguments_json,
)
from chatmock_lab.dialects.openai.wire import DONE, KEEPALIVE, render_error, sse, usage_json
from chatmock_lab.sse import json_data


def tool_call_json(call: ToolCallPart) -> dict[str, Any]:
    """One entry of an assistant message's `tool_calls`."""
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments_json(call.arguments)},
    }


def assistant_message(
    text: str, calls: Sequence[ToolCallPart], *, answer: bool = False, reasoning: str = ""
) -> dict[str, Any]:
    """An assistant message, the one encoding for answers to clients and for assistant
    turns in requests sent upstream.

    `content` is the text; null for a turn of only tool calls; "" for a turn with
    neither, which still needs content to be a valid message. An answer (`answer`) also
    carries `refusal` (null: the canonical model has no refusals) and, when given,
    `reasoning_content` (OpenAI returns no reasoning text; compatible servers use this
    field)."""
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if answer:
        message["refusal"] = None
    if calls:
        message["tool_calls"] = [tool_call_json(c) for c in calls]
    if reasoning:
        message["reasoning_content"] = reasoning
    return message


def render_response(response: ChatResponse, *, id: str, model: str, created: int) -> dict[str, Any]:
    """A collected answer as a `chat.completion` object (one choice)."""
    message = assistant_message(
        response.text(), response.tool_calls(), answer=True, reasoning=response.reasoning()
    )
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": response.finish_reason,
            }
        ],
        "usage": usage_json(response.usage),
    }


class ChatStreamRenderer:
    """Canonical events in, `chat.completion.chunk` SSE frames out.

    Tool calls take the `tool_calls[].index` slots 0, 1, ... in the order they start;
    the finish comes once; an `Error` ends the stream with an error frame and `[DONE]`;
    with `include_usage` the usage chunk (`choices: []`) comes last before `[DONE]`."""

    def __init__(self, *, id: str, model: str, created: int, include_usage: bool) -> None:
        self._base = {
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._include_usage = include_usage
        self._usage: Usage | None = None
        self._tool_slots: dict[int, int] = {}
        self._finished = False
        self._closed = False
        # Every chunk shares its envelope; serialising it once keeps the per-chunk cost to
        # encoding the delta alone (this is the hot path of every stream).
        envelope = json.dumps(
            {**self._base, "system_fingerprint": None, "choices": [{"index": 0, "delta": None}]},
            separators=(",", ":"),
        )
        self._head = ("data: " + envelope[: envelope.rindex("null")]).encode()
        self._close = "}]" + (',"usage":null' if include_usage else "") + "}\n\n"

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        reason = "null" if finish_reason is None else f'"{finish_reason}"'
        body = json_data(delta)
        return self._head + f'{body},"logprobs":null,"finish_reason":{reason}{self._close}'.encode()

    def start(self) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, TextDelta):
            return [self._chunk({"content": event.text})] if event.text else []
        if isinstance(event, ReasoningDelta):
            return [self._chunk({"reasoning_content": event.text})] if event.text else []
        if isinstance(event, ToolCallStart):
            slot = self._tool_slots.setdefault(event.index, len(self._tool_slots))
            call = {
                "index": slot,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(event, ToolCallDelta):
            slot = self._tool_slots.get(event.index, event.index)
            call = {"index": slot, "function": {"arguments": event.arguments}}
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(event, Usage):
            self._usage = event
            return []
        if isinstance(event, Finish):
            if self._finished:
                return []
            self._finished = True
            return [self._chunk({}, event.reason)]
        if isinstance(event, Error):
            self._closed = True
            return [sse(render_error(event.error)[1]), DONE]
        return []

    def keepalive(self) -> list[bytes]:
        return [] if self._closed else [KEEPALIVE]

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        frames = [] if self._finished else [self._chunk({}, "stop")]
        if self._include_usage:
            frames.append(sse({**self._base, "choices": [], "usage": usage_json(self._usage)}))
        frames.append(DONE)
        return frames
