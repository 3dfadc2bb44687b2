"""The HTTP clients auth code reaches auth servers with, and the transport seam they share.

Auth traffic (logins, token refreshes, Copilot token exchanges, usage) is never recorded
to a cassette: it carries the very secrets a cassette must not hold, and a replay needs
none of it (`auth/stand_ins.py`). It shares only the injection seam with the upstream
clients: every login entry point and credentials class takes an optional
`httpx.AsyncBaseTransport` (a test's `httpx.MockTransport`, say) and builds its clients
here, as `httpx.AsyncClient(timeout=30.0, transport=...)`.

A transport passed in belongs to the caller: the clients built on it never close it, so
one transport can serve every refresh of a long-lived credentials object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

__all__ = ["AUTH_TIMEOUT", "ClientFactory", "auth_client", "client_factory", "client_for"]

AUTH_TIMEOUT = 30.0

ClientFactory = Callable[[], httpx.AsyncClient]


def auth_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A new client for auth calls: `transport` when given (left open when the client
    closes), else httpx's own connection pool."""
    return httpx.AsyncClient(
        timeout=AUTH_TIMEOUT, transport=None if transport is None else _Borrowed(transport)
    )


def client_factory(
    http_factory: ClientFactory | None, transport: httpx.AsyncBaseTransport | None
) -> ClientFactory:
    """What a credentials class builds its clients with: the caller's `http_factory`, or
    `auth_client` on `transport`. Raises TypeError when both are given."""
    if http_factory is not None:
        if transport is not None:
            raise TypeError("give http_factory or transport, not both")
        return http_factory
    return lambda: auth_client(transport)


@asynccontextmanager
async def client_for(
    http: httpx.AsyncClient | None, transport: httpx.AsyncBaseTransport | None
) -> AsyncIterator[httpx.AsyncClient]:
    """The client a login entry point uses: the caller's `http` as is (the caller closes
    it), else one of its own on `transport`, closed on the way out. Raises TypeError when
    both are given."""
    if http is not None:
        if transport is not None:
            raise TypeError("give http or transport, not both")
        yield http
        return
    async with auth_client(transport) as client:
        yield client


class _Borrowed(httpx.AsyncBaseTransport):
    """`transport` behind a client that does not own it: closing the client leaves it open."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"_Borrowed({self._transport!r})"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        # The caller that passed the transport in closes it when it is done with it.
        return None
