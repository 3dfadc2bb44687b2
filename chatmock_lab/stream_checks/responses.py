"""The OpenAI Responses stream checker: named events numbered by `sequence_number`.

Event types (`ChunkInfo.event_type`), beside `keep-alive`, `malformed` and `error`: the
payload `type` (`response.created`, `response.output_item.added`,
`response.output_text.delta`, ...), refined by the item type for
`response.output_item.added/<type>` and `response.output_item.done/<type>`
(`message`, `reasoning`, `function_call`); unknown types pass through under their own
name (OpenAI adds event types). `block_index` is the event's `output_index`.

Beside the order (`response.created` first, one terminal event last: `completed`,
`incomplete` or `failed`), it checks what the openai SDK's stream accumulator relies
on: sequence numbers that only go up, every content event naming an output item that
was added and is not done yet (by `output_index` and `item_id`), text deltas inside an
added `output_text` part, every item done before `response.completed`, and a final
response with `usage` whose status agrees with its event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.sse import SSEEvent
from chatmock_lab.stream_checks.base import (
    ChunkInfo,
    StreamChecker,
    as_index,
    as_object,
    error_summary,
    parse_object,
)
from chatmock_lab.stream_checks.text import clip, quote

_TERMINAL = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}
_LIFECYCLE = frozenset({"response.created", "response.in_progress", "response.queued"})
# Events about one output item: they name it by output_index and item_id.
_ITEM_EVENTS = frozenset(
    {
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.refusal.delta",
        "response.refusal.done",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_part.done",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    }
)
_PART_EVENTS = {
    "response.output_text.delta": "output_text",
    "response.output_text.done": "output_text",
    "response.refusal.delta": "refusal",
    "response.refusal.done": "refusal",
}
_USAGE_FIELDS = ("input_tokens", "output_tokens", "total_tokens")


@dataclass(slots=True)
class _Item:
    id: Any
    type: str
    done: bool = False
    # content_index -> part type, for the parts added and not yet done.
    parts: dict[int, str] = field(default_factory=dict)


class ResponsesStreamChecker(StreamChecker):
    """Responses stream events: a response's lifecycle around its output items."""

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._terminal: str | None = None
        self._errored = False
        self._sequence: int | None = None
        self._response_id: Any = None
        self._items: dict[int, _Item] = {}

    def _event(self, event: SSEEvent) -> ChunkInfo:
        payload, problem = parse_object(event.data)
        if payload is None:
            return ChunkInfo("malformed", None, clip(event.data), [str(problem)])
        violations: list[str] = []
        kind = payload.get("type")
        if not isinstance(kind, str):
            violations.append("the payload has no type")
            kind = event.event or "?"
        elif event.event not in (None, "", "message") and event.event != kind:
            violations.append(f"SSE event name {event.event!r} does not match the type {kind!r}")
        self._check_sequence(payload, violations)
        if self._terminal is not None:
            violations.append(f"{kind} after {self._terminal} (nothing may follow it)")
        elif self._errored:
            violations.append(f"{kind} after an error event (an error ends the stream)")
        elif not self._started and kind not in ("response.created", "error"):
            violations.append(f"{kind} before response.created")
        if kind == "error":
            self._errored = True
            return ChunkInfo("error", None, error_summary(payload), violations)
        if kind in _LIFECYCLE or kind in _TERMINAL:
            return self._lifecycle(kind, payload, violations)
        index = as_index(payload.get("output_index"))
        if kind == "response.output_item.added":
            return self._added(index, payload, violations)
        if kind == "response.output_item.done":
            return self._done(index, payload, violations)
        if kind in _ITEM_EVENTS:
            return self._item_event(kind, index, payload, violations)
        return ChunkInfo(kind, index, clip(event.data), violations)

    def _check_sequence(self, payload: dict[str, Any], violations: list[str]) -> None:
        number = as_index(payload.get("sequence_number"))
        if number is None:
            violations.append("the event has no integer sequence_number")
            return
        if self._sequence is not None and number <= self._sequence:
            violations.append(
                f"sequence_number {number} does not follow {self._sequence} (it must increase)"
            )
        self._sequence = number

    def _lifecycle(self, kind: str, payload: dict[str, Any], violations: list[str]) -> ChunkInfo:
        response = payload.get("response")
        if not isinstance(response, dict):
            violations.append(f"{kind} has no response object")
            response = {}
        if kind == "response.created":
            if self._started:
                violations.append("a second response.created")
            self._started = True
            self._response_id = response.get("id")
        elif response.get("id") != self._response_id:
            violations.append(
                f"response id {response.get('id')!r} differs from the stream's"
                f" {self._response_id!r}"
            )
        status = response.get("status")
        if kind not in _TERMINAL:
            return ChunkInfo(kind, None, f"status={status}", violations)
        self._terminal = kind
        expected = _TERMINAL[kind]
        if status != expected:
            violations.append(f"{kind} carries status {status!r}, expected {expected!r}")
        if kind == "response.failed":
            return ChunkInfo(kind, None, error_summary(response.get("error")), violations)
        for index, item in sorted(self._items.items()):
            if not item.done:
                violations.append(f"output item {index} was never done (output_item.done)")
        usage = response.get("usage")
        if not isinstance(usage, dict):
            violations.append(f"{kind} has no usage")
            return ChunkInfo(kind, None, "no usage", violations)
        missing = [f for f in _USAGE_FIELDS if as_index(usage.get(f)) is None]
        if missing:
            violations.append(f"usage lacks {', '.join(missing)}")
        summary = (
            f"input {usage.get('input_tokens')} + output {usage.get('output_tokens')}"
            f" = {usage.get('total_tokens')} tokens"
        )
        return ChunkInfo(kind, None, summary, violations)

    def _added(
        self, index: int | None, payload: dict[str, Any], violations: list[str]
    ) -> ChunkInfo:
        item = as_object(payload.get("item"))
        item_type = str(item.get("type") or "?")
        if index is None:
            violations.append("output_item.added without an integer output_index")
        elif index in self._items:
            violations.append(f"output index {index} was already added")
        else:
            if index != len(self._items):
                violations.append(f"output index {index} skips ahead (expected {len(self._items)})")
            self._items[index] = _Item(id=item.get("id"), type=item_type)
        if not item.get("id"):
            violations.append("the added item has no id")
        name = f" {item['name']}" if item_type == "function_call" and item.get("name") else ""
        return ChunkInfo(
            f"response.output_item.added/{item_type}", index, f"{item.get('id')}{name}", violations
        )

    def _known(self, index: int | None, kind: str, violations: list[str]) -> _Item | None:
        if index is None:
            violations.append(f"{kind} without an integer output_index")
            return None
        item = self._items.get(index)
        if item is None:
            violations.append(f"{kind} for output index {index}, which was never added")
        elif item.done:
            violations.append(f"{kind} for output index {index}, which is already done")
        return item

    def _done(self, index: int | None, payload: dict[str, Any], violations: list[str]) -> ChunkInfo:
        kind = "response.output_item.done"
        item = as_object(payload.get("item"))
        item_type = str(item.get("type") or "?")
        known = self._known(index, kind, violations)
        if known is not None:
            if item.get("id") != known.id:
                violations.append(
                    f"output item {index}: done with id {item.get('id')!r}, added as {known.id!r}"
                )
            if known.parts:
                open_parts = ", ".join(str(p) for p in sorted(known.parts))
                violations.append(f"output item {index}: content parts {open_parts} not done")
            known.done = True
        return ChunkInfo(f"{kind}/{item_type}", index, _item_summary(item), violations)

    def _item_event(
        self, kind: str, index: int | None, payload: dict[str, Any], violations: list[str]
    ) -> ChunkInfo:
        item = self._known(index, kind, violations)
        if item is not None and payload.get("item_id") != item.id:
            violations.append(
                f"{kind}: item_id {payload.get('item_id')!r} is not output item {index}'s"
                f" id {item.id!r}"
            )
        content_index = as_index(payload.get("content_index"))
        if item is not None and kind.startswith("response.content_part."):
            part_type = str(as_object(payload.get("part")).get("type") or "?")
            if content_index is None:
                violations.append(f"{kind} without an integer content_index")
            elif kind.endswith(".added"):
                item.parts[content_index] = part_type
            elif item.parts.pop(content_index, None) is None:
                violations.append(f"{kind}: content part {content_index} was never added")
        elif item is not None and kind in _PART_EVENTS:
            wanted = _PART_EVENTS[kind]
            if item.parts.get(content_index if content_index is not None else -1) != wanted:
                violations.append(f"{kind}: no open {wanted} part at content_index {content_index}")
        delta = payload.get("delta")
        if isinstance(delta, str):
            summary = quote(delta) if not kind.endswith("arguments.delta") else clip(delta)
        else:
            summary = clip(str(payload.get("text") or payload.get("arguments") or ""))
        return ChunkInfo(kind, index, summary, violations)

    def _end_violations(self) -> list[str]:
        if self._errored or self._terminal is not None:
            return []
        if not self._started:
            return ["the stream ended without response.created"]
        return [
            "the stream ended without response.completed, response.incomplete or response.failed"
        ]


def _item_summary(item: dict[str, Any]) -> str:
    if item.get("type") == "function_call":
        return clip(f"{item.get('name')} call_id={item.get('call_id')} {item.get('arguments')}")
    if item.get("type") == "message":
        texts = [
            str(p.get("text") or p.get("refusal") or "")
            for p in item.get("content") or []
            if isinstance(p, dict)
        ]
        return quote("".join(texts))
    if item.get("type") == "reasoning":
        summary = [s.get("text", "") for s in item.get("summary") or [] if isinstance(s, dict)]
        encrypted = " (encrypted content)" if item.get("encrypted_content") else ""
        return quote("".join(summary)) + encrypted
    return str(item.get("id"))
