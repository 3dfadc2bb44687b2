"""What every protocol checker shares: the `ChunkInfo` it shows for each event, the
`StreamChecker` driver (bytes through a framing reader, events to the dialect's
checks, the end of the stream judged once), and the payload helpers the dialects'
checks read JSON with."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.sse import SSEEvent
from chatmock_lab.stream_checks.framing import Comment, FramingError, Item, Reader, SSEReader
from chatmock_lab.stream_checks.text import clip

# What a chunk shows: its event type, block index and summary.
Shown = tuple[str, int | None, str]


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """One complete event of a stream, as the inspector shows it."""

    event_type: str
    block_index: int | None
    summary: str
    violations: list[str] = field(default_factory=list)


class StreamChecker(ABC):
    """Raw bytes of one streamed response in, one `ChunkInfo` per complete event out.

    A dialect's checker implements `_event` (one complete event, judged against what
    came before it) and `_end_violations` (what the stream as a whole lacks); `reader`
    is the framing its bytes arrive in, SSE unless the dialect says otherwise."""

    def __init__(self, *, reader: Reader | None = None) -> None:
        self._reader: Reader = reader if reader is not None else SSEReader()
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

    def _item(self, item: Item) -> ChunkInfo:
        if isinstance(item, Comment):
            return ChunkInfo("keep-alive", None, item.text or "(empty comment)")
        if isinstance(item, FramingError):
            return ChunkInfo("malformed", None, item.snippet, [item.message])
        return self._event(item)

    @abstractmethod
    def _event(self, event: SSEEvent) -> ChunkInfo: ...

    @abstractmethod
    def _end_violations(self) -> list[str]: ...


def parse_object(data: str) -> tuple[dict[str, Any] | None, str | None]:
    """The payload as a JSON object, or the one-line reason it is not one."""
    try:
        payload = json.loads(data)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    if not isinstance(payload, dict):
        return None, f"the payload is a JSON {type(payload).__name__}, not an object"
    return payload, None


def as_object(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else; shape problems are flagged apart."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """A JSON array, or an empty one for anything else."""
    return value if isinstance(value, list) else []


def as_index(value: Any) -> int | None:
    """An integer index, or None for anything else."""
    # bool is an int subclass; `"index": true` is not an index.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def error_summary(error: Any) -> str:
    """An in-band error object (any dialect's shape) as `kind: message`."""
    if isinstance(error, dict):
        kind = error.get("type") or error.get("status") or error.get("code") or "error"
        return clip(f"{kind}: {error.get('message', '')}")
    return clip(str(error))


def note_finish(
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
    a second finish, is a violation; the first finish is remembered in `finished`.

    OpenAI's choices and Gemini's candidates follow the same rule, each under its own
    names: `kind` ("choice", "candidate"), `field` ("finish_reason", "finishReason")
    and `what` its content is called ("content", "parts")."""
    earlier = finished.get(index)
    if earlier is not None and has_content:
        violations.append(f"{kind} {index}: {what} after its {field} {earlier!r}")
    if reason is not None and earlier is not None:
        violations.append(
            f"{kind} {index}: a second {field} {reason!r} (it already finished with {earlier!r})"
        )
    elif reason is not None:
        finished[index] = str(reason)
