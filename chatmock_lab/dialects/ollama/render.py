"""Ollama answers: a canonical answer as a ChatResponse (`/api/chat`) or GenerateResponse
(`/api/generate`), whole or streamed as NDJSON.

Source: github.com/ollama/ollama `api/types.go` and `server/routes.go`. Every line
carries `model`, `created_at` and `done`; text goes out as it comes (`message.content`
or `response`), thinking likewise (`message.thinking` or `thinking`); a tool call goes
out whole in one line once its arguments are complete, as Ollama sends it; the last
line has `done: true`, `done_reason` and the metrics (counts from the canonical usage,
durations measured by the route and handed in). A failure after output is a last
`{"error": ...}` line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

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
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from chatmock_lab.core.calls import ToolCallAssembler
from chatmock_lab.dialects.ollama.content import assistant_fields, tool_call
from chatmock_lab.dialects.ollama.wire import Durations, done_reason, frame, metrics

Endpoint = Literal["chat", "generate"]


def logprobs_json(tokens: Sequence[TokenLogprob]) -> list[dict[str, Any]]:
    """Ollama's `logprobs`: `{token, logprob, bytes, top_logprobs}` per token."""

    def one(token: TokenLogprob) -> dict[str, Any]:
        entry: dict[str, Any] = {"token": token.token, "logprob": token.logprob}
        if token.bytes is not None:
            entry["bytes"] = list(token.bytes)
        return entry

    return [
        {**one(t), **({"top_logprobs": [one(a) for a in t.top]} if t.top else {})} for t in tokens
    ]


def _body(endpoint: Endpoint, fields: dict[str, Any]) -> dict[str, Any]:
    """Assistant fields in the endpoint's place: a `message`, or top level with the text
    as `response`."""
    if endpoint == "chat":
        return {"message": {"role": "assistant", **fields}}
    body: dict[str, Any] = {"response": fields.get("content", "")}
    for key in ("thinking", "tool_calls"):
        if key in fields:
            body[key] = fields[key]
    return body


def render_response(
    response: ChatResponse,
    *,
    endpoint: Endpoint,
    model: str,
    created_at: str,
    durations: Durations,
    show_thinking: bool = True,
) -> dict[str, Any]:
    fields = assistant_fields(response.parts, show_thinking=show_thinking)
    body: dict[str, Any] = {"model": model, "created_at": created_at}
    body |= _body(endpoint, fields)
    body |= {"done": True, "done_reason": done_reason(response.finish_reason)}
    body |= metrics(response.usage, durations)
    tokens = [*(response.logprobs or ()), *(response.refusal_logprobs or ())]
    if response.logprobs is not None or response.refusal_logprobs is not None:
        body["logprobs"] = logprobs_json(tokens)
    return body


def render_load(*, endpoint: Endpoint, model: str, created_at: str) -> dict[str, Any]:
    """Ollama's answer to a request with nothing to answer (no messages, no prompt): the
    model is "loaded", `done_reason: "load"`."""
    body: dict[str, Any] = {"model": model, "created_at": created_at}
    return body | _body(endpoint, {"content": ""}) | {"done": True, "done_reason": "load"}


class StreamRenderer:
    """Canonical events in, NDJSON lines out. `clock()` is the time of each line
    (`created_at`), `durations()` the route's measurements, read at the last line."""

    def __init__(
        self,
        *,
        endpoint: Endpoint,
        model: str,
        clock: Callable[[], str],
        durations: Callable[[], Durations],
        show_thinking: bool = True,
        logprobs: bool = False,
    ) -> None:
        self._endpoint = endpoint
        self._model = model
        self._clock = clock
        self._durations = durations
        self._show_thinking = show_thinking
        self._calls = ToolCallAssembler()
        self._emitted_calls = 0
        self._usage: Usage | None = None
        self._closed = False
        # Log probabilities ride on the line of the text they describe, as Ollama sends
        # them; a `LogprobsDelta` follows its text, so with `logprobs` (or once one came)
        # a text line waits for the next event.
        self._hold = logprobs
        self._held: dict[str, Any] | None = None

    def _line(self, fields: dict[str, Any], **extra: Any) -> bytes:
        body: dict[str, Any] = {"model": self._model, "created_at": self._clock()}
        return frame(body | _body(self._endpoint, fields) | {"done": False} | extra)

    def start(self) -> list[bytes]:
        return []

    def keepalive(self) -> list[bytes]:
        # Every NDJSON line is a JSON object to Ollama's clients: silence has no frame of
        # its own, but held text goes now rather than wait for what may never come.
        return [] if self._closed else self._release()

    def _release(self) -> list[bytes]:
        if self._held is None:
            return []
        fields, self._held = self._held, None
        return [self._line(fields)]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, LogprobsDelta):
            self._hold = True
            fields, self._held = self._held or {"content": ""}, None
            return [self._line(fields, logprobs=logprobs_json(event.tokens))]
        return self._release() + self._feed(event)

    def _feed(self, event: Event) -> list[bytes]:
        if isinstance(event, (TextDelta, RefusalDelta)):
            if not event.text:
                return []
            if self._hold:
                self._held = {"content": event.text}
                return []
            return [self._line({"content": event.text})]
        if isinstance(event, ReasoningDelta):
            if event.text and self._show_thinking:
                return [self._line({"content": "", "thinking": event.text})]
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
            return self._done(event.reason)
        elif isinstance(event, Error):
            self._closed = True
            return [frame({"error": event.error.message})]
        return []

    def _emit_call(self, index: int) -> list[bytes]:
        call = self._calls.pop(index)
        if call is None:
            return []
        encoded = tool_call(call.part(), self._emitted_calls)
        self._emitted_calls += 1
        return [self._line({"content": "", "tool_calls": [encoded]})]

    def _done(self, reason: FinishReason) -> list[bytes]:
        lines: list[bytes] = []
        for index in self._calls.indexes():
            lines += self._emit_call(index)
        self._closed = True
        body: dict[str, Any] = {"model": self._model, "created_at": self._clock()}
        body |= _body(self._endpoint, {"content": ""})
        body |= {"done": True, "done_reason": done_reason(reason)}
        body |= metrics(self._usage, self._durations())
        return [*lines, frame(body)]

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        return self._release() + self._done("stop")
