"""The transport under every upstream call that no cassette answers.

httpx's API stays the one seam providers, taps and cassettes meet (an
`httpx.AsyncBaseTransport`); underneath it, by default, aiohttp's connection pool and
C HTTP parser (through `httpx-aiohttp`), which cost the proxy about a third of what
httpcore and h11 do per upstream request (benchmarks/README.md has the figures).
`--upstream-transport httpx` puts httpx's own transport back.
"""

from __future__ import annotations

import httpx

from chatmock_lab.config import UPSTREAM_TRANSPORTS

# Idle connections kept per pool: enough for the proxy's default concurrency and more.
_KEEPALIVE = 64


def network_transport(kind: str = "aiohttp") -> httpx.AsyncBaseTransport:
    """A new pool of connections to upstreams (the caller closes it with `aclose`)."""
    if kind == "httpx":
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=_KEEPALIVE)
        return httpx.AsyncHTTPTransport(limits=limits)
    if kind != "aiohttp":
        raise ValueError(f"upstream transport must be one of {UPSTREAM_TRANSPORTS}, got {kind!r}")
    return _aiohttp_transport()


def _aiohttp_transport() -> httpx.AsyncBaseTransport:
    # Imported here: aiohttp takes a sixth of a second to import, which a process that
    # never calls an upstream (the mock, a replay, the notebook's magics) need not pay.
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    # The same certificates as httpx's own transport (certifi, SSL_CERT_FILE).
    ssl_context = httpx.create_ssl_context()

    def session() -> aiohttp.ClientSession:
        # Made on first use, on the loop that serves requests. No connection limit
        # (aiohttp's default is 100; the Gate bounds upstream requests), and no cookie
        # jar: the proxy sends what its providers say, nothing an upstream set for
        # another client, and a cassette's requests are what went out.
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ssl=ssl_context)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(client=session)
