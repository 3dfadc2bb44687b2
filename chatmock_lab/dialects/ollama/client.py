"""Ollama requests (outbound): a canonical request as the ollama client sends it to
`/api/chat`. The lab shows it; assistant turns use the encoder answers use
(`content.assistant_fields`).

Source: github.com/ollama/ollama `api/types.go` (ChatRequest, Message, Options) and the
python client's `ollama/_types.py`.
"""

from __future__ import annotations

from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    RenderedRequest,
    TextPart,
    ToolResultPart,
)
from chatmock_lab.core.notes import note_cache_hint
from chatmock_lab.dialects.ollama.content import assistant_fields

_NO_CACHE_HINTS = "Ollama has no prompt-caching hints"
# Canonical efforts Ollama's `think` has no level for, as its nearest one.
_THINK_ALIASES = {"minimal": "low", "none": "low", "xhigh": "high", "max": "high"}


def render_request(request: ChatRequest, *, stream: bool = True) -> RenderedRequest:
    """The `/api/chat` body an Ollama client would send for `request`. Normalisations (not
    losses): a tool turn of several results is one `tool` message each, naming its tool
    and call; images go as bare base64."""
    dropped: list[str] = []
    messages: list[dict[str, Any]] = []
    if request.system:
        for k, part in enumerate(request.system):
            note_cache_hint(part, f"system[{k}]", dropped, _NO_CACHE_HINTS)
        messages.append({"role": "system", "content": "\n\n".join(p.text for p in request.system)})
    for i, message in enumerate(request.messages):
        messages += _message(message, f"messages[{i}]", dropped)
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description else {}),
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
    if request.tool_choice is not None and request.tool_choice.mode != "auto":
        dropped.append("tool_choice: Ollama has no tool choice; the model decides")
    _format(request, body)
    _think(request, body, dropped)
    options = _options(request, dropped)
    if options:
        body["options"] = options
    if request.logprobs:
        body["logprobs"] = True
        if request.top_logprobs:
            body["top_logprobs"] = request.top_logprobs
    for name in ("logit_bias", "service_tier", "user", "metadata", "prompt_cache_key",
                 "safety_identifier", "cache_control"):  # fmt: skip
        if getattr(request, name):
            dropped.append(f"{name}: Ollama's API has no such field")
    if request.parallel_tool_calls is False:
        dropped.append("parallel_tool_calls: Ollama cannot forbid parallel calls")
    return RenderedRequest(body=body, path="/api/chat", dropped=dropped)


def _message(message: Message, at: str, dropped: list[str]) -> list[dict[str, Any]]:
    if message.role == "assistant":
        return [{"role": "assistant", **assistant_fields(message.parts)}]
    if message.role == "tool":
        return [
            _tool_result(part, f"{at}.parts[{j}]", dropped)
            for j, part in enumerate(message.parts)
            if isinstance(part, ToolResultPart)
        ]
    text: list[str] = []
    images: list[str] = []
    for j, part in enumerate(message.parts):
        where = f"{at}.parts[{j}]"
        if isinstance(part, TextPart):
            note_cache_hint(part, where, dropped, _NO_CACHE_HINTS)
            text.append(part.text)
        elif isinstance(part, ImagePart) and part.data is not None:
            images.append(part.data)
        elif isinstance(part, ImagePart):
            dropped.append(f"{where}: Ollama takes images as base64 data, not by URL")
        elif isinstance(part, DocumentPart) and part.text is not None:
            text.append(part.text)
        else:
            dropped.append(f"{where}: Ollama messages hold text and images only")
    encoded: dict[str, Any] = {"role": message.role, "content": "".join(text)}
    if images:
        encoded["images"] = images
    return [encoded]


def _tool_result(part: ToolResultPart, at: str, dropped: list[str]) -> dict[str, Any]:
    if part.is_error:
        dropped.append(f"{at}.is_error: Ollama tool results have no error flag")
    encoded: dict[str, Any] = {"role": "tool", "content": part.text()}
    if part.name:
        encoded["tool_name"] = part.name
    encoded["tool_call_id"] = part.tool_call_id
    images = [p.data for p in part.content if isinstance(p, ImagePart) and p.data is not None]
    if images:
        encoded["images"] = images
    return encoded


def _format(request: ChatRequest, body: dict[str, Any]) -> None:
    response_format = request.response_format
    if response_format is None or response_format.type == "text":
        return
    if response_format.type == "json_schema" and response_format.schema is not None:
        body["format"] = response_format.schema
    else:
        body["format"] = "json"


def _think(request: ChatRequest, body: dict[str, Any], dropped: list[str]) -> None:
    reasoning = request.reasoning
    if reasoning is None:
        return
    if reasoning.effort is None:
        body["think"] = True
    else:
        body["think"] = _THINK_ALIASES.get(reasoning.effort, reasoning.effort)
    if reasoning.budget_tokens is not None:
        dropped.append("reasoning.budget_tokens: Ollama's think takes a level, not a budget")


def _options(request: ChatRequest, dropped: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, key in (
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
        ("seed", "seed"),
        ("presence_penalty", "presence_penalty"),
        ("frequency_penalty", "frequency_penalty"),
        ("max_tokens", "num_predict"),
    ):
        value = getattr(request, name)
        if value is not None:
            options[key] = value
    if request.stop:
        options["stop"] = list(request.stop)
    return options
