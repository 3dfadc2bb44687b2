"""The life of a fake server: started on a loopback port on its own thread, stopped, and
usable as a context manager. Each fake provides `app` and `port` and may hook in."""

from __future__ import annotations

import dataclasses
import logging
from types import TracebackType
from typing import Any, TypeVar

from quart import Quart

from chatmock_lab.config import Settings
from chatmock_lab.server.runner import BackgroundServer

_Fake = TypeVar("_Fake", bound="FakeServer")


_Reply = TypeVar("_Reply")


class DroppedConnection(Exception):
    """Raised inside a response body on purpose: Hypercorn then closes the socket
    without the final empty chunk, which is what a crashed upstream looks like."""


class _QuietDrops(logging.Filter):
    # A deliberate drop is the scenario under test, not a server fault worth a traceback.
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


_quiet_drops = _QuietDrops()


def quiet_deliberate_drops() -> None:
    """Keep the tracebacks of `DroppedConnection` out of Hypercorn's error log."""
    error_log = logging.getLogger("hypercorn.error")
    if _quiet_drops not in error_log.filters:
        error_log.addFilter(_quiet_drops)


def scripted_reply(kind: type[_Reply], reply: _Reply | None, fields: dict[str, Any]) -> _Reply:
    """A fake's scripted reply: `reply` as given, or built from `fields`, or `reply` with
    `fields` overriding some of its values."""
    if reply is None:
        return kind(**fields)
    return dataclasses.replace(reply, **fields) if fields else reply  # type: ignore[type-var]


def fake_app(import_name: str) -> Quart:
    """A Quart app for a fake upstream: no response or body timeouts (fake streams and
    held requests may last long), and `GET /health` for the runner's readiness poll."""
    app = Quart(import_name)
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["BODY_TIMEOUT"] = None

    @app.get("/health")
    async def _health() -> dict[str, str]:
        return {"status": "ok"}

    return app


class FakeServer:
    app: Quart
    port: int
    _server: BackgroundServer | None = None

    def _before_start(self) -> None:
        """Called before the server starts."""

    def _before_stop(self) -> None:
        """Called before the server stops (release whatever would hold its shutdown)."""

    def start(self: _Fake) -> _Fake:
        if self._server is not None:
            raise RuntimeError(f"this {type(self).__name__} is already running")
        self._before_start()
        self._server = BackgroundServer(Settings(port=self.port), app=self.app).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            self._before_stop()
            server.stop()

    def __enter__(self: _Fake) -> _Fake:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Where the fake listens, `http://127.0.0.1:PORT`."""
        if self._server is None:
            raise RuntimeError(f"the {type(self).__name__} is not running; call start() first")
        return self._server.url
