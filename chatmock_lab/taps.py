"""Taps: a copy of one request's traffic, as it happens, for the notebook's stream
inspector.

A client that sends `x-chatmock-tap: ID` for a tap registered on the server gets that
request's upstream chunks (as the provider's HTTP client read them, whether from the
network or a cassette), the canonical events they became, the chunks written to the
client, and the notes on what the translation could not carry over ("field: why",
side "note"), each with the time it was seen.

Nothing finds a tap implicitly: the server looks it up from the header, puts it on the
canonical request (`ChatRequest.trace`) and hands it to the renderer; a provider passes
the request's trace to its HTTP call, which carries it in the httpx request's
extensions to `TapTransport`, composed over the cassette deck.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import httpx

from chatmock_lab.core import Event

TAP_HEADER = "x-chatmock-tap"
# The httpx request extension that carries a tap from a provider to `TapTransport`.
TAP_EXTENSION = "chatmock_lab.tap"

# `request`: the body of a request the provider sent upstream.
Side = Literal["upstream", "event", "client", "note", "request"]


@dataclass(frozen=True, slots=True)
class TapRecord:
    seconds: float  # since the tap saw the request start
    side: Side
    data: bytes | Event | str


class Tap:
    """Collects records on the server's thread, its one writer; another thread reads
    `records` (appending to a list is atomic, so a copy of it is a consistent snapshot)
    and waits on `finished`."""

    def __init__(self, *, max_bytes: int | None = None, max_records: int | None = None) -> None:
        """`max_bytes` bounds the bytes kept (past it, chunks are noted without their
        bytes: their times still count); `max_records` the records (past it, nothing
        is kept, only counted in `dropped`)."""
        self.records: list[TapRecord] = []
        self.started: float | None = None
        self.finished = threading.Event()
        self.dropped = 0
        self._room = max_bytes
        self._max_records = max_records

    def __repr__(self) -> str:
        return f"Tap({len(self.records)} records, finished={self.finished.is_set()})"

    def __deepcopy__(self, memo: dict[int, object]) -> Tap:
        # Someone watching, not data: a copy of a request is watched by the same tap.
        return self

    def begin(self) -> None:
        """The request reached the server: offsets count from here."""
        if self.started is None:
            self.started = time.monotonic()

    def add(self, side: Side, data: bytes | Event | str) -> None:
        # Every chunk and event of a watched request passes here: no lock, no calls
        # beyond the clock (one writer; see the class).
        if self._max_records is not None and len(self.records) >= self._max_records:
            self.dropped += 1
            return
        now = time.monotonic()
        started = self.started
        if started is None:
            started = self.started = now
        if self._room is not None and isinstance(data, bytes):
            kept = data[: max(0, self._room)]
            self._room -= len(kept)
            data = kept
        self.records.append(TapRecord(now - started, side, data))

    def notes(self) -> list[str]:
        """The notes on what was not carried over, inbound and upstream, in order."""
        return [r.data for r in list(self.records) if r.side == "note" and isinstance(r.data, str)]

    def end(self) -> None:
        self.finished.set()


async def tapped(chunks: AsyncIterator[bytes], tap: Tap, side: Side) -> AsyncIterator[bytes]:
    """The chunks, each noted on the tap as it passes."""
    async for chunk in chunks:
        tap.add(side, chunk)
        yield chunk


class TapTransport(httpx.AsyncBaseTransport):
    """Passes every request to `inner`; the body of a response to a request that
    carries a tap (extension `TAP_EXTENSION`) is noted on it chunk by chunk, as the
    provider reads it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"TapTransport({self.inner!r})"

    @property
    def replay_only(self) -> bool:
        """Whether every call is answered from a cassette (the inner transport says)."""
        return bool(getattr(self.inner, "replay_only", False))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        tap = request.extensions.get(TAP_EXTENSION)
        if isinstance(tap, Tap):
            tap.add("request", request.content)
        response = await self.inner.handle_async_request(request)
        if not isinstance(tap, Tap):
            return response
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TappedStream(response, tap),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


class _TappedStream(httpx.AsyncByteStream):
    def __init__(self, response: httpx.Response, tap: Tap) -> None:
        self._response = response
        self._tap = tap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._response.aiter_raw():
            self._tap.add("upstream", chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()
