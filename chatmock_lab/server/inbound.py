"""The request being served, whoever parsed it: Quart, or the hot routes (hot_routes.py).

The chat routes are served straight from ASGI, without Quart's request machinery (about
a third of what serving a request costs the proxy); every other route is Quart's. The
code both share (dispatch, errors, the browser guard, the hooks) reads the request
through `current_request()`, which is the hot routes' `HotRequest` while one of them
serves, else Quart's own request object. Both offer what `InboundRequest` lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import parse_qsl

import werkzeug.urls  # noqa: F401 (registers the "werkzeug.url_quote" codec error handler)
from quart import request as _quart_request
from werkzeug.datastructures import Headers, ImmutableMultiDict, MultiDict

from chatmock_lab.taps import Tap
from chatmock_lab.traffic import TrafficEntry


class InboundRequest(Protocol):
    """What the shared code reads of a request (a subset of Quart's `Request`)."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def full_path(self) -> str: ...

    @property
    def headers(self) -> Headers: ...

    @property
    def args(self) -> MultiDict[str, str]: ...


class HotRequest:
    """A request the hot routes serve: what its ASGI scope says, and its whole body (read
    before the route runs). Headers, query parameters and the full path as Quart's
    request gives them."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope["query_string"]
        self.body = b""  # read by the hot routes before the route runs
        # Where its traffic is copied (the traffic log's entry, or a notebook's tap).
        self.tap: Tap | None = None
        self.traffic: TrafficEntry | None = None
        # Names as sent (lower case from Hypercorn); werkzeug's Headers look up any case.
        self.headers = Headers(
            [(k.decode("latin1"), v.decode("latin1")) for k, v in scope["headers"]]
        )

    @cached_property
    def args(self) -> MultiDict[str, str]:
        # Werkzeug's own parsing, so that odd queries read as on Quart's routes.
        pairs = parse_qsl(
            self.query_string.decode(), keep_blank_values=True, errors="werkzeug.url_quote"
        )
        return ImmutableMultiDict(pairs)

    @cached_property
    def full_path(self) -> str:
        return f"{self.path}?{self.query_string.decode()}"


_hot: ContextVar[HotRequest | None] = ContextVar("chatmock_lab.hot_request", default=None)


def current_request() -> InboundRequest:
    """The request the current task is serving."""
    hot = _hot.get()
    if hot is not None:
        return hot
    return _quart_request._get_current_object()  # type: ignore[attr-defined]


async def request_body(*, keep: bool = False) -> bytes:
    """The current request's body (Quart's read now, and kept for a later read if `keep`)."""
    hot = _hot.get()
    if hot is not None:
        return hot.body
    data = await _quart_request.get_data(cache=keep)
    return data if isinstance(data, bytes) else data.encode()


@contextmanager
def serving(request: HotRequest) -> Iterator[None]:
    """`request` is the current request inside the block (for the hot routes)."""
    token = _hot.set(request)
    try:
        yield
    finally:
        _hot.reset(token)
