"""Ollama's wire vocabulary: done reasons, metrics, NDJSON frames, models, errors.

Sources: github.com/ollama/ollama `api/types.go` (ChatResponse, GenerateResponse,
Metrics, ListModelResponse, ProcessModelResponse, ShowResponse, ModelDetails) and
`server/routes.go` (`{"error": "..."}` bodies, `application/x-ndjson` streams whose
failure after output is a last `{"error": "..."}` line); the python client
github.com/ollama/ollama-python `ollama/_types.py` reads the same fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chatmock_lab import json_codec
from chatmock_lab.core import FinishReason, ModelInfo, ProxyError, Usage

NDJSON = "application/x-ndjson"
# The Ollama API version these routes follow (`GET /api/version`).
VERSION = "0.12.6"
# `think` levels Ollama accepts beside true/false ("max" is newer than the python client).
THINK_LEVELS = ("low", "medium", "high", "max")

# Ollama reports "stop" or "length"; a turn that ends in tool calls (or a refusal) is
# a "stop" there, and clients look at `tool_calls`.
_DONE_REASONS: dict[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "stop",
    "content_filter": "stop",
    "refusal": "stop",
}


def done_reason(reason: FinishReason) -> str:
    return _DONE_REASONS[reason]


@dataclass(frozen=True, slots=True)
class Durations:
    """Nanoseconds measured by the proxy for one answer (Ollama's Metrics): all of it,
    until the provider's stream opened (load), until the first output (prompt eval), and
    from then to the end (eval)."""

    total: int = 0
    load: int = 0
    prompt_eval: int = 0
    eval: int = 0


def metrics(usage: Usage | None, durations: Durations) -> dict[str, Any]:
    """The Metrics fields of a final chunk, in Ollama's order; zeros are left out, as
    Ollama's `omitempty` does."""
    usage = usage or Usage()
    fields = {
        "total_duration": durations.total,
        "load_duration": durations.load,
        "prompt_eval_count": usage.input_tokens,
        "prompt_eval_duration": durations.prompt_eval,
        "eval_count": usage.output_tokens,
        "eval_duration": durations.eval,
    }
    return {key: value for key, value in fields.items() if value}


def created_at(unix_ns: int) -> str:
    """A time as Go writes `time.Time` in JSON (RFC 3339 with nanoseconds, UTC)."""
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def frame(payload: dict[str, Any]) -> bytes:
    """One NDJSON line."""
    return json_codec.dumps_bytes(payload) + b"\n"


# --------------------------------------------------------------------------- models


def _details(model: ModelInfo) -> dict[str, Any]:
    # The proxy serves models it does not hold: no file format, size or quantization.
    details: dict[str, Any] = {
        "parent_model": "",
        "format": "",
        "family": model.owned_by,
        "families": [model.owned_by],
        "parameter_size": "",
        "quantization_level": "",
    }
    if model.context_window:
        details["context_length"] = model.context_window
    return details


def _digest(model_id: str) -> str:
    # Stable per name, as clients use the digest to tell models apart.
    return hashlib.sha256(model_id.encode()).hexdigest()


def render_model(model: ModelInfo) -> dict[str, Any]:
    """A `GET /api/tags` entry (ListModelResponse)."""
    return {
        "name": model.id,
        "model": model.id,
        "modified_at": created_at(model.created * 1_000_000_000),
        "size": 0,
        "digest": _digest(model.id),
        "details": _details(model),
    }


def render_model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    return {"models": models}


def render_running_model(model: ModelInfo, *, expires_at_ns: int) -> dict[str, Any]:
    """A `GET /api/ps` entry (ProcessModelResponse): a model the proxy can answer with."""
    return {
        "name": model.id,
        "model": model.id,
        "size": 0,
        "digest": _digest(model.id),
        "details": _details(model),
        "expires_at": created_at(expires_at_ns),
        "size_vram": 0,
        "context_length": model.context_window or 0,
    }


# What any model behind the proxy takes through these routes.
_CAPABILITIES = ["completion", "tools", "thinking", "vision"]


def render_show(model: ModelInfo) -> dict[str, Any]:
    """`POST /api/show` (ShowResponse): no Modelfile or template, since the proxy does not
    run the model; the context length when the provider states it."""
    info: dict[str, Any] = {"general.architecture": model.owned_by, "general.name": model.id}
    if model.context_window:
        info[f"{model.owned_by}.context_length"] = model.context_window
    return {
        "modelfile": "",
        "parameters": "",
        "template": "",
        "details": _details(model),
        "model_info": info,
        "capabilities": list(_CAPABILITIES),
        "modified_at": created_at(model.created * 1_000_000_000),
    }


# --------------------------------------------------------------------------- errors


def render_error(error: ProxyError) -> tuple[int, dict[str, Any]]:
    """Ollama's error body, `{"error": message}`, with the error's own status (Ollama
    passes an upstream's status on, and answers 500 for its own failures)."""
    return error.status, {"error": error.message}
