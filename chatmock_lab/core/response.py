"""A non-streaming response is the event stream, collected."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field

from chatmock_lab.core.calls import ToolCallAssembler
from chatmock_lab.core.errors import ProxyError
from chatmock_lab.core.events import (
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
from chatmock_lab.core.request import ReasoningPart, RefusalPart, TextPart, ToolCallPart
from chatmock_lab.core.tools import parse_arguments

OutputPart = TextPart | RefusalPart | ReasoningPart | ToolCallPart


@dataclass(slots=True)
class ChatResponse:
    """What the model produced, parts in the order they came."""

    parts: list[OutputPart] = field(default_factory=list)
    finish_reason: FinishReason = "stop"
    stop_sequence: str | None = None
    usage: Usage | None = None
    # Per-token log probabilities of the answer and of the refusal, when asked for.
    logprobs: list[TokenLogprob] | None = None
    refusal_logprobs: list[TokenLogprob] | None = None

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    def refusal(self) -> str | None:
        """The refusal text, or None when the model did not refuse."""
        texts = [p.text for p in self.parts if isinstance(p, RefusalPart)]
        return "".join(texts) if texts else None

    def reasoning(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, ReasoningPart))

    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]


class ResponseBuilder:
    """Folds events into a `ChatResponse`; an `Error` event is raised as its `ProxyError`."""

    def __init__(self) -> None:
        self._response = ChatResponse()
        self._pending = ToolCallAssembler()
        # Each call's place in `parts`, filled in when its arguments are complete.
        self._calls: dict[int, ToolCallPart] = {}
        self._finished = False
        # The text part still taking deltas and its pieces, joined once when it closes:
        # `part.text += delta` copies the whole text each time (a part's attribute is never
        # the only reference CPython can extend in place), quadratic in a long answer.
        self._open: TextPart | RefusalPart | ReasoningPart | None = None
        self._pieces: list[str] = []

    def add(self, event: Event) -> None:
        parts = self._response.parts
        if isinstance(event, TextDelta):
            if not isinstance(self._open, TextPart):
                self._open_part(TextPart(""))
            self._pieces.append(event.text)
        elif isinstance(event, RefusalDelta):
            if not isinstance(self._open, RefusalPart):
                self._open_part(RefusalPart(""))
            self._pieces.append(event.text)
        elif isinstance(event, LogprobsDelta):
            response = self._response
            if event.refusal:
                if response.refusal_logprobs is None:
                    response.refusal_logprobs = []
                response.refusal_logprobs.extend(event.tokens)
            else:
                if response.logprobs is None:
                    response.logprobs = []
                response.logprobs.extend(event.tokens)
        elif isinstance(event, ReasoningDelta):
            block = self._open
            if not (isinstance(block, ReasoningPart) and block.signature is None):
                block = ReasoningPart()
                self._open_part(block)
            self._pieces.append(event.text)
            if event.signature is not None:
                block.signature = event.signature
        elif isinstance(event, ToolCallStart):
            self._close_part()
            self._pending.start(event)
            call = ToolCallPart(id=event.id, name=event.name)
            self._calls[event.index] = call
            parts.append(call)
        elif isinstance(event, ToolCallDelta):
            if self._pending.add(event) is None:
                raise ProxyError(f"tool-call arguments for unknown call index {event.index}")
        elif isinstance(event, ToolCallEnd):
            self._close_call(event.index)
        elif isinstance(event, Usage):
            self._response.usage = event
        elif isinstance(event, Finish):
            self._response.finish_reason = event.reason
            self._response.stop_sequence = event.stop_sequence
            self._finished = True
        elif isinstance(event, Error):
            raise event.error

    def _close_call(self, index: int) -> None:
        pending = self._pending.pop(index)
        if pending is not None:
            self._calls.pop(index).arguments = parse_arguments(pending.arguments_text)

    def _open_part(self, part: TextPart | RefusalPart | ReasoningPart) -> None:
        self._close_part()
        self._response.parts.append(part)
        self._open = part

    def _close_part(self) -> None:
        if self._open is not None:
            self._open.text = "".join(self._pieces)
            self._open, self._pieces = None, []

    def build(self) -> ChatResponse:
        self._close_part()
        for index in self._pending.indexes():
            self._close_call(index)
        response = self._response
        if not self._finished and response.tool_calls():
            response.finish_reason = "tool_calls"
        return response


def collect(events: Iterable[Event]) -> ChatResponse:
    builder = ResponseBuilder()
    for event in events:
        builder.add(event)
    return builder.build()


async def acollect(events: AsyncIterable[Event]) -> ChatResponse:
    builder = ResponseBuilder()
    async for event in events:
        builder.add(event)
    return builder.build()
