"""The lab's table of dialects: which there are, how a JSON request is told to be in one,
how a cell (a prompt or a JSON request) becomes the canonical request, and how the
canonical request is written as each dialect's client would send it.

Pure: no server is involved. `compare`, the stream inspector and `translate` build on
this; it imports nothing else from the lab.
"""

from __future__ import annotations

import json
from typing import Any

from chatmock_lab.core import ChatRequest, InvalidRequest, Message, RenderedRequest, TextPart
from chatmock_lab.dialects import DIALECTS as _REGISTRY

DIALECTS: tuple[str, ...] = tuple(_REGISTRY)
DEFAULT_MODEL = "gpt-4.1"
# Anthropic requires max_tokens; the others get the same so the conversations agree.
DEFAULT_MAX_TOKENS = 1024


def render_in(dialect: str, chat: ChatRequest, *, stream: bool = False) -> RenderedRequest:
    """`chat` as a client of `dialect` (a name in the dialect registry) would send it."""
    return _REGISTRY[dialect].render_request(chat, stream=stream)


def detect_dialect(body: dict[str, Any]) -> str:
    """Which dialect a JSON request is written in, from the fields only it has."""
    if "contents" in body:
        return "gemini"
    if "input" in body and "messages" not in body:
        return "responses" if "responses" in _REGISTRY else "openai"
    if _looks_like_ollama(body) and "ollama" in _REGISTRY:
        return "ollama"
    messages = body.get("messages")
    anthropic_blocks = {"tool_use", "tool_result", "thinking", "redacted_thinking", "document"}
    if "system" in body or "thinking" in body or "stop_sequences" in body:
        return "anthropic"
    tools = body.get("tools")
    if isinstance(tools, list) and any(isinstance(t, dict) and "input_schema" in t for t in tools):
        return "anthropic"
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("tool", "any"):
        return "anthropic"
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") in anthropic_blocks for b in content
        ):
            return "anthropic"
    return "openai"


def _looks_like_ollama(body: dict[str, Any]) -> bool:
    """Ollama's own fields: `options`, `think`, `keep_alive`, a `format` beside no
    `response_format`, `images` or `tool_name` on a message, a `prompt` for generate."""
    if any(key in body for key in ("options", "think", "keep_alive")):
        return True
    if "format" in body and "response_format" not in body:
        return True
    if "prompt" in body and "messages" not in body and "max_tokens" not in body:
        return False  # legacy OpenAI completions look alike; leave them to openai
    messages = body.get("messages")
    return any(
        isinstance(m, dict) and ("images" in m or "tool_name" in m)
        for m in (messages if isinstance(messages, list) else [])
    )


def parse_conversation(
    source: str,
    *,
    dialect: str | None = None,
    model: str | None = None,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
) -> tuple[ChatRequest, str | None]:
    """The canonical request for a prompt or a JSON request, and the dialect the JSON
    was read as (None for a plain prompt); `max_tokens` fills in a missing limit (None:
    leave it out). Bad JSON raises `InvalidRequest`."""
    text = source.strip()
    if not text:
        raise InvalidRequest("the cell is empty: write a prompt or a JSON request", param="cell")
    if not text.startswith("{"):
        chat = ChatRequest(
            model=model or DEFAULT_MODEL, messages=[Message(role="user", parts=[TextPart(text)])]
        )
        chat.max_tokens = max_tokens
        return chat, None
    try:
        body = json.loads(text)
    except ValueError as error:
        raise InvalidRequest(f"the cell is not valid JSON: {error}", param="cell") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the JSON request must be an object", param="cell")
    read_as = dialect or detect_dialect(body)
    if read_as not in _REGISTRY:
        raise InvalidRequest(f"unknown dialect {read_as!r}; one of {', '.join(DIALECTS)}")
    if model:
        body = {key: value for key, value in body.items() if key != "model"}
    # The model fills in one the body does not name (Gemini names it in the URL).
    chat = _REGISTRY[read_as].parse_body(body, model or DEFAULT_MODEL)
    if model:
        chat.model = model
    if chat.max_tokens is None:
        chat.max_tokens = max_tokens
    return chat, read_as


__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "DIALECTS",
    "detect_dialect",
    "parse_conversation",
    "render_in",
]
