"""Taps: a copy of one request's traffic, as it happens, for the notebook's stream
inspector.

A client that sends `x-chatmock-tap: ID` for a tap registered on the server gets that
request's upstream chunks (as the provider's HTTP client read them, whether from the
network or a cassette), the canonical events they became, and the chunks written to
the client, each with the time it was seen. The tap is found through a context
variable, so the provider's task and the upstream transport see it without any
provider knowing about taps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

from chatmock_lab.core import Event

TAP_HEADER = "x-chatmock-tap"

Side = Literal["upstream", "event", "client"]


@dataclass(frozen=True, slots=True)
class TapRecord:
    seconds: float  # since the tap saw the request start
    side: Side
    data: bytes | Event


class Tap:
    """Collects records on the server's thread; another thread reads `records` (a copy
    of the list is a consistent snapshot) and waits on `finished`."""

    def __init__(self) -> None:
        self.records: list[TapRecord] = []
        self.started: float | None = None
        self.finished = threading.Event()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Tap({len(self.records)} records, finished={self.finished.is_set()})"

    def begin(self) -> None:
        """The request reached the server: offsets count from here."""
        with self._lock:
            if self.started is None:
                self.started = time.monotonic()

    def add(self, side: Side, data: bytes | Event) -> None:
        self.begin()
        with self._lock:
            assert self.started is not None
            self.records.append(TapRecord(time.monotonic() - self.started, side, data))

    def end(self) -> None:
        self.finished.set()


current_tap: ContextVar[Tap | None] = ContextVar("chatmock_lab_tap", default=None)


async def tapped(chunks: AsyncIterator[bytes], tap: Tap, side: Side) -> AsyncIterator[bytes]:
    """The chunks, each noted on the tap as it passes."""
    async for chunk in chunks:
        tap.add(side, chunk)
        yield chunk
