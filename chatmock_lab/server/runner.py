"""Running the app with Hypercorn: in the foreground (the CLI) or on a background thread
with its own event loop (tests, notebooks), always with an explicit shutdown trigger.

The listening socket is bound before Hypercorn starts, so `port=0` yields a known
free port at once and the caller can print or return the URL before serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import signal
import socket
import threading
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from chatmock_lab.config import Settings
from chatmock_lab.server import connection_watch
from chatmock_lab.server.app import create_app
from chatmock_lab.server.state import find_state

logger = logging.getLogger(__name__)

_IDLE_SECONDS = 5.0
_MAX_HEAD_BYTES = 16 * 1024


def bind_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    # Lets a restarted server take its port back while old connections sit in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        # Listening from here on: the URL is printed before Hypercorn (or the workers)
        # take the socket, and a client that read it must be queued, not refused.
        sock.listen(Config.backlog)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _hypercorn_config(sock: socket.socket, settings: Settings) -> Config:
    config = Config()
    # Hypercorn takes ownership of the descriptor; detaching keeps our object from closing it too.
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = logging.getLogger("chatmock_lab.access") if settings.verbose else None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 2.0
    # A slow client cannot hold the server: an idle connection, and one whose request
    # headers are not complete, is closed after this long (the request body has its own
    # bound, --body-timeout, and headers theirs in size, h11_max_incomplete_size).
    config.keep_alive_timeout = _IDLE_SECONDS
    config.h11_max_incomplete_size = _MAX_HEAD_BYTES
    # No timeout on reads while a request is answered: a client streaming a long answer
    # sends nothing meanwhile, and must not be cut off for it.
    config.read_timeout = None
    return config


async def serve_until(
    app: Quart, sock: socket.socket, settings: Settings, stop: asyncio.Event
) -> None:
    connection_watch.install()

    async def stopping() -> None:
        await stop.wait()
        # The traffic page's event streams would hold the graceful shutdown to its end.
        state = find_state(app)
        if state is not None and state.traffic is not None:
            state.traffic.end_subscriptions()

    await serve(app, _hypercorn_config(sock, settings), shutdown_trigger=stopping)


def run_foreground(app: Quart, settings: Settings, *, announce: bool = True) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly."""
    sock = bind_socket(settings.host, settings.port)
    url = url_of(sock)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if announce:
            print(f"chatmock-lab serving {url} (provider: {settings.provider})", flush=True)
        await serve_until(app, sock, settings, stop)

    run_fast(main())
    if announce:
        print("chatmock-lab stopped", flush=True)


def configure_logging(settings: Settings, redacting: logging.Filter, *, who: str = "") -> None:
    """Logging for a serving process: INFO (DEBUG with --verbose), `who` in each line
    (a worker's number), every handler masking this server's secrets."""
    prefix = f"{who} " if who else ""
    logging.basicConfig(
        level=logging.DEBUG if settings.verbose else logging.INFO,
        format=f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s",
    )
    if not settings.verbose:
        # httpx notes every upstream request at INFO; that is verbose-mode material.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    # Whatever any library logs, this server's secrets are masked on the way out.
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """`main` on uvloop where it is installed (not on Windows): the same server does
    about a fifth more requests per second (benchmarks/README.md). The background
    server too: its loop is its own, in its own thread, whatever loop the caller runs
    (a kernel's, a test's); a replay through the pytest plugin takes a tenth less."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


class BackgroundServer:
    """The app served on its own thread and event loop, never the caller's loop, so
    synchronous clients in the calling thread (a notebook cell, a test) work."""

    def __init__(self, settings: Settings | None = None, app: Quart | None = None) -> None:
        self.settings = settings or Settings(port=0)
        self.app = app if app is not None else create_app(self.settings)
        self.url: str = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._ready = threading.Event()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        if self._thread is not None:
            raise RuntimeError("this server is already running")
        sock = bind_socket(self.settings.host, self.settings.port)
        self.url = url_of(sock)
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"chatmock-lab {self.url}", daemon=True
        )
        self._thread.start()
        self._wait_ready(timeout)
        return self

    def _run(self, sock: socket.socket) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await serve_until(self.app, sock, self.settings, self._stop)

        try:
            run_fast(main())
        except BaseException as exc:
            self._failure = exc
            self._ready.set()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._ready.wait(timeout)
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        while time.monotonic() < deadline:
            if self._failure is not None:
                raise RuntimeError(f"the server failed to start: {self._failure!r}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=1)
                try:
                    connection.request("GET", "/health")
                    if connection.getresponse().status == 200:
                        return
                finally:
                    connection.close()
            time.sleep(0.01)
        self.stop()
        raise TimeoutError(f"the server at {self.url} was not ready within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"the server at {self.url} did not stop within {timeout} s")
        self._thread = self._loop = self._stop = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> BackgroundServer:
        return self.start() if self._thread is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
