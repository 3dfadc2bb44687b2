"""The life of a fake server: started on a loopback port on its own thread, stopped, and
usable as a context manager. Each fake provides `app` and `port` and may hook in."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

from quart import Quart

from chatmock_lab.config import Settings
from chatmock_lab.server.runner import BackgroundServer

_Fake = TypeVar("_Fake", bound="FakeServer")


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
