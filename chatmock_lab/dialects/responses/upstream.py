"""Reading a Responses stream (the Codex backend's answer) as canonical events.

Sources: OpenAI's API reference, "Streaming events" of the Responses API, and the
Codex backend's streams as recorded in the shipped cassettes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatmock_lab.core import (
    Error,
    Event,
    Finish,
    FinishReason,
    ProxyError,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from chatmock_lab.dialects.responses.wire import (
    ARGUMENTS_DELTA,
    ARGUMENTS_DONE,
    ERROR,
    FAILED,
    INCOMPLETE,
    INCOMPLETE_REASONS,
    OUTPUT_ITEM_ADDED,
    OUTPUT_ITEM_DONE,
    OUTPUT_TEXT_DELTA,
    REASONING_SUMMARY_DELTA,
    REASONING_TEXT_DELTA,
    REFUSAL_DELTA,
    REFUSAL_DONE,
    TERMINAL_OK,
    stream_failure,
    usage_from_json,
)


@dataclass(slots=True)
class _Call:
    index: int
    sent_arguments: bool = False
    ended: bool = False


def _keys(item_id: Any, output_index: Any) -> tuple[str, ...]:
    """The names an output item goes by: its id, and its position (some events carry
    only one of the two)."""
    keys = [f"#{output_index}"] if isinstance(output_index, int) else []
    if isinstance(item_id, str) and item_id:
        keys.insert(0, item_id)
    return tuple(keys)


class UpstreamResponsesStream:
    """Responses stream events in, canonical events out.

    Text, refusal and reasoning deltas pass straight through (a refusal that streamed
    no deltas comes whole from `response.refusal.done` or the finished message's
    `refusal` part, and makes a normal stop a "refusal" one); function calls open at
    `output_item.added` and take their arguments as they stream, joined by `item_id`
    (or `output_index`), so parallel calls may interleave. A call that streamed no
    deltas gets its whole arguments from the `done` events. The stream ends with
    exactly one `Finish` or one `Error`; anything after that is ignored."""

    def __init__(self) -> None:
        # Every call under each name it goes by (item id, "#output_index").
        self._calls: dict[str, _Call] = {}
        self._opened: list[_Call] = []
        self._streamed_text: set[str] = set()
        self._streamed_refusal: set[str] = set()
        self._refused = False
        self._streamed_reasoning: set[str] = set()
        # Where reasoning text last came from (item, summary or content, part index),
        # and whether that text is still open (no signature, no other output since).
        self._reasoning_key: tuple[str, str, int] | None = None
        self._reasoning_open = False
        self._saw_output = False
        self.done = False

    @property
    def finished(self) -> bool:
        """Whether the stream reached a terminal event (completed, failed, ...)."""
        return self.done

    def feed_frame(self, event: str, payload: Any) -> list[Event]:
        return self.feed(event, payload)

    def feed(self, event_type: str, payload: dict[str, Any]) -> list[Event]:
        """One SSE frame: its `event:` name and decoded `data:` object."""
        if self.done:
            return []
        if not isinstance(payload, dict):
            self.done = True
            message = "Upstream sent an event that is not a JSON object"
            return [Error(ProxyError(message, status=502))]
        # The payload's `type` names the event; the SSE `event:` name stands in without it.
        kind = payload.get("type")
        events = self._dispatch(kind if isinstance(kind, str) else event_type, payload)
        for event in events:
            if isinstance(event, ReasoningDelta):
                self._reasoning_open = event.signature is None and (
                    self._reasoning_open or bool(event.text)
                )
            else:
                self._reasoning_open = False
        return events

    def close(self) -> list[Event]:
        """The upstream body ended: an error unless a terminal event came first."""
        if self.done:
            return []
        self.done = True
        message = "Upstream stream ended before completing (no response.completed)"
        return [Error(ProxyError(message, status=502))]

    def _dispatch(self, kind: str, payload: dict[str, Any]) -> list[Event]:
        if kind == OUTPUT_TEXT_DELTA:
            return self._text(payload)
        if kind == REFUSAL_DELTA:
            return self._refusal(payload, payload.get("delta"))
        if kind == REFUSAL_DONE:
            keys = _keys(payload.get("item_id"), payload.get("output_index"))
            if self._streamed_refusal.intersection(keys):
                return []
            return self._refusal(payload, payload.get("refusal"))
        if kind == REASONING_SUMMARY_DELTA:
            return self._reasoning(payload, "summary", payload.get("summary_index"))
        if kind == REASONING_TEXT_DELTA:
            return self._reasoning(payload, "content", payload.get("content_index"))
        if kind == OUTPUT_ITEM_ADDED:
            self._saw_output = True
            item = payload.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                return self._open_call(item, payload.get("output_index"))[1]
            return []
        if kind == ARGUMENTS_DELTA:
            return self._arguments(payload, payload.get("delta"), streamed=True)
        if kind == ARGUMENTS_DONE:
            return self._arguments(payload, payload.get("arguments"), streamed=False)
        if kind == OUTPUT_ITEM_DONE:
            self._saw_output = True
            return self._item_done(payload.get("item"), payload.get("output_index"))
        if kind in TERMINAL_OK:
            return self._finish(payload.get("response"), incomplete=False)
        if kind == INCOMPLETE:
            return self._finish(payload.get("response"), incomplete=True)
        if kind == FAILED:
            response = payload.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            self.done = True
            return [Error(stream_failure(error, fallback="the response failed"))]
        if kind == ERROR:
            error = payload.get("error") if isinstance(payload.get("error"), dict) else payload
            self.done = True
            return [Error(stream_failure(error, fallback="the upstream reported an error"))]
        return []

    def _text(self, payload: dict[str, Any]) -> list[Event]:
        self._saw_output = True
        self._streamed_text.update(_keys(payload.get("item_id"), payload.get("output_index")))
        delta = payload.get("delta")
        return [TextDelta(delta)] if isinstance(delta, str) and delta else []

    def _refusal(self, payload: dict[str, Any], text: Any) -> list[Event]:
        self._saw_output = True
        self._streamed_refusal.update(_keys(payload.get("item_id"), payload.get("output_index")))
        if not isinstance(text, str) or not text:
            return []
        self._refused = True
        return [RefusalDelta(text)]

    def _reasoning(self, payload: dict[str, Any], source: str, part: Any) -> list[Event]:
        self._saw_output = True
        keys = _keys(payload.get("item_id"), payload.get("output_index"))
        self._streamed_reasoning.update(keys)
        delta = payload.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        key = (keys[0] if keys else "", source, part if isinstance(part, int) else 0)
        separator = "\n\n" if self._reasoning_open and key != self._reasoning_key else ""
        self._reasoning_key = key
        return [ReasoningDelta(separator + delta)]

    def _call_for(self, keys: tuple[str, ...]) -> _Call | None:
        for key in keys:
            if key in self._calls:
                return self._calls[key]
        return None

    def _open_call(self, item: dict[str, Any], output_index: Any) -> tuple[_Call, list[Event]]:
        keys = _keys(item.get("id"), output_index)
        known = self._call_for(keys)
        if known is not None:
            for key in keys:
                self._calls.setdefault(key, known)
            return known, []
        call = _Call(index=len(self._opened))
        self._opened.append(call)
        for key in keys:
            self._calls[key] = call
        call_id = item.get("call_id") or item.get("id") or f"call_{call.index}"
        start = ToolCallStart(index=call.index, id=str(call_id), name=str(item.get("name") or ""))
        return call, [start]

    def _arguments(self, payload: dict[str, Any], text: Any, *, streamed: bool) -> list[Event]:
        call = self._call_for(_keys(payload.get("item_id"), payload.get("output_index")))
        if call is None or call.ended or not isinstance(text, str) or not text:
            return []
        if not streamed and call.sent_arguments:
            return []
        call.sent_arguments = True
        return [ToolCallDelta(index=call.index, arguments=text)]

    def _item_done(self, item: Any, output_index: Any) -> list[Event]:
        if not isinstance(item, dict):
            return []
        kind = item.get("type")
        keys = _keys(item.get("id"), output_index)
        if kind == "function_call":
            call, events = self._open_call(item, output_index)
            if call.ended:
                return events
            arguments = item.get("arguments")
            if not call.sent_arguments and isinstance(arguments, str) and arguments:
                call.sent_arguments = True
                events.append(ToolCallDelta(index=call.index, arguments=arguments))
            call.ended = True
            return [*events, ToolCallEnd(index=call.index)]
        if kind == "reasoning":
            return self._reasoning_done(item, keys)
        if kind == "message":
            return self._message_done(item, keys)
        return []

    def _message_done(self, item: dict[str, Any], keys: tuple[str, ...]) -> list[Event]:
        """What of a finished message did not stream: its text and refusal parts."""
        text_streamed = bool(self._streamed_text.intersection(keys))
        refusal_streamed = bool(self._streamed_refusal.intersection(keys))
        events: list[Event] = []
        for part in item.get("content") or []:
            if not isinstance(part, dict):
                continue
            text, refusal = part.get("text"), part.get("refusal")
            if part.get("type") == "refusal" or (refusal and not text):
                if not refusal_streamed and isinstance(refusal, str) and refusal:
                    self._refused = True
                    events.append(RefusalDelta(refusal))
            elif not text_streamed and isinstance(text, str) and text:
                events.append(TextDelta(text))
        return events

    def _reasoning_done(self, item: dict[str, Any], keys: tuple[str, ...]) -> list[Event]:
        text = ""
        if not self._streamed_reasoning.intersection(keys):
            summary = item.get("summary") or []
            text = "\n\n".join(
                str(s["text"]) for s in summary if isinstance(s, dict) and s.get("text")
            )
            if text and self._reasoning_open:
                text = "\n\n" + text
        signature = item.get("encrypted_content")
        if isinstance(signature, str) and signature:
            return [ReasoningDelta(text, signature=signature)]
        return [ReasoningDelta(text)] if text else []

    def _finish(self, response: Any, *, incomplete: bool) -> list[Event]:
        events: list[Event] = []
        response = response if isinstance(response, dict) else {}
        if not self._saw_output:
            # A server that sent only the final response: its output is the answer.
            for position, item in enumerate(response.get("output") or []):
                events += self._item_done(item, position)
        for call in self._opened:
            if not call.ended:
                call.ended = True
                events.append(ToolCallEnd(index=call.index))
        usage = response.get("usage")
        if isinstance(usage, dict):
            events.append(usage_from_json(usage))
        self.done = True
        reason: FinishReason = "tool_calls" if self._opened else "stop"
        if reason == "stop" and self._refused:
            reason = "refusal"
        if incomplete:
            details = response.get("incomplete_details")
            why = details.get("reason") if isinstance(details, dict) else None
            reason = INCOMPLETE_REASONS.get(str(why), "length")
        return [*events, Finish(reason=reason)]
