"""Answers to a Responses client: the whole `response` object and its event stream.

Source: OpenAI's API reference (the response object, "Streaming events") and the
openai-python SDK's types and stream accumulator, which requires every field named
here. Output items keep the order the model produced them in: a reasoning item per
reasoning block, one message item per run of text and refusal, one function_call item
per call. Item ids derive from the response id (`msg_<token>_<index>`), so rendering
stays pure; call ids are the canonical ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.core import (
    ChatResponse,
    Error,
    Event,
    Finish,
    FinishReason,
    LogprobsDelta,
    ProxyError,
    ReasoningDelta,
    ReasoningPart,
    RefusalDelta,
    RefusalPart,
    ResponseBuilder,
    TextDelta,
    TextPart,
    TokenLogprob,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    Usage,
    arguments_json,
)
from chatmock_lab.dialects.responses.wire import (
    ARGUMENTS_DELTA,
    ARGUMENTS_DONE,
    COMPLETED,
    CONTENT_PART_ADDED,
    CONTENT_PART_DONE,
    CREATED,
    FAILED,
    IN_PROGRESS,
    INCOMPLETE,
    INCOMPLETE_FOR_FINISH,
    OUTPUT_ITEM_ADDED,
    OUTPUT_ITEM_DONE,
    OUTPUT_TEXT_DELTA,
    OUTPUT_TEXT_DONE,
    REASONING_SUMMARY_DELTA,
    REASONING_SUMMARY_DONE,
    REASONING_SUMMARY_PART_ADDED,
    REASONING_SUMMARY_PART_DONE,
    REFUSAL_DELTA,
    REFUSAL_DONE,
    failure_json,
    frame,
    usage_json,
)
from chatmock_lab.sse import comment_frame

KEEPALIVE = comment_frame("keep-alive")


@dataclass(frozen=True, slots=True)
class ResponseContext:
    """What every rendering of one response shares: its id, model, creation time, the
    request settings it echoes (`ResponsesOptions.echo`) and whether reasoning items
    carry their encrypted content (`include: ["reasoning.encrypted_content"]`)."""

    id: str
    model: str
    created_at: int
    echo: dict[str, Any] = field(default_factory=dict)
    include_encrypted_reasoning: bool = False

    def item_id(self, prefix: str, index: int) -> str:
        token = self.id.removeprefix("resp_")
        return f"{prefix}_{token}_{index}"


def response_object(
    context: ResponseContext,
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: Usage | None = None,
    error: ProxyError | None = None,
    finish: FinishReason | None = None,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """The `response` object: the request settings it echoes around its output."""
    incomplete = INCOMPLETE_FOR_FINISH.get(finish) if finish is not None else None
    echo = context.echo
    return {
        "id": context.id,
        "object": "response",
        "created_at": context.created_at,
        "status": status,
        "background": False,
        "completed_at": completed_at if status == "completed" else None,
        "error": failure_json(error) if error is not None else None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": context.model,
        "output": output,
        "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "previous_response_id": echo.get("previous_response_id"),
        "prompt_cache_key": echo.get("prompt_cache_key"),
        "reasoning": echo.get("reasoning") or {"effort": None, "summary": None},
        "safety_identifier": echo.get("safety_identifier"),
        "service_tier": echo.get("service_tier", "default"),
        "store": echo.get("store", True),
        "temperature": echo.get("temperature", 1.0),
        "text": echo.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": echo.get("tool_choice", "auto"),
        "tools": echo.get("tools", []),
        "top_logprobs": echo.get("top_logprobs", 0),
        "top_p": echo.get("top_p", 1.0),
        "truncation": echo.get("truncation", "disabled"),
        "usage": usage_json(usage) if usage is not None else None,
        "user": echo.get("user"),
        "metadata": echo.get("metadata") or {},
    }


def status_for(finish: FinishReason) -> str:
    return "incomplete" if finish in INCOMPLETE_FOR_FINISH else "completed"


# ---------------------------------------------------------------- items


def logprob_json(token: TokenLogprob) -> dict[str, Any]:
    return {
        "token": token.token,
        "bytes": list(token.bytes) if token.bytes is not None else list(token.token.encode()),
        "logprob": token.logprob,
        "top_logprobs": [
            {
                "token": t.token,
                "bytes": list(t.bytes) if t.bytes is not None else list(t.token.encode()),
                "logprob": t.logprob,
            }
            for t in token.top
        ],
    }


def text_part(text: str = "", logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}


def refusal_part(refusal: str = "") -> dict[str, Any]:
    return {"type": "refusal", "refusal": refusal}


def message_item(item_id: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def reasoning_item(
    item_id: str, text: str, signature: str | None, *, include_encrypted: bool
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }
    if include_encrypted and signature:
        item["encrypted_content"] = signature
    return item


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def output_items(response: ChatResponse, context: ResponseContext) -> list[dict[str, Any]]:
    """A collected answer's parts as output items."""
    items: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    status = "incomplete" if response.finish_reason in INCOMPLETE_FOR_FINISH else "completed"
    logprobs = [logprob_json(t) for t in response.logprobs or []]

    def flush() -> None:
        if content:
            items.append(message_item(context.item_id("msg", len(items)), list(content), status))
            content.clear()

    for part in response.parts:
        if isinstance(part, TextPart):
            content.append(text_part(part.text, logprobs))
            logprobs = []
        elif isinstance(part, RefusalPart):
            content.append(refusal_part(part.text))
        elif isinstance(part, ReasoningPart):
            flush()
            items.append(
                reasoning_item(
                    context.item_id("rs", len(items)),
                    part.text,
                    part.signature,
                    include_encrypted=context.include_encrypted_reasoning,
                )
            )
        elif isinstance(part, ToolCallPart):
            flush()
            items.append(
                call_item(
                    context.item_id("fc", len(items)),
                    part.id,
                    part.name,
                    arguments_json(part.arguments),
                    "completed",
                )
            )
    flush()
    return items


def render_response(
    response: ChatResponse, context: ResponseContext, *, completed_at: int
) -> dict[str, Any]:
    """A collected answer as a whole `response` object."""
    return response_object(
        context,
        status=status_for(response.finish_reason),
        output=output_items(response, context),
        usage=response.usage or Usage(),
        finish=response.finish_reason,
        completed_at=completed_at,
    )


# ---------------------------------------------------------------- the stream


@dataclass(slots=True)
class _Message:
    id: str
    index: int
    content: list[dict[str, Any]] = field(default_factory=list)
    # Whether the last content part is still taking deltas.
    part_open: bool = False
    # The open part's deltas, joined once when it closes (`+=` on it was quadratic).
    pieces: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Reasoning:
    id: str
    index: int
    pieces: list[str] = field(default_factory=list)
    summary_open: bool = False


@dataclass(slots=True)
class _Call:
    id: str
    index: int
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class ResponseStreamRenderer:
    """Canonical events in, Responses stream events out, numbered by `sequence_number`.

    `response.created` and `response.in_progress` open the stream; each output item is
    announced (`output_item.added`), streamed (content parts, text, refusal, reasoning
    summary and argument deltas) and closed (`.done` events, `output_item.done`) before
    the final `response.completed` (or `response.incomplete` for a length stop) with
    the whole response and its usage. A failure ends it with `response.failed`.

    After `finish`, `response` is the final response object and `collected` the
    answer as canonical parts (what a store keeps); `on_complete` is called with both
    before the final event goes out, so a client that has seen it can already continue
    from the response."""

    def __init__(
        self,
        context: ResponseContext,
        *,
        clock: Callable[[], float],
        on_complete: Callable[[dict[str, Any], ChatResponse], None] | None = None,
    ) -> None:
        self._context = context
        self._clock = clock
        self._on_complete = on_complete
        self._sequence = 0
        self._output: list[dict[str, Any] | None] = []
        self._message: _Message | None = None
        self._reasoning: _Reasoning | None = None
        self._calls: dict[int, _Call] = {}
        self._usage: Usage | None = None
        self._finish: FinishReason = "stop"
        self._builder = ResponseBuilder()
        self._closed = False
        self.response: dict[str, Any] | None = None
        self.collected: ChatResponse | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return frame(payload)

    def _snapshot(self, status: str, **fields: Any) -> dict[str, Any]:
        output = [item for item in self._output if item is not None]
        return response_object(self._context, status=status, output=output, **fields)

    def start(self) -> list[bytes]:
        return [
            self._event(CREATED, response=self._snapshot("in_progress")),
            self._event(IN_PROGRESS, response=self._snapshot("in_progress")),
        ]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, Error):
            return self._fail(event.error)
        self._builder.add(event)
        if isinstance(event, ReasoningDelta):
            return self._reasoning_delta(event)
        if isinstance(event, TextDelta):
            return self._content(event.text, refusal=False) if event.text else []
        if isinstance(event, RefusalDelta):
            return self._content(event.text, refusal=True) if event.text else []
        if isinstance(event, LogprobsDelta):
            self._logprobs(event)
            return []
        if isinstance(event, ToolCallStart):
            return self._call_start(event)
        if isinstance(event, ToolCallDelta):
            return self._call_delta(event)
        if isinstance(event, ToolCallEnd):
            return self._call_end(event.index)
        if isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Finish):
            self._finish = event.reason
        return []

    def keepalive(self) -> list[bytes]:
        return [] if self._closed else [KEEPALIVE]

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        status = status_for(self._finish)
        frames = self._close_reasoning() + self._close_message(status)
        for index in list(self._calls):
            frames += self._call_end(index)
        self.collected = self._builder.build()
        self.response = self._snapshot(
            status,
            usage=self._usage or Usage(),
            finish=self._finish,
            completed_at=int(self._clock()),
        )
        if self._on_complete is not None:
            self._on_complete(self.response, self.collected)
        kind = COMPLETED if status == "completed" else INCOMPLETE
        return [*frames, self._event(kind, response=self.response)]

    # -------------------------------------------------------------- items

    def _add_item(self, index: int, item: dict[str, Any]) -> list[bytes]:
        return [self._event(OUTPUT_ITEM_ADDED, output_index=index, item=item)]

    def _done_item(self, index: int, item: dict[str, Any]) -> bytes:
        self._output[index] = item
        return self._event(OUTPUT_ITEM_DONE, output_index=index, item=item)

    def _new_index(self) -> int:
        self._output.append(None)
        return len(self._output) - 1

    def _reasoning_delta(self, event: ReasoningDelta) -> list[bytes]:
        if not event.text and event.signature is None:
            return []
        frames = self._close_message("completed")
        if self._reasoning is None:
            index = self._new_index()
            self._reasoning = _Reasoning(id=self._context.item_id("rs", index), index=index)
            item = {"id": self._reasoning.id, "type": "reasoning", "summary": []}
            frames += self._add_item(index, item)
        reasoning = self._reasoning
        where = {"item_id": reasoning.id, "output_index": reasoning.index, "summary_index": 0}
        if event.text:
            if not reasoning.summary_open:
                reasoning.summary_open = True
                part = {"type": "summary_text", "text": ""}
                frames.append(self._event(REASONING_SUMMARY_PART_ADDED, **where, part=part))
            reasoning.pieces.append(event.text)
            frames.append(self._event(REASONING_SUMMARY_DELTA, **where, delta=event.text))
        if event.signature is not None:
            frames += self._close_reasoning(event.signature)
        return frames

    def _close_reasoning(self, signature: str | None = None) -> list[bytes]:
        reasoning, self._reasoning = self._reasoning, None
        if reasoning is None:
            return []
        frames: list[bytes] = []
        where = {"item_id": reasoning.id, "output_index": reasoning.index, "summary_index": 0}
        text = "".join(reasoning.pieces)
        if reasoning.summary_open:
            frames.append(self._event(REASONING_SUMMARY_DONE, **where, text=text))
            part = {"type": "summary_text", "text": text}
            frames.append(self._event(REASONING_SUMMARY_PART_DONE, **where, part=part))
        item = reasoning_item(
            reasoning.id,
            text,
            signature,
            include_encrypted=self._context.include_encrypted_reasoning,
        )
        frames.append(self._done_item(reasoning.index, item))
        return frames

    def _content(self, text: str, *, refusal: bool) -> list[bytes]:
        frames = self._close_reasoning()
        if self._message is None:
            index = self._new_index()
            self._message = _Message(id=self._context.item_id("msg", index), index=index)
            frames += self._add_item(index, message_item(self._message.id, [], "in_progress"))
        message = self._message
        kind = "refusal" if refusal else "output_text"
        if not (message.part_open and message.content[-1]["type"] == kind):
            frames += self._close_part(message)
            message.content.append(refusal_part() if refusal else text_part())
            message.part_open = True
            frames.append(
                self._event(CONTENT_PART_ADDED, **self._where(message), part=message.content[-1])
            )
        message.pieces.append(text)
        if refusal:
            frames.append(self._event(REFUSAL_DELTA, **self._where(message), delta=text))
        else:
            frames.append(
                self._event(OUTPUT_TEXT_DELTA, **self._where(message), delta=text, logprobs=[])
            )
        return frames

    def _logprobs(self, event: LogprobsDelta) -> None:
        # Refusals carry no log probabilities in this dialect; answer tokens go with
        # the text part they describe, in its `.done` events and item.
        message = self._message
        if event.refusal or message is None or not message.part_open:
            return
        part = message.content[-1]
        if part["type"] == "output_text":
            part["logprobs"] += [logprob_json(t) for t in event.tokens]

    @staticmethod
    def _where(message: _Message) -> dict[str, Any]:
        return {
            "item_id": message.id,
            "output_index": message.index,
            "content_index": len(message.content) - 1,
        }

    def _close_part(self, message: _Message) -> list[bytes]:
        if not message.part_open:
            return []
        message.part_open = False
        part = message.content[-1]
        part["refusal" if part["type"] == "refusal" else "text"] = "".join(message.pieces)
        message.pieces = []
        where = self._where(message)
        if part["type"] == "refusal":
            done = self._event(REFUSAL_DONE, **where, refusal=part["refusal"])
        else:
            done = self._event(
                OUTPUT_TEXT_DONE, **where, text=part["text"], logprobs=part["logprobs"]
            )
        return [done, self._event(CONTENT_PART_DONE, **where, part=dict(part))]

    def _close_message(self, status: str) -> list[bytes]:
        message, self._message = self._message, None
        if message is None:
            return []
        frames = self._close_part(message)
        item = message_item(message.id, [dict(p) for p in message.content], status)
        return [*frames, self._done_item(message.index, item)]

    def _call_start(self, event: ToolCallStart) -> list[bytes]:
        frames = self._close_reasoning() + self._close_message("completed")
        index = self._new_index()
        call = _Call(
            id=self._context.item_id("fc", index), index=index, call_id=event.id, name=event.name
        )
        self._calls[event.index] = call
        item = call_item(call.id, call.call_id, call.name, "", "in_progress")
        return frames + self._add_item(index, item)

    def _call_delta(self, event: ToolCallDelta) -> list[bytes]:
        call = self._calls.get(event.index)
        if call is None or not event.arguments:
            return []
        call.arguments.append(event.arguments)
        return [
            self._event(
                ARGUMENTS_DELTA, item_id=call.id, output_index=call.index, delta=event.arguments
            )
        ]

    def _call_end(self, index: int) -> list[bytes]:
        call = self._calls.pop(index, None)
        if call is None:
            return []
        arguments = "".join(call.arguments)
        item = call_item(call.id, call.call_id, call.name, arguments, "completed")
        done = self._event(
            ARGUMENTS_DONE,
            item_id=call.id,
            output_index=call.index,
            name=call.name,
            arguments=arguments,
        )
        return [done, self._done_item(call.index, item)]

    def _fail(self, error: ProxyError) -> list[bytes]:
        self._closed = True
        self.response = self._snapshot("failed", usage=self._usage, error=error)
        return [self._event(FAILED, response=self.response)]
