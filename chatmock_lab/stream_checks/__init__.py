"""Classify the chunks of a streamed answer and flag protocol violations, per dialect.

The stream inspector feeds raw bytes as a client receives them (a chunk may split an
SSE frame anywhere or hold several frames) and shows one `ChunkInfo` per complete event;
`close()` adds what is wrong with how the stream ended. Everything here is pure: no I/O,
no shared state, one checker per stream.

Event types (`ChunkInfo.event_type`) every dialect has: `keep-alive` (an SSE comment
line), `malformed` (a payload that is not JSON or not a JSON object, or broken
JSON-array framing), `error` (an in-band error). Each dialect's own are listed in its
module: `openai`, `anthropic`, `gemini`.

Modules, each depending only on those before it: `text` (summaries), `framing` (SSE and
JSON-array readers), `base` (`ChunkInfo`, `StreamChecker`, payload helpers), then one
checker per dialect.
"""

from __future__ import annotations

from chatmock_lab.stream_checks.anthropic import AnthropicStreamChecker
from chatmock_lab.stream_checks.base import ChunkInfo, StreamChecker
from chatmock_lab.stream_checks.gemini import GeminiStreamChecker
from chatmock_lab.stream_checks.ollama import OllamaStreamChecker
from chatmock_lab.stream_checks.openai import OpenAIStreamChecker
from chatmock_lab.stream_checks.responses import ResponsesStreamChecker


def checker_for(dialect: str, *, include_usage: bool = False) -> StreamChecker:
    """A checker for `openai`, `anthropic` or `gemini` streams.

    `include_usage` says the OpenAI request set `stream_options.include_usage`; the other
    dialects always report usage, so it does not apply to them."""
    if dialect == "openai":
        return OpenAIStreamChecker(include_usage=include_usage)
    if dialect == "anthropic":
        return AnthropicStreamChecker()
    if dialect == "gemini":
        return GeminiStreamChecker()
    if dialect == "ollama":
        return OllamaStreamChecker()
    if dialect == "responses":
        return ResponsesStreamChecker()
    raise ValueError(
        f"unknown dialect {dialect!r} (expected openai, anthropic, gemini, ollama or responses)"
    )


__all__ = [
    "AnthropicStreamChecker",
    "ChunkInfo",
    "GeminiStreamChecker",
    "OllamaStreamChecker",
    "OpenAIStreamChecker",
    "ResponsesStreamChecker",
    "StreamChecker",
    "checker_for",
]
