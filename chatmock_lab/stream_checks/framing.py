"""The framings a streamed answer arrives in, read from raw bytes however they are chunked:
SSE (every dialect) and Google's JSON array (`streamGenerateContent` without `alt=sse`).

A reader turns bytes into complete items and, at the end, says whether the stream
stopped inside a frame. It knows nothing about payloads: the checkers judge those.
SSE lines go through `chatmock_lab.sse.SSEDecoder`, the decoder the providers use on
upstream streams, so the inspector reads frames exactly as the proxy does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from chatmock_lab.sse import SSEDecoder, SSEEvent
from chatmock_lab.stream_checks.text import clip

_WHITESPACE = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class Comment:
    """An SSE comment line (`: ...`), which servers send as a keep-alive."""

    text: str


@dataclass(frozen=True, slots=True)
class FramingError:
    """Bytes that break the framing: `message` says how, `snippet` shows where."""

    message: str
    snippet: str


# What a reader yields: a complete event (a JSON-array element arrives as an SSE-like
# `message` event, so both framings share one payload check), a comment or a problem.
Item = SSEEvent | Comment | FramingError


class Reader(Protocol):
    """Raw bytes in, items out as they complete; `finish` names a stream cut short."""

    def feed(self, data: bytes) -> list[Item]: ...

    def finish(self) -> list[str]: ...


class SSEReader:
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

    def feed(self, data: bytes) -> list[Item]:
        # Only the new bytes can hold a new line end: searching from there keeps a line
        # fed one byte at a time linear instead of quadratic.
        start = len(self._buffer)
        self._buffer += data
        items: list[Item] = []
        while (end := self._buffer.find(b"\n", start)) >= 0:
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            start = 0
            item = self._line(raw)
            if item is not None:
                items.append(item)
        return items

    def _line(self, raw: bytes) -> Item | None:
        try:
            line = raw.decode()
        except UnicodeDecodeError as exc:
            return FramingError(f"invalid UTF-8 in an SSE line: {exc.reason}", clip(repr(raw)))
        if line.startswith(":"):
            # The decoder drops comments silently; the inspector shows them as keep-alives.
            return Comment(line[1:].strip())
        self._pending = bool(line.rstrip("\r"))
        return self._decoder.feed_line(line)

    def finish(self) -> list[str]:
        rest = bytes(self._buffer).strip(_WHITESPACE)
        if not (self._pending or rest):
            return []
        # The SSE spec has clients drop a frame the stream ends inside of; say so rather
        # than show an event the client never saw.
        tail = f": {clip(rest.decode(errors='replace'))}" if rest else ""
        return [
            "the stream ended inside an SSE frame (no blank line after its last line);"
            f" clients drop that frame{tail}"
        ]


class JSONArrayReader:
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

    def feed(self, data: bytes) -> list[Item]:
        items: list[Item] = []
        for byte in data:
            items += self._byte(byte)
        return items

    def _byte(self, byte: int) -> list[Item]:
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
            problem = FramingError("a JSON-array stream must start with '['", char)
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
            problem = FramingError("expected ',' or ']' after an array element", char)
            return [problem, *self._byte(byte)]
        if self._trailing_reported:
            return []
        self._trailing_reported = True
        return [FramingError("data after the JSON array's closing ']'", char)]

    def _before(self, byte: int) -> list[Item]:
        char = chr(byte)
        if char == "]":
            self._state = "end"
            if self._after_comma:
                return [FramingError("a ',' right before the closing ']'", ",]")]
            return []
        self._state, self._after_comma = "inside", False
        self._element = bytearray()
        self._depth, self._in_string, self._escape = 0, False, False
        self._scalar = char not in '{["'
        return self._inside(byte)

    def _inside(self, byte: int) -> list[Item]:
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


class AutoReader:
    """SSE or JSON array, decided by the first byte that is not whitespace."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._reader: Reader | None = None

    def feed(self, data: bytes) -> list[Item]:
        if self._reader is None:
            self._head += data
            body = bytes(self._head).lstrip(_WHITESPACE)
            if not body:
                return []
            self._reader = JSONArrayReader() if body.startswith(b"[") else SSEReader()
            data = bytes(self._head)
        return self._reader.feed(data)

    def finish(self) -> list[str]:
        return self._reader.finish() if self._reader is not None else []
