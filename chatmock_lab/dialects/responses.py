"""OpenAI Responses dialect, as the ChatGPT Codex backend speaks it (outbound).

The Codex backend (`POST {base}/responses`) only streams, stores nothing
(`store: false`) and rejects the sampling fields of the public API, so a canonical
request is cut down to what it accepts, and every field left behind is named in the
returned notes. Reasoning survives tool turns only by replaying the encrypted
reasoning items it sent, since nothing is stored server-side.

Pure translation: no I/O, no globals beyond constant tables.

Reasoning replay rule: a `ReasoningPart` goes back as a `reasoning` item only when its
`signature` is Responses encrypted content. Those are Fernet tokens (base64url of a
0x80 version byte and a big-endian timestamp, so they start with `gAAAAA`); Anthropic
and Gemini signatures are base64 protobufs and never do. A request may override the
guess with `extensions["responses.replay_reasoning"]`: True replays every signed part,
False none. Reasoning that is not replayed is dropped with a note, as the backend
would reject a foreign signature.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    Error,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    Message,
    ProxyError,
    ReasoningDelta,
    ReasoningPart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
)
from chatmock_lab.dialects.openai import effort_for
from chatmock_lab.tokens import arguments_json

__all__ = [
    "REPLAY_REASONING",
    "UpstreamResponsesStream",
    "build_upstream_request",
    "looks_like_encrypted_reasoning",
    "upstream_error",
]

# The `ChatRequest.extensions` key that overrides the encrypted-content guess.
REPLAY_REASONING = "responses.replay_reasoning"

_FERNET = re.compile(r"^gAAAAA[A-Za-z0-9_\-]+={0,2}$")
_RETRY_IN = re.compile(r"(?i)try again in\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?)\b")
_QUOTA_CODES = frozenset({"rate_limit_exceeded", "usage_limit_reached", "insufficient_quota"})
# In-stream failure codes a client can act on; anything else is the upstream's fault.
_FAILURE_STATUS: dict[str, int] = {
    **dict.fromkeys(_QUOTA_CODES, 429),
    "context_length_exceeded": 400,
    "invalid_prompt": 400,
    # The ChatGPT plan does not include Codex: retrying cannot help.
    "usage_not_included": 403,
}
_INCOMPLETE_REASON: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}
_TERMINAL_OK = frozenset({"response.completed", "response.done"})
_ERROR_PREFIX = "Error: "


# --------------------------------------------------------------------------- upstream (outbound)


def looks_like_encrypted_reasoning(signature: str) -> bool:
    """Whether a reasoning signature has the shape of Responses `encrypted_content`."""
    return bool(_FERNET.match(signature))


def _replayable(part: ReasoningPart, request: ChatRequest) -> bool:
    if not part.signature:
        return False
    override = request.extensions.get(REPLAY_REASONING)
    if isinstance(override, bool):
        return override
    return looks_like_encrypted_reasoning(part.signature)


def _user_content(parts: list[Any], notes: list[str], where: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, ImagePart):
            image: dict[str, Any] = {"type": "input_image", "image_url": part.as_url()}
            if part.detail:
                image["detail"] = part.detail
            content.append(image)
        elif isinstance(part, DocumentPart):
            document = _document(part)
            if document is None:
                notes.append(f"{where}: an empty document has no Responses form")
            else:
                content.append(document)
        elif not isinstance(part, ToolResultPart):
            notes.append(f"{where}: {type(part).__name__} has no place in a user message")
    return content


def _document(part: DocumentPart) -> dict[str, Any] | None:
    if part.text is not None:
        title = f"{part.title}\n\n" if part.title else ""
        return {"type": "input_text", "text": title + part.text}
    if part.data is not None:
        media_type = part.media_type or "application/octet-stream"
        file: dict[str, Any] = {
            "type": "input_file",
            "file_data": f"data:{media_type};base64,{part.data}",
        }
        if part.title:
            file["filename"] = part.title
        return file
    if part.url is not None:
        file = {"type": "input_file", "file_url": part.url}
        if part.title:
            file["filename"] = part.title
        return file
    return None


def _tool_output(part: ToolResultPart, notes: list[str], where: str) -> dict[str, Any]:
    if any(isinstance(p, ImagePart) for p in part.content):
        notes.append(f"{where}: images in tool results are not carried over")
    text = part.text()
    if part.is_error:
        # The wire has no error flag: the model learns of the failure from the text.
        text = _ERROR_PREFIX + text
    return {"type": "function_call_output", "call_id": part.tool_call_id, "output": text}


def _assistant_items(
    message: Message, request: ChatRequest, notes: list[str], where: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []

    def flush_text() -> None:
        if texts:
            content = list(texts)
            items.append({"type": "message", "role": "assistant", "content": content})
            texts.clear()

    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                texts.append({"type": "output_text", "text": part.text})
            continue
        # Items keep the order the model produced them in: reasoning, text, calls.
        flush_text()
        if isinstance(part, ToolCallPart):
            if part.signature:
                notes.append(f"{where}: the thought signature of call {part.id} is not sent")
            items.append(
                {
                    "type": "function_call",
                    "call_id": part.id,
                    "name": part.name,
                    "arguments": arguments_json(part.arguments),
                }
            )
        elif isinstance(part, ReasoningPart):
            items += _reasoning_item(part, request, notes, where)
        elif isinstance(part, ToolResultPart):
            items.append(_tool_output(part, notes, where))
        else:
            notes.append(f"{where}: {type(part).__name__} has no place in an assistant message")
    flush_text()
    return items


def _reasoning_item(
    part: ReasoningPart, request: ChatRequest, notes: list[str], where: str
) -> list[dict[str, Any]]:
    if part.redacted is not None:
        notes.append(f"{where}: redacted reasoning from another vendor is not sent")
        return []
    if not _replayable(part, request):
        why = "it has no encrypted content" if not part.signature else "its signature is foreign"
        notes.append(f"{where}: reasoning is not replayed ({why})")
        return []
    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
    return [{"type": "reasoning", "summary": summary, "encrypted_content": part.signature}]


def _input_items(request: ChatRequest, notes: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role == "assistant":
            items += _assistant_items(message, request, notes, where)
            continue
        if message.role == "system":
            # Leading system prompts are in `instructions`; later ones keep their place.
            text = [{"type": "input_text", "text": message.text()}]
            items.append({"type": "message", "role": "developer", "content": text})
            continue
        # Results first: they answer the calls just before, whatever the user adds.
        for part in message.parts:
            if isinstance(part, ToolResultPart):
                items.append(_tool_output(part, notes, where))
        content = _user_content(message.parts, notes, where)
        if content:
            items.append({"type": "message", "role": "user", "content": content})
    return items


def _tools(request: ChatRequest, body: dict[str, Any], notes: list[str]) -> None:
    choice = request.tool_choice
    if not request.tools:
        if choice is not None and choice.mode != "none":
            notes.append("tool_choice: no tools to choose from")
        return
    tools = request.tools
    wire_choice: Any = "auto" if choice is None else choice.mode
    if choice is not None and choice.allowed:
        if choice.mode == "required" and len(choice.allowed) == 1:
            wire_choice = {"type": "function", "name": choice.allowed[0]}
        else:
            # The Codex body has no `allowed_tools` choice; offering only the allowed
            # tools says the same thing.
            tools = [t for t in tools if t.name in choice.allowed]
            notes.append("tool_choice.allowed: sent as a narrowed tools list")
    body["tools"] = [
        {
            "type": "function",
            "name": t.name,
            **({"description": t.description} if t.description else {}),
            "parameters": t.parameters,
            "strict": t.strict is True,
        }
        for t in tools
    ]
    body["tool_choice"] = wire_choice
    body["parallel_tool_calls"] = (
        True if request.parallel_tool_calls is None else request.parallel_tool_calls
    )


def _text_format(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"format": {"type": "json_object"}}
    spec: dict[str, Any] = {
        "type": "json_schema",
        "name": fmt.name or "response",
        "schema": fmt.schema or {},
    }
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"format": spec}


def _dropped(request: ChatRequest) -> list[str]:
    present = {
        "max_output_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "top_k": request.top_k,
        "stop": request.stop or None,
        "seed": request.seed,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "user": request.user,
        "metadata": request.metadata,
    }
    return [
        f"{name}: dropped deliberately (the Codex backend does not take it)"
        for name, value in present.items()
        if value is not None
    ]


def build_upstream_request(
    request: ChatRequest, *, prompt_cache_key: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A Codex-backend Responses body for `request`, and notes on what was not sent."""
    notes: list[str] = []
    body: dict[str, Any] = {
        "model": request.model,
        # The backend rejects a body without this field; an empty string satisfies it.
        "instructions": "\n\n".join(p.text for p in request.system),
        "input": _input_items(request, notes),
    }
    _tools(request, body, notes)
    if request.reasoning is not None:
        reasoning: dict[str, Any] = {"effort": effort_for(request.reasoning)}
        if request.reasoning.include:
            reasoning["summary"] = "auto"
        body["reasoning"] = reasoning
    body["store"] = False
    body["stream"] = True
    body["include"] = ["reasoning.encrypted_content"]
    if prompt_cache_key is not None:
        body["prompt_cache_key"] = prompt_cache_key
    text = _text_format(request)
    if text is not None:
        body["text"] = text
    return body, notes + _dropped(request)


# --------------------------------------------------------------------------- errors


def _retry_after_in(message: str) -> float | None:
    match = _RETRY_IN.search(message)
    if match is None:
        return None
    seconds = float(match.group(1))
    return seconds / 1000 if match.group(2).lower() == "ms" else seconds


def _stream_failure(error: Any, *, fallback: str) -> ProxyError:
    """An in-stream failure (`response.failed`'s error, or an `error` event)."""
    if not isinstance(error, dict):
        return ProxyError(f"Upstream error: {fallback}", status=502)
    code = error.get("code") if isinstance(error.get("code"), str) else None
    if code is None and isinstance(error.get("type"), str) and error["type"] != "error":
        code = error["type"]
    message = error.get("message") if isinstance(error.get("message"), str) else None
    status = _FAILURE_STATUS.get(code or "", 502)
    retry_after = _retry_after_in(message) if status == 429 and message else None
    label = f"Upstream error ({code})" if code else "Upstream error"
    param = error.get("param") if isinstance(error.get("param"), str) else None
    return ProxyError(
        f"{label}: {message or fallback}",
        status=status,
        code=code,
        param=param,
        retry_after=retry_after,
    )


def _detail_text(detail: Any) -> str | None:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail:
        # FastAPI validation errors: a list of {"loc", "msg", "type"}.
        first = detail[0]
        if isinstance(first, dict) and isinstance(first.get("msg"), str):
            return first["msg"]
    if detail is not None:
        return json.dumps(detail)[:500]
    return None


def upstream_error(payload: Any, status: int, *, now: float | None = None) -> ProxyError:
    """A non-200 answer of the Codex backend (or any Responses server) as a ProxyError.

    Handles `{"detail": ...}`, OpenAI's `{"error": {...}}`, and the quota body
    `{"error": {"type": "usage_limit_reached", "plan_type", "resets_at"}}`, whose
    `retry_after` is `resets_at - now` when `now` (epoch seconds) is given."""
    message: str | None = None
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            message = error.get("message") if isinstance(error.get("message"), str) else None
            code = error.get("code") if isinstance(error.get("code"), str) else None
            param = error.get("param") if isinstance(error.get("param"), str) else None
            kind = error.get("type")
            if code is None and kind in _QUOTA_CODES:
                code = kind
            if code == "usage_limit_reached":
                retry_after = _quota_retry_after(error, now)
                if message is None:
                    plan = error.get("plan_type")
                    message = "The ChatGPT usage limit has been reached" + (
                        f" (plan: {plan})" if isinstance(plan, str) else ""
                    )
        elif isinstance(error, str):
            message = error
        if message is None:
            message = _detail_text(payload.get("detail"))
        if message is None and isinstance(payload.get("message"), str):
            message = payload["message"]
    elif isinstance(payload, str) and payload.strip():
        message = payload.strip()[:500]
    if retry_after is None and message and code in _QUOTA_CODES:
        retry_after = _retry_after_in(message)
    return ProxyError(
        f"Upstream error {status}: {message or 'no details'}",
        status=status if status >= 400 else 502,
        code=code,
        param=param,
        retry_after=retry_after,
    )


def _quota_retry_after(error: dict[str, Any], now: float | None) -> float | None:
    seconds = error.get("resets_in_seconds")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return max(0.0, float(seconds))
    resets_at = error.get("resets_at")
    if now is None or not isinstance(resets_at, (int, float)) or isinstance(resets_at, bool):
        return None
    return max(0.0, float(resets_at) - now)


# --------------------------------------------------------------------------- stream (inbound)


@dataclass(slots=True)
class _Call:
    index: int
    sent_arguments: bool = False
    ended: bool = False


def _usage_from(raw: dict[str, Any]) -> Usage:
    inputs = raw.get("input_tokens_details") or {}
    outputs = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=int(inputs.get("cached_tokens") or 0),
        cache_write_tokens=int(inputs.get("cache_write_tokens") or 0),
        reasoning_tokens=int(outputs.get("reasoning_tokens") or 0),
    )


def _keys(item_id: Any, output_index: Any) -> tuple[str, ...]:
    """The names an output item goes by: its id, and its position (some events carry
    only one of the two)."""
    keys = [f"#{output_index}"] if isinstance(output_index, int) else []
    if isinstance(item_id, str) and item_id:
        keys.insert(0, item_id)
    return tuple(keys)


class UpstreamResponsesStream:
    """Responses stream events in, canonical events out.

    Text and reasoning deltas pass straight through; function calls open at
    `output_item.added` and take their arguments as they stream, joined by `item_id`
    (or `output_index`), so parallel calls may interleave. A call that streamed no
    deltas gets its whole arguments from the `done` events. The stream ends with
    exactly one `Finish` or one `Error`; anything after that is ignored."""

    def __init__(self) -> None:
        # Every call under each name it goes by (item id, "#output_index").
        self._calls: dict[str, _Call] = {}
        self._opened: list[_Call] = []
        self._streamed_text: set[str] = set()
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

    def feed(self, event_type: str, payload: dict[str, Any]) -> list[Event]:
        """One SSE frame: its `event:` name and decoded `data:` object."""
        if self.done:
            return []
        if not isinstance(payload, dict):
            self.done = True
            message = "Upstream sent an event that is not a JSON object"
            return [Error(ProxyError(message, status=502))]
        kind = payload.get("type") if isinstance(payload.get("type"), str) else event_type
        events = self._dispatch(kind, payload)
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
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            # A refusal is what the model said; the canonical model has only text.
            return self._text(payload)
        if kind == "response.reasoning_summary_text.delta":
            return self._reasoning(payload, "summary", payload.get("summary_index"))
        if kind == "response.reasoning_text.delta":
            return self._reasoning(payload, "content", payload.get("content_index"))
        if kind == "response.output_item.added":
            self._saw_output = True
            item = payload.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call":
                return self._open_call(item, payload.get("output_index"))[1]
            return []
        if kind == "response.function_call_arguments.delta":
            return self._arguments(payload, payload.get("delta"), streamed=True)
        if kind == "response.function_call_arguments.done":
            return self._arguments(payload, payload.get("arguments"), streamed=False)
        if kind == "response.output_item.done":
            self._saw_output = True
            return self._item_done(payload.get("item"), payload.get("output_index"))
        if kind in _TERMINAL_OK:
            return self._finish(payload.get("response"), incomplete=False)
        if kind == "response.incomplete":
            return self._finish(payload.get("response"), incomplete=True)
        if kind == "response.failed":
            response = payload.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            self.done = True
            return [Error(_stream_failure(error, fallback="the response failed"))]
        if kind == "error":
            error = payload.get("error") if isinstance(payload.get("error"), dict) else payload
            self.done = True
            return [Error(_stream_failure(error, fallback="the upstream reported an error"))]
        return []

    def _text(self, payload: dict[str, Any]) -> list[Event]:
        self._saw_output = True
        self._streamed_text.update(_keys(payload.get("item_id"), payload.get("output_index")))
        delta = payload.get("delta")
        return [TextDelta(delta)] if isinstance(delta, str) and delta else []

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
        if kind == "message" and not self._streamed_text.intersection(keys):
            # Nothing streamed for this message: the finished item is all there is.
            text = "".join(
                str(c.get("text") or c.get("refusal") or "")
                for c in item.get("content") or []
                if isinstance(c, dict)
            )
            return [TextDelta(text)] if text else []
        return []

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
            events.append(_usage_from(usage))
        self.done = True
        reason: FinishReason = "tool_calls" if self._opened else "stop"
        if incomplete:
            details = response.get("incomplete_details")
            why = details.get("reason") if isinstance(details, dict) else None
            reason = _INCOMPLETE_REASON.get(str(why), "length")
        return [*events, Finish(reason=reason)]
