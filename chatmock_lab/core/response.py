"""A non-streaming response is the event stream, collected."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.core.errors import ProxyError
from chatmock_lab.core.events import (
    Error,
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from chatmock_lab.core.request import ReasoningPart, TextPart, ToolCallPart

OutputPart = TextPart | ReasoningPart | ToolCallPart


@dataclass(slots=True)
class ChatResponse:
    """What the model produced, parts in the order they came."""

    parts: list[OutputPart] = field(default_factory=list)
    finish_reason: FinishReason = "stop"
    stop_sequence: str | None = None
    usage: Usage | None = None

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    def reasoning(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, ReasoningPart))

    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]


def parse_arguments(text: str) -> Any:
    """Tool-call arguments as JSON; invalid JSON is kept as the raw text, never dropped."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


class ResponseBuilder:
    """Folds events into a `ChatResponse`; an `Error` event is raised as its `ProxyError`."""

    def __init__(self) -> None:
        self._response = ChatResponse()
        self._arguments: dict[int, list[str]] = {}
        self._calls: dict[int, ToolCallPart] = {}
        self._finished = False

    def add(self, event: Event) -> None:
        parts = self._response.parts
        if isinstance(event, TextDelta):
            if parts and isinstance(parts[-1], TextPart):
                parts[-1].text += event.text
            else:
                parts.append(TextPart(event.text))
        elif isinstance(event, ReasoningDelta):
            if not (parts and isinstance(parts[-1], ReasoningPart) and parts[-1].signature is None):
                parts.append(ReasoningPart())
            block = parts[-1]
            assert isinstance(block, ReasoningPart)
            block.text += event.text
            if event.signature is not None:
                block.signature = event.signature
        elif isinstance(event, ToolCallStart):
            call = ToolCallPart(id=event.id, name=event.name)
            self._calls[event.index] = call
            self._arguments[event.index] = []
            parts.append(call)
        elif isinstance(event, ToolCallDelta):
            if event.index not in self._arguments:
                raise ProxyError(f"tool-call arguments for unknown call index {event.index}")
            self._arguments[event.index].append(event.arguments)
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
        if index in self._calls:
            self._calls[index].arguments = parse_arguments("".join(self._arguments.pop(index)))
            del self._calls[index]

    def build(self) -> ChatResponse:
        for index in list(self._calls):
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
