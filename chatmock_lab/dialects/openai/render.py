"""Rendering canonical answers as Chat Completions: the whole `chat.completion` and the
`chat.completion.chunk` stream, plus the assistant message both share with requests.

Source: OpenAI's API reference (the chat completion object, the chunk object). The
stream renderer is a pure state machine: one canonical event in, the bytes to send out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chatmock_lab import json_codec
from chatmock_lab.core import (
    ChatResponse,
    Error,
    Event,
    Finish,
    FinishReason,
    LogprobsDelta,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    Usage,
    arguments_json,
)
from chatmock_lab.dialects.openai.wire import DONE, KEEPALIVE, render_error, sse, usage_json


def tool_call_json(call: ToolCallPart) -> dict[str, Any]:
    """One entry of an assistant message's `tool_calls`."""
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments_json(call.arguments)},
    }


def assistant_message(
    text: str,
    calls: Sequence[ToolCallPart],
    *,
    answer: bool = False,
    reasoning: str = "",
    refusal: str | None = None,
) -> dict[str, Any]:
    """An assistant message, the one encoding for answers to clients and for assistant
    turns in requests sent upstream.

    `content` is the text; null for a turn of only tool calls or only a refusal; "" for
    a turn with neither, which still needs content to be a valid message. An answer
    (`answer`) also carries `refusal` (the refusal text, or null) and, when given,
    `reasoning_content` (OpenAI returns no reasoning text; compatible servers use this
    field)."""
    empty = None if calls or refusal is not None else ""
    message: dict[str, Any] = {"role": "assistant", "content": text or empty}
    if answer:
        message["refusal"] = refusal
    if calls:
        message["tool_calls"] = [tool_call_json(c) for c in calls]
    if reasoning:
        message["reasoning_content"] = reasoning
    return message


def finish_reason(reason: FinishReason) -> str:
    """The `finish_reason` for a canonical finish: OpenAI says a refusal with the
    `refusal` field and ends the turn with "stop"."""
    return "stop" if reason == "refusal" else reason


def token_logprob_json(token: TokenLogprob, *, top: bool = True) -> dict[str, Any]:
    """One `logprobs.content[]` entry; an alternative (`top=False`) has no alternatives."""
    entry: dict[str, Any] = {
        "token": token.token,
        "logprob": token.logprob,
        "bytes": None if token.bytes is None else list(token.bytes),
    }
    if top:
        entry["top_logprobs"] = [token_logprob_json(t, top=False) for t in token.top]
    return entry


def logprobs_json(
    content: Sequence[TokenLogprob] | None, refusal: Sequence[TokenLogprob] | None
) -> dict[str, Any] | None:
    """A choice's `logprobs`: null when none were produced, else both lists (null for
    the one that has no tokens)."""
    if content is None and refusal is None:
        return None
    return {
        "content": None if content is None else [token_logprob_json(t) for t in content],
        "refusal": None if refusal is None else [token_logprob_json(t) for t in refusal],
    }


def render_response(response: ChatResponse, *, id: str, model: str, created: int) -> dict[str, Any]:
    """A collected answer as a `chat.completion` object (one choice)."""
    message = assistant_message(
        response.text(),
        response.tool_calls(),
        answer=True,
        reasoning=response.reasoning(),
        refusal=response.refusal(),
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
                "logprobs": logprobs_json(response.logprobs, response.refusal_logprobs),
                "finish_reason": finish_reason(response.finish_reason),
            }
        ],
        "usage": usage_json(response.usage),
    }


class ChatStreamRenderer:
    """Canonical events in, `chat.completion.chunk` SSE frames out.

    Tool calls take the `tool_calls[].index` slots 0, 1, ... in the order they start;
    the finish comes once; an `Error` ends the stream with an error frame and `[DONE]`;
    with `include_usage` the usage chunk (`choices: []`) comes last before `[DONE]`.

    Log probabilities ride on the chunk of the tokens they describe, as OpenAI sends
    them. A `LogprobsDelta` follows the text it is about, so once a stream has them
    (from the start with `logprobs`, else from the first one) each text or refusal
    chunk waits for the next event to see whether its log probabilities come with it;
    log probabilities with no chunk to ride on go out with an empty delta. A stream
    without them does no extra work per chunk."""

    def __init__(
        self, *, id: str, model: str, created: int, include_usage: bool, logprobs: bool = False
    ) -> None:
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
        # Whether text waits for its log probabilities, and the delta that is waiting.
        self._hold = logprobs
        self._held: dict[str, Any] | None = None
        # Every chunk shares its envelope; serialising it once keeps the per-chunk cost to
        # encoding the delta alone (this is the hot path of every stream).
        envelope = json.dumps(
            {**self._base, "system_fingerprint": None, "choices": [{"index": 0, "delta": None}]},
            separators=(",", ":"),
        )
        self._head = ("data: " + envelope[: envelope.rindex("null")]).encode()
        self._close = "}]" + (',"usage":null' if include_usage else "") + "}\n\n"

    def _chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, logprobs: str = "null"
    ) -> bytes:
        reason = "null" if finish_reason is None else f'"{finish_reason}"'
        body = json_codec.dumps(delta)
        tail = f'{body},"logprobs":{logprobs},"finish_reason":{reason}{self._close}'
        return self._head + tail.encode()

    def _text(self, delta: dict[str, Any]) -> list[bytes]:
        """A text or refusal chunk, held for its log probabilities when they come."""
        if not self._hold:
            return [self._chunk(delta)]
        self._held = delta
        return []

    def _release(self) -> list[bytes]:
        """The held chunk, without log probabilities (none came with it)."""
        if self._held is None:
            return []
        delta, self._held = self._held, None
        return [self._chunk(delta)]

    def _logprobs(self, event: LogprobsDelta) -> list[bytes]:
        self._hold = True
        tokens = json_codec.dumps([token_logprob_json(t) for t in event.tokens])
        content, refusal = ("null", tokens) if event.refusal else (tokens, "null")
        logprobs = f'{{"content":{content},"refusal":{refusal}}}'
        # Refusal tokens ride only on a refusal chunk, answer tokens only on a content one.
        held = self._held
        if held is not None and ("refusal" in held) != event.refusal:
            return [*self._release(), self._chunk({}, logprobs=logprobs)]
        self._held = None
        return [self._chunk(held or {}, logprobs=logprobs)]

    def start(self) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, LogprobsDelta):
            return self._logprobs(event)
        if self._held is not None:
            return self._release() + self._feed(event)
        return self._feed(event)

    def _feed(self, event: Event) -> list[bytes]:
        if isinstance(event, TextDelta):
            return self._text({"content": event.text}) if event.text else []
        if isinstance(event, RefusalDelta):
            return self._text({"refusal": event.text}) if event.text else []
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
            return [self._chunk({}, finish_reason(event.reason))]
        if isinstance(event, Error):
            self._closed = True
            return [sse(render_error(event.error)[1]), DONE]
        return []

    def keepalive(self) -> list[bytes]:
        # A silence: the held chunk goes now rather than wait for what may never come.
        return [] if self._closed else [*self._release(), KEEPALIVE]

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        frames = self._release()
        self._closed = True
        if not self._finished:
            frames.append(self._chunk({}, "stop"))
        if self._include_usage:
            frames.append(sse({**self._base, "choices": [], "usage": usage_json(self._usage)}))
        frames.append(DONE)
        return frames
