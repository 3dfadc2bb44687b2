"""Classify the chunks of a streamed answer and flag protocol violations, per dialect.

The stream inspector feeds raw bytes as a client receives them (a chunk may split an
SSE frame anywhere or hold several frames) and shows one `ChunkInfo` per complete event;
`close()` adds what is wrong with how the stream ended. Everything here is pure: no I/O,
no shared state, one checker per stream.

Event types (`ChunkInfo.event_type`):

- every dialect: `keep-alive` (an SSE comment line), `malformed` (a payload that is not
  JSON or not a JSON object, or broken JSON-array framing), `error` (an in-band error).
- OpenAI Chat Completions: `chunk/role` (a delta with only the role, the first chunk),
  `chunk/content`, `chunk/reasoning` (`reasoning_content`/`reasoning`, a compatible-server
  extension), `chunk/refusal`, `chunk/tool_calls`, `chunk/finish` (a choice with its
  `finish_reason`; wins over any content in the same chunk), `chunk` (an empty delta or
  no choices), `usage` (the `choices: []` chunk with usage), `[DONE]`.
  `block_index` is the tool call's `index` for `chunk/tool_calls`, else the choice index.
- Anthropic Messages: the payload `type`, refined by the block or delta type where there
  is one: `message_start`, `ping`, `content_block_start/<block type>` (`text`,
  `thinking`, `tool_use`...), `content_block_delta/<delta type>` (`text_delta`,
  `input_json_delta`, `thinking_delta`, `signature_delta`...), `content_block_stop`,
  `message_delta`, `message_stop`; unknown types pass through under their own name
  (Anthropic may add event types). `block_index` is the content block index.
- Gemini: `candidate/<part kind>` for the first part of a chunk (`text`, `thought`,
  `functionCall`, `inlineData`...), `candidate/empty` (a candidate without parts),
  `finish` (a candidate with its `finishReason`; wins over parts in the same chunk),
  `usage` (only `usageMetadata`), `prompt-feedback` (a blocked prompt), `chunk` (none
  of these). `block_index` is the index of that part within the chunk's parts.

Gemini streams are read as SSE (`alt=sse`) or as the JSON array `streamGenerateContent`
sends without it, told apart by the first byte (`[`) and parsed incrementally.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from chatmock_lab.sse import SSEDecoder, SSEEvent

_SUMMARY_CHARS = 60
_WHITESPACE = b" \t\r\n"

# Which content blocks each Anthropic delta type may appear in. Unknown delta or block
# types are not judged: Anthropic adds new ones and clients are told to skip them.
_DELTA_BLOCKS: dict[str, tuple[str, ...]] = {
    "text_delta": ("text",),
    "citations_delta": ("text",),
    "input_json_delta": ("tool_use", "server_tool_use", "mcp_tool_use"),
    "thinking_delta": ("thinking",),
    "signature_delta": ("thinking",),
}
_KNOWN_BLOCKS = frozenset(
    ("text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "mcp_tool_use")
)
_GEMINI_PART_KINDS = (
    "functionCall",
    "functionResponse",
    "inlineData",
    "fileData",
    "executableCode",
    "codeExecutionResult",
)


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """One complete event of a stream, as the inspector shows it."""

    event_type: str
    block_index: int | None
    summary: str
    violations: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- framing


@dataclass(frozen=True, slots=True)
class _Comment:
    text: str


@dataclass(frozen=True, slots=True)
class _FramingError:
    message: str
    snippet: str


_Item = SSEEvent | _Comment | _FramingError
# What a chunk shows: its event type, block index and summary.
_Shown = tuple[str, int | None, str]


class _Reader(Protocol):
    def feed(self, data: bytes) -> list[_Item]: ...

    def finish(self) -> list[str]: ...


class _SSEReader:
    """Raw bytes in, SSE frames and comments out, wherever the chunk boundaries fall.

    Bytes are kept until a whole line has arrived and only then decoded, so a UTF-8
    character split between two chunks is decoded whole. Lines end with `\\n` or `\\r\\n`,
    as for `SSEDecoder`; a bare `\\r` (allowed by the SSE spec, sent by no LLM API) is not
    a line end here."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._decoder = SSEDecoder()
        # A frame has lines but not yet the blank line that completes it.
        self._pending = False

    def feed(self, data: bytes) -> list[_Item]:
        # Only the new bytes can hold a new line end: searching from there keeps a line
        # fed one byte at a time linear instead of quadratic.
        start = len(self._buffer)
        self._buffer += data
        items: list[_Item] = []
        while (end := self._buffer.find(b"\n", start)) >= 0:
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            start = 0
            item = self._line(raw)
            if item is not None:
                items.append(item)
        return items

    def _line(self, raw: bytes) -> _Item | None:
        try:
            line = raw.decode()
        except UnicodeDecodeError as exc:
            return _FramingError(f"invalid UTF-8 in an SSE line: {exc.reason}", _clip(repr(raw)))
        if line.startswith(":"):
            # The decoder drops comments silently; the inspector shows them as keep-alives.
            return _Comment(line[1:].strip())
        self._pending = bool(line.rstrip("\r"))
        return self._decoder.feed_line(line)

    def finish(self) -> list[str]:
        rest = bytes(self._buffer).strip(_WHITESPACE)
        if not (self._pending or rest):
            return []
        # The SSE spec has clients drop a frame the stream ends inside of; say so rather
        # than show an event the client never saw.
        tail = f": {_clip(rest.decode(errors='replace'))}" if rest else ""
        return [
            "the stream ended inside an SSE frame (no blank line after its last line);"
            f" clients drop that frame{tail}"
        ]


class _JSONArrayReader:
    """Google's JSON-array stream (`[{...},\\r\\n{...}]`), one element as soon as it closes.

    A byte scanner tracks strings, escapes and nesting depth; the structural characters
    are ASCII, so scanning UTF-8 bytes is safe and elements are decoded whole."""

    def __init__(self) -> None:
        self._state: Literal["start", "before", "inside", "after", "end"] = "start"
        self._element = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._scalar = False
        self._after_comma = False
        self._trailing_reported = False

    def feed(self, data: bytes) -> list[_Item]:
        items: list[_Item] = []
        for byte in data:
            items += self._byte(byte)
        return items

    def _byte(self, byte: int) -> list[_Item]:
        char = chr(byte)
        if self._state == "inside":
            return self._inside(byte)
        if byte in _WHITESPACE:
            return []
        if self._state == "start":
            if char == "[":
                self._state = "before"
                return []
            self._state = "before"
            problem = _FramingError("a JSON-array stream must start with '['", char)
            return [problem, *self._byte(byte)]
        if self._state == "before":
            return self._before(byte)
        if self._state == "after":
            if char == ",":
                self._state, self._after_comma = "before", True
                return []
            if char == "]":
                self._state = "end"
                return []
            self._state = "before"
            problem = _FramingError("expected ',' or ']' after an array element", char)
            return [problem, *self._byte(byte)]
        if self._trailing_reported:
            return []
        self._trailing_reported = True
        return [_FramingError("data after the JSON array's closing ']'", char)]

    def _before(self, byte: int) -> list[_Item]:
        char = chr(byte)
        if char == "]":
            self._state = "end"
            if self._after_comma:
                return [_FramingError("a ',' right before the closing ']'", ",]")]
            return []
        self._state, self._after_comma = "inside", False
        self._element = bytearray()
        self._depth, self._in_string, self._escape = 0, False, False
        self._scalar = char not in '{["'
        return self._inside(byte)

    def _inside(self, byte: int) -> list[_Item]:
        char = chr(byte)
        if self._scalar:
            # Numbers and literals end at the next separator, which belongs to the array.
            if char in ",]" or byte in _WHITESPACE:
                return [self._complete(), *self._byte(byte)]
            self._element.append(byte)
            return []
        self._element.append(byte)
        if self._in_string:
            if self._escape:
                self._escape = False
            elif char == "\\":
                self._escape = True
            elif char == '"':
                self._in_string = False
        elif char == '"':
            self._in_string = True
        elif char in "{[":
            self._depth += 1
        elif char in "}]":
            self._depth -= 1
        if self._depth == 0 and not self._in_string:
            return [self._complete()]
        return []

    def _complete(self) -> SSEEvent:
        self._state = "after"
        # Elements travel as SSE-like events so both framings share one payload check.
        return SSEEvent(event="message", data=self._element.decode(errors="replace"))

    def finish(self) -> list[str]:
        if self._state == "inside":
            return ["the stream ended inside an unfinished JSON-array element"]
        if self._state in ("before", "after"):
            return ["the JSON-array stream ended without its closing ']'"]
        return []


class _AutoReader:
    """SSE or JSON array, decided by the first byte that is not whitespace."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._reader: _Reader | None = None

    def feed(self, data: bytes) -> list[_Item]:
        if self._reader is None:
            self._head += data
            body = bytes(self._head).lstrip(_WHITESPACE)
            if not body:
                return []
            self._reader = _JSONArrayReader() if body.startswith(b"[") else _SSEReader()
            data = bytes(self._head)
        return self._reader.feed(data)

    def finish(self) -> list[str]:
        return self._reader.finish() if self._reader is not None else []


# --------------------------------------------------------------------------- helpers


def _clip(text: str, limit: int = _SUMMARY_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _quote(text: str) -> str:
    """Text for a summary: quoted, newlines visible, cut to a glance."""
    shown = json.dumps(text[:_SUMMARY_CHARS], ensure_ascii=False)
    return shown + ("…" if len(text) > _SUMMARY_CHARS else "")


def _parse_object(data: str) -> tuple[dict[str, Any] | None, str | None]:
    """The payload as a JSON object, or the one-line reason it is not one."""
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    if not isinstance(payload, dict):
        return None, f"the payload is a JSON {type(payload).__name__}, not an object"
    return payload, None


def _object(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else; shape problems are flagged apart."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _index(value: Any) -> int | None:
    # bool is an int subclass; `"index": true` is not an index.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _error_summary(error: Any) -> str:
    if isinstance(error, dict):
        kind = error.get("type") or error.get("status") or error.get("code") or "error"
        return _clip(f"{kind}: {error.get('message', '')}")
    return _clip(str(error))


# --------------------------------------------------------------------------- checkers


class StreamChecker(ABC):
    """Raw bytes of one streamed response in, one `ChunkInfo` per complete event out."""

    def __init__(self) -> None:
        self._reader: _Reader = _SSEReader()
        self._end: list[str] | None = None

    def feed(self, data: bytes) -> list[ChunkInfo]:
        """The events completed by `data`, in order; partial frames wait for more bytes."""
        if self._end is not None:
            raise RuntimeError("feed() after close(): a checker checks a single stream")
        return [self._item(item) for item in self._reader.feed(data)]

    def close(self) -> list[str]:
        """What is wrong with how the stream ended; calling it again gives the same list."""
        if self._end is None:
            self._end = self._reader.finish() + self._end_violations()
        return list(self._end)

    def _item(self, item: _Item) -> ChunkInfo:
        if isinstance(item, _Comment):
            return ChunkInfo("keep-alive", None, item.text or "(empty comment)")
        if isinstance(item, _FramingError):
            return ChunkInfo("malformed", None, item.snippet, [item.message])
        return self._event(item)

    @abstractmethod
    def _event(self, event: SSEEvent) -> ChunkInfo: ...

    @abstractmethod
    def _end_violations(self) -> list[str]: ...


class OpenAIStreamChecker(StreamChecker):
    """Chat Completions chunks: `data:` frames ended by `data: [DONE]`."""

    def __init__(self, *, include_usage: bool = False) -> None:
        super().__init__()
        self._include_usage = include_usage
        self._id: str | None = None
        self._done = False
        self._errored = False
        self._usage_chunks = 0
        self._choices: set[int] = set()
        self._finished: dict[int, str] = {}
        # (choice index, tool call index) -> the call's id ("" if its first fragment had none)
        self._tool_ids: dict[tuple[int, int], str] = {}

    def _event(self, event: SSEEvent) -> ChunkInfo:
        violations: list[str] = []
        if self._done:
            violations.append("an event after data: [DONE] (nothing may follow it)")
        if event.data.strip() == "[DONE]":
            self._done = True
            return ChunkInfo("[DONE]", None, "end of stream", violations)
        payload, problem = _parse_object(event.data)
        if payload is None:
            return ChunkInfo("malformed", None, _clip(event.data), [*violations, str(problem)])
        if payload.get("error"):
            # An in-band error ends the stream; it is not itself a protocol violation.
            self._errored = True
            return ChunkInfo("error", None, _error_summary(payload["error"]), violations)
        self._check_envelope(payload, violations)
        choices = payload.get("choices")
        if not isinstance(choices, list):
            violations.append("the chunk has no choices list")
            choices = []
        shown: _Shown | None = None
        for choice in choices:
            if not isinstance(choice, dict):
                violations.append("a choice that is not an object")
                continue
            described = self._choice(choice, violations)
            shown = shown or described
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._usage_chunks += 1
            if self._usage_chunks == 2:
                violations.append("a second chunk with usage (usage is reported once)")
            if not choices:
                shown = ("usage", None, _openai_usage(usage))
        kind, index, summary = shown or ("chunk", None, "no choices")
        return ChunkInfo(kind, index, summary, violations)

    def _check_envelope(self, payload: dict[str, Any], violations: list[str]) -> None:
        chunk_id = payload.get("id")
        if not isinstance(chunk_id, str):
            violations.append("the chunk has no string id")
        elif self._id is None:
            self._id = chunk_id
        elif chunk_id != self._id:
            violations.append(f"chunk id {chunk_id!r} differs from the stream's id {self._id!r}")
        kind = payload.get("object")
        if kind is not None and kind != "chat.completion.chunk":
            violations.append(f"object is {kind!r}, expected 'chat.completion.chunk'")

    def _choice(self, choice: dict[str, Any], violations: list[str]) -> _Shown:
        index = _index(choice.get("index"))
        if index is None:
            violations.append("a choice without an integer index")
            index = 0
        self._choices.add(index)
        delta = _object(choice.get("delta"))
        reason = choice.get("finish_reason")
        content = delta.get("content")
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        refusal = delta.get("refusal")
        calls = _list(delta.get("tool_calls"))
        if self._usage_chunks:
            violations.append(
                f"choice {index} after the usage chunk (usage comes last, right before [DONE])"
            )
        _note_finish(
            self._finished,
            index,
            "choice",
            "finish_reason",
            reason,
            has_content=bool(content or reasoning or refusal or calls),
            what="content",
            violations=violations,
        )
        first_call = self._tool_calls(index, calls, violations)
        if reason is not None:
            text = f" after {_quote(content)}" if content else ""
            return "chunk/finish", index, f"finish_reason={reason}{text}"
        if calls:
            return "chunk/tool_calls", first_call, _tool_call_summary(calls[0])
        if content:
            return "chunk/content", index, _quote(content)
        if reasoning:
            return "chunk/reasoning", index, _quote(str(reasoning))
        if refusal:
            return "chunk/refusal", index, _quote(str(refusal))
        if delta.get("role"):
            return "chunk/role", index, f"role={delta['role']}"
        return "chunk", index, "empty delta"

    def _tool_calls(self, choice: int, calls: list[Any], violations: list[str]) -> int | None:
        """Check each tool-call fragment; the index of the first, for the ChunkInfo."""
        first: int | None = None
        for call in calls:
            index = _index(call.get("index")) if isinstance(call, dict) else None
            if index is None:
                violations.append("a tool call fragment without an integer index")
                continue
            first = index if first is None else first
            function = _object(call.get("function"))
            call_id, name = call.get("id"), function.get("name")
            known = self._tool_ids.get((choice, index))
            if known is None:
                missing = [f for f, v in (("id", call_id), ("function.name", name)) if not v]
                if missing:
                    violations.append(
                        f"tool call {index}: its first fragment lacks {' and '.join(missing)}"
                        " (the first fragment must carry id, type and function.name)"
                    )
                self._tool_ids[(choice, index)] = call_id or ""
            elif call_id and known and call_id != known:
                # Clients join fragments by index, so a second call there gets merged.
                violations.append(
                    f"tool call {index}: a new id {call_id!r} at an index already used by"
                    f" {known!r} (each call needs its own index)"
                )
                self._tool_ids[(choice, index)] = call_id
        return first

    def _end_violations(self) -> list[str]:
        if self._errored:
            return []
        problems: list[str] = []
        if not self._choices:
            problems.append("the stream ended without any choice (no finish_reason)")
        for index in sorted(self._choices - set(self._finished)):
            problems.append(f"choice {index} ended without a finish_reason")
        if self._include_usage and not self._usage_chunks:
            problems.append("no usage chunk although stream_options.include_usage was requested")
        if not self._done:
            problems.append("the stream ended without data: [DONE]")
        return problems


def _openai_usage(usage: dict[str, Any]) -> str:
    return (
        f"prompt {usage.get('prompt_tokens')} + completion {usage.get('completion_tokens')}"
        f" = {usage.get('total_tokens')} tokens"
    )


def _tool_call_summary(call: Any) -> str:
    if not isinstance(call, dict):
        return "?"
    function = _object(call.get("function"))
    # Argument fragments are JSON text already; quoting them again only adds backslashes.
    arguments = _clip(str(function.get("arguments") or ""))
    if function.get("name"):
        return f"{function['name']} id={call.get('id')} {arguments}".rstrip()
    return arguments


class AnthropicStreamChecker(StreamChecker):
    """Messages stream events: a strict order of messages and content blocks."""

    def __init__(self) -> None:
        super().__init__()
        self._started = False
        self._stopped = False
        self._errored = False
        # Open blocks by index; more than one only when the stream is already wrong.
        self._open: dict[int, str] = {}
        self._next_index = 0
        self._stop_reason: str | None = None

    def _event(self, event: SSEEvent) -> ChunkInfo:
        payload, problem = _parse_object(event.data)
        if payload is None:
            summary = _clip(f"event {event.event}: {event.data}")
            return ChunkInfo("malformed", None, summary, [str(problem)])
        violations: list[str] = []
        kind = payload.get("type")
        if not isinstance(kind, str):
            violations.append("the payload has no type")
            kind = event.event
        elif kind != event.event:
            # The SDKs dispatch on the SSE event name, so a mismatch misroutes the payload.
            violations.append(f"SSE event name {event.event!r} does not match the type {kind!r}")
        if self._stopped:
            violations.append(f"{kind} after message_stop (nothing may follow it)")
        elif self._errored:
            violations.append(f"{kind} after an error event (an error ends the stream)")
        elif not self._started and kind not in ("message_start", "error"):
            violations.append(f"{kind} before message_start")
        handler = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
        }.get(kind)
        if handler is not None:
            event_type, index, summary = handler(payload, violations)
        elif kind == "error":
            self._errored = True
            event_type, index, summary = "error", None, _error_summary(payload.get("error"))
        else:
            event_type, index, summary = kind, None, "ping" if kind == "ping" else "unknown event"
        return ChunkInfo(event_type, index, summary, violations)

    def _message_start(self, payload: dict[str, Any], violations: list[str]) -> _Shown:
        if self._started:
            violations.append("a second message_start")
        self._started = True
        message = _object(payload.get("message"))
        usage = _object(message.get("usage"))
        summary = f"{message.get('id')} {message.get('model')} input {usage.get('input_tokens')}"
        return "message_start", None, summary

    def _block_index(self, payload: dict[str, Any], violations: list[str]) -> int | None:
        index = _index(payload.get("index"))
        if index is None:
            violations.append(f"{payload.get('type', 'the event')} has no integer index")
        return index

    def _open_note(self) -> str:
        if not self._open:
            return "no block is open"
        return "open: " + ", ".join(str(i) for i in sorted(self._open))

    def _block_start(self, payload: dict[str, Any], violations: list[str]) -> _Shown:
        index = self._block_index(payload, violations)
        block = _object(payload.get("content_block"))
        block_type = str(block.get("type"))
        if self._stop_reason is not None:
            violations.append("content_block_start after the message_delta with the stop_reason")
        for other in sorted(self._open):
            violations.append(
                f"content_block_start for block {index} while block {other} is still open"
                " (close it with content_block_stop first)"
            )
        if index is not None:
            if index != self._next_index:
                violations.append(
                    f"block index {index} out of order: expected {self._next_index}"
                    " (indexes start at 0 and increase by one)"
                )
            self._next_index = max(self._next_index, index + 1)
            self._open[index] = block_type
        if block_type in ("tool_use", "server_tool_use", "mcp_tool_use"):
            summary = f"{block.get('name')} id={block.get('id')}"
        else:
            summary = _quote(str(block.get("text") or block.get("thinking") or ""))
        return f"content_block_start/{block_type}", index, summary

    def _block_delta(self, payload: dict[str, Any], violations: list[str]) -> _Shown:
        index = self._block_index(payload, violations)
        delta = _object(payload.get("delta"))
        delta_type = str(delta.get("type"))
        block_type = self._open.get(index) if index is not None else None
        if index is not None and block_type is None:
            violations.append(
                f"content_block_delta for block {index}, which is not open ({self._open_note()})"
            )
        allowed = _DELTA_BLOCKS.get(delta_type)
        if allowed and block_type in _KNOWN_BLOCKS and block_type not in allowed:
            violations.append(
                f"{delta_type} in block {index}, a {block_type} block"
                f" ({delta_type} belongs in a {' or '.join(allowed)} block)"
            )
        return f"content_block_delta/{delta_type}", index, _anthropic_delta_summary(delta)

    def _block_stop(self, payload: dict[str, Any], violations: list[str]) -> _Shown:
        index = self._block_index(payload, violations)
        if index is not None and self._open.pop(index, None) is None:
            violations.append(
                f"content_block_stop for block {index}, which is not open ({self._open_note()})"
            )
        return "content_block_stop", index, f"block {index} closed"

    def _message_delta(self, payload: dict[str, Any], violations: list[str]) -> _Shown:
        for index in sorted(self._open):
            violations.append(f"message_delta while block {index} is still open")
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            violations.append("message_delta without usage (it carries the final output_tokens)")
            usage = {}
        delta = _object(payload.get("delta"))
        reason = delta.get("stop_reason")
        if reason is not None and self._stop_reason is not None:
            violations.append(
                f"a second message_delta with a stop_reason ({reason!r}; the message already"
                f" ended with {self._stop_reason!r})"
            )
        elif reason is not None:
            self._stop_reason = str(reason)
        summary = f"stop_reason={reason} output {usage.get('output_tokens')}"
        return "message_delta", None, summary

    def _message_stop(self, payload: dict[str, Any], violations: list[str]) -> _Shown:
        for index in sorted(self._open):
            violations.append(f"message_stop while block {index} is still open")
        if self._stop_reason is None:
            violations.append("message_stop without a stop_reason (no message_delta carried one)")
        self._stopped = True
        return "message_stop", None, "end of message"

    def _end_violations(self) -> list[str]:
        if self._errored or self._stopped:
            return []
        problems = [] if self._started else ["the stream ended without message_start"]
        problems += [f"block {i} was never closed" for i in sorted(self._open)]
        problems.append("the stream ended without message_stop")
        return problems


def _anthropic_delta_summary(delta: dict[str, Any]) -> str:
    if isinstance(delta.get("partial_json"), str):
        return _clip(delta["partial_json"])  # JSON text already, see _tool_call_summary
    for key in ("text", "thinking"):
        if isinstance(delta.get(key), str):
            return _quote(delta[key])
    if isinstance(delta.get("signature"), str):
        return f"signature ({len(delta['signature'])} chars)"
    return "?"


class GeminiStreamChecker(StreamChecker):
    """streamGenerateContent chunks, as SSE (`alt=sse`) or as one JSON array.

    `framing="auto"` tells them apart by the first byte; name one to check that the
    stream uses it."""

    def __init__(self, *, framing: Literal["auto", "sse", "json-array"] = "auto") -> None:
        super().__init__()
        if framing == "json-array":
            self._reader = _JSONArrayReader()
        elif framing == "auto":
            self._reader = _AutoReader()
        self._chunks = 0
        self._errored = False
        self._blocked = False
        self._last_had_usage = False
        self._response_id: str | None = None
        self._candidates: set[int] = set()
        self._finished: dict[int, str] = {}

    def _event(self, event: SSEEvent) -> ChunkInfo:
        payload, problem = _parse_object(event.data)
        if payload is None:
            return ChunkInfo("malformed", None, _clip(event.data), [str(problem)])
        violations: list[str] = []
        if self._errored:
            violations.append("a chunk after the error object (an error ends the stream)")
        if payload.get("error"):
            self._errored = True
            return ChunkInfo("error", None, _error_summary(payload["error"]), violations)
        self._chunks += 1
        self._last_had_usage = isinstance(payload.get("usageMetadata"), dict)
        self._check_response_id(payload, violations)
        candidates = _list(payload.get("candidates"))
        for candidate in candidates:
            if isinstance(candidate, dict):
                self._candidate(candidate, violations)
            else:
                violations.append("a candidate that is not an object")
        feedback = payload.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            # A blocked prompt ends the stream without candidates, finish or usage.
            self._blocked = True
        kind, index, summary = _describe_gemini(payload, candidates)
        return ChunkInfo(kind, index, summary, violations)

    def _check_response_id(self, payload: dict[str, Any], violations: list[str]) -> None:
        response_id = payload.get("responseId")
        if not isinstance(response_id, str):
            return  # optional in Gemini's schema
        if self._response_id is None:
            self._response_id = response_id
        elif response_id != self._response_id:
            violations.append(
                f"responseId {response_id!r} differs from the stream's {self._response_id!r}"
            )

    def _candidate(self, candidate: dict[str, Any], violations: list[str]) -> None:
        index = _index(candidate.get("index", 0))
        if index is None:
            violations.append("a candidate whose index is not an integer")
            index = 0
        self._candidates.add(index)
        reason = candidate.get("finishReason")
        _note_finish(
            self._finished,
            index,
            "candidate",
            "finishReason",
            reason,
            has_content=bool(_parts(candidate)),
            what="parts",
            violations=violations,
        )

    def _end_violations(self) -> list[str]:
        if self._errored or self._blocked:
            return []
        if not self._chunks:
            return ["the stream ended without any chunk"]
        if not self._finished:
            problems = ["the stream ended without a finishReason"]
        else:
            unfinished = sorted(self._candidates - set(self._finished))
            problems = [f"candidate {i} ended without a finishReason" for i in unfinished]
        if not self._last_had_usage:
            problems.append(
                "the last chunk carries no usageMetadata (Gemini reports usage on the final chunk)"
            )
        return problems


def _describe_gemini(payload: dict[str, Any], candidates: list[Any]) -> _Shown:
    valid = [c for c in candidates if isinstance(c, dict)]
    parts = next((_parts(c) for c in valid if _parts(c)), [])
    first = parts[0] if parts else None
    part = (0, *_gemini_part(first)) if first is not None else None
    extra = f" (+{len(parts) - 1} parts)" if len(parts) > 1 else ""
    finished = next((c["finishReason"] for c in valid if c.get("finishReason")), None)
    usage = payload.get("usageMetadata")
    usage_note = f", {_gemini_usage(usage)}" if isinstance(usage, dict) else ""
    if finished is not None:
        with_part = f" after {part[2]}" if part is not None else ""
        return "finish", part[0] if part else None, f"{finished}{with_part}{usage_note}"
    if part is not None:
        return f"candidate/{part[1]}", part[0], part[2] + extra
    if valid:
        return "candidate/empty", None, "no parts"
    feedback = payload.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        return "prompt-feedback", None, f"blocked: {feedback['blockReason']}"
    if isinstance(usage, dict):
        return "usage", None, _gemini_usage(usage)
    return "chunk", None, "no candidates"


def _parts(candidate: dict[str, Any]) -> list[Any]:
    return _list(_object(candidate.get("content")).get("parts"))


def _gemini_part(part: Any) -> tuple[str, str]:
    """A part's kind and its summary."""
    if not isinstance(part, dict):
        return "invalid", _clip(repr(part))
    if part.get("thought") is True:
        text = part.get("text") or ""
        if not text and part.get("thoughtSignature"):
            return "thought", f"signature ({len(str(part['thoughtSignature']))} chars)"
        return "thought", _quote(str(text))
    if "text" in part:
        return "text", _quote(str(part["text"]))
    for kind in _GEMINI_PART_KINDS:
        if isinstance(part.get(kind), dict):
            value = part[kind]
            if kind == "functionCall":
                args = json.dumps(value.get("args", {}), ensure_ascii=False)
                return kind, _clip(f"{value.get('name')}({args})")
            return kind, _clip(json.dumps(value, ensure_ascii=False))
    other = [k for k in part if k not in ("thought", "thoughtSignature")]
    return (other[0], "?") if other else ("empty", "empty part")


def _gemini_usage(usage: dict[str, Any]) -> str:
    thoughts = usage.get("thoughtsTokenCount")
    with_thoughts = f" + thoughts {thoughts}" if thoughts is not None else ""
    return (
        f"usage prompt {usage.get('promptTokenCount')}"
        f" + candidates {usage.get('candidatesTokenCount')}{with_thoughts}"
        f" = {usage.get('totalTokenCount')} tokens"
    )


def checker_for(dialect: str, *, include_usage: bool = False) -> StreamChecker:
    """A checker for `openai`, `anthropic` or `gemini` streams.

    `include_usage` says the OpenAI request set `stream_options.include_usage`; the other
    dialects always report usage, so it does not apply to them."""
    if dialect == "openai":
        return OpenAIStreamChecker(include_usage=include_usage)
    if dialect == "anthropic":
        return AnthropicStreamChecker()
    if dialect == "gemini":
        return GeminiStreamChecker()
    raise ValueError(f"unknown dialect {dialect!r} (expected openai, anthropic or gemini)")


def _note_finish(
    finished: dict[int, str],
    index: int,
    kind: str,
    field: str,
    reason: Any,
    *,
    has_content: bool,
    what: str,
    violations: list[str],
) -> None:
    """A choice's (or candidate's) chunk against its finish: content after the finish, or
    a second finish, is a violation; the first finish is remembered in `finished`."""
    earlier = finished.get(index)
    if earlier is not None and has_content:
        violations.append(f"{kind} {index}: {what} after its {field} {earlier!r}")
    if reason is not None and earlier is not None:
        violations.append(
            f"{kind} {index}: a second {field} {reason!r} (it already finished with {earlier!r})"
        )
    elif reason is not None:
        finished[index] = str(reason)
