"""Anthropic's wire vocabulary: names and limits, stop reasons, usage, SSE frames,
models and errors, as the Messages API spells them.

Sources: the Messages API reference (`stop_reason`, `usage`), "Streaming Messages"
(event names, `ping`, the `error` event), "Models" (`/v1/models`) and "Errors" (the
error types and the 529 overload status).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from chatmock_lab.core import FinishReason, ProxyError, Usage
from chatmock_lab.sse import encode_frame

# Tool names Anthropic accepts; any other name fails the whole request.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# The values `output_config.effort` takes.
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MIN_THINKING_BUDGET = 1024
# `service_tier` values of the Messages API.
SERVICE_TIERS = ("auto", "standard_only")

_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")

_ERROR_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "not_found_error",
    "method_not_allowed": "invalid_request_error",
    "request_too_large": "request_too_large",
    "rate_limit": "rate_limit_error",
    "timeout": "timeout_error",
    "api_error": "api_error",
    "overloaded": "overloaded_error",
}

_STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "refusal": "refusal",
}


def tool_use_id(call_id: str) -> str:
    """Anthropic ids are `[a-zA-Z0-9_-]+`; ids from other upstreams are made to fit."""
    return _ID_UNSAFE.sub("_", call_id) or "toolu_empty"


def stop_reason(reason: FinishReason, stop_sequence: str | None) -> str:
    """The `stop_reason` for a canonical finish; a matched stop sequence has its own."""
    if reason == "stop" and stop_sequence is not None:
        return "stop_sequence"
    return _STOP_REASONS[reason]


def usage_json(usage: Usage | None) -> dict[str, Any]:
    """Anthropic's `usage` object (all zero when the provider reported none)."""
    usage = usage or Usage()
    # Anthropic's input_tokens exclude cached and cache-written tokens.
    fresh = max(0, usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens)
    return {
        "input_tokens": fresh,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
    }


def event_frame(payload: dict[str, Any]) -> bytes:
    """A stream event as an SSE frame, named by its own `type`, as Anthropic sends them."""
    return encode_frame(payload, event=payload["type"])


PING = event_frame({"type": "ping"})


def render_model(model_id: str, *, created: int, display_name: str | None) -> dict[str, Any]:
    """One entry of `/v1/models`; `created` is a Unix time, sent as an RFC 3339 date."""
    created_at = datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name or model_id,
        "created_at": created_at,
    }


def render_model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    """The `/v1/models` page holding every model (the list is never paged)."""
    return {
        "data": models,
        "has_more": False,
        "first_id": models[0]["id"] if models else None,
        "last_id": models[-1]["id"] if models else None,
    }


def _error_body(error: ProxyError) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(error.kind, "api_error"), "message": error.message},
    }


def render_error(error: ProxyError) -> tuple[int, dict[str, Any]]:
    """The status and body Anthropic would send; overload is Anthropic's 529."""
    status = 529 if error.kind == "overloaded" else error.status
    return status, _error_body(error)


def render_error_event(error: ProxyError) -> bytes:
    """The `error` event that ends a stream whose provider failed after it started."""
    return event_frame(_error_body(error))
