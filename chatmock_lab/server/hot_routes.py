"""The chat routes of every dialect, served straight from ASGI in front of Quart.

A request through Quart costs the server about twice what the same request costs a
plain ASGI app on the same Hypercorn (a no-op app: 0.46-0.64 against 0.25-0.31 ms of
CPU, measured side by side; benchmarks/README.md): its request and context objects,
routing, sessions, signals, and a task of its own beside one that reads the body. In
front of a fast upstream that is a third of everything the proxy spends on a request.
So the calls clients make over and over (`POST` to each dialect's chat route) are served
here, by the same code Quart would run for them: the same hooks (`RequestHooks`), the
same route functions, the same error answers (`errors.response_for`). What this module
does itself is what Quart did around them: read the body within the size limit and the
body timeout, push the app context (`current_app`, `server_state()`), notice a client
that hangs up, and send the response. Every other request (other methods and paths, the
lifespan) goes to Quart unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from quart import Quart, Response
from quart.utils import encode_headers
from quart.wrappers.response import DataBody
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, RequestTimeout

from chatmock_lab.config import Settings
from chatmock_lab.server import (
    anthropic_routes,
    gemini_routes,
    ollama_routes,
    openai_routes,
    responses_routes,
)
from chatmock_lab.server.body_drain import DRAIN_BYTES, DRAIN_SECONDS
from chatmock_lab.server.dispatch import registered_tap
from chatmock_lab.server.errors import response_for
from chatmock_lab.server.inbound import HotRequest, serving
from chatmock_lab.server.request_hooks import RequestHooks
from chatmock_lab.server.state import app_state
from chatmock_lab.taps import Tap
from chatmock_lab.traffic.log import ENTRY_BYTES, ENTRY_RECORDS

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
View = Callable[[], Awaitable[Response]]

# The chat calls, by route function, with the dialect each speaks. Where they are served
# comes from Quart's own URL map (each blueprint mounted under /v1, bare, and Gemini's
# also under /v1beta), so the two ways never disagree on a path.
HOT_VIEWS: dict[Callable[..., Awaitable[Response]], str] = {
    openai_routes.chat_completions: "openai",
    responses_routes.create_response: "responses",
    anthropic_routes.messages: "anthropic",
    ollama_routes.chat: "ollama",
    ollama_routes.generate: "ollama",
    # `models/<path:target>`: the model and the call named in the path.
    gemini_routes.model_method: "gemini",
}


class _RouteTable:
    """`POST` paths of the hot views: exact ones, and prefixes of a trailing `<path:...>`;
    each with its view and the view's dialect."""

    def __init__(self, app: Quart, views: dict[Callable[..., Awaitable[Response]], str]):
        self.exact: dict[str, tuple[View, str]] = {}
        self.prefixed: list[tuple[str, Callable[[str], Awaitable[Response]], str]] = []
        for rule in app.url_map.iter_rules():
            view = app.view_functions.get(rule.endpoint)
            if view not in views or "POST" not in (rule.methods or ()):
                continue
            if not rule.arguments:
                self.exact[rule.rule] = (view, views[view])
            elif len(rule.arguments) == 1 and rule.rule.endswith(">") and "<path:" in rule.rule:
                self.prefixed.append((rule.rule.split("<", 1)[0], view, views[view]))
            else:
                raise ValueError(f"hot route {rule.rule!r}: only one trailing <path:> argument")

    def view_for(self, path: str) -> tuple[View, str] | None:
        found = self.exact.get(path)
        if found is not None:
            return found
        for prefix, prefixed, dialect in self.prefixed:
            if path.startswith(prefix) and len(path) > len(prefix):
                return functools.partial(prefixed, path[len(prefix) :]), dialect
        return None


class _ClientGone(Exception):
    """The client hung up before its body had arrived: nothing to answer."""


class HotRoutes:
    """ASGI middleware serving `HOT_VIEWS` itself and passing everything else to `inner`
    (made after the app's blueprints are registered: it reads their paths)."""

    def __init__(self, app: Quart, inner: ASGIApp, hooks: RequestHooks, settings: Settings):
        self.app = app
        self._routes = _RouteTable(app, HOT_VIEWS)
        self.inner = inner
        self.hooks = hooks
        self._max_body = settings.max_body_bytes
        self._body_timeout = settings.body_timeout
        # The app's traffic log (None with --no-ui and no --history), made with its state.
        self._traffic = app_state(app).traffic

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = None
        if scope["type"] == "http" and scope["method"] == "POST":
            found = self._routes.view_for(scope["path"])
        if found is None:
            await self.inner(scope, receive, send)
            return
        view, dialect = found
        request = HotRequest(scope)
        async with self.app.app_context():
            with serving(request):
                failure: HTTPException | None = None
                try:
                    request.body = await self._read_body(request, receive)
                except _ClientGone:
                    return
                except HTTPException as exc:  # a 413 or a 408, answered after the hooks
                    failure = exc
                traffic = self._traffic
                if traffic is None:
                    await _watched(self._respond(view, failure, send, request), receive)
                    return
                # Every chat request on the traffic page, with its own tap (or the one a
                # notebook registered for it: both see the same records).
                request.tap = registered_tap(request) or Tap(
                    max_bytes=ENTRY_BYTES, max_records=ENTRY_RECORDS
                )
                entry = traffic.begin(
                    request.method, request.path, dialect, request.body, request.tap
                )
                request.traffic = entry
                try:
                    await _watched(self._respond(view, failure, send, request), receive)
                finally:
                    traffic.finish(entry)

    async def _respond(
        self, view: View, failure: HTTPException | None, send: Any, request: HotRequest
    ) -> None:
        try:
            response = await self.hooks.before()
            if response is None:
                if failure is not None:
                    raise failure
                response = await view()
        except Exception as exc:
            response = response_for(exc)
        response = await self.hooks.after(response)
        if request.traffic is not None:
            request.traffic.status = response.status_code
            request.traffic.streamed = not isinstance(response.response, DataBody)
        await _send(response, send)

    async def _read_body(self, request: HotRequest, receive: Any) -> bytes:
        """The whole body, as Quart would give it to the route: a 413 beyond the limit
        (after reading what is worth reading, so the client hears it: body_drain.py),
        a 408 when it takes longer than the body timeout."""
        declared = request.headers.get("content-length", "")
        length = int(declared) if declared.isdigit() else None
        if length is not None and length > self._max_body:
            if length <= DRAIN_BYTES:
                await _drain(receive)
            raise RequestEntityTooLarge()
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _ClientGone
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    more = message.get("more_body", False)
                    if size > self._max_body:
                        if more:
                            await _drain(receive, size)
                        raise RequestEntityTooLarge()
                    chunks.append(chunk)
                    if not more:
                        return b"".join(chunks)
        except TimeoutError:
            raise RequestTimeout() from None


async def _watched(answer: Coroutine[Any, Any, None], receive: Any) -> None:
    """Run `answer` in this task; a client that hangs up meanwhile cancels it (and with it
    the provider's stream and Gate permit), as Quart does its routes."""
    handler = asyncio.current_task()
    assert handler is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        handler.cancel()

    watcher = asyncio.ensure_future(watch())
    try:
        await answer
    except asyncio.CancelledError:
        if not gone:
            raise  # the server's own cancellation (a shutdown)
    finally:
        # No await here: a watcher cancelled now can no longer cancel this task.
        watcher.cancel()
        if gone:
            handler.uncancel()


async def _send(response: Response, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": encode_headers(response.headers),
        }
    )
    body = response.response
    if isinstance(body, DataBody):
        # A whole body in one message: one write, not a second for the end.
        await send({"type": "http.response.body", "body": body.data, "more_body": False})
        return
    async with body as frames:
        async for data in frames:
            chunk = data.encode() if isinstance(data, str) else data
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _drain(receive: Any, received: int = 0) -> None:
    """Read and drop the rest of a body within body_drain's bounds."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while received <= DRAIN_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
