"""Gemini responses: a canonical answer as a GenerateContentResponse, whole or streamed.

Source: the Gemini Developer API reference (generateContent, streamGenerateContent,
Candidate's `logprobsResult` and `avgLogprobs`). A non-streaming answer is the collected
stream; both spell model content with `content.model_parts` and its part encoders. A
refusal is text with `finishReason: "SAFETY"` (Gemini's way of saying the model
declined; google-genai's `response.text` still gives the text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatmock_lab.core import (
    ChatResponse,
    Error,
    Event,
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
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
from chatmock_lab.sse import encode_frame


def logprobs_fields(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    """A candidate's `logprobsResult` and `avgLogprobs` for these tokens (Gemini has no
    token bytes; `topCandidates` only when alternatives were asked for)."""
    chosen = [{"token": t.token, "logProbability": t.logprob} for t in tokens]
    total = sum(t.logprob for t in tokens)
    result: dict[str, Any] = {}
    if any(t.top for t in tokens):
        result["topCandidates"] = [
            {"candidates": [{"token": a.token, "logProbability": a.logprob} for a in t.top]}
            for t in tokens
        ]
    result["chosenCandidates"] = chosen
    result["logProbabilitySum"] = total
    return {"logprobsResult": result, "avgLogprobs": total / len(tokens) if tokens else 0.0}


def render_response(
    response: ChatResponse, *, id: str, model: str, include_thoughts: bool
) -> dict[str, Any]:
    # A refusal is text in the parts (`model_parts`), told apart by the SAFETY finish.
    parts = model_parts(response.parts, replay=False, include_thoughts=include_thoughts)
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": parts},
        "finishReason": finish_reason(response.finish_reason),
        "index": 0,
    }
    if response.logprobs is not None or response.refusal_logprobs is not None:
        candidate.update(
            logprobs_fields([*(response.logprobs or ()), *(response.refusal_logprobs or ())])
        )
    return {
        "candidates": [candidate],
        "usageMetadata": usage_json(response.usage),
        "modelVersion": model,
        "responseId": id,
    }


class GenerateStreamRenderer:
    """Canonical events in, streamed GenerateContentResponse chunks out (SSE or JSON array).

    Text goes out as it comes; a function call goes out whole once its arguments are
    complete; usage and the finish reason ride on the final chunk. Log probabilities
    ride on the chunk of the text they describe: a `LogprobsDelta` follows its text, so
    once a stream has them (from the start with `logprobs`, else from the first one) a
    text chunk waits for the next event to see whether they come with it."""

    def __init__(
        self, *, id: str, model: str, include_thoughts: bool, sse: bool, logprobs: bool = False
    ) -> None:
        self._id = id
        self._model = model
        self._include_thoughts = include_thoughts
        self._array = None if sse else ArrayFraming()
        self._usage: Usage | None = None
        self._calls = ToolCallAssembler()
        # A signature of hidden reasoning, for the next text or call, as Gemini sends it.
        self._signature: str | None = None
        self._closed = False
        # Whether text waits for its log probabilities, and the parts that are waiting.
        self._hold = logprobs
        self._held: list[dict[str, Any]] | None = None

    def _frame(self, payload: dict[str, Any]) -> bytes:
        if self._array is not None:
            return self._array.frame(payload)
        return encode_frame(payload, line_end=SSE_LINE_END)

    def _chunk(
        self,
        parts: list[dict[str, Any]],
        finish: str | None = None,
        logprobs: Sequence[TokenLogprob] | None = None,
    ) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if logprobs is not None:
            candidate.update(logprobs_fields(logprobs))
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
        # A blank line, not an SSE comment: google-genai (3.6.1) reads any line that is
        # neither `data:` nor blank as JSON, and fails on `: keep-alive`. A blank line
        # with no data before it is a valid SSE no-op every reader skips. A JSON array
        # has no room for either.
        if self._closed:
            return []
        # A silence: held text goes now rather than wait for what may never come.
        frames = self._release()
        if self._array is None:
            frames.append(SSE_LINE_END.encode())
        return frames

    def _text(self, parts: list[dict[str, Any]]) -> list[bytes]:
        if not self._hold:
            return [self._chunk(parts)]
        self._held = parts
        return []

    def _release(self) -> list[bytes]:
        if self._held is None:
            return []
        parts, self._held = self._held, None
        return [self._chunk(parts)]

    def _emit_call(self, index: int) -> list[bytes]:
        call = self._calls.pop(index)
        if call is None:
            return []
        signature, self._signature = self._signature, None
        return [self._chunk([call_part(call.part(), signature)])]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, LogprobsDelta):
            self._hold = True
            parts, self._held = self._held or [], None
            return [self._chunk(parts, logprobs=event.tokens)]
        if self._held is not None:
            return self._release() + self._feed(event)
        return self._feed(event)

    def _feed(self, event: Event) -> list[bytes]:
        if isinstance(event, (TextDelta, RefusalDelta)):
            if not event.text:
                return []
            signature, self._signature = self._signature, None
            return self._text([text_part(event.text, signature)])
        if isinstance(event, ReasoningDelta):
            if not self._include_thoughts:
                if event.signature is not None:
                    self._signature = event.signature
                return []
            if event.text or event.signature is not None:
                return [self._chunk([thought_part(event.text, event.signature)])]
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
        return self._release() + self._finish("STOP")
