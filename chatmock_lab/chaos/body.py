"""Chaos applied to an upstream's answer as bytes: the error it answers instead, and
its body chunk by chunk (an SSE body re-cut into its frames, so that "after 3 chunks"
means three frames whatever the network's packets were)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Protocol, TypeVar

import httpx

from chatmock_lab.chaos.rules import ChaosRule

# The error types an OpenAI-compatible upstream names in its envelope, by status.
_ERROR_TYPES = {429: "rate_limit_error", 529: "overloaded_error"}
# A UTF-8 sequence cut short: the first two bytes of the three of "€".
_TRUNCATED_UTF8 = b"\xe2\x82"
_FRAME_ENDS = (b"\r\n\r\n", b"\n\n", b"\r\r")

T = TypeVar("T")


def first_rule(rules: Sequence[ChaosRule], kind: str) -> ChaosRule | None:
    return next((rule for rule in rules if rule.kind == kind), None)


def error_body(rule: ChaosRule) -> dict[str, Any]:
    """The body of an `error` rule's answer, in OpenAI's envelope (what every
    OpenAI-compatible upstream sends; the other upstreams' error parsers read it too)."""
    status = rule.status
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {
        "error": {
            "message": f"chaos: the upstream answered {status} (rule {rule})",
            "type": kind,
            "code": "chatmock_chaos",
        }
    }


def error_response(rule: ChaosRule, request: httpx.Request) -> httpx.Response:
    """The HTTP error an upstream answers for an `error` rule, `Retry-After` included."""
    body = json.dumps(error_body(rule)).encode()
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    if rule.retry_after is not None:
        headers["retry-after"] = f"{rule.retry_after:g}"
    # A stream, not `content=`: httpx would read that at once, and a recorder reads the
    # body as it passes, like any upstream's.
    return httpx.Response(
        rule.status, headers=headers, stream=httpx.ByteStream(body), request=request
    )


async def frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """An SSE body's frames, each with the blank line that ends it; what follows the
    last blank line comes last as it is."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        start = 0
        for end in _frame_ends(pending):
            yield pending[start:end]
            start = end
        pending = pending[start:]
    if pending:
        yield pending


def _frame_ends(buffer: bytes) -> Iterator[int]:
    """Where each complete frame in `buffer` ends. Each kind of blank line is searched
    for again only past the frame it ended: one read with many frames (a replay's, a
    fast upstream's) is scanned once, not once per frame."""
    found = {end: buffer.find(end) for end in _FRAME_ENDS}
    while True:
        ahead = [(index, len(end)) for end, index in found.items() if index >= 0]
        if not ahead:
            return
        index, length = min(ahead)
        start = index + length
        yield start
        for end, at in found.items():
            if 0 <= at < start:
                found[end] = buffer.find(end, start)


async def _whole(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    body = b"".join([chunk async for chunk in chunks])
    if body:
        yield body


class Faults(Protocol[T]):
    """How the faults of a kind of chunk look: bytes of a body, or a provider's events."""

    def malformed(self, chunk: T, how: str) -> T:
        """`chunk` broken `how`; a chunk that `ends` the stream stops it."""
        ...

    def dropped(self, count: int) -> T:
        """The connection lost after `count` chunks: what says so (or it raises)."""
        ...

    def cut_short(self) -> T | None:
        """The stream ended cleanly before its finish: what says so, if anything."""
        ...

    def ends(self, chunk: T) -> bool:
        """Whether nothing may follow `chunk` (an error)."""
        ...


async def misbehaving(
    chunks: AsyncIterator[T], rules: Sequence[ChaosRule], faults: Faults[T]
) -> AsyncIterator[T]:
    """`chunks` with `rules` applied, one at a time: the one order of faults for every
    kind of chunk (a drop before an early end, silence before slowness)."""
    drop = first_rule(rules, "drop")
    early_end = first_rule(rules, "early-end")
    silence = first_rule(rules, "silence")
    slow = first_rule(rules, "slow")
    malformed = first_rule(rules, "malformed")
    duplicate = first_rule(rules, "duplicate")
    number = 0
    async for chunk in chunks:
        if drop is not None and number >= drop.after:
            yield faults.dropped(number)
            return
        if early_end is not None and number >= early_end.after:
            end = faults.cut_short()
            if end is not None:
                yield end
            return
        if silence is not None and number == silence.after:
            await asyncio.sleep(silence.seconds)
        number += 1
        if slow is not None:
            delay = slow.first if number == 1 else slow.chunk
            if delay > 0:
                await asyncio.sleep(delay)
        if malformed is not None and number == malformed.at:
            chunk = faults.malformed(chunk, malformed.how)
            if faults.ends(chunk):
                yield chunk
                return
        yield chunk
        if duplicate is not None and number == duplicate.at:
            yield chunk
    # A drop after the last chunk: the connection goes before the body's end is known.
    if drop is not None and number == drop.after:
        yield faults.dropped(number)


class _BodyFaults:
    def __init__(self, *, event_stream: bool, drop: ChaosRule | None) -> None:
        self._event_stream = event_stream
        self._drop = drop

    def malformed(self, chunk: bytes, how: str) -> bytes:
        return malformed_chunk(chunk, how, event_stream=self._event_stream)

    def dropped(self, count: int) -> bytes:
        raise httpx.RemoteProtocolError(
            f"chaos: the connection dropped after {count} chunk(s) (rule {self._drop})"
        )

    def cut_short(self) -> bytes | None:
        return None

    def ends(self, chunk: bytes) -> bool:
        return False


def chaotic_body(
    chunks: AsyncIterator[bytes], rules: Sequence[ChaosRule], *, event_stream: bool
) -> AsyncIterator[bytes]:
    """`chunks` with `rules` applied: an event stream frame by frame, any other body as
    one chunk. A drop raises `httpx.RemoteProtocolError`, as a connection lost would."""
    source = frames(chunks) if event_stream else _whole(chunks)
    faults = _BodyFaults(event_stream=event_stream, drop=first_rule(rules, "drop"))
    return misbehaving(source, rules, faults)


def malformed_chunk(chunk: bytes, how: str, *, event_stream: bool) -> bytes:
    """`chunk` broken `how`: `json` cuts its payload in half, `utf8` puts a cut-short
    UTF-8 sequence inside its first string, `blank-line` takes away the blank line that
    ends an SSE frame (it runs into the next one; a JSON body is cut as for `json`)."""
    if how == "blank-line" and event_stream:
        for end in _FRAME_ENDS:
            if chunk.endswith(end):
                return chunk[: -len(end) // 2]
        return chunk
    if how == "utf8":
        return _with_truncated_utf8(chunk)
    head, payload, tail = _payload(chunk) if event_stream else (b"", chunk.rstrip(), b"")
    return head + payload[: max(1, len(payload) // 2)] + tail


def _payload(frame: bytes) -> tuple[bytes, bytes, bytes]:
    """A frame as (everything before its data, the data, the line ends after it)."""
    start = frame.find(b"data:")
    if start < 0:
        return b"", frame.rstrip(), frame[len(frame.rstrip()) :]
    start += len(b"data:")
    if frame[start : start + 1] == b" ":
        start += 1
    line_end = frame.find(b"\n", start)
    end = len(frame) if line_end < 0 else line_end
    end = end - 1 if frame[end - 1 : end] == b"\r" else end
    return frame[:start], frame[start:end], frame[end:]


def _with_truncated_utf8(chunk: bytes) -> bytes:
    # Inside a string the JSON stays valid: a reader that decodes leniently passes on
    # U+FFFD, one that decodes strictly fails, as with a real upstream's bad bytes.
    quote = _first_string(chunk)
    if quote is None:
        middle = len(chunk.rstrip()) // 2
        return chunk[:middle] + _TRUNCATED_UTF8 + chunk[middle:]
    return chunk[: quote + 1] + _TRUNCATED_UTF8 + chunk[quote + 1 :]


def _first_string(chunk: bytes) -> int | None:
    """Where the first non-empty string value of the chunk's JSON opens, if it has one."""
    head, payload, _tail = _payload(chunk)
    try:
        document: Any = json.loads(payload)
    except ValueError:
        return None
    text = _first_text(document)
    if text is None:
        return None
    encoded = json.dumps(text, ensure_ascii=False).encode()
    position = payload.find(b":" + encoded)
    if position < 0:
        position = payload.find(b": " + encoded)
        if position < 0:
            return None
        position += 1
    return len(head) + position + 1


def _first_text(document: Any) -> str | None:
    """The first string value (not a key) in `document` that is not empty, preferring
    what a model wrote (`content`, `text`, `delta`) to ids and names."""
    found: list[tuple[bool, str]] = []

    def walk(node: Any, key: str | None) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                walk(value, name)
        elif isinstance(node, list):
            for value in node:
                walk(value, key)
        elif isinstance(node, str) and node:
            found.append((key in ("content", "text", "delta", "arguments"), node))

    walk(document, None)
    preferred = [text for wanted, text in found if wanted]
    if preferred:
        return preferred[0]
    return found[0][1] if found else None
