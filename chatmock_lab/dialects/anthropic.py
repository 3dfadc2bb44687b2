"""Anthropic Messages dialect (inbound): `/v1/messages`, `count_tokens`, models, errors.

Pure translation between Anthropic's wire format and the canonical model. The stream
renderer is a strict state machine: one content block open at a time, indexes in the
order blocks appear in the final `content`, `ping` after `message_start` and on
silence, an `error` event when the provider fails mid-stream, and parallel tool calls
whose argument deltas interleave are serialised into consecutive blocks without loss.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    ChatResponse,
    DocumentPart,
    Error,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    InvalidRequest,
    Message,
    ProxyError,
    ReasoningConfig,
    ReasoningDelta,
    ReasoningPart,
    RenderedRequest,
    ResponseFormat,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
    Usage,
)
from chatmock_lab.dialects.fields import (
    expect,
    expect_object,
    join,
    json_schema_object,
    one_of,
    optional,
    optional_int,
    optional_number,
    required,
    string_list,
)
from chatmock_lab.images import decode_base64_image, media_type_of
from chatmock_lab.tokens import arguments_json

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_MIN_THINKING_TOP_P = 0.95
_MIN_THINKING_BUDGET = 1024
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_EFFORTS = ("low", "medium", "high", "xhigh", "max")
# Canonical efforts output_config.effort lacks, and the nearest it has ("none" is handled
# as thinking disabled).
_EFFORT_ALIASES = {"minimal": "low"}
# Anthropic requires max_tokens; a request that set none gets this much (translator policy).
_DEFAULT_MAX_TOKENS = 4096
_MAX_TEMPERATURE = 1.0
# Server tools run at Anthropic; no other provider can run them, so they are dropped
# (and reported) rather than failing a client such as Claude Code that offers them.
_CLIENT_TOOL_TYPES = (None, "custom")

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
}


@dataclass(slots=True)
class RequestOptions:
    """How the client wants the answer, beside the canonical request."""

    stream: bool = False
    # Thinking blocks are only sent to a client that enabled thinking.
    include_thinking: bool = False
    # What could not be carried over, for debug output.
    dropped: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- requests


def parse_request(
    body: Any, *, beta: list[str] | None = None, count_only: bool = False
) -> tuple[ChatRequest, RequestOptions]:
    """A Messages body as a canonical request. `count_only` parses a `count_tokens`
    body, which has no `max_tokens`."""
    body = expect_object(body)
    options = RequestOptions()
    model = required(body, "model", str)
    max_tokens = None if count_only else required(body, "max_tokens", int)
    if max_tokens is not None and max_tokens < 1:
        raise InvalidRequest("max_tokens: must be at least 1", param="max_tokens")
    raw_messages = required(body, "messages", list)
    if not raw_messages and not count_only:
        raise InvalidRequest("messages: must contain at least one message", param="messages")

    system = _parse_system(body.get("system"))
    tools = _parse_tools(body.get("tools"), options)
    tool_choice, parallel = _parse_tool_choice(body.get("tool_choice"), tools)
    reasoning = _parse_thinking(body.get("thinking"), max_tokens)
    output_config = optional(body, "output_config", dict) or {}
    effort = output_config.get("effort")
    if effort is not None:
        effort = one_of(effort, _EFFORTS, "output_config.effort")
        reasoning = reasoning or ReasoningConfig()
        reasoning.effort = effort
    metadata = optional(body, "metadata", dict)
    user = None
    if metadata is not None:
        user = optional(metadata, "user_id", str, "metadata")

    request = ChatRequest(
        model=model,
        messages=_parse_messages(raw_messages),
        system=system,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        max_tokens=max_tokens,
        temperature=optional_number(body, "temperature", minimum=0, maximum=1),
        top_p=optional_number(body, "top_p", minimum=0, maximum=1),
        top_k=optional_int(body, "top_k", minimum=0),
        stop=(
            string_list(body["stop_sequences"], "stop_sequences")
            if body.get("stop_sequences") is not None
            else []
        ),
        response_format=_parse_output_format(output_config.get("format")),
        reasoning=reasoning,
        user=user,
        metadata=metadata,
        extensions={"anthropic-beta": list(beta)} if beta else {},
    )
    options.stream = bool(optional(body, "stream", bool))
    options.include_thinking = reasoning is not None and reasoning.include
    return request, options


def _parse_system(raw: Any) -> list[TextPart]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [TextPart(raw)] if raw else []
    parts = []
    for i, block in enumerate(expect(raw, list, "system")):
        path = join("system", i)
        block = expect_object(block, path)
        one_of(required(block, "type", str, path), ("text",), join(path, "type"))
        parts.append(
            TextPart(
                required(block, "text", str, path),
                cache_control=optional(block, "cache_control", dict, path),
            )
        )
    return parts


def _parse_thinking(raw: Any, max_tokens: int | None) -> ReasoningConfig | None:
    if raw is None:
        return None
    raw = expect_object(raw, "thinking")
    kind = one_of(
        required(raw, "type", str, "thinking"), ("enabled", "disabled", "adaptive"), "thinking.type"
    )
    if kind == "disabled":
        return None
    display = optional(raw, "display", str, "thinking")
    include = display != "omitted"
    if kind == "adaptive":
        return ReasoningConfig(include=include)
    budget = required(raw, "budget_tokens", int, "thinking")
    if budget < _MIN_THINKING_BUDGET:
        raise InvalidRequest(
            f"thinking.budget_tokens: must be at least {_MIN_THINKING_BUDGET}, got {budget}",
            param="thinking.budget_tokens",
        )
    if max_tokens is not None and budget >= max_tokens:
        raise InvalidRequest(
            f"thinking.budget_tokens: must be less than max_tokens ({max_tokens}), got {budget}",
            param="thinking.budget_tokens",
        )
    return ReasoningConfig(budget_tokens=budget, include=include)


def _parse_output_format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    raw = expect_object(raw, "output_config.format")
    one_of(
        required(raw, "type", str, "output_config.format"),
        ("json_schema",),
        "output_config.format.type",
    )
    return ResponseFormat(
        type="json_schema", schema=required(raw, "schema", dict, "output_config.format")
    )


def _parse_tools(raw: Any, options: RequestOptions) -> list[ToolDefinition]:
    if raw is None:
        return []
    tools = []
    for i, item in enumerate(expect(raw, list, "tools")):
        path = join("tools", i)
        item = expect_object(item, path)
        kind = optional(item, "type", str, path)
        if kind not in _CLIENT_TOOL_TYPES:
            options.dropped.append(f"{path}: server tool {kind!r} has no equivalent here")
            continue
        name = required(item, "name", str, path)
        if not _TOOL_NAME.match(name):
            raise InvalidRequest(
                f"{join(path, 'name')}: must be 1-128 characters of a-z, A-Z, 0-9, _ or -",
                param=join(path, "name"),
            )
        tools.append(
            ToolDefinition(
                name=name,
                description=optional(item, "description", str, path),
                parameters=json_schema_object(
                    required(item, "input_schema", dict, path), join(path, "input_schema")
                ),
                strict=optional(item, "strict", bool, path),
            )
        )
    return tools


def _parse_tool_choice(
    raw: Any, tools: list[ToolDefinition]
) -> tuple[ToolChoice | None, bool | None]:
    if raw is None:
        return None, None
    raw = expect_object(raw, "tool_choice")
    kind = one_of(
        required(raw, "type", str, "tool_choice"),
        ("auto", "any", "tool", "none"),
        "tool_choice.type",
    )
    disable_parallel = optional(raw, "disable_parallel_tool_use", bool, "tool_choice")
    parallel = None if disable_parallel is None else not disable_parallel
    if kind == "none":
        return ToolChoice(mode="none"), parallel
    if kind == "auto":
        return ToolChoice(mode="auto"), parallel
    if not tools:
        raise InvalidRequest(
            f"tool_choice: type {kind!r} needs at least one tool in 'tools'", param="tool_choice"
        )
    if kind == "any":
        return ToolChoice(mode="required"), parallel
    name = required(raw, "name", str, "tool_choice")
    if name not in {t.name for t in tools}:
        raise InvalidRequest(
            f"tool_choice.name: tool {name!r} is not among the request's tools",
            param="tool_choice.name",
        )
    return ToolChoice(mode="required", allowed=[name]), parallel


def _parse_messages(raw: list[Any]) -> list[Message]:
    messages: list[Message] = []
    call_names: dict[str, str] = {}
    for i, item in enumerate(raw):
        path = join("messages", i)
        item = expect_object(item, path)
        role = one_of(
            required(item, "role", str, path), ("user", "assistant", "system"), join(path, "role")
        )
        content = item.get("content")
        content_path = join(path, "content")
        if content is None:
            raise InvalidRequest(f"{content_path}: this field is required", param=content_path)
        blocks = (
            [{"type": "text", "text": content}]
            if isinstance(content, str)
            else expect(content, list, content_path)
        )
        parts = [
            _parse_block(block, join(content_path, j), role, call_names)
            for j, block in enumerate(blocks)
        ]
        if role == "assistant":
            # Empty text blocks carry nothing; other dialects never produce them.
            parts = [p for p in parts if not (isinstance(p, TextPart) and not p.text)]
            messages.append(Message(role="assistant", parts=parts))
            continue
        # Tool results become a turn of their own, as OpenAI's `tool` messages are.
        results = [p for p in parts if isinstance(p, ToolResultPart)]
        rest = [p for p in parts if not isinstance(p, ToolResultPart)]
        if results:
            messages.append(Message(role="tool", parts=list(results)))
        if rest or not results:
            messages.append(Message(role=role, parts=rest))
    return messages


def _parse_block(block: Any, path: str, role: str, call_names: dict[str, str]) -> Any:
    block = expect_object(block, path)
    kind = required(block, "type", str, path)
    if kind == "text":
        return TextPart(
            required(block, "text", str, path),
            cache_control=optional(block, "cache_control", dict, path),
        )
    if kind == "image":
        return _parse_image(block, path)
    if kind == "document":
        return _parse_document(block, path)
    if kind == "tool_use" and role == "assistant":
        call = ToolCallPart(
            id=required(block, "id", str, path),
            name=required(block, "name", str, path),
            arguments=required(block, "input", dict, path),
        )
        call_names[call.id] = call.name
        return call
    if kind == "tool_result" and role == "user":
        tool_use_id = required(block, "tool_use_id", str, path)
        return ToolResultPart(
            tool_call_id=tool_use_id,
            content=_parse_tool_result_content(block.get("content"), join(path, "content")),
            is_error=bool(optional(block, "is_error", bool, path)),
            name=call_names.get(tool_use_id),
        )
    if kind == "thinking" and role == "assistant":
        return ReasoningPart(
            text=required(block, "thinking", str, path),
            signature=optional(block, "signature", str, path),
        )
    if kind == "redacted_thinking" and role == "assistant":
        return ReasoningPart(redacted=required(block, "data", str, path))
    allowed = (
        "text, image, document, tool_use, thinking, redacted_thinking"
        if role == "assistant"
        else "text, image, document, tool_result"
    )
    raise InvalidRequest(
        f"{join(path, 'type')}: block type {kind!r} is not allowed in a {role} message"
        f" (allowed: {allowed})",
        param=join(path, "type"),
    )


def _parse_image(block: dict[str, Any], path: str) -> ImagePart:
    source = required(block, "source", dict, path)
    source_path = join(path, "source")
    kind = one_of(
        required(source, "type", str, source_path), ("base64", "url"), join(source_path, "type")
    )
    if kind == "url":
        return ImagePart(url=required(source, "url", str, source_path))
    media_type = one_of(
        required(source, "media_type", str, source_path),
        _IMAGE_TYPES,
        join(source_path, "media_type"),
    )
    return ImagePart(data=required(source, "data", str, source_path), media_type=media_type)


def _parse_document(block: dict[str, Any], path: str) -> DocumentPart:
    source = required(block, "source", dict, path)
    source_path = join(path, "source")
    kind = one_of(
        required(source, "type", str, source_path),
        ("base64", "text", "url", "content"),
        join(source_path, "type"),
    )
    title = optional(block, "title", str, path)
    if kind == "base64":
        return DocumentPart(
            media_type=required(source, "media_type", str, source_path),
            data=required(source, "data", str, source_path),
            title=title,
        )
    if kind == "text":
        return DocumentPart(
            media_type=optional(source, "media_type", str, source_path) or "text/plain",
            text=required(source, "data", str, source_path),
            title=title,
        )
    if kind == "url":
        return DocumentPart(url=required(source, "url", str, source_path), title=title)
    content = source.get("content")
    texts = _parse_tool_result_content(content, join(source_path, "content"))
    return DocumentPart(
        media_type="text/plain",
        text="\n".join(p.text for p in texts if isinstance(p, TextPart)),
        title=title,
    )


def _parse_tool_result_content(raw: Any, path: str) -> list[TextPart | ImagePart]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [TextPart(raw)]
    parts: list[TextPart | ImagePart] = []
    for i, block in enumerate(expect(raw, list, path)):
        block_path = join(path, i)
        block = expect_object(block, block_path)
        kind = required(block, "type", str, block_path)
        if kind == "text":
            parts.append(TextPart(required(block, "text", str, block_path)))
        elif kind == "image":
            parts.append(_parse_image(block, block_path))
        elif kind == "document":
            document = _parse_document(block, block_path)
            if document.text is not None:
                parts.append(TextPart(document.text))
            else:
                raise InvalidRequest(
                    f"{block_path}: only text documents can be tool results here",
                    param=block_path,
                )
        else:
            raise InvalidRequest(
                f"{join(block_path, 'type')}: block type {kind!r} is not allowed in a"
                " tool_result (allowed: text, image, document)",
                param=join(block_path, "type"),
            )
    return parts


# --------------------------------------------------------------------------- rendering requests


def render_request(request: ChatRequest, *, stream: bool = False) -> RenderedRequest:
    """The `/v1/messages` body an Anthropic client would send for `request`.

    Normalisations (not losses, so not in `dropped`): `max_tokens` is required, so a
    request without one gets 4096 (or 4096 above its thinking budget); a tool turn and the
    user turn after it become one user message, results first; a single plain text block
    is sent as a string; `parallel_tool_calls` without a tool choice rides on
    `{"type": "auto"}`; a `user` is sent as `metadata.user_id`; an effort without a budget
    asks for adaptive thinking (the effort goes in `output_config.effort`); empty assistant
    text is left out. The `anthropic-beta` extension belongs in a header, which a body
    cannot carry: it is listed in `dropped`."""
    dropped: list[str] = []
    tools = _render_tools(request.tools, dropped)
    thinking, effort, max_tokens = _render_reasoning(request, dropped)
    body: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens}
    system = _render_system(request.system)
    if system is not None:
        body["system"] = system
    body["messages"] = _render_messages(request.messages, dropped)
    if tools:
        body["tools"] = tools
    tool_choice = _render_tool_choice(request, {t["name"] for t in tools}, dropped)
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if request.temperature is not None:
        temperature = request.temperature
        if temperature > _MAX_TEMPERATURE:
            # OpenAI and Gemini go up to 2; the nearest Anthropic value keeps the intent.
            dropped.append(f"temperature: Anthropic's range is 0-1; {temperature} sent as 1.0")
            temperature = _MAX_TEMPERATURE
        body["temperature"] = temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.top_k is not None:
        body["top_k"] = request.top_k
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    for name in ("seed", "presence_penalty", "frequency_penalty"):
        if getattr(request, name) is not None:
            dropped.append(f"{name}: Anthropic has no {name}")
    if thinking is not None:
        body["thinking"] = thinking
    output_config: dict[str, Any] = {}
    if effort is not None:
        output_config["effort"] = effort
    output_format = _render_output_format(request.response_format, dropped)
    if output_format is not None:
        output_config["format"] = output_format
    if output_config:
        body["output_config"] = output_config
    metadata = _render_metadata(request, dropped)
    if metadata is not None:
        body["metadata"] = metadata
    for key in request.extensions:
        where = "the anthropic-beta header" if key == "anthropic-beta" else "no body field"
        dropped.append(f"extensions.{key}: Anthropic takes it in {where}, not in this body")
    _fit_thinking(body, dropped)
    if stream:
        body["stream"] = True
    # A copy, so a caller editing the body cannot reach into the canonical request.
    return RenderedRequest(body=copy.deepcopy(body), path="/v1/messages", dropped=dropped)


def _fit_thinking(body: dict[str, Any], dropped: list[str]) -> None:
    """Anthropic refuses extended thinking beside forced tool use, a temperature other than
    1, `top_k`, or a `top_p` below 0.95 (its "feature compatibility" rules); other dialects
    allow them together, so a translated request gives way, and says so."""
    thinking = body.get("thinking")
    if thinking is None or thinking.get("type") == "disabled":
        return
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        # The forced call is what the caller's code waits for; thinking only helps.
        del body["thinking"]
        dropped.append("reasoning: Anthropic cannot think before a forced tool call; not sent")
        return
    temperature = body.get("temperature")
    if temperature is not None and temperature != _MAX_TEMPERATURE:
        del body["temperature"]
        dropped.append(f"temperature: Anthropic thinks only at its default; {temperature} not sent")
    if "top_k" in body:
        dropped.append(
            f"top_k: Anthropic does not take it with thinking; {body.pop('top_k')} not sent"
        )
    top_p = body.get("top_p")
    if top_p is not None and top_p < _MIN_THINKING_TOP_P:
        body["top_p"] = _MIN_THINKING_TOP_P
        dropped.append(f"top_p: at least 0.95 with Anthropic's thinking; {top_p} sent as 0.95")


def _text_block(part: TextPart) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": part.text}
    if part.cache_control is not None:
        block["cache_control"] = part.cache_control
    return block


def _compact(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One plain text block as the string clients usually send; the parser reads both."""
    if len(blocks) == 1 and blocks[0].keys() == {"type", "text"} and blocks[0]["type"] == "text":
        return blocks[0]["text"]
    return blocks


def _render_system(parts: list[TextPart]) -> str | list[dict[str, Any]] | None:
    if not parts:
        return None
    return _compact([_text_block(p) for p in parts])


def _render_tools(tools: list[ToolDefinition], dropped: list[str]) -> list[dict[str, Any]]:
    rendered: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not _TOOL_NAME.match(tool.name):
            # Gemini allows '.' and ':' in names; Anthropic rejects the whole request.
            dropped.append(f"tools[{i}]: {tool.name!r} is not a valid Anthropic tool name")
            continue
        item: dict[str, Any] = {"name": tool.name}
        if tool.description:
            item["description"] = tool.description
        item["input_schema"] = tool.parameters
        if tool.strict is not None:
            item["strict"] = tool.strict
        rendered.append(item)
    return rendered


def _render_tool_choice(
    request: ChatRequest, names: set[str], dropped: list[str]
) -> dict[str, Any] | None:
    choice, parallel = request.tool_choice, request.parallel_tool_calls
    if choice is None and parallel is None:
        return None
    if not names:
        # Without tools, auto and none say nothing; the rest cannot be said.
        if choice is not None and choice.mode == "required":
            dropped.append("tool_choice: no tools to choose from")
        if parallel is not None:
            dropped.append("parallel_tool_calls: no tools to call")
        return None
    mode = choice.mode if choice is not None else "auto"
    wanted = (choice.allowed or []) if choice is not None else []
    allowed = [n for n in wanted if n in names]
    if len(allowed) < len(wanted):
        dropped.append("tool_choice.allowed: names a tool that was not carried over")
        if not allowed and mode == "required":
            mode = "auto"  # forcing a call to tools the client did not pick would change it
    rendered: dict[str, Any]
    if mode == "none":
        rendered = {"type": "none"}
    elif mode == "required" and len(allowed) == 1:
        rendered = {"type": "tool", "name": allowed[0]}
    elif mode == "required":
        rendered = {"type": "any"}
        if allowed:
            dropped.append("tool_choice.allowed: Anthropic forces one named tool or any tool")
    else:
        rendered = {"type": "auto"}
        if allowed:
            dropped.append("tool_choice.allowed: Anthropic cannot narrow auto to some tools")
    if parallel is not None:
        if mode == "none":
            dropped.append("parallel_tool_calls: Anthropic's none choice takes no such flag")
        else:
            rendered["disable_parallel_tool_use"] = not parallel
    return rendered


def _render_reasoning(
    request: ChatRequest, dropped: list[str]
) -> tuple[dict[str, Any] | None, str | None, int]:
    """`thinking`, `output_config.effort` and `max_tokens` (which must exceed the budget)."""
    reasoning = request.reasoning
    max_tokens = request.max_tokens
    if reasoning is None:
        return None, None, max_tokens or _DEFAULT_MAX_TOKENS
    if reasoning.effort == "none" and reasoning.budget_tokens is None:
        return {"type": "disabled"}, None, max_tokens or _DEFAULT_MAX_TOKENS
    effort = reasoning.effort
    if effort is not None and effort not in _EFFORTS:
        alias = _EFFORT_ALIASES.get(effort)
        sent = f"; sent as {alias!r}" if alias else ""
        dropped.append(f"reasoning.effort: Anthropic has no {effort!r} effort{sent}")
        effort = alias
    thinking: dict[str, Any] | None = {"type": "adaptive"}
    budget = reasoning.budget_tokens
    if budget is not None:
        if budget < _MIN_THINKING_BUDGET:
            dropped.append(f"reasoning.budget_tokens: Anthropic's minimum is 1024, not {budget}")
            budget = _MIN_THINKING_BUDGET
        if max_tokens is None:
            max_tokens = budget + _DEFAULT_MAX_TOKENS
        elif budget >= max_tokens:
            # Lower the budget to fit, unless that would take it below Anthropic's minimum.
            fits = max_tokens - 1 if max_tokens > _MIN_THINKING_BUDGET else None
            sent = f"sent as {fits}" if fits is not None else "thinking not sent"
            dropped.append(
                f"reasoning.budget_tokens: {budget} is not below max_tokens ({max_tokens}); {sent}"
            )
            budget = fits
        thinking = {"type": "enabled", "budget_tokens": budget} if budget is not None else None
    if thinking is not None and not reasoning.include:
        thinking["display"] = "omitted"
    elif thinking is None and not reasoning.include:
        dropped.append("reasoning.include: no thinking to hide")
    return thinking, effort, max_tokens or _DEFAULT_MAX_TOKENS


def _render_output_format(fmt: ResponseFormat | None, dropped: list[str]) -> dict[str, Any] | None:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        dropped.append("response_format: Anthropic has no JSON mode without a schema")
        return None
    if fmt.name is not None:
        dropped.append("response_format.name: Anthropic's output format has no name")
    if fmt.strict is not None:
        dropped.append("response_format.strict: Anthropic's output format is always enforced")
    return {"type": "json_schema", "schema": fmt.schema or {}}


def _render_metadata(request: ChatRequest, dropped: list[str]) -> dict[str, Any] | None:
    metadata = request.metadata or {}
    for key in metadata:
        if key != "user_id":
            dropped.append(f"metadata.{key}: Anthropic's metadata holds only user_id")
    user = request.user if request.user is not None else metadata.get("user_id")
    return {"user_id": user} if user is not None else None


def _render_messages(messages: list[Message], dropped: list[str]) -> list[dict[str, Any]]:
    rendered: list[dict[str, Any]] = []
    previous: str | None = None
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.name:
            dropped.append(f"{where}.name: Anthropic messages have no name")
        if message.role == "assistant":
            blocks = _assistant_blocks(message.parts, where, dropped)
            rendered.append({"role": "assistant", "content": blocks})
        elif message.role == "tool":
            blocks = _result_blocks(message.parts, where, dropped)
            rendered.append({"role": "user", "content": blocks})
        elif message.role == "user":
            blocks = _user_blocks(message.parts, where, dropped)
            if previous == "tool":
                # Results and the user's next words are one turn in Anthropic's shape; the
                # parser splits them into the same two canonical messages again.
                rendered[-1]["content"].extend(blocks)
            else:
                rendered.append({"role": "user", "content": blocks})
        else:
            # The Messages API (and SDK) take system turns inside the conversation too.
            blocks = _user_blocks(message.parts, where, dropped, text_only=True)
            rendered.append({"role": "system", "content": blocks})
        previous = message.role
    for item in rendered:
        item["content"] = _compact(item["content"])
    return rendered


def _user_blocks(
    parts: list[Any], where: str, dropped: list[str], *, text_only: bool = False
) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        block: dict[str, Any] | None = None
        if isinstance(part, TextPart):
            block = _text_block(part)
        elif isinstance(part, ImagePart) and not text_only:
            block = _image_block(part, at, dropped)
        elif isinstance(part, DocumentPart) and not text_only:
            block = _document_block(part, at, dropped)
        else:
            dropped.append(f"{at}: {type(part).__name__} has no place in this Anthropic turn")
        if block is not None:
            blocks.append(block)
    return blocks


def _image_block(part: ImagePart, at: str, dropped: list[str]) -> dict[str, Any] | None:
    if part.detail:
        dropped.append(f"{at}.detail: Anthropic images have no detail level")
    if part.url is not None:
        if part.media_type:
            dropped.append(f"{at}.media_type: an Anthropic image URL carries no media type")
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    media_type = part.media_type or media_type_of(decode_base64_image(part.data or "") or b"")
    if media_type not in _IMAGE_TYPES:
        dropped.append(f"{at}: Anthropic takes jpeg, png, gif or webp images, not {media_type}")
        return None
    source = {"type": "base64", "media_type": media_type, "data": part.data or ""}
    return {"type": "image", "source": source}


def _document_block(part: DocumentPart, at: str, dropped: list[str]) -> dict[str, Any] | None:
    source: dict[str, Any]
    if part.text is not None:
        if part.media_type not in (None, "text/plain"):
            dropped.append(f"{at}.media_type: Anthropic text documents are text/plain")
        source = {"type": "text", "media_type": "text/plain", "data": part.text}
    elif part.data is not None and part.media_type == "application/pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": part.data}
    elif part.data is not None:
        # Anthropic's base64 documents are PDFs; text in any other encoding goes as text.
        text = _decoded_text(part.data) if (part.media_type or "").startswith("text/") else None
        if text is None:
            dropped.append(f"{at}: Anthropic documents are PDF or text, not {part.media_type}")
            return None
        dropped.append(f"{at}.data: a {part.media_type} document is sent as plain text")
        source = {"type": "text", "media_type": "text/plain", "data": text}
    elif part.url is not None:
        if part.media_type is not None:
            dropped.append(f"{at}.media_type: an Anthropic document URL carries no media type")
        source = {"type": "url", "url": part.url}
    else:
        dropped.append(f"{at}: an empty document")
        return None
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.title is not None:
        block["title"] = part.title
    return block


def _decoded_text(data: str) -> str | None:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
        return None


def _assistant_blocks(parts: list[Any], where: str, dropped: list[str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if isinstance(part, TextPart):
            if part.text:  # Anthropic rejects empty text blocks
                blocks.append(_text_block(part))
        elif isinstance(part, ReasoningPart):
            if part.redacted is not None:
                blocks.append({"type": "redacted_thinking", "data": part.redacted})
            elif part.signature:
                blocks.append(
                    {"type": "thinking", "thinking": part.text, "signature": part.signature}
                )
            else:
                # Anthropic checks the signature of every thinking block it gets back.
                dropped.append(f"{at}: reasoning without a signature cannot go back to Anthropic")
        elif isinstance(part, ToolCallPart):
            blocks.append(_tool_use_block(part, at, dropped))
        else:
            dropped.append(f"{at}: {type(part).__name__} has no place in an assistant message")
    return blocks


def _tool_use_block(part: ToolCallPart, at: str, dropped: list[str]) -> dict[str, Any]:
    call_id = tool_use_id(part.id)
    if call_id != part.id:
        dropped.append(f"{at}.id: {part.id!r} is not a valid Anthropic id; sent as {call_id!r}")
    if not isinstance(part.arguments, dict):
        dropped.append(f"{at}.arguments: not a JSON object; sent under '_raw'")
    if part.signature is not None:
        dropped.append(f"{at}.signature: Anthropic tool calls carry no thought signature")
    return {
        "type": "tool_use",
        "id": call_id,
        "name": part.name,
        "input": tool_input(part.arguments),
    }


def _result_blocks(parts: list[Any], where: str, dropped: list[str]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, ToolResultPart):
            dropped.append(f"{at}: {type(part).__name__} has no place in a tool turn")
            continue
        content: list[dict[str, Any]] = []
        for k, item in enumerate(part.content):
            if isinstance(item, TextPart):
                content.append({"type": "text", "text": item.text})
                if item.cache_control is not None:
                    dropped.append(f"{at}.content[{k}].cache_control: not read in a tool result")
            else:
                image = _image_block(item, f"{at}.content[{k}]", dropped)
                if image is not None:
                    content.append(image)
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": tool_use_id(part.tool_call_id),
        }
        if content:
            block["content"] = _compact(content)
        if part.is_error:
            block["is_error"] = True
        blocks.append(block)
    return blocks


# --------------------------------------------------------------------------- responses


def tool_use_id(call_id: str) -> str:
    """Anthropic ids are `[a-zA-Z0-9_-]+`; ids from other upstreams are made to fit."""
    return _ID_UNSAFE.sub("_", call_id) or "toolu_empty"


def tool_input(arguments: Any) -> dict[str, Any]:
    """Anthropic's `input` must be an object; anything else (raw text from a model that
    wrote invalid JSON, a bare value) is kept under `_raw` instead of being dropped."""
    if isinstance(arguments, dict):
        return arguments
    return {"_raw": arguments_json(arguments)}


def stop_reason(reason: FinishReason, stop_sequence: str | None) -> str:
    if reason == "stop" and stop_sequence is not None:
        return "stop_sequence"
    return _STOP_REASONS[reason]


def usage_json(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage()
    # Anthropic's input_tokens exclude cached and cache-written tokens.
    fresh = max(0, usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens)
    return {
        "input_tokens": fresh,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
    }


def _block_json(part: Any) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ReasoningPart):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    return {
        "type": "tool_use",
        "id": tool_use_id(part.id),
        "name": part.name,
        "input": tool_input(part.arguments),
    }


def render_response(
    response: ChatResponse, *, id: str, model: str, include_thinking: bool
) -> dict[str, Any]:
    content = [
        _block_json(p)
        for p in response.parts
        if include_thinking or not isinstance(p, ReasoningPart)
    ]
    return {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(response.finish_reason, response.stop_sequence),
        "stop_sequence": response.stop_sequence,
        "usage": usage_json(response.usage),
    }


def event_frame(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()


PING = event_frame({"type": "ping"})


@dataclass(slots=True)
class _PendingCall:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    ended: bool = False


class MessageStreamRenderer:
    """Canonical events in, Anthropic stream events out."""

    def __init__(self, *, id: str, model: str, include_thinking: bool) -> None:
        self._id = id
        self._model = model
        self._include_thinking = include_thinking
        self._usage: Usage | None = None
        self._started = False
        self._closed = False
        self._next_index = 0
        # The open block: "text", "thinking", "tool" or None.
        self._open: str | None = None
        self._signed = False
        # Tool calls by canonical index; the first is the open block, later ones wait.
        self._calls: dict[int, _PendingCall] = {}
        self._call_order: list[int] = []
        # Text or thinking that arrives while tool calls are unfinished waits for them.
        self._deferred: list[Event] = []

    # -- framing helpers

    def _message_start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        usage = usage_json(self._usage)
        usage["output_tokens"] = 1 if self._usage is None else self._usage.output_tokens
        message = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return [event_frame({"type": "message_start", "message": message}), PING]

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        frame = event_frame({"type": "content_block_stop", "index": self._next_index - 1})
        return [frame]

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        frames = self._close_block()
        self._open = kind
        index = self._next_index
        self._next_index += 1
        frames.append(
            event_frame({"type": "content_block_start", "index": index, "content_block": block})
        )
        return frames

    def _delta(self, delta: dict[str, Any]) -> bytes:
        index = self._next_index - 1
        return event_frame({"type": "content_block_delta", "index": index, "delta": delta})

    # -- tool calls

    def _start_call(self, position: int) -> list[bytes]:
        call = self._calls[self._call_order[position]]
        block = {"type": "tool_use", "id": tool_use_id(call.id), "name": call.name, "input": {}}
        frames = self._open_block("tool", block)
        if call.arguments:
            frames.append(
                self._delta({"type": "input_json_delta", "partial_json": "".join(call.arguments)})
            )
        return frames

    def _advance_calls(self) -> list[bytes]:
        """Close finished calls at the head of the queue and open the next ones."""
        frames: list[bytes] = []
        while self._call_order and self._calls[self._call_order[0]].ended:
            frames += self._close_block()
            del self._calls[self._call_order.pop(0)]
            if self._call_order:
                frames += self._start_call(0)
        if not self._call_order and self._deferred:
            deferred, self._deferred = self._deferred, []
            for event in deferred:
                frames += self.feed(event)
        return frames

    def _flush_calls(self) -> list[bytes]:
        for call in self._calls.values():
            call.ended = True
        return self._advance_calls()

    # -- the state machine

    def start(self) -> list[bytes]:
        return []

    def keepalive(self) -> list[bytes]:
        if self._closed:
            return []
        return self._message_start() if not self._started else [PING]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, Usage):
            self._usage = event
            return []
        frames = self._message_start()
        if isinstance(event, (TextDelta, ReasoningDelta)) and self._call_order:
            self._deferred.append(event)
            return frames
        if isinstance(event, TextDelta):
            if event.text:
                if self._open != "text":
                    frames += self._open_block("text", {"type": "text", "text": ""})
                frames.append(self._delta({"type": "text_delta", "text": event.text}))
        elif isinstance(event, ReasoningDelta):
            if self._include_thinking:
                frames += self._reasoning(event)
        elif isinstance(event, ToolCallStart):
            self._calls[event.index] = _PendingCall(id=event.id, name=event.name)
            self._call_order.append(event.index)
            if len(self._call_order) == 1:
                frames += self._start_call(0)
        elif isinstance(event, ToolCallDelta):
            call = self._calls.get(event.index)
            if call is not None:
                call.arguments.append(event.arguments)
                if self._call_order[0] == event.index and event.arguments:
                    frames.append(
                        self._delta({"type": "input_json_delta", "partial_json": event.arguments})
                    )
        elif isinstance(event, ToolCallEnd):
            if event.index in self._calls:
                self._calls[event.index].ended = True
                frames += self._advance_calls()
        elif isinstance(event, Finish):
            frames += self._finish(event.reason, event.stop_sequence)
        elif isinstance(event, Error):
            frames += self._flush_calls()
            frames += self._close_block()
            self._closed = True
            frames.append(render_error_event(event.error))
        return frames

    def _reasoning(self, event: ReasoningDelta) -> list[bytes]:
        frames: list[bytes] = []
        if self._open != "thinking" or self._signed:
            frames += self._open_block("thinking", {"type": "thinking", "thinking": ""})
            self._signed = False
        if event.text:
            frames.append(self._delta({"type": "thinking_delta", "thinking": event.text}))
        if event.signature is not None:
            frames.append(self._delta({"type": "signature_delta", "signature": event.signature}))
            self._signed = True
        return frames

    def _finish(self, reason: FinishReason, stop_sequence: str | None) -> list[bytes]:
        frames = self._message_start() + self._flush_calls() + self._close_block()
        self._closed = True
        frames.append(
            event_frame(
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": stop_reason(reason, stop_sequence),
                        "stop_sequence": stop_sequence,
                    },
                    "usage": usage_json(self._usage),
                }
            )
        )
        frames.append(event_frame({"type": "message_stop"}))
        return frames

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        return self._finish("stop", None)


# --------------------------------------------------------------------------- models and errors


def render_model(model_id: str, *, created: int, display_name: str | None) -> dict[str, Any]:
    created_at = datetime.fromtimestamp(created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name or model_id,
        "created_at": created_at,
    }


def render_model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
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
    return event_frame(_error_body(error))
