"""Keeping web pages out: a proxy on loopback that holds the user's accounts must not
be drivable by whatever site the user's browser has open.

Two attacks, two checks, before any route runs:

- **DNS rebinding**: a page on `attacker.example` re-points its name at 127.0.0.1 and
  then reads the proxy's answers as same-origin. Its requests carry `Host:
  attacker.example`, so a request is served only when its Host is the proxy's own: an
  IP address (rebinding needs a name), `localhost` or a `.localhost` name, the bound
  host, or an `--allowed-host` value.
- **Cross-site requests**: a page can send a "simple" `POST` (`text/plain`, form types)
  without a preflight, and the proxy would run it even though the page cannot read the
  answer. A request whose `Origin` is not allowed (`--cors-origin`) is refused, and so
  is a body in a form or plain-text content type, which no API client sends.

Allowed origins get CORS headers and their preflights answered. Errors are the
caller's dialect's 403 or 415, with a message saying what to change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from quart import Response

from chatmock_lab.core import ProxyError
from chatmock_lab.server.inbound import current_request

# What a browser may send cross-site without asking first (the CORS "simple" types).
_FORM_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ALLOWED_HEADERS = (
    "authorization, content-type, x-api-key, x-goog-api-key, x-goog-api-client,"
    " anthropic-version, anthropic-beta, x-chatmock-tap, x-chatmock-chaos, x-stainless-*"
)


def host_name(header: str) -> str:
    """The name in a Host header, without its port (`[::1]:8000` -> `::1`)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    name, _, port = header.rpartition(":")
    return name if name and port.isdigit() else header


def is_own_host(name: str, bound: str, allowed: Iterable[str]) -> bool:
    if not name or name in {h.lower() for h in allowed} or name == bound.lower():
        return True
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class BrowserGuard:
    """The two checks, run by the app's one before-request hook (`check`), and the CORS
    headers added by its one after-request hook (`add_cors`)."""

    def __init__(
        self, *, bound_host: str, allowed_hosts: Iterable[str], cors_origins: Iterable[str]
    ) -> None:
        self.bound_host = bound_host
        self.allowed_hosts = tuple(allowed_hosts)
        self.origins = frozenset(o.rstrip("/") for o in cors_origins)

    def _origin_allowed(self, origin: str) -> bool:
        return "*" in self.origins or origin.rstrip("/") in self.origins

    def check(self) -> Response | None:
        """None to go on with the request, a preflight's answer, or `ProxyError`."""
        request = current_request()
        headers = request.headers
        host = headers.get("host", "")
        if not is_own_host(host_name(host), self.bound_host, self.allowed_hosts):
            raise ProxyError(
                f"Host {host_name(host)!r} is not this proxy's: requests must name it by"
                " address or localhost (a DNS-rebinding page names it otherwise); add"
                " --allowed-host NAME to serve that name",
                kind="permission",
            )
        origin = headers.get("origin")
        if origin is not None and origin != "null" and self._origin_allowed(origin):
            if request.method == "OPTIONS":
                return _preflight(origin)
            return None
        if request.method in _SAFE_METHODS:
            return None
        if origin is not None:
            raise ProxyError(
                f"Cross-site request from {origin!r} refused: start the proxy with"
                f" --cors-origin {origin} to let that page use it",
                kind="permission",
            )
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type in _FORM_TYPES:
            raise ProxyError(
                f"Content-Type {content_type!r} is what a web page can send cross-site;"
                " send the body as Content-Type: application/json",
                status=415,
            )
        return None

    def add_cors(self, response: Response) -> None:
        if not self.origins:
            return
        origin = current_request().headers.get("origin")
        if origin is not None and self._origin_allowed(origin):
            response.headers["access-control-allow-origin"] = "*" if "*" in self.origins else origin
            response.headers["vary"] = "Origin"


def _preflight(origin: str) -> Response:
    response = Response("", status=204)
    response.headers["access-control-allow-methods"] = "GET, POST, DELETE, OPTIONS"
    response.headers["access-control-allow-headers"] = (
        current_request().headers.get("access-control-request-headers") or _ALLOWED_HEADERS
    )
    response.headers["access-control-max-age"] = "600"
    return response
