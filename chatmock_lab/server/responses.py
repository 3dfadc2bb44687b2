"""Building HTTP responses: JSON bodies and event streams driven by canonical events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

from quart import Response

from chatmock_lab import json_codec
from chatmock_lab.core import ChatResponse, Error, Event, ProxyError, acollect
from chatmock_lab.redact import Redactor
from chatmock_lab.taps import Tap, tapped

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


# Lists longer than this are encoded an entry at a time off the loop.
_PIECE_ENTRIES = 16
_TICK = object()
_END = object()
# Events buffered ahead of a slow client; beyond this the provider waits (backpressure).
_QUEUE_SIZE = 64


@dataclass(slots=True)
class _Failure:
    error: BaseException


async def event_batches(
    events: AsyncGenerator[Event, None], keepalive: float = 0
) -> AsyncGenerator[list[Event] | None, None]:
    """The events in batches of those already waiting, and `None` each time `keepalive`
    seconds (if > 0) pass without one.

    The provider runs in a task of its own, so a silence can be noticed without
    cancelling it mid-await (which would break its generator), and events that arrive
    together (an upstream sends several frames in one packet) go out in one write
    instead of one write each: no waiting is added, only work saved. The batches own
    `events`: closing them closes it."""
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

    def arm() -> asyncio.TimerHandle | None:
        return loop.call_later(keepalive, tick) if keepalive > 0 else None

    task = asyncio.create_task(pump())
    timer = arm()
    try:
        while True:
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            if timer is not None:
                timer.cancel()
            batch = [i for i in items if not (i is _TICK or i is _END or isinstance(i, _Failure))]
            # Not only the last item: a keep-alive tick may land after the end (or the
            # failure) in the same batch, and the stream would never end.
            ended = any(i is _END for i in items)
            failure = next((i for i in items if isinstance(i, _Failure)), None)
            if batch:
                yield batch  # type: ignore[misc]
            elif not ended and failure is None:
                yield None
            if failure is not None:
                raise failure.error
            if ended:
                return
            timer = arm()
    finally:
        if timer is not None:
            timer.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await events.aclose()


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json_codec.dumps(body), status=status, content_type="application/json", headers=headers
    )


async def json_response_off_loop(build: Callable[[], Any]) -> Response:
    """A JSON response whose body takes real work to build and encode (the embeddings of
    thousands of inputs run to tens of megabytes): done on a worker thread, so the event
    loop goes on serving everyone else meanwhile."""
    encoded = await asyncio.to_thread(lambda: _dumps_in_pieces(build()))
    return Response(encoded, content_type="application/json")


def _dumps_in_pieces(value: Any) -> str:
    """`value` as JSON, long lists of objects or lists encoded an entry at a time. The C
    encoder holds the GIL for the whole of one call, so encoding 50 MB in one call on a
    worker thread would stop the event loop as surely as doing it on the loop; between
    calls, threads switch."""
    if isinstance(value, dict):
        members = (
            f"{json_codec.dumps(str(key))}:{_dumps_in_pieces(item)}" for key, item in value.items()
        )
        return "{" + ",".join(members) + "}"
    if (
        isinstance(value, list)
        and len(value) > _PIECE_ENTRIES
        and isinstance(value[0], dict | list)
    ):
        return "[" + ",".join(_dumps_in_pieces(item) for item in value) + "]"
    return json_codec.dumps(value)


async def prime(
    events: AsyncGenerator[Event, None], *, patience: float | None = None
) -> AsyncGenerator[Event, None]:
    """Wait for the first event, so a provider that fails before producing anything
    raises here and the client gets a real HTTP error instead of a 200 stream. With
    `patience`, wait that long at most: a stream still waiting then (in line for a Gate
    slot) starts without it, so its client gets the headers and keep-alives instead of
    silence, and what fails later arrives as the dialect's error frame. The stream
    returned owns `events` and closes it."""
    source: Awaitable[Event]
    if patience is None:
        # Nothing to time: awaited in this task (a task of its own costs as much as the
        # rest of a small request's dispatch).
        source = anext(events)
    else:
        step: asyncio.Future[Event] = asyncio.ensure_future(anext(events))
        try:
            done, _ = await asyncio.wait({step}, timeout=patience)
        except BaseException:
            step.cancel()
            await _close_after(step, events)
            raise
        if not done:
            return _continued(step, events)
        source = step
    first: Event | None
    try:
        first = await source
    except StopAsyncIteration:
        first = None
    except BaseException:
        await events.aclose()
        raise
    if isinstance(first, Error):
        await events.aclose()
        raise first.error

    async def chained() -> AsyncGenerator[Event, None]:
        async with aclosing(events):
            if first is not None:
                yield first
            async for event in events:
                yield event

    return chained()


async def _continued(
    step: asyncio.Future[Event], events: AsyncGenerator[Event, None]
) -> AsyncGenerator[Event, None]:
    """The stream whose first event `step` is still awaiting."""
    try:
        try:
            first = await step
        except StopAsyncIteration:
            return
        yield first
        async for event in events:
            yield event
    finally:
        step.cancel()
        await _close_after(step, events)


async def _close_after(step: asyncio.Future[Event], events: AsyncGenerator[Event, None]) -> None:
    # The generator cannot be closed while `step` is still running it.
    with contextlib.suppress(BaseException):
        await step
    await events.aclose()


async def render_events(
    events: AsyncGenerator[Event, None],
    renderer: StreamRenderer,
    *,
    redactor: Redactor,
    keepalive: float = 0,
    tap: Tap | None = None,
) -> AsyncIterator[bytes]:
    """Drive a renderer with events; a failure mid-stream becomes the dialect's error
    frame and a clean end, never a dropped connection. With `keepalive` > 0, a silence
    that long sends the dialect's keep-alive (a ping event, an SSE comment). Each event
    is noted on `tap`; error messages are masked with `redactor`."""
    start = renderer.start()
    if start:
        yield b"".join(start)
    failure: ProxyError | None = None
    async with aclosing(event_batches(events, keepalive)) as batches:
        try:
            async for batch in batches:
                if batch is None:
                    frames = renderer.keepalive()
                else:
                    frames = []
                    for event in batch:
                        if isinstance(event, Error):
                            event = Error(redactor.error(event.error))
                        if tap is not None:
                            tap.add("event", event)
                        frames += renderer.feed(event)
                if frames:
                    yield b"".join(frames)
        except ProxyError as error:
            failure = redactor.error(error)
        except Exception as exc:
            logger.exception("provider failed mid-stream")
            failure = ProxyError(f"Internal error in chatmock-lab ({type(exc).__name__})")
    closing = (renderer.feed(Error(failure)) if failure is not None else []) + renderer.finish()
    if closing:
        yield b"".join(closing)


async def collect_events(
    events: AsyncGenerator[Event, None], *, tap: Tap | None = None
) -> ChatResponse:
    """The events collected (each noted on `tap`); the stream is closed even when the
    client went away."""
    async with aclosing(events), aclosing(_taking_turns(events, tap)) as turns:
        return await acollect(turns)


# A provider that never waits (the mock without a delay) would hold the event loop for the
# whole answer: 130,000 events for a 1 MB echo, while /health and every stream wait.
_EVENTS_PER_TURN = 512


async def _taking_turns(
    events: AsyncIterator[Event], tap: Tap | None = None
) -> AsyncGenerator[Event, None]:
    count = 0
    async for event in events:
        if tap is not None:
            tap.add("event", event)
        yield event
        count += 1
        if count % _EVENTS_PER_TURN == 0:
            await asyncio.sleep(0)


def stream_response(
    frames: AsyncIterator[bytes], content_type: str, *, tap: Tap | None = None
) -> Response:
    """A streamed body; each chunk is noted on `tap` as it is written."""
    if tap is not None:
        frames = _tapped_to_the_end(frames, tap)
    response = Response(frames, content_type=content_type, headers=_STREAM_HEADERS)
    # Quart cuts any response after RESPONSE_TIMEOUT (60 s) silently; streams may run longer.
    response.timeout = None
    return response


async def _tapped_to_the_end(frames: AsyncIterator[bytes], tap: Tap) -> AsyncIterator[bytes]:
    try:
        async for frame in tapped(frames, tap, "client"):
            yield frame
    finally:
        tap.end()


def sse_response(frames: AsyncIterator[bytes], *, tap: Tap | None = None) -> Response:
    return stream_response(frames, "text/event-stream; charset=utf-8", tap=tap)
