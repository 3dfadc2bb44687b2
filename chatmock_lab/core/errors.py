"""The package's errors: one root, and the errors rendered in the caller's dialect.

Every error chatmock-lab raises on purpose is a `ChatmockError`: a `ProxyError` (an
answer to a client, with an HTTP status), a `ConfigError` (the operator's settings), a
`CassetteError`, a login or token-store error. A `ProxyError` tells whose fault it is:
`client_fault` for what the caller must fix (4xx), else the proxy's or the upstream's
(5xx). Anything else that escapes is a bug, answered as a 500 and logged.

A `ProxyError` carries a dialect-neutral `kind` and an HTTP status; each dialect maps
the kind onto its own error type names (`invalid_request_error`, `INVALID_ARGUMENT`,
...). Messages must never contain secrets: they are shown to clients and logged.
"""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "method_not_allowed",
    "request_too_large",
    "rate_limit",
    "timeout",
    "api_error",
    "overloaded",
]

_STATUS_FOR_KIND: dict[str, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "timeout": 408,
    "request_too_large": 413,
    "rate_limit": 429,
    "api_error": 500,
    "overloaded": 503,
}


def kind_for_status(status: int) -> ErrorKind:
    """The error kind a real server means by an HTTP status."""
    for kind, kind_status in _STATUS_FOR_KIND.items():
        if kind_status == status:
            return kind  # type: ignore[return-value]
    if status == 529:
        return "overloaded"
    if 400 <= status < 500:
        return "invalid_request"
    return "api_error"


class ChatmockError(Exception):
    """The root of every error chatmock-lab raises on purpose."""


class ProxyError(ChatmockError):
    """An error with an HTTP status, a kind, and optionally the request field at fault."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind | None = None,
        status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        if kind is None and status is None:
            kind = "api_error"
        self.message = message
        self.kind: ErrorKind = kind if kind is not None else kind_for_status(status or 500)
        self.status = status if status is not None else _STATUS_FOR_KIND[self.kind]
        self.param = param
        self.code = code
        self.retry_after = retry_after

    @property
    def client_fault(self) -> bool:
        """Whether the caller must change something (a 4xx), rather than the proxy or
        the upstream having failed (a 5xx)."""
        return 400 <= self.status < 500

    def __repr__(self) -> str:
        return f"ProxyError({self.message!r}, kind={self.kind!r}, status={self.status})"


class InvalidRequest(ProxyError):
    """A request the caller must fix: a missing or mistyped field, a bad value."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message, kind="invalid_request", param=param, code=code)
