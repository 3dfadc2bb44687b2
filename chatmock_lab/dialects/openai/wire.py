"""The Chat Completions wire shared by the OpenAI dialect's modules: names and limits,
SSE frames, finish reasons, usage, models and errors.

Sources: OpenAI's API reference (Chat Completions, the chunk object, Models, error
codes).
"""

from __future__ import annotations

import re
from typing import Any

from chatmock_lab.core import FinishReason, ProxyError, Usage
from chatmock_lab.sse import comment_frame, encode_frame

# Function names OpenAI accepts; any other name fails the whole request.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
# Chat Completions takes at most four stop sequences.
MAX_STOP = 4
# The canonical request's extension naming the token-limit field an OpenAI client sent
# (`max_tokens` or `max_completion_tokens`), so the upstream request can say it alike.
MAX_TOKENS_FIELD = "openai.max_tokens_field"
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority")

# An upstream's `finish_reason` as a canonical one (`function_call` is the pre-tools name).
FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

_ERROR_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "invalid_request_error",
    "method_not_allowed": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "timeout": "timeout_error",
    "api_error": "server_error",
    "overloaded": "server_error",
}

# Statuses other APIs send that OpenAI never does, as the one OpenAI sends for the same.
_STATUS_FOR_FOREIGN_STATUS: dict[int, int] = {529: 503}


def sse(payload: dict[str, Any] | str) -> bytes:
    """One `data:` frame (a string as it is, anything else as compact JSON)."""
    return encode_frame(payload)


DONE = sse("[DONE]")
KEEPALIVE = comment_frame("keep-alive")


def usage_json(usage: Usage | None) -> dict[str, Any]:
    """`usage` as Chat Completions and legacy Completions report it."""
    usage = usage or Usage()
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def usage_from_json(raw: dict[str, Any]) -> Usage:
    """An upstream's `usage` object (the inverse of `usage_json`; absent counts are 0,
    and `prompt_tokens_details.cache_write_tokens` is read where a server sends it)."""
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(prompt.get("cached_tokens") or 0),
        cache_write_tokens=int(prompt.get("cache_write_tokens") or 0),
        reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
    )


def render_model(model_id: str, *, owned_by: str, created: int) -> dict[str, Any]:
    """One entry of `GET /v1/models`."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def render_model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    """The `GET /v1/models` body around entries from `render_model`."""
    return {"object": "list", "data": models}


def render_error(error: ProxyError) -> tuple[int, dict[str, Any]]:
    """The status and body OpenAI would send for this error; an upstream's 529 (Anthropic's
    overload, unknown to OpenAI's SDKs) is OpenAI's own overloaded answer, 503."""
    code = error.code
    if code is None and error.kind == "not_found" and error.param == "model":
        code = "model_not_found"
    return _STATUS_FOR_FOREIGN_STATUS.get(error.status, error.status), {
        "error": {
            "message": error.message,
            "type": _ERROR_TYPES.get(error.kind, "server_error"),
            "param": error.param,
            "code": code,
        }
    }
