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
import dataclasses
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from quart import Blueprint, Response

from chatmock_lab import json_codec
from chatmock_lab.core import ProxyError
from chatmock_lab.server.responses import json_response, sse_response
from chatmock_lab.server.state import server_state
from chatmock_lab.traffic import TrafficLog

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
    quiet = 0.0
    try:
        yield b"retry: 1000\n\n"
        while True:
            try:
                async with asyncio.timeout(UPDATE_SECONDS):
                    item = await queue.get()
            except TimeoutError:
                frames = _updates(traffic, seen)
                quiet = 0.0 if frames else quiet + UPDATE_SECONDS
                if quiet >= _KEEPALIVE_SECONDS:
                    quiet = 0.0
                    frames.append(b": keep-alive\n\n")
                if frames:
                    yield b"".join(frames)
                continue
            if item is None:
                return  # the server is stopping
            kind, summary = item
            if kind == "end":
                seen.pop(summary["id"], None)
            yield _frame(kind, summary)
    finally:
        traffic.unsubscribe(queue)


def _updates(traffic: TrafficLog, seen: dict[int, int]) -> list[bytes]:
    frames = []
    for entry in traffic.in_flight():
        count = len(entry.tap.records)
        if seen.get(entry.id) != count:
            seen[entry.id] = count
            frames.append(_frame("update", entry.record(traffic.redactor).summary()))
    return frames


def _frame(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json_codec.dumps(data)}\n\n".encode()
