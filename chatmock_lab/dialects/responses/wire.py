"""The Responses wire: stream event names, finish reasons, usage and error bodies.

Shared by the outbound codec (`client`, `upstream`) and the inbound dialect (`parse`,
`render`). Sources: OpenAI's API reference (Responses, streaming events, the error
object) and the ChatGPT Codex backend's answers as the Codex CLI reads them (`detail`
bodies, `usage_limit_reached` with `resets_at` / `resets_in_seconds`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from chatmock_lab.core import FinishReason, ProxyError, Usage
from chatmock_lab.core.errors import kind_for_error_object
from chatmock_lab.sse import encode_frame

# Stream event types (each frame's `type`, also its SSE `event:` name).
OUTPUT_TEXT_DELTA = "response.output_text.delta"
REFUSAL_DELTA = "response.refusal.delta"
# The whole refusal of a content part, after its deltas (or instead of them).
REFUSAL_DONE = "response.refusal.done"
REASONING_SUMMARY_DELTA = "response.reasoning_summary_text.delta"
REASONING_TEXT_DELTA = "response.reasoning_text.delta"
OUTPUT_ITEM_ADDED = "response.output_item.added"
OUTPUT_ITEM_DONE = "response.output_item.done"
ARGUMENTS_DELTA = "response.function_call_arguments.delta"
ARGUMENTS_DONE = "response.function_call_arguments.done"
COMPLETED = "response.completed"
INCOMPLETE = "response.incomplete"
FAILED = "response.failed"
ERROR = "error"
# The events that end a stream well (`response.done` from servers that say it that way).
TERMINAL_OK = frozenset({COMPLETED, "response.done"})

# `incomplete_details.reason` as a canonical finish; any other reason is a length stop.
INCOMPLETE_REASONS: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}

_RETRY_IN = re.compile(r"(?i)try again in\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?)\b")
_QUOTA_CODES = frozenset({"rate_limit_exceeded", "usage_limit_reached", "insufficient_quota"})
# In-stream failure codes a client can act on; anything else is the upstream's fault.
_FAILURE_STATUS: dict[str, int] = {
    **dict.fromkeys(_QUOTA_CODES, 429),
    "context_length_exceeded": 400,
    "invalid_prompt": 400,
    # The ChatGPT plan does not include Codex: retrying cannot help.
    "usage_not_included": 403,
}


def usage_from_json(raw: dict[str, Any]) -> Usage:
    """A response's `usage` object (absent counts are 0; `input_tokens_details.
    cache_write_tokens` is read where a server sends it)."""
    inputs = raw.get("input_tokens_details") or {}
    outputs = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=int(inputs.get("cached_tokens") or 0),
        cache_write_tokens=int(inputs.get("cache_write_tokens") or 0),
        reasoning_tokens=int(outputs.get("reasoning_tokens") or 0),
    )


def _retry_after_in(message: str) -> float | None:
    match = _RETRY_IN.search(message)
    if match is None:
        return None
    seconds = float(match.group(1))
    return seconds / 1000 if match.group(2).lower() == "ms" else seconds


def stream_failure(error: Any, *, fallback: str) -> ProxyError:
    """An in-stream failure (`response.failed`'s error, or an `error` event); codes a
    client can act on keep their status, anything else is the upstream's fault (502)."""
    if not isinstance(error, dict):
        return ProxyError(f"Upstream error: {fallback}", status=502)
    code = error.get("code") if isinstance(error.get("code"), str) else None
    if code is None and isinstance(error.get("type"), str) and error["type"] != "error":
        code = error["type"]
    message = error.get("message") if isinstance(error.get("message"), str) else None
    status = _FAILURE_STATUS.get(code or "")
    if status is None:
        # A client's fault named by a code the backend shares with the rest of OpenAI
        # stays that; the upstream's own failures are a bad gateway.
        kind = kind_for_error_object(error)
        named = ProxyError("", kind=kind).status if kind is not None else 502
        status = named if named < 500 else 502
    retry_after = _retry_after_in(message) if status == 429 and message else None
    label = f"Upstream error ({code})" if code else "Upstream error"
    param = error.get("param") if isinstance(error.get("param"), str) else None
    return ProxyError(
        f"{label}: {message or fallback}",
        status=status,
        code=code,
        param=param,
        retry_after=retry_after,
    )


def _detail_text(detail: Any) -> str | None:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail:
        # FastAPI validation errors: a list of {"loc", "msg", "type"}.
        first = detail[0]
        if isinstance(first, dict) and isinstance(first.get("msg"), str):
            return first["msg"]
    if detail is not None:
        return json.dumps(detail)[:500]
    return None


def upstream_error(payload: Any, status: int, *, now: float | None = None) -> ProxyError:
    """A non-200 answer of the Codex backend (or any Responses server) as a ProxyError.

    Handles `{"detail": ...}`, OpenAI's `{"error": {...}}`, and the quota body
    `{"error": {"type": "usage_limit_reached", "plan_type", "resets_at"}}`, whose
    `retry_after` is `resets_at - now` when `now` (epoch seconds) is given."""
    message: str | None = None
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            message = error.get("message") if isinstance(error.get("message"), str) else None
            code = error.get("code") if isinstance(error.get("code"), str) else None
            param = error.get("param") if isinstance(error.get("param"), str) else None
            kind = error.get("type")
            if code is None and kind in _QUOTA_CODES:
                code = kind
            if code == "usage_limit_reached":
                retry_after = _quota_retry_after(error, now)
                if message is None:
                    plan = error.get("plan_type")
                    message = "The ChatGPT usage limit has been reached" + (
                        f" (plan: {plan})" if isinstance(plan, str) else ""
                    )
        elif isinstance(error, str):
            message = error
        if message is None:
            message = _detail_text(payload.get("detail"))
        if message is None and isinstance(payload.get("message"), str):
            message = payload["message"]
    elif isinstance(payload, str) and payload.strip():
        message = payload.strip()[:500]
    if retry_after is None and message and code in _QUOTA_CODES:
        retry_after = _retry_after_in(message)
    return ProxyError(
        f"Upstream error {status}: {message or 'no details'}",
        status=status if status >= 400 else 502,
        code=code,
        param=param,
        retry_after=retry_after,
    )


def _quota_retry_after(error: dict[str, Any], now: float | None) -> float | None:
    seconds = error.get("resets_in_seconds")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return max(0.0, float(seconds))
    resets_at = error.get("resets_at")
    if now is None or not isinstance(resets_at, (int, float)) or isinstance(resets_at, bool):
        return None
    return max(0.0, float(resets_at) - now)


# --- The inbound side: what the proxy sends a Responses client. ---------------------

CREATED = "response.created"
IN_PROGRESS = "response.in_progress"
CONTENT_PART_ADDED = "response.content_part.added"
CONTENT_PART_DONE = "response.content_part.done"
OUTPUT_TEXT_DONE = "response.output_text.done"
REASONING_SUMMARY_PART_ADDED = "response.reasoning_summary_part.added"
REASONING_SUMMARY_PART_DONE = "response.reasoning_summary_part.done"
REASONING_SUMMARY_DONE = "response.reasoning_summary_text.done"

# The `include` value that asks for reasoning items' encrypted content.
INCLUDE_ENCRYPTED_REASONING = "reasoning.encrypted_content"
INCLUDE_LOGPROBS = "message.output_text.logprobs"
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
REASONING_SUMMARIES = ("auto", "concise", "detailed")

# A canonical finish that leaves a response incomplete, and the reason it gives.
INCOMPLETE_FOR_FINISH: dict[FinishReason, str] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}

# The `code` of a failed response's `error` for a ProxyError without its own code.
_FAILURE_CODES: dict[str, str] = {
    "rate_limit": "rate_limit_exceeded",
    "invalid_request": "invalid_prompt",
}


def frame(payload: dict[str, Any]) -> bytes:
    """One stream event: its `type` is also the SSE `event:` name, as OpenAI sends it."""
    return encode_frame(payload, event=str(payload["type"]))


def usage_json(usage: Usage | None) -> dict[str, Any]:
    """A response's `usage` object (the inverse of `usage_from_json`)."""
    usage = usage or Usage()
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def failure_json(error: ProxyError) -> dict[str, Any]:
    """A failed response's `error` object: `code` and `message`."""
    code = error.code or _FAILURE_CODES.get(error.kind, "server_error")
    return {"code": code, "message": error.message}
