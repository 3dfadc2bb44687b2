"""Building HTTP responses: JSON bodies and event streams driven by canonical events."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from quart import Response

from chatmock_lab.core import Error, Event, ProxyError

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

    def finish(self) -> list[bytes]: ...


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
        await _aclose(events)
        raise
    if isinstance(first, Error):
        await _aclose(events)
        raise first.error

    async def chained() -> AsyncIterator[Event]:
        try:
            if first is not None:
                yield first
            async for event in events:
                yield event
        finally:
            await _aclose(events)

    return chained()


async def _aclose(events: AsyncIterator[Event]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


async def render_events(
    events: AsyncIterator[Event], renderer: StreamRenderer
) -> AsyncIterator[bytes]:
    """Drive a renderer with events; a failure mid-stream becomes the dialect's error
    frame and a clean end, never a dropped connection."""
    for frame in renderer.start():
        yield frame
    try:
        async for event in events:
            for frame in renderer.feed(event):
                yield frame
    except ProxyError as error:
        for frame in renderer.feed(Error(error)):
            yield frame
    except Exception as exc:
        logger.exception("provider failed mid-stream")
        error = ProxyError(f"Internal error in chatmock-lab ({type(exc).__name__})")
        for frame in renderer.feed(Error(error)):
            yield frame
    finally:
        await _aclose(events)
    for frame in renderer.finish():
        yield frame


def stream_response(frames: AsyncIterator[bytes], content_type: str) -> Response:
    response = Response(frames, content_type=content_type, headers=_STREAM_HEADERS)
    # Quart cuts any response after RESPONSE_TIMEOUT (60 s) silently; streams may run longer.
    response.timeout = None
    return response


def sse_response(frames: AsyncIterator[bytes]) -> Response:
    return stream_response(frames, "text/event-stream; charset=utf-8")
