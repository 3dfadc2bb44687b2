"""The Anthropic Messages stream checker: a strict order of a message and its content
blocks, each event named twice (the SSE event name and the payload's `type`).

Event types (`ChunkInfo.event_type`), beside `keep-alive`, `malformed` and `error`: the
payload `type`, refined by the block or delta type where there is one: `message_start`,
`ping`, `content_block_start/<block type>` (`text`, `thinking`, `tool_use`...),
`content_block_delta/<delta type>` (`text_delta`, `input_json_delta`, `thinking_delta`,
`signature_delta`...), `content_block_stop`, `message_delta`, `message_stop`; unknown
types pass through under their own name (Anthropic may add event types).
`block_index` is the content block index.

Beside the order, it checks what the SDKs rely on: a thinking block gets a
`signature_delta` before its `content_block_stop` (the real API always sends one), and a
`stop_reason` of "stop_sequence" names its `stop_sequence` (and only that reason does).
"""

from __future__ import annotations

from typing import Any

from chatmock_lab.sse import SSEEvent
from chatmock_lab.stream_checks.base import (
    ChunkInfo,
    Shown,
    StreamChecker,
    as_index,
    as_object,
    error_summary,
    parse_object,
)
from chatmock_lab.stream_checks.text import clip, quote

# Which content blocks each Anthropic delta type may appear in. Unknown delta or block
# types are not judged: Anthropic adds new ones and clients are told to skip them.
_DELTA_BLOCKS: dict[str, tuple[str, ...]] = {
    "text_delta": ("text",),
    "citations_delta": ("text",),
    "input_json_delta": ("tool_use", "server_tool_use", "mcp_tool_use"),
    "thinking_delta": ("thinking",),
    "signature_delta": ("thinking",),
}
_KNOWN_BLOCKS = frozenset(
    ("text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "mcp_tool_use")
)


class AnthropicStreamChecker(StreamChecker):
    """Messages stream events: a strict order of messages and content blocks."""

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._stopped = False
        self._errored = False
        # Open blocks by index; more than one only when the stream is already wrong.
        self._open: dict[int, str] = {}
        self._next_index = 0
        self._stop_reason: str | None = None
        # Open thinking blocks that have had no signature_delta yet.
        self._unsigned: set[int] = set()

    def _event(self, event: SSEEvent) -> ChunkInfo:
        payload, problem = parse_object(event.data)
        if payload is None:
            summary = clip(f"event {event.event}: {event.data}")
            return ChunkInfo("malformed", None, summary, [str(problem)])
        violations: list[str] = []
        kind = payload.get("type")
        if not isinstance(kind, str):
            violations.append("the payload has no type")
            kind = event.event
        elif kind != event.event:
            # The SDKs dispatch on the SSE event name, so a mismatch misroutes the payload.
            violations.append(f"SSE event name {event.event!r} does not match the type {kind!r}")
        if self._stopped:
            violations.append(f"{kind} after message_stop (nothing may follow it)")
        elif self._errored:
            violations.append(f"{kind} after an error event (an error ends the stream)")
        elif not self._started and kind not in ("message_start", "error"):
            violations.append(f"{kind} before message_start")
        handler = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
        }.get(kind)
        if handler is not None:
            event_type, index, summary = handler(payload, violations)
        elif kind == "error":
            self._errored = True
            event_type, index, summary = "error", None, error_summary(payload.get("error"))
        else:
            event_type, index, summary = kind, None, "ping" if kind == "ping" else "unknown event"
        return ChunkInfo(event_type, index, summary, violations)

    def _message_start(self, payload: dict[str, Any], violations: list[str]) -> Shown:
        if self._started:
            violations.append("a second message_start")
        self._started = True
        message = as_object(payload.get("message"))
        usage = as_object(message.get("usage"))
        summary = f"{message.get('id')} {message.get('model')} input {usage.get('input_tokens')}"
        return "message_start", None, summary

    def _block_index(self, payload: dict[str, Any], violations: list[str]) -> int | None:
        index = as_index(payload.get("index"))
        if index is None:
            violations.append(f"{payload.get('type', 'the event')} has no integer index")
        return index

    def _open_note(self) -> str:
        if not self._open:
            return "no block is open"
        return "open: " + ", ".join(str(i) for i in sorted(self._open))

    def _block_start(self, payload: dict[str, Any], violations: list[str]) -> Shown:
        index = self._block_index(payload, violations)
        block = as_object(payload.get("content_block"))
        block_type = str(block.get("type"))
        if self._stop_reason is not None:
            violations.append("content_block_start after the message_delta with the stop_reason")
        for other in sorted(self._open):
            violations.append(
                f"content_block_start for block {index} while block {other} is still open"
                " (close it with content_block_stop first)"
            )
        if index is not None:
            if index != self._next_index:
                violations.append(
                    f"block index {index} out of order: expected {self._next_index}"
                    " (indexes start at 0 and increase by one)"
                )
            self._next_index = max(self._next_index, index + 1)
            self._open[index] = block_type
            if block_type == "thinking":
                self._unsigned.add(index)
        if block_type in ("tool_use", "server_tool_use", "mcp_tool_use"):
            summary = f"{block.get('name')} id={block.get('id')}"
        else:
            summary = quote(str(block.get("text") or block.get("thinking") or ""))
        return f"content_block_start/{block_type}", index, summary

    def _block_delta(self, payload: dict[str, Any], violations: list[str]) -> Shown:
        index = self._block_index(payload, violations)
        delta = as_object(payload.get("delta"))
        delta_type = str(delta.get("type"))
        block_type = self._open.get(index) if index is not None else None
        if index is not None and block_type is None:
            violations.append(
                f"content_block_delta for block {index}, which is not open ({self._open_note()})"
            )
        allowed = _DELTA_BLOCKS.get(delta_type)
        if allowed and block_type in _KNOWN_BLOCKS and block_type not in allowed:
            violations.append(
                f"{delta_type} in block {index}, a {block_type} block"
                f" ({delta_type} belongs in a {' or '.join(allowed)} block)"
            )
        if delta_type == "signature_delta" and index is not None:
            self._unsigned.discard(index)
        return f"content_block_delta/{delta_type}", index, _anthropic_delta_summary(delta)

    def _block_stop(self, payload: dict[str, Any], violations: list[str]) -> Shown:
        index = self._block_index(payload, violations)
        if index is not None and self._open.pop(index, None) is None:
            violations.append(
                f"content_block_stop for block {index}, which is not open ({self._open_note()})"
            )
        if index in self._unsigned:
            self._unsigned.discard(index)
            violations.append(
                f"thinking block {index} closed without a signature_delta (the API always"
                " sends one before a thinking block's content_block_stop)"
            )
        return "content_block_stop", index, f"block {index} closed"

    def _message_delta(self, payload: dict[str, Any], violations: list[str]) -> Shown:
        for index in sorted(self._open):
            violations.append(f"message_delta while block {index} is still open")
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            violations.append("message_delta without usage (it carries the final output_tokens)")
            usage = {}
        delta = as_object(payload.get("delta"))
        reason = delta.get("stop_reason")
        if reason is not None and self._stop_reason is not None:
            violations.append(
                f"a second message_delta with a stop_reason ({reason!r}; the message already"
                f" ended with {self._stop_reason!r})"
            )
        elif reason is not None:
            self._stop_reason = str(reason)
        sequence = delta.get("stop_sequence")
        if reason == "stop_sequence" and not isinstance(sequence, str):
            violations.append("stop_reason 'stop_sequence' without the stop_sequence that matched")
        elif reason is not None and reason != "stop_sequence" and sequence is not None:
            violations.append(
                f"stop_sequence {sequence!r} with stop_reason {reason!r} (only a"
                " 'stop_sequence' stop names one)"
            )
        summary = f"stop_reason={reason} output {usage.get('output_tokens')}"
        return "message_delta", None, summary

    def _message_stop(self, payload: dict[str, Any], violations: list[str]) -> Shown:
        for index in sorted(self._open):
            violations.append(f"message_stop while block {index} is still open")
        if self._stop_reason is None:
            violations.append("message_stop without a stop_reason (no message_delta carried one)")
        self._stopped = True
        return "message_stop", None, "end of message"

    def _end_violations(self) -> list[str]:
        if self._errored or self._stopped:
            return []
        problems = [] if self._started else ["the stream ended without message_start"]
        problems += [f"block {i} was never closed" for i in sorted(self._open)]
        problems.append("the stream ended without message_stop")
        return problems


def _anthropic_delta_summary(delta: dict[str, Any]) -> str:
    if isinstance(delta.get("partial_json"), str):
        return clip(delta["partial_json"])  # JSON text already, see _tool_call_summary
    for key in ("text", "thinking"):
        if isinstance(delta.get(key), str):
            return quote(delta[key])
    if isinstance(delta.get("signature"), str):
        return f"signature ({len(delta['signature'])} chars)"
    return "?"
