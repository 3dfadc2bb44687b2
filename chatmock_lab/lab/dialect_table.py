"""The lab's table of dialects: which there are, how a JSON request is told to be in one,
how a cell (a prompt or a JSON request) becomes the canonical request, and how the
canonical request is written as each dialect's client would send it.

Pure: no server is involved. `compare`, the stream inspector and `translate` build on
this; it imports nothing else from the lab.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from chatmock_lab.core import ChatRequest, InvalidRequest, Message, RenderedRequest, TextPart
from chatmock_lab.dialects import anthropic, gemini, openai

DIALECTS: tuple[str, ...] = ("openai", "anthropic", "gemini")
DEFAULT_MODEL = "gpt-4.1"
# Anthropic requires max_tokens; the others get the same so the conversations agree.
DEFAULT_MAX_TOKENS = 1024


class _RenderRequest(Protocol):
    def __call__(self, request: ChatRequest, *, stream: bool = ...) -> RenderedRequest: ...


_RENDERERS: dict[str, _RenderRequest] = {
    "openai": openai.render_request,
    "anthropic": anthropic.render_request,
    "gemini": gemini.render_request,
}
# Requests that name their model in the body; Gemini's comes from the URL (see below).
_BODY_MODEL_PARSERS: dict[str, Callable[[dict[str, Any]], tuple[ChatRequest, object]]] = {
    "openai": openai.parse_request,
    "anthropic": anthropic.parse_request,
}


def render_in(dialect: str, chat: ChatRequest, *, stream: bool = False) -> RenderedRequest:
    """`chat` as a client of `dialect` ("openai", "anthropic", "gemini") would send it."""
    return _RENDERERS[dialect](chat, stream=stream)


def detect_dialect(body: dict[str, Any]) -> str:
    """Which dialect a JSON request is written in, from the fields only it has."""
    if "contents" in body:
        return "gemini"
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
    if read_as not in _RENDERERS:
        raise InvalidRequest(f"unknown dialect {read_as!r}; one of {', '.join(DIALECTS)}")
    if read_as == "gemini":
        # Gemini names the model in the URL, not the body.
        chat = gemini.parse_request(body, model=model or DEFAULT_MODEL)[0]
    else:
        if model:
            body = {**body, "model": model}
        body.setdefault("model", DEFAULT_MODEL)
        chat = _BODY_MODEL_PARSERS[read_as](body)[0]
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
