"""Errors rendered in the caller's dialect, whatever raised them.

The dialect is told by the path a request came in on, so even a 404 for an unknown
path or a 413 raised before any route ran answers in the shape the client expects.
"""

from __future__ import annotations

import logging
import math

from quart import Quart, Response
from werkzeug.exceptions import HTTPException

from chatmock_lab.core import ProxyError, kind_for_status
from chatmock_lab.dialects import DIALECTS
from chatmock_lab.server.inbound import current_request
from chatmock_lab.server.responses import json_response
from chatmock_lab.server.state import server_state

logger = logging.getLogger(__name__)

_GEMINI_METHODS = (":generateContent", ":streamGenerateContent", ":countTokens")


def dialect_for_request() -> str:
    """Which dialect the current request speaks, by its path and, where paths are shared
    (`/v1/models`), by the headers only that dialect's clients send."""
    request = current_request()
    path = request.path
    segments = path.strip("/").split("/")
    if segments[:1] == ["api"]:
        return "ollama"
    if segments[:2] == ["v1", "messages"] or segments[:1] == ["messages"]:
        return "anthropic"
    if segments[:2] == ["v1", "responses"] or segments[:1] == ["responses"]:
        return "responses"
    if segments[:1] == ["v1beta"] or path.endswith(_GEMINI_METHODS):
        return "gemini"
    # `models/{model}:{method}` is Gemini's way of naming a call, served or not.
    if "models" in segments[:-1] and ":" in segments[-1]:
        return "gemini"
    if "anthropic-version" in request.headers:
        return "anthropic"
    headers = request.headers
    if "x-goog-api-key" in headers or "x-goog-api-client" in headers or "key" in request.args:
        return "gemini"
    return "openai"


def error_response(error: ProxyError, dialect: str | None = None) -> Response:
    renderer = DIALECTS[dialect or dialect_for_request()].render_error
    status, body = renderer(server_state().redactor.error(error))
    headers = {}
    if error.retry_after is not None:
        # Whole seconds (the header has no fractions), rounded up so that a client waiting
        # exactly that long does not come back early; to milliseconds first, so that float
        # noise (12.0000001) does not add a second.
        headers["retry-after"] = str(max(0, math.ceil(round(error.retry_after, 3))))
        # The exact wait too, which OpenAI's and Anthropic's SDKs read before Retry-After.
        headers["retry-after-ms"] = str(max(0, round(error.retry_after * 1000)))
    return json_response(body, status=status, headers=headers)


def _from_http_exception(exc: HTTPException) -> ProxyError:
    status = exc.code or 500
    request = current_request()
    method, path = request.method, request.path
    if status == 404:
        return ProxyError(f"Unknown path: {method} {path}", kind="not_found", code="unknown_url")
    if status == 405:
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or []))
        hint = f"; allowed: {allowed}" if allowed else ""
        return ProxyError(
            f"Method {method} is not allowed for {path}{hint}", kind="method_not_allowed"
        )
    if status == 413:
        limit = server_state().settings.max_body_bytes
        return ProxyError(
            f"The request body is larger than the limit of {limit} bytes"
            " (raise it with --max-body-bytes or CHATMOCK_MAX_BODY_BYTES)",
            kind="request_too_large",
        )
    if status == 408:
        return ProxyError("Timed out while reading the request body", kind="timeout")
    return ProxyError(exc.description or exc.name, kind=kind_for_status(status), status=status)


def proxy_error_response(error: ProxyError) -> Response:
    # Masked before it is logged: upstreams sometimes echo the credentials they got.
    error = server_state().redactor.error(error)
    request = current_request()
    logger.info("%s %s -> %s %s", request.method, request.path, error.status, error.message)
    return error_response(error)


def http_error_response(exc: HTTPException) -> Response:
    response = error_response(_from_http_exception(exc))
    if exc.code == 405:
        response.headers["allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
    return response


def unexpected_error_response(exc: Exception) -> Response:
    request = current_request()
    logger.error("unexpected error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(
        ProxyError(
            f"Internal error in chatmock-lab ({type(exc).__name__}); see the server log",
            kind="api_error",
        )
    )


def response_for(exc: Exception) -> Response:
    """The answer to a request that raised `exc`, as the handlers below give it."""
    if isinstance(exc, ProxyError):
        return proxy_error_response(exc)
    if isinstance(exc, HTTPException):
        return http_error_response(exc)
    return unexpected_error_response(exc)


def install_error_handlers(app: Quart) -> None:
    @app.errorhandler(ProxyError)
    async def _proxy_error(error: ProxyError) -> Response:
        return proxy_error_response(error)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        return http_error_response(exc)

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        return unexpected_error_response(exc)
