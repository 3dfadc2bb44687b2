"""The live traffic page: `/_chatmock/`, its files, and the JSON and event stream it reads.

Everything the page needs is served from the package (no CDN, no build step): one HTML
file, one script, one style sheet. It lists the recent chat requests and, for the one
selected, its rows (`chatmock_lab.traffic`). Updates come over Server-Sent Events:
`begin` and `end` of each request, and `update` while a request is in flight (at most
every quarter second). Behind `--api-key` like the API (a browser passes it as `?key=`,
which the page carries on to every call); off with `--no-ui`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from importlib import resources

from quart import Blueprint, Response

from chatmock_lab.core import ProxyError
from chatmock_lab.server.responses import json_response, sse_response
from chatmock_lab.server.state import server_state
from chatmock_lab.sse import comment_frame, encode_frame
from chatmock_lab.traffic import TrafficLog
from chatmock_lab.traffic.log import Told

blueprint = Blueprint("traffic", __name__)

# How often an open page hears about requests still in flight, at most.
UPDATE_SECONDS = 0.25
# A comment this often keeps proxies between the page and the server from closing it.
_KEEPALIVE_SECONDS = 15.0
_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
# The page loads only its own files and talks only to this server.
_PAGE_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; base-uri 'none';"
    " form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "cache-control": "no-cache",
}


def _page_file(name: str) -> str:
    return (resources.files("chatmock_lab.traffic") / "page" / name).read_text("utf-8")


def _traffic() -> TrafficLog:
    state = server_state()
    if not state.settings.ui or state.traffic is None:
        raise ProxyError(
            "The traffic page is off (the server was started with --no-ui)", kind="not_found"
        )
    return state.traffic


@blueprint.get("/_chatmock/")
async def page() -> Response:
    _traffic()
    return Response(
        _page_file("index.html"), content_type="text/html; charset=utf-8", headers=_PAGE_HEADERS
    )


@blueprint.get("/_chatmock/static/<name>")
async def static_file(name: str) -> Response:
    _traffic()
    if name not in _FILES:
        raise ProxyError(f"No such file of the traffic page: {name}", kind="not_found")
    return Response(_page_file(name), content_type=_FILES[name], headers=_PAGE_HEADERS)


@blueprint.get("/_chatmock/api/requests")
async def requests() -> Response:
    traffic = _traffic()
    summaries = [entry.record(traffic.redactor).summary() for entry in traffic.entries()]
    return json_response({"requests": summaries})


@blueprint.get("/_chatmock/api/requests/<int:entry_id>")
async def request_detail(entry_id: int) -> Response:
    traffic = _traffic()
    entry = traffic.get(entry_id)
    if entry is None:
        raise ProxyError(
            f"No request {entry_id} in the traffic log (it keeps the newest {traffic.limit})",
            kind="not_found",
        )
    return json_response(dataclasses.asdict(entry.record(traffic.redactor)))


@blueprint.get("/_chatmock/api/events")
async def events() -> Response:
    traffic = _traffic()
    return sse_response(_event_frames(traffic))


async def _event_frames(traffic: TrafficLog) -> AsyncIterator[bytes]:
    queue = traffic.subscribe()
    # How many records each in-flight request had when the page last heard of it.
    seen: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    # Updates by the clock, not after a quiet spell: requests that begin and end more
    # often than the interval must not hold back those of one still in flight.
    next_update = last_sent = loop.time()
    try:
        yield b"retry: 1000\n\n"
        while True:
            told: list[Told | None] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_update):
                    told.append(await queue.get())
            now = loop.time()
            due = now >= next_update
            if due:
                # What is queued goes first, so that a request's update never comes
                # before its begin, nor after its end.
                while not queue.empty():
                    told.append(queue.get_nowait())
            if None in told:
                return  # the server is stopping
            frames = [_told_frame(item, seen) for item in told if item is not None]
            if due:
                next_update = now + UPDATE_SECONDS
                frames += _updates(traffic, seen)
                if not frames and now - last_sent >= _KEEPALIVE_SECONDS:
                    frames.append(comment_frame("keep-alive"))
            if frames:
                last_sent = now
                yield b"".join(frames)
    finally:
        traffic.unsubscribe(queue)


def _told_frame(item: Told, seen: dict[int, int]) -> bytes:
    kind, summary = item
    if kind == "end":
        seen.pop(summary["id"], None)
    return encode_frame(summary, event=kind)


def _updates(traffic: TrafficLog, seen: dict[int, int]) -> list[bytes]:
    frames = []
    for entry in traffic.in_flight():
        count = len(entry.tap.records)
        if seen.get(entry.id) != count:
            seen[entry.id] = count
            frames.append(encode_frame(entry.record(traffic.redactor).summary(), event="update"))
    return frames
