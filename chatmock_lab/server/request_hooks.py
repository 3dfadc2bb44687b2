"""What runs before and after every request's route, on Quart's routes and the hot ones.

Before: the browser guard's checks (first, so that a refused page's request touches
nothing else), the request's tap, the proxy key, verbose logging. After: the count of
requests served, the tap's copy of a whole body, verbose logging, CORS headers. Each
does only what the settings need: this runs on every request.
"""

from __future__ import annotations

import hmac
import logging

from quart import Response
from quart.wrappers.response import DataBody

from chatmock_lab.config import Settings
from chatmock_lab.core import ProxyError
from chatmock_lab.redact import Redactor
from chatmock_lab.server.browser_guard import BrowserGuard
from chatmock_lab.server.dispatch import request_tap
from chatmock_lab.server.inbound import InboundRequest, current_request, request_body
from chatmock_lab.server.state import server_state

logger = logging.getLogger(__name__)

# Reachable without the proxy key: liveness checks.
_OPEN_PATHS = frozenset({"/", "/health"})


def _presented_key(request: InboundRequest) -> str:
    """The key a client sent, in whichever of its dialect's places it put it."""
    authorization = request.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer" and credential:
        return credential.strip()
    for header in ("x-api-key", "x-goog-api-key"):
        if request.headers.get(header):
            return request.headers[header]
    return request.args.get("key", "")


class RequestHooks:
    def __init__(self, settings: Settings, redactor: Redactor) -> None:
        self.guard = BrowserGuard(
            bound_host=settings.host,
            allowed_hosts=settings.allowed_hosts,
            cors_origins=settings.cors_origins,
        )
        self._key = settings.api_key
        self._verbose = settings.verbose
        self._redactor = redactor

    async def before(self) -> Response | None:
        """None to go on to the route, or the answer instead (a preflight's); raises
        `ProxyError` to refuse."""
        preflight = self.guard.check()
        if preflight is not None:
            return preflight
        request = current_request()
        tap = request_tap()
        if tap is not None:
            tap.begin()
        if (
            self._key is not None
            and request.path not in _OPEN_PATHS
            and not hmac.compare_digest(_presented_key(request).encode(), self._key.encode())
        ):
            raise ProxyError(
                "Missing or wrong proxy key: send the --api-key value as a bearer token,"
                " x-api-key, x-goog-api-key or ?key=",
                kind="authentication",
            )
        if self._verbose and logger.isEnabledFor(logging.DEBUG):
            self._redactor.add_from_headers(dict(request.headers))
            body = (await request_body(keep=True)).decode("utf-8", errors="replace")
            logger.debug(
                "%s %s headers=%s body=%s",
                request.method,
                request.full_path.rstrip("?"),
                self._redactor.headers(dict(request.headers)),
                self._redactor.text(body[:65536]) or "-",
            )
        return None

    async def after(self, response: Response) -> Response:
        server_state().requests_served += 1
        tap = request_tap()
        if tap is not None and isinstance(response.response, DataBody):
            # A whole body (JSON, or an error) is one chunk; streams note their own.
            tap.add("client", await response.get_data(as_text=False))
            tap.end()
        if self._verbose:
            request = current_request()
            logger.debug("%s %s -> %s", request.method, request.path, response.status_code)
        self.guard.add_cors(response)
        return response
