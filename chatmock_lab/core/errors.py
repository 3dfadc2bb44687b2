"""The package's errors: one root, and the errors rendered in the caller's dialect.

Every error chatmock-lab raises on purpose is a `ChatmockError`: a `ProxyError` (an
answer to a client, with an HTTP status), a `ConfigError` (the operator's settings), a
`CassetteError`, a login or token-store error. A `ProxyError` tells whose fault it is:
`client_fault` for what the caller must fix (4xx), else the proxy's or the upstream's
(5xx). Anything else that escapes is a bug, answered as a 500 and logged.

A `ProxyError` carries a dialect-neutral `kind` and an HTTP status; each dialect maps
the kind onto its own error type names (`invalid_request_error`, `INVALID_ARGUMENT`,
...) and picks a status its clients know (Anthropic's overload is 529, which OpenAI and
Google never send; they say 503). `kind_for_error_type` reads an upstream's error names
back into a kind, so that an error object met inside a 200 stream keeps its meaning.
Messages must never contain secrets: they are shown to clients and logged.
"""

from __future__ import annotations

from collections.abc import Mapping
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


# The error names upstreams put in an error object (`type` and `code` in OpenAI's and
# Anthropic's, `status` in Google's), lowercased. Only names whose meaning is clear are
# here: an unknown name is None, so the caller falls back on the HTTP status.
_KIND_FOR_ERROR_TYPE: dict[str, ErrorKind] = {
    # OpenAI `type`s and `code`s (Chat Completions, Responses, compatible servers).
    "invalid_request_error": "invalid_request",
    "context_length_exceeded": "invalid_request",
    "string_above_max_length": "invalid_request",
    "invalid_value": "invalid_request",
    "invalid_type": "invalid_request",
    "unsupported_parameter": "invalid_request",
    "unsupported_value": "invalid_request",
    "content_policy_violation": "invalid_request",
    "content_filter": "invalid_request",
    "authentication_error": "authentication",
    "invalid_api_key": "authentication",
    "permission_error": "permission",
    "unsupported_country_region_territory": "permission",
    "not_found_error": "not_found",
    "model_not_found": "not_found",
    "unknown_url": "not_found",
    "rate_limit_error": "rate_limit",
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "usage_limit_reached": "rate_limit",
    "timeout_error": "timeout",
    "server_error": "api_error",
    # Anthropic `type`s not above.
    "request_too_large": "request_too_large",
    "api_error": "api_error",
    "overloaded_error": "overloaded",
    # google.rpc.Code names, as Google APIs send them in `error.status`.
    "invalid_argument": "invalid_request",
    "failed_precondition": "invalid_request",
    "out_of_range": "invalid_request",
    "unauthenticated": "authentication",
    "permission_denied": "permission",
    "not_found": "not_found",
    "resource_exhausted": "rate_limit",
    "deadline_exceeded": "timeout",
    "internal": "api_error",
    "unknown": "api_error",
    "data_loss": "api_error",
    "unavailable": "overloaded",
}


def kind_for_error_type(name: str | None) -> ErrorKind | None:
    """The error kind an upstream means by an error type, code or status name
    (`invalid_request_error`, `context_length_exceeded`, `overloaded_error`,
    `RESOURCE_EXHAUSTED`, ...), whatever its case; None for a name not known here.

    Where an error object carries several names, the most specific one should be asked
    first (`code` before `type`); `kind_for_error_object` does that."""
    if not isinstance(name, str):
        return None
    return _KIND_FOR_ERROR_TYPE.get(name.strip().lower())


def kind_for_error_object(error: Mapping[str, object]) -> ErrorKind | None:
    """The kind an upstream's error object says it is, from its `code`, `type` and
    `status` names in that order (an OpenAI `code` is more specific than its `type`);
    None when none of them is known. A numeric `code` (Google's HTTP status) is left to
    the caller, which knows the status the answer came with."""
    for field in ("code", "type", "status"):
        value = error.get(field)
        kind = kind_for_error_type(value) if isinstance(value, str) else None
        if kind is not None:
            return kind
    return None


class ChatmockError(Exception):
    """The root of every error chatmock-lab raises on purpose."""


# A message quoting a client's bad value (or a field name) stays this short, whatever
# the size of the value: a 1 MB wrong value must not come back as a 1 MB error.
MAX_MESSAGE_CHARS = 1_000
MAX_PARAM_CHARS = 200


def _shortened(text: str, limit: int) -> str:
    """`text`, or its beginning and end (where the field and the expectation are) with
    the middle left out and counted."""
    if len(text) <= limit:
        return text
    head, tail = (limit * 3) // 5, limit // 5
    return f"{text[:head]}... ({len(text) - head - tail} characters left out) ...{text[-tail:]}"


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
        message = _shortened(message, MAX_MESSAGE_CHARS)
        super().__init__(message)
        if kind is None and status is None:
            kind = "api_error"
        self.message = message
        self.kind: ErrorKind = kind if kind is not None else kind_for_status(status or 500)
        self.status = status if status is not None else _STATUS_FOR_KIND[self.kind]
        self.param = None if param is None else _shortened(param, MAX_PARAM_CHARS)
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
