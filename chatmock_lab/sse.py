"""Server-Sent Events: encoding the frames every dialect sends, and decoding them, line
by line, as upstreams send them.

A frame is a run of lines ended by a blank line: `event:` names it, `data:` lines are
joined with newlines, lines starting with `:` are comments. `\\r\\n` and `\\n` both end
lines (httpx's `aiter_lines` already splits on either).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chatmock_lab import json_codec


@dataclass(slots=True, frozen=True)
class SSEEvent:
    event: str
    data: str


class SSEDecoder:
    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed_line(self, line: str) -> SSEEvent | None:
        """Take one line (without its ending); return the frame a blank line completes."""
        line = line.rstrip("\r")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def flush(self) -> SSEEvent | None:
        """The pending frame, if any; call it too when a stream ends without a blank line."""
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(event=self._event or "message", data="\n".join(self._data))
        self._event, self._data = "", []
        return event


def encode_frame(data: object, *, event: str | None = None, line_end: str = "\n") -> bytes:
    """One SSE frame: `event:` when named, then `data:` (a string as it is, anything else
    as compact JSON), ended by a blank line. Gemini ends its lines with `\\r\\n`."""
    text = data if isinstance(data, str) else json_codec.dumps(data)
    head = f"event: {event}{line_end}" if event is not None else ""
    return f"{head}data: {text}{line_end}{line_end}".encode()


def comment_frame(text: str, *, line_end: str = "\n") -> bytes:
    """An SSE comment (clients skip it; proxies and load balancers see traffic)."""
    return f": {text}{line_end}{line_end}".encode()


def is_event_stream(headers: Mapping[str, str]) -> bool:
    """Whether an answer's headers say it is an SSE stream (not one JSON body)."""
    return headers.get("content-type", "").startswith("text/event-stream")
