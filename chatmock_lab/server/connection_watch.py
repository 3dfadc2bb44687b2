"""Noticing a client that hangs up while its request is being answered, whatever it sent.

Hypercorn (0.16-0.18) stops reading an HTTP/1.1 connection once a request is complete
and more bytes are already buffered behind it (h11 reports `PAUSED`: a pipelined
request, or the stray CRLF some clients send after a body). The read loop then waits
until the response has ended, so a hang-up in the meantime goes unseen: the app never
gets `http.disconnect`, the request runs to its natural end holding its Gate permit and
its upstream stream (issue 18: "a client that hangs up before the response headers is
not noticed"). Without buffered bytes the read loop keeps reading and a hang-up is seen
at once; this makes both cases behave the same.

`WatchfulH11Protocol` runs Hypercorn's own event handling in a task and lets the read
loop go on while that task is paused: bytes read meanwhile join h11's buffer (up to a
bound, beyond which reading waits as before, so a pipelining client cannot make the
server buffer without limit) and an end of stream closes the request at once. Hypercorn
chooses its HTTP/1.1 protocol class by name in `hypercorn.protocol`, so `install()`
swaps the class there; nothing else in Hypercorn changes.
"""

from __future__ import annotations

import asyncio
import logging

import hypercorn.protocol
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol.h11 import H11Protocol

logger = logging.getLogger(__name__)

# Bytes read from a paused connection before reading waits for the response to end.
_MAX_HELD_BYTES = 1 << 20


class _ReadPermission:
    """Hypercorn's `can_read` event, telling also whether someone is waiting on it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.paused = asyncio.Event()

    async def clear(self) -> None:
        self._event.clear()

    async def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        self.paused.set()
        try:
            await self._event.wait()
        finally:
            self.paused.clear()

    def is_set(self) -> bool:
        return self._event.is_set()


class WatchfulH11Protocol(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol, whose read loop never stops while a request is
    answered (see the module's docstring)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.can_read = _ReadPermission()
        self._events: asyncio.Task[None] | None = None
        self._held = 0

    async def handle(self, event: Event) -> None:
        if isinstance(event, RawData):
            await self._receive(event.data)
        else:
            if isinstance(event, Closed):
                self._stop_events()
            await super().handle(event)

    async def _receive(self, data: bytes) -> None:
        events = self._events
        if events is not None and not events.done():
            # Paused until the response ends: keep the bytes for then, and read on.
            self.connection.receive_data(data)
            self._held += len(data)
            if self._held > _MAX_HELD_BYTES:
                await events
            return
        self._held = 0
        self.connection.receive_data(data)
        events = self._events = asyncio.ensure_future(self._handle_events())
        paused = asyncio.ensure_future(self.can_read.paused.wait())  # type: ignore[attr-defined]
        try:
            await asyncio.wait({events, paused}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            events.cancel()
            raise
        finally:
            paused.cancel()
        if events.done():
            self._events = None
            # Cancelled by a close (a failed write) while it ran: nothing left to raise.
            if not events.cancelled():
                events.result()
        else:
            events.add_done_callback(_log_failure)

    def _stop_events(self) -> None:
        # The connection is gone: what is buffered behind the request cannot be answered.
        if self._events is not None and not self._events.done():
            self._events.cancel()
        self._events = None


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("HTTP/1.1 connection handling failed", exc_info=task.exception())


def install() -> None:
    """Make Hypercorn use `WatchfulH11Protocol` for HTTP/1.1 (idempotent)."""
    hypercorn.protocol.H11Protocol = WatchfulH11Protocol  # type: ignore[misc]
