"""The Ollama `/api/chat` and `/api/generate` stream checker: NDJSON, one JSON object a
line (`application/x-ndjson`), read with its own line reader here.

Event types (`ChunkInfo.event_type`), beside `malformed` and `error`: `content` (text,
`message.content` or `response`), `thinking`, `tool_calls` (a whole call with object
arguments, as Ollama sends it), `logprobs`, `done` (the last line: `done: true`,
`done_reason` and the metrics), `chunk` (none of these). `block_index` is the index of
the first tool call in a `tool_calls` line. A line after `done` or after the error
object, a call whose arguments are not an object, metrics that are not non-negative
integers and a stream without its `done` line are violations.
"""

from __future__ import annotations

from typing import Any

from chatmock_lab.sse import SSEEvent
from chatmock_lab.stream_checks.base import (
    ChunkInfo,
    StreamChecker,
    as_list,
    as_object,
    error_summary,
    parse_object,
)
from chatmock_lab.stream_checks.framing import FramingError, Item
from chatmock_lab.stream_checks.text import clip, quote

_METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
_DONE_REASONS = ("stop", "length", "load", "unload")


class NDJSONReader:
    """Raw bytes in, one item per complete line (blank lines skipped), wherever the chunk
    boundaries fall; lines are decoded whole, so a split UTF-8 character is read right."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Item]:
        start = len(self._buffer)
        self._buffer += data
        items: list[Item] = []
        while (end := self._buffer.find(b"\n", start)) >= 0:
            raw = bytes(self._buffer[:end]).strip()
            del self._buffer[: end + 1]
            start = 0
            if not raw:
                continue
            try:
                items.append(SSEEvent(event="message", data=raw.decode()))
            except UnicodeDecodeError as exc:
                items.append(
                    FramingError(f"invalid UTF-8 in a line: {exc.reason}", clip(repr(raw)))
                )
        return items

    def finish(self) -> list[str]:
        rest = bytes(self._buffer).strip()
        if not rest:
            return []
        return [
            "the stream ended inside a line (no newline after its last object):"
            f" {clip(rest.decode(errors='replace'))}"
        ]


class OllamaStreamChecker(StreamChecker):
    """NDJSON chunks of `/api/chat` (`message`) or `/api/generate` (`response`)."""

    def __init__(self) -> None:
        super().__init__(reader=NDJSONReader())
        self._chunks = 0
        self._done = False
        self._errored = False
        self._model: str | None = None

    def _event(self, event: SSEEvent) -> ChunkInfo:
        payload, problem = parse_object(event.data)
        if payload is None:
            return ChunkInfo("malformed", None, clip(event.data), [str(problem)])
        violations: list[str] = []
        if self._errored:
            violations.append("a line after the error object (an error ends the stream)")
        elif self._done:
            violations.append("a line after the done line")
        if "error" in payload:
            self._errored = True
            return ChunkInfo("error", None, error_summary(payload["error"]), violations)
        self._chunks += 1
        self._check_envelope(payload, violations)
        fields = self._assistant_fields(payload, violations)
        calls = as_list(fields.get("tool_calls"))
        for i, call in enumerate(calls):
            _check_call(i, call, violations)
        if payload.get("done") is True:
            self._done = True
            _check_done(payload, violations)
            reason = payload.get("done_reason")
            return ChunkInfo("done", None, f"done_reason={reason!r}", violations)
        if calls:
            names = ", ".join(
                str(as_object(as_object(c).get("function")).get("name")) for c in calls
            )
            return ChunkInfo("tool_calls", 0, names, violations)
        if fields.get("thinking"):
            return ChunkInfo("thinking", None, quote(str(fields["thinking"])), violations)
        if fields.get("content"):
            return ChunkInfo("content", None, quote(str(fields["content"])), violations)
        if payload.get("logprobs"):
            return ChunkInfo(
                "logprobs", None, f"{len(as_list(payload['logprobs']))} token(s)", violations
            )
        return ChunkInfo("chunk", None, "(empty)", violations)

    def _check_envelope(self, payload: dict[str, Any], violations: list[str]) -> None:
        model = payload.get("model")
        if not isinstance(model, str):
            violations.append("a line without a model name")
        elif self._model is None:
            self._model = model
        elif model != self._model:
            violations.append(f"model {model!r} differs from the stream's {self._model!r}")
        if not isinstance(payload.get("created_at"), str):
            violations.append("a line without created_at")
        if not isinstance(payload.get("done"), bool):
            violations.append("a line whose done is not a boolean")

    @staticmethod
    def _assistant_fields(payload: dict[str, Any], violations: list[str]) -> dict[str, Any]:
        """The message (chat) or the top-level fields (generate)."""
        if "message" in payload:
            message = payload["message"]
            if not isinstance(message, dict):
                violations.append("message is not an object")
                return {}
            if message.get("role") != "assistant":
                violations.append(f"message.role is {message.get('role')!r}, not 'assistant'")
            if not isinstance(message.get("content", ""), str):
                violations.append("message.content is not a string")
            return message
        if "response" in payload:
            if not isinstance(payload["response"], str):
                violations.append("response is not a string")
            return {"content": payload["response"], **payload}
        violations.append("a line with neither message (chat) nor response (generate)")
        return {}

    def _end_violations(self) -> list[str]:
        if self._errored or self._done:
            return []
        if not self._chunks:
            return ["the stream ended without any line"]
        return ["the stream ended without a line with done: true"]


def _check_call(i: int, call: Any, violations: list[str]) -> None:
    function = as_object(as_object(call).get("function"))
    if not isinstance(function.get("name"), str) or not function.get("name"):
        violations.append(f"tool_calls[{i}] has no function.name")
    if not isinstance(function.get("arguments"), dict):
        violations.append(
            f"tool_calls[{i}].function.arguments is not an object (Ollama sends whole calls"
            " with object arguments)"
        )


def _check_done(payload: dict[str, Any], violations: list[str]) -> None:
    reason = payload.get("done_reason")
    if reason not in _DONE_REASONS:
        violations.append(f"done_reason {reason!r} is not one Ollama sends")
    for key in _METRICS:
        value = payload.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 0
        ):
            violations.append(f"{key} is not a non-negative integer")
