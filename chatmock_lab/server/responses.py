"""Building HTTP responses: JSON bodies and event streams driven by canonical events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from quart import Response

from chatmock_lab.core import ChatResponse, Error, Event, ProxyError, acollect
from chatmock_lab.redact import redactor

logger = logging.getLogger(__name__)

_STREAM_HEADERS = {
    "cache-control": "no-cache",
    # Reverse proxies such as nginx would otherwise buffer the stream.
    "x-accel-buffering": "no",
}


class StreamRenderer(Protocol):
    """A dialect's stream renderer: a state machine from events to wire frames."""

    def start(self) -> list[bytes]: ...

    def feed(self, event: Event) -> list[bytes]: ...

    def keepalive(self) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


_TICK = object()
_END = object()
# Events buffered ahead of a slow client; beyond this the provider waits (backpressure).
_QUEUE_SIZE = 64


@dataclass(slots=True)
class _Failure:
    error: BaseException


async def with_keepalives(
    events: AsyncIterator[Event], interval: float
) -> AsyncIterator[Event | None]:
    """The events as they come, and `None` each time `interval` seconds pass without one.

    The provider runs in a task of its own so that a silence can be noticed without
    cancelling the provider mid-await (which would break its generator)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(_QUEUE_SIZE)

    async def pump() -> None:
        try:
            async for event in events:
                await queue.put(event)
        except Exception as exc:
            await queue.put(_Failure(exc))
        else:
            await queue.put(_END)

    def tick() -> None:
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(_TICK)

    task = asyncio.create_task(pump())
    timer = loop.call_later(interval, tick)
    try:
        while True:
            item = await queue.get()
            timer.cancel()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield None if item is _TICK else item  # type: ignore[misc]
            timer = loop.call_later(interval, tick)
    finally:
        timer.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def prime(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """Wait for the first event, so a provider that fails before producing anything
    raises here and the client gets a real HTTP error instead of a 200 stream."""
    try:
        first = await anext(events)
    except StopAsyncIteration:
        first = None
    except BaseException:
        await aclose_events(events)
        raise
    if isinstance(first, Error):
        await aclose_events(events)
        raise first.error

    async def chained() -> AsyncIterator[Event]:
        try:
            if first is not None:
                yield first
            async for event in events:
                yield event
        finally:
            await aclose_events(events)

    return chained()


async def aclose_events(events: AsyncIterator[Event]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


async def render_events(
    events: AsyncIterator[Event], renderer: StreamRenderer, *, keepalive: float = 0
) -> AsyncIterator[bytes]:
    """Drive a renderer with events; a failure mid-stream becomes the dialect's error
    frame and a clean end, never a dropped connection. With `keepalive` > 0, a silence
    that long sends the dialect's keep-alive (a ping event, an SSE comment)."""
    for frame in renderer.start():
        yield frame
    source: AsyncIterator[Event | None] = (
        with_keepalives(events, keepalive) if keepalive > 0 else events
    )
    try:
        async for event in source:
            if event is None:
                frames = renderer.keepalive()
            elif isinstance(event, Error):
                frames = renderer.feed(Error(redactor.error(event.error)))
            else:
                frames = renderer.feed(event)
            for frame in frames:
                yield frame
    except ProxyError as error:
        for frame in renderer.feed(Error(redactor.error(error))):
            yield frame
    except Exception as exc:
        logger.exception("provider failed mid-stream")
        error = ProxyError(f"Internal error in chatmock-lab ({type(exc).__name__})")
        for frame in renderer.feed(Error(error)):
            yield frame
    finally:
        await aclose_events(source)
        await aclose_events(events)
    for frame in renderer.finish():
        yield frame


async def collect_events(events: AsyncIterator[Event]) -> ChatResponse:
    """The events collected; the stream is closed even when the client went away."""
    try:
        return await acollect(events)
    finally:
        await aclose_events(events)


def stream_response(frames: AsyncIterator[bytes], content_type: str) -> Response:
    response = Response(frames, content_type=content_type, headers=_STREAM_HEADERS)
    # Quart cuts any response after RESPONSE_TIMEOUT (60 s) silently; streams may run longer.
    response.timeout = None
    return response


def sse_response(frames: AsyncIterator[bytes]) -> Response:
    return stream_response(frames, "text/event-stream; charset=utf-8")
