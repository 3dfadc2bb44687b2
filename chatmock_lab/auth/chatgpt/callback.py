"""The loopback server the browser comes back to after signing in, and the pages it shows.

The browser login sends the user to the auth server with a `redirect_uri` on this machine;
the auth server then redirects the browser to `/auth/callback?code=..&state=..` here, and
the page the browser gets says how the login ended. Codex's own server is
`codex-rs/login/src/server.rs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chatmock_lab.auth.chatgpt._wire import DENIED_CODES, clip
from chatmock_lab.auth.chatgpt.endpoints import CALLBACK_PATH, DEFAULT_PORT
from chatmock_lab.auth.chatgpt.errors import LoginError
from chatmock_lab.redact import redactor

__all__ = ["CallbackServer"]

logger = logging.getLogger(__name__)

# A browser sends one short request; anything slower or bigger is not one.
_REQUEST_READ_TIMEOUT = 10.0
_MAX_REQUEST_BYTES = 16 * 1024
# How long the browser's request waits for the token exchange before it gets a page.
_OUTCOME_TIMEOUT = 60.0
_CLOSE_GRACE = 1.0


class CallbackServer:
    """The loopback server the browser comes back to, bound to 127.0.0.1 only.

    A plain `asyncio.start_server` with a minimal HTTP/1.1 handler: it serves one GET on
    the login's own event loop, so the code reaches the waiting login without threads, and
    it needs no ASGI stack or shutdown plumbing the way Hypercorn and Quart would.

    A callback whose `state` is missing or wrong gets a 400 page and the server keeps
    waiting: any local program or stale browser tab can hit this port, and none of them
    should be able to abort the login. A callback with the right state ends the wait,
    with the code, or with a `LoginError` when it carries `error=` (the user declined)
    or no code. The browser's request is answered once the login reports how the token
    exchange went (`finish`), so its page tells the truth.
    """

    def __init__(
        self,
        *,
        state: str,
        port: int = DEFAULT_PORT,
        host: str = "127.0.0.1",
        path: str = CALLBACK_PATH,
    ) -> None:
        self._state = state.encode()
        self._host = host
        self._requested_port = port
        self._path = path
        self._server: asyncio.Server | None = None
        self._code: asyncio.Future[str] | None = None
        self._outcome: asyncio.Future[str | None] | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self.port = port

    def __repr__(self) -> str:
        return f"CallbackServer(host={self._host!r}, port={self.port})"

    @property
    def redirect_uri(self) -> str:
        # "localhost", not 127.0.0.1: it is the form registered for Codex's client.
        return f"http://localhost:{self.port}{self._path}"

    async def start(self) -> CallbackServer:
        """Listen (port 0 picks a free one; `port` then tells which); a port in use is a
        `LoginError` that suggests the device-code login."""
        loop = asyncio.get_running_loop()
        self._code = loop.create_future()
        self._outcome = loop.create_future()
        try:
            self._server = await asyncio.start_server(
                self._serve, self._host, self._requested_port, limit=_MAX_REQUEST_BYTES
            )
        except OSError as exc:
            raise LoginError(
                f"cannot listen on {self._host}:{self._requested_port} for the browser to "
                f"come back ({exc.strerror}); is another login running? The device-code "
                "login needs no port."
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def wait_for_code(self, timeout: float) -> str:
        """The authorization code the browser brought back."""
        if self._code is None:
            raise RuntimeError("the callback server is not started")
        try:
            return await asyncio.wait_for(asyncio.shield(self._code), timeout)
        except TimeoutError:
            raise LoginError(
                f"no sign-in came back from the browser within {timeout:g} s; run the login again"
            ) from None

    def finish(self, error: str | None = None) -> None:
        """Report how the login ended, for the page the browser is waiting for."""
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(error)

    async def close(self) -> None:
        """Stop listening; a browser already answered gets its page first (briefly)."""
        self.finish("The login was cancelled before it completed.")
        if self._code is not None and not self._code.done():
            self._code.cancel()
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._handlers:
            # Let an answered browser receive its page; connections that never sent a
            # request (browsers open spare ones) are not worth waiting for.
            _, idle = await asyncio.wait(set(self._handlers), timeout=_CLOSE_GRACE)
            for task in idle:
                task.cancel()
            if idle:
                await asyncio.wait(idle, timeout=_CLOSE_GRACE)
        await server.wait_closed()

    async def __aenter__(self) -> CallbackServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            method, status, page = await self._answer(reader)
            await _write_page(writer, status, page, head_only=method == "HEAD")
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            # A client that hung up, dawdled or sent garbage: nothing to answer.
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._handlers.discard(task)

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[str, int, str]:
        request_line = await asyncio.wait_for(reader.readline(), _REQUEST_READ_TIMEOUT)
        await asyncio.wait_for(_skip_headers(reader), _REQUEST_READ_TIMEOUT)
        parts = request_line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return "", 400, _page("Bad request", "This server only answers the ChatGPT login.")
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            return method, 405, _page("Method not allowed", "Only GET is served here.")
        url = urlsplit(target)
        if url.path != self._path:
            return method, 404, _page("Not found", "This server only answers the ChatGPT login.")
        params = {key: values[0] for key, values in parse_qs(url.query).items()}
        status, page = await self._callback(params)
        return method, status, page

    async def _callback(self, params: dict[str, str]) -> tuple[int, str]:
        code_future, outcome = self._code, self._outcome
        if code_future is None or outcome is None:
            raise RuntimeError("the callback server is not started")
        state = params.get("state", "").encode()
        if not hmac.compare_digest(state, self._state):
            logger.warning("refused a login callback with a missing or wrong state")
            return 400, _page(
                "Sign-in link mismatch",
                "This answer does not belong to the login in progress, so it was ignored. "
                "Use the link chatmock-lab printed for this login.",
            )
        if code_future.done():
            return 409, _page("Already done", "This login has already finished.")
        error = params.get("error")
        if error:
            message = _callback_error_message(error, params.get("error_description"))
            code_future.set_exception(LoginError(message))
            return 400, _page("Sign-in failed", message)
        code = params.get("code")
        if not code:
            message = "the browser came back without an authorization code"
            code_future.set_exception(LoginError(message))
            return 400, _page("Sign-in failed", message)
        redactor.add(code)
        code_future.set_result(code)
        try:
            failure = await asyncio.wait_for(asyncio.shield(outcome), _OUTCOME_TIMEOUT)
        except TimeoutError:
            return 504, _page("Still working", "Check the terminal for the login's outcome.")
        if failure is not None:
            return 500, _page("Sign-in failed", failure)
        return 200, _page(
            "Signed in to ChatGPT", "chatmock-lab has your login. You can close this window."
        )


def _callback_error_message(error: str, description: str | None) -> str:
    if error in DENIED_CODES:
        reason = "the sign-in was declined"
    else:
        reason = f"the sign-in failed ({clip(error)})"
    if description and description.strip():
        return f"{reason}: {clip(redactor.text(description))}"
    return reason


async def _skip_headers(reader: asyncio.StreamReader) -> None:
    total = 0
    while True:
        line = await reader.readline()
        total += len(line)
        if total > _MAX_REQUEST_BYTES:
            raise ValueError("request headers too large")
        if line in (b"\r\n", b"\n", b""):
            return


# The pages

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    504: "Gateway Timeout",
}


async def _write_page(
    writer: asyncio.StreamWriter, status: int, page: str, *, head_only: bool
) -> None:
    body = page.encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        # The page's URL carries the code; it must not travel on as a Referer.
        "Referrer-Policy: no-referrer\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    writer.write(head if head_only else head + body)
    await writer.drain()


def _page(title: str, message: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · chatmock-lab</title></head>"
        "<body style='font-family: sans-serif; max-width: 36em; margin: 4em auto'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
