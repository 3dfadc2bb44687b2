"""Gemini's wire vocabulary: field spellings, finish reasons, usage, frames, models, errors.

Sources: the Gemini Developer API reference (GenerateContentResponse, UsageMetadata,
Model, google.rpc.Status); the frames are what `streamGenerateContent` sends with
`?alt=sse` (SSE, lines ended by `\\r\\n`) and without it (one JSON array, written as it
grows).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from chatmock_lab import json_codec
from chatmock_lab.core import FinishReason, ProxyError, Usage

# A function name Gemini accepts, in declarations and in calls.
FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$")
# generationConfig.stopSequences holds at most this many.
MAX_STOP = 5
THINKING_LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH", "THINKING_LEVEL_UNSPECIFIED")
# `serviceTier` values (lower case, as google-genai sends them) other than unspecified.
SERVICE_TIERS = ("standard", "flex", "priority")
# generationConfig.logprobs (top alternatives per token) is at most this.
MAX_TOP_LOGPROBS = 20
# Why a prompt-caching hint is not carried over (`core.notes.note_cache_hint`).
NO_CACHE_HINTS = "Gemini has no per-part caching hints"

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")

_STATUSES: dict[str, str] = {
    "invalid_request": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "method_not_allowed": "INVALID_ARGUMENT",
    "request_too_large": "INVALID_ARGUMENT",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "timeout": "DEADLINE_EXCEEDED",
    "api_error": "INTERNAL",
    "overloaded": "UNAVAILABLE",
}

# Statuses other APIs send that Google never does, as the one Google sends for the same.
_STATUS_FOR_FOREIGN_STATUS: dict[int, int] = {529: 503}

_FINISH_REASONS: dict[str, str] = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    # Gemini ends a turn of function calls with STOP; clients look at the parts.
    "tool_calls": "STOP",
    "content_filter": "SAFETY",
    # Gemini has no refusal finish; its safety stop is what clients check for.
    "refusal": "SAFETY",
}


# thoughtSignature is bytes (base64 text on the wire, decoded by google-genai); a
# signature from another vendor that is not standard base64 (a Responses
# `encrypted_content`, a Fernet token in the URL-safe alphabet) travels wrapped.
_FOREIGN_SIGNATURE = b"chatmock-lab signature:"


def signature_to_wire(signature: str) -> str:
    """A canonical signature as `thoughtSignature`: as it is when it is standard base64
    (Gemini's own), else wrapped so that `signature_from_wire` gives it back."""
    try:
        if base64.b64encode(base64.b64decode(signature, validate=True)).decode() == signature:
            return signature
    except (binascii.Error, ValueError):
        pass
    return base64.b64encode(_FOREIGN_SIGNATURE + signature.encode()).decode()


def signature_from_wire(value: str) -> str:
    """The canonical signature a client's `thoughtSignature` stands for."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    if raw.startswith(_FOREIGN_SIGNATURE):
        return raw[len(_FOREIGN_SIGNATURE) :].decode(errors="replace")
    return value


def get_field(obj: dict[str, Any], name: str) -> Any:
    """A field by its camelCase name, or by the snake_case spelling the API also accepts."""
    if name in obj:
        return obj[name]
    return obj.get(_SNAKE.sub("_", name).lower())


def has_field(obj: dict[str, Any], name: str) -> bool:
    return get_field(obj, name) is not None


def model_id(name: str) -> str:
    """A model name without its `models/` prefix."""
    return name.removeprefix("models/")


def finish_reason(reason: FinishReason) -> str:
    return _FINISH_REASONS[reason]


def usage_json(usage: Usage | None) -> dict[str, Any]:
    """UsageMetadata: Gemini counts thoughts apart from the candidates' tokens."""
    usage = usage or Usage()
    metadata: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens - usage.reasoning_tokens,
        "totalTokenCount": usage.total_tokens,
    }
    if usage.reasoning_tokens:
        metadata["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cached_tokens:
        metadata["cachedContentTokenCount"] = usage.cached_tokens
    return metadata


# --------------------------------------------------------------------------- frames

# Gemini ends the lines of its SSE frames with CRLF (`sse.encode_frame`'s `line_end`).
SSE_LINE_END = "\r\n"


class ArrayFraming:
    """Google's JSON-array stream: `[` + element + `,\\r\\n` + element ... + `]`."""

    def __init__(self) -> None:
        self.count = 0

    def frame(self, payload: dict[str, Any]) -> bytes:
        prefix = "[" if self.count == 0 else ",\r\n"
        self.count += 1
        return (prefix + json_codec.dumps(payload)).encode()

    def close(self) -> bytes:
        return b"[]" if self.count == 0 else b"]"


# --------------------------------------------------------------------------- models and errors


def render_model(
    model: str,
    *,
    display_name: str | None = None,
    input_limit: int | None = None,
    output_limit: int | None = None,
) -> dict[str, Any]:
    return {
        "name": f"models/{model_id(model)}",
        "baseModelId": model_id(model),
        "version": "001",
        "displayName": display_name or model_id(model),
        "description": f"{model_id(model)} served by chatmock-lab",
        "inputTokenLimit": input_limit or 1_048_576,
        "outputTokenLimit": output_limit or 65_536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
        "temperature": 1.0,
        "maxTemperature": 2.0,
        "topP": 0.95,
        "topK": 64,
        "thinking": True,
    }


def render_model_list(
    models: list[dict[str, Any]], *, next_page_token: str | None
) -> dict[str, Any]:
    page: dict[str, Any] = {"models": models}
    if next_page_token:
        page["nextPageToken"] = next_page_token
    return page


def render_error(error: ProxyError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and google.rpc.Status body: a bad field is a BadRequest violation,
    a known wait a RetryInfo, and an upstream's 529 (Anthropic's overload, which Google
    never sends) Google's own 503 UNAVAILABLE."""
    status = _STATUS_FOR_FOREIGN_STATUS.get(error.status, error.status)
    body: dict[str, Any] = {
        "code": status,
        "message": error.message,
        "status": _STATUSES.get(error.kind, "INTERNAL"),
    }
    details: list[dict[str, Any]] = []
    if error.param:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": error.param, "description": error.message}],
            }
        )
    if error.retry_after is not None:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": duration(error.retry_after),
            }
        )
    if details:
        body["details"] = details
    return status, {"error": body}


def duration(seconds: float) -> str:
    """Seconds as a google.protobuf.Duration in its JSON form: `12s`, `0.500s` (proto3
    JSON writes 0, 3, 6 or 9 fractional digits; milliseconds are plenty for a wait)."""
    millis = max(0, round(seconds * 1000))
    whole, fraction = divmod(millis, 1000)
    return f"{whole}s" if fraction == 0 else f"{whole}.{fraction:03d}s"
