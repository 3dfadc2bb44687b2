"""Rendering canonical answers as Anthropic sends them: `render_response` for a whole
message and `MessageStreamRenderer` for the stream.

The stream renderer is a strict state machine, after "Streaming Messages": one content
block open at a time, indexes in the order blocks appear in the final `content`, `ping`
after `message_start` and on silence, an `error` event when the provider fails
mid-stream, and parallel tool calls whose argument deltas interleave serialised into
consecutive blocks without loss. A refusal is a text block of its own (as in the whole
message) and `stop_reason: "refusal"`; every thinking block starts with an empty
`signature` and gets a `signature_delta` before it closes, as the real API sends them,
so that the SDK's accumulated message equals the whole one. Anthropic has no log
probabilities: `LogprobsDelta` renders nothing.
"""

from __future__ import annotations

from typing import Any

from chatmock_lab.core import (
    ChatResponse,
    Error,
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    ReasoningPart,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from chatmock_lab.core.calls import ToolCallAssembler
from chatmock_lab.dialects.anthropic.blocks import assistant_block
from chatmock_lab.dialects.anthropic.wire import (
    PING,
    event_frame,
    render_error_event,
    stop_reason,
    tool_use_id,
    usage_json,
)


def render_response(
    response: ChatResponse, *, id: str, model: str, include_thinking: bool
) -> dict[str, Any]:
    """The Messages API response for a collected answer; thinking only when asked for."""
    # A response has no field for notes about what its blocks could not carry.
    unreported: list[str] = []
    content = [
        assistant_block(part, f"content[{i}]", unreported)
        for i, part in enumerate(response.parts)
        if include_thinking or not isinstance(part, ReasoningPart)
    ]
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(response.finish_reason, response.stop_sequence),
        "stop_sequence": response.stop_sequence,
        "usage": usage_json(response.usage),
    }


class MessageStreamRenderer:
    """Canonical events in, Anthropic stream events out."""

    def __init__(
        self, *, id: str, model: str, include_thinking: bool, input_tokens: int | None = None
    ) -> None:
        """`input_tokens`: the prompt's size as the proxy counted it, for `message_start`
        when the provider has reported no usage by then (the real counts follow in
        `message_delta`)."""
        self._id = id
        self._input_tokens = input_tokens
        self._model = model
        self._include_thinking = include_thinking
        self._usage: Usage | None = None
        self._started = False
        self._closed = False
        self._next_index = 0
        # The open block: "text", "refusal" (a text block), "thinking", "tool" or None.
        self._open: str | None = None
        self._signed = False
        # Unfinished tool calls in the order they started; the first is the open block,
        # later ones wait for it (Anthropic cannot interleave blocks).
        self._calls = ToolCallAssembler()
        # Text or thinking that arrives while tool calls are unfinished waits for them.
        self._deferred: list[Event] = []

    # -- framing helpers

    def _message_start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        usage = usage_json(self._usage)
        usage["output_tokens"] = 1 if self._usage is None else self._usage.output_tokens
        if self._usage is None and self._input_tokens is not None:
            usage["input_tokens"] = self._input_tokens
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return [event_frame({"type": "message_start", "message": message}), PING]

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        frames = []
        if self._open == "thinking" and not self._signed:
            # The real API never closes a thinking block unsigned; "" is the whole
            # message's signature for reasoning that came without one.
            frames.append(self._delta({"type": "signature_delta", "signature": ""}))
        self._open = None
        frames.append(event_frame({"type": "content_block_stop", "index": self._next_index - 1}))
        return frames

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        frames = self._close_block()
        self._open = kind
        index = self._next_index
        self._next_index += 1
        frames.append(
            event_frame({"type": "content_block_start", "index": index, "content_block": block})
        )
        return frames

    def _delta(self, delta: dict[str, Any]) -> bytes:
        index = self._next_index - 1
        return event_frame({"type": "content_block_delta", "index": index, "delta": delta})

    # -- tool calls

    def _head(self) -> int | None:
        """The canonical index of the call whose block is open (or opens next)."""
        indexes = self._calls.indexes()
        return indexes[0] if indexes else None

    def _start_head(self) -> list[bytes]:
        """Open the head call's block, with the arguments that arrived while it waited."""
        index = self._head()
        call = None if index is None else self._calls.get(index)
        if call is None:
            return []
        block = {"type": "tool_use", "id": tool_use_id(call.id), "name": call.name, "input": {}}
        frames = self._open_block("tool", block)
        if call.fragments:
            frames.append(
                self._delta({"type": "input_json_delta", "partial_json": call.arguments_text})
            )
        return frames

    def _advance_calls(self) -> list[bytes]:
        """Close finished calls at the head of the queue and open the next ones."""
        frames: list[bytes] = []
        while (index := self._head()) is not None:
            call = self._calls.get(index)
            if call is None or not call.ended:
                break
            frames += self._close_block()
            self._calls.pop(index)
            frames += self._start_head()
        if not self._calls and self._deferred:
            deferred, self._deferred = self._deferred, []
            for event in deferred:
                frames += self.feed(event)
        return frames

    def _flush_calls(self) -> list[bytes]:
        for index in self._calls.indexes():
            call = self._calls.get(index)
            if call is not None:
                call.ended = True
        return self._advance_calls()

    # -- the state machine

    def start(self) -> list[bytes]:
        return []

    def keepalive(self) -> list[bytes]:
        if self._closed:
            return []
        return self._message_start() if not self._started else [PING]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, Usage):
            self._usage = event
            return []
        frames = self._message_start()
        if isinstance(event, (TextDelta, RefusalDelta, ReasoningDelta)) and self._calls:
            self._deferred.append(event)
            return frames
        if isinstance(event, (TextDelta, RefusalDelta)):
            if event.text:
                kind = "text" if isinstance(event, TextDelta) else "refusal"
                if self._open != kind:
                    frames += self._open_block(kind, {"type": "text", "text": ""})
                frames.append(self._delta({"type": "text_delta", "text": event.text}))
        elif isinstance(event, ReasoningDelta):
            if self._include_thinking:
                frames += self._reasoning(event)
        elif isinstance(event, ToolCallStart):
            waiting = bool(self._calls)
            self._calls.start(event)
            if not waiting:
                frames += self._start_head()
        elif isinstance(event, ToolCallDelta):
            head = self._head()
            if self._calls.add(event) is not None and head == event.index and event.arguments:
                frames.append(
                    self._delta({"type": "input_json_delta", "partial_json": event.arguments})
                )
        elif isinstance(event, ToolCallEnd):
            call = self._calls.get(event.index)
            if call is not None:
                call.ended = True
                frames += self._advance_calls()
        elif isinstance(event, Finish):
            frames += self._finish(event.reason, event.stop_sequence)
        elif isinstance(event, Error):
            frames += self._flush_calls()
            frames += self._close_block()
            self._closed = True
            frames.append(render_error_event(event.error))
        return frames

    def _reasoning(self, event: ReasoningDelta) -> list[bytes]:
        frames: list[bytes] = []
        if self._open != "thinking" or self._signed:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            frames += self._open_block("thinking", block)
            self._signed = False
        if event.text:
            frames.append(self._delta({"type": "thinking_delta", "thinking": event.text}))
        if event.signature is not None:
            frames.append(self._delta({"type": "signature_delta", "signature": event.signature}))
            self._signed = True
        return frames

    def _finish(self, reason: FinishReason, stop_sequence: str | None) -> list[bytes]:
        frames = self._message_start() + self._flush_calls() + self._close_block()
        self._closed = True
        frames.append(
            event_frame(
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": stop_reason(reason, stop_sequence),
                        "stop_sequence": stop_sequence,
                    },
                    "usage": usage_json(self._usage),
                }
            )
        )
        frames.append(event_frame({"type": "message_stop"}))
        return frames

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        return self._finish("stop", None)
