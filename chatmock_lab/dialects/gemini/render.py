"""Gemini responses: a canonical answer as a GenerateContentResponse, whole or streamed.

Source: the Gemini Developer API reference (generateContent, streamGenerateContent). A
non-streaming answer is the collected stream; both spell model content with
`content.model_parts` and its part encoders.
"""

from __future__ import annotations

from typing import Any

from chatmock_lab.core import (
    ChatResponse,
    Error,
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from chatmock_lab.core.calls import ToolCallAssembler
from chatmock_lab.dialects.gemini.content import call_part, model_parts, text_part, thought_part
from chatmock_lab.dialects.gemini.wire import (
    SSE_LINE_END,
    ArrayFraming,
    finish_reason,
    render_error,
    usage_json,
)
from chatmock_lab.sse import comment_frame, encode_frame


def render_response(
    response: ChatResponse, *, id: str, model: str, include_thoughts: bool
) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": model_parts(
                        response.parts, replay=False, include_thoughts=include_thoughts
                    ),
                },
                "finishReason": finish_reason(response.finish_reason),
                "index": 0,
            }
        ],
        "usageMetadata": usage_json(response.usage),
        "modelVersion": model,
        "responseId": id,
    }


class GenerateStreamRenderer:
    """Canonical events in, streamed GenerateContentResponse chunks out (SSE or JSON array).

    Text goes out as it comes; a function call goes out whole once its arguments are
    complete; usage and the finish reason ride on the final chunk."""

    def __init__(self, *, id: str, model: str, include_thoughts: bool, sse: bool) -> None:
        self._id = id
        self._model = model
        self._include_thoughts = include_thoughts
        self._array = None if sse else ArrayFraming()
        self._usage: Usage | None = None
        self._calls = ToolCallAssembler()
        # A signature of hidden reasoning, for the next text or call, as Gemini sends it.
        self._signature: str | None = None
        self._closed = False

    def _frame(self, payload: dict[str, Any]) -> bytes:
        if self._array is not None:
            return self._array.frame(payload)
        return encode_frame(payload, line_end=SSE_LINE_END)

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        payload: dict[str, Any] = {"candidates": [candidate]}
        if finish is not None:
            candidate["finishReason"] = finish
            payload["usageMetadata"] = usage_json(self._usage)
        payload["modelVersion"] = self._model
        payload["responseId"] = self._id
        return self._frame(payload)

    def start(self) -> list[bytes]:
        return []

    def keepalive(self) -> list[bytes]:
        # SSE comments are invisible to clients; a JSON array has no room for one.
        if self._array is not None or self._closed:
            return []
        return [comment_frame("keep-alive", line_end=SSE_LINE_END)]

    def _emit_call(self, index: int) -> list[bytes]:
        call = self._calls.pop(index)
        if call is None:
            return []
        signature, self._signature = self._signature, None
        return [self._chunk([call_part(call.part(), signature)])]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, TextDelta):
            if not event.text:
                return []
            signature, self._signature = self._signature, None
            return [self._chunk([text_part(event.text, signature)])]
        if isinstance(event, ReasoningDelta):
            if event.signature is not None:
                if self._include_thoughts:
                    return [self._chunk([thought_part("", event.signature)])]
                self._signature = event.signature
                return []
            if self._include_thoughts and event.text:
                return [self._chunk([thought_part(event.text)])]
            return []
        if isinstance(event, ToolCallStart):
            self._calls.start(event)
        elif isinstance(event, ToolCallDelta):
            self._calls.add(event)
        elif isinstance(event, ToolCallEnd):
            return self._emit_call(event.index)
        elif isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Finish):
            return self._finish(finish_reason(event.reason))
        elif isinstance(event, Error):
            self._closed = True
            frames = [self._frame(render_error(event.error)[1])]
            if self._array is not None:
                frames.append(self._array.close())
            return frames
        return []

    def _finish(self, reason: str) -> list[bytes]:
        frames: list[bytes] = []
        for index in self._calls.indexes():
            frames += self._emit_call(index)
        frames.append(self._chunk([], reason))
        self._closed = True
        if self._array is not None:
            frames.append(self._array.close())
        return frames

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        return self._finish("STOP")
