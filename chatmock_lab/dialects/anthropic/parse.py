"""Parsing an inbound Messages body (`/v1/messages`, `count_tokens`) into the canonical
request, with `RequestOptions` for what only the response needs.

Validation follows the Messages API reference: every error names the exact parameter
path (`messages[2].content[0].source.media_type`), as Anthropic's own errors do. Server
tools (web search, code execution, ...) run at Anthropic and have no equivalent here:
they are dropped and noted, so a client such as Claude Code that offers them still works.
Every other documented field the canonical request cannot hold (`container`,
`mcp_servers`, `citations`, ...) and every undocumented one gets a "field: why" note in
`RequestOptions.dropped`, never a silent drop and never a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    InvalidRequest,
    Message,
    Part,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    Role,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
    client_turn,
)
from chatmock_lab.dialects.anthropic.wire import (
    EFFORTS,
    IMAGE_TYPES,
    MIN_THINKING_BUDGET,
    SERVICE_TIERS,
    TOOL_NAME,
)
from chatmock_lab.dialects.fields import (
    expect,
    expect_object,
    join,
    json_schema_object,
    note_unread,
    one_of,
    optional,
    optional_int,
    optional_number,
    required,
    string_list,
)

# Client tools have no type or "custom"; every other type is a server tool.
_CLIENT_TOOL_TYPES = (None, "custom")

# Every documented Messages field (create message, its betas, count_tokens) this parser
# reads into the canonical request; the ones it does not carry are in _NOT_CARRIED, and
# any other field is noted as undocumented.
_READ = frozenset(
    {
        "model", "max_tokens", "messages", "system", "tools", "tool_choice", "thinking",
        "output_config", "output_format", "metadata", "temperature", "top_p", "top_k",
        "stop_sequences", "stream", "service_tier", "cache_control",
    }
)  # fmt: skip
# Documented fields with no canonical place: why each is not carried.
_NOT_CARRIED = {
    "container": "code-execution containers run at Anthropic; no equivalent here",
    "mcp_servers": "Anthropic's MCP connector runs at Anthropic; the servers are not called",
    "context_management": "context editing happens at Anthropic; the history is sent whole",
    "compaction": "compaction runs at Anthropic; answered as an ordinary turn",
    "inference_geo": "where the model runs is the upstream's choice",
    "speed": "no canonical equivalent; the upstream's default speed applies",
    "diagnostics": "prompt-cache diagnostics are Anthropic's; none are returned",
    "billing_policy": "billing is the upstream account's",
    "fallback_credit_token": "billing is the upstream account's",
    "fallbacks": "server-side fallback models are Anthropic's; none is tried",
    "thread": "server-held conversation state is Anthropic's; only the messages sent are used",
}
# Documented keys of objects inside the body, by what holds them, and why the ones the
# canonical model has no place for are not carried.
_TOOL_READ = frozenset({"type", "name", "description", "input_schema", "strict", "cache_control"})
_TOOL_NOT_CARRIED = {
    "defer_loading": "tool search is Anthropic's; the tool is always offered",
    "allowed_callers": "programmatic tool calling runs at Anthropic; the model calls it",
    "eager_input_streaming": "arguments stream as the upstream sends them",
    "input_examples": "no canonical place for examples; not sent upstream",
}
_BLOCK_NOT_CARRIED = {
    "citations": "citations are Anthropic's; none are returned",
    "context": "a document's context has no canonical place; not sent upstream",
    "transformations": "image transformations are Anthropic's; the image is sent as given",
    "caller": "programmatic tool calling runs at Anthropic",
    "toolset_name": "toolsets are Anthropic's; the call stands alone",
    "cache_control": "no canonical place for a cache hint on this block",
}
_BLOCK_READ = {
    "text": frozenset({"type", "text", "cache_control"}),
    "image": frozenset({"type", "source", "cache_control"}),
    "document": frozenset({"type", "source", "title", "cache_control"}),
    "tool_use": frozenset({"type", "id", "name", "input"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
}


@dataclass(slots=True)
class RequestOptions:
    """How the client wants the answer, beside the canonical request."""

    stream: bool = False
    # Thinking blocks are only sent to a client that enabled thinking.
    include_thinking: bool = False
    # What could not be carried over, for debug output.
    dropped: list[str] = field(default_factory=list)


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

    note_unread(body, "", _READ, _NOT_CARRIED, options.dropped)
    system = _parse_system(body.get("system"))
    tools = _parse_tools(body.get("tools"), options)
    tool_choice, parallel = _parse_tool_choice(body.get("tool_choice"), tools)
    reasoning = _parse_thinking(body.get("thinking"), max_tokens)
    output_config = optional(body, "output_config", dict) or {}
    note_unread(
        output_config, "output_config", frozenset({"effort", "format"}), {}, options.dropped
    )
    service_tier = optional(body, "service_tier", str)
    if service_tier is not None:
        one_of(service_tier, SERVICE_TIERS, "service_tier")
    effort = output_config.get("effort")
    if effort is not None:
        effort = one_of(effort, EFFORTS, "output_config.effort")
        reasoning = reasoning or ReasoningConfig()
        reasoning.effort = effort
    metadata = optional(body, "metadata", dict)
    user = None
    if metadata is not None:
        user = optional(metadata, "user_id", str, "metadata")

    request = ChatRequest(
        model=model,
        messages=_parse_messages(raw_messages, options.dropped),
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
        response_format=_parse_response_format(body, output_config),
        reasoning=reasoning,
        service_tier=service_tier,
        cache_control=optional(body, "cache_control", dict),
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
    if budget < MIN_THINKING_BUDGET:
        raise InvalidRequest(
            f"thinking.budget_tokens: must be at least {MIN_THINKING_BUDGET}, got {budget}",
            param="thinking.budget_tokens",
        )
    if max_tokens is not None and budget >= max_tokens:
        raise InvalidRequest(
            f"thinking.budget_tokens: must be less than max_tokens ({max_tokens}), got {budget}",
            param="thinking.budget_tokens",
        )
    return ReasoningConfig(budget_tokens=budget, include=include)


def _parse_response_format(
    body: dict[str, Any], output_config: dict[str, Any]
) -> ResponseFormat | None:
    """`output_config.format`, or the structured-outputs beta's top-level `output_format`
    (LiteLLM sends it with `anthropic-beta: structured-outputs-2025-11-13`): the same
    object, so either spelling gives the same format; both must agree."""
    configured = _parse_output_format(output_config.get("format"), "output_config.format")
    beta = _parse_output_format(body.get("output_format"), "output_format")
    if configured is not None and beta is not None and configured != beta:
        raise InvalidRequest(
            "output_format: disagrees with output_config.format; send one of them",
            param="output_format",
        )
    return configured or beta


def _parse_output_format(raw: Any, path: str) -> ResponseFormat | None:
    if raw is None:
        return None
    raw = expect_object(raw, path)
    one_of(required(raw, "type", str, path), ("json_schema",), join(path, "type"))
    return ResponseFormat(type="json_schema", schema=required(raw, "schema", dict, path))


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
        note_unread(item, path, _TOOL_READ, _TOOL_NOT_CARRIED, options.dropped)
        name = required(item, "name", str, path)
        if not TOOL_NAME.match(name):
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
                cache_control=optional(item, "cache_control", dict, path),
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


def _parse_messages(raw: list[Any], dropped: list[str]) -> list[Message]:
    messages: list[Message] = []
    call_names: dict[str, str] = {}
    for i, item in enumerate(raw):
        path = join("messages", i)
        item = expect_object(item, path)
        note_unread(item, path, frozenset({"role", "content"}), {}, dropped)
        # one_of has checked the value, so it is one of the canonical roles.
        role = cast(
            Role,
            one_of(
                required(item, "role", str, path),
                ("user", "assistant", "system"),
                join(path, "role"),
            ),
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
            _parse_block(block, join(content_path, j), role, call_names, dropped)
            for j, block in enumerate(blocks)
        ]
        if role == "assistant":
            # Empty text blocks carry nothing; other dialects never produce them.
            parts = [p for p in parts if not (isinstance(p, TextPart) and not p.text)]
            messages.append(Message(role="assistant", parts=parts))
            continue
        messages += client_turn(parts, role)
    return messages


def _parse_block(
    block: Any, path: str, role: str, call_names: dict[str, str], dropped: list[str]
) -> Part:
    block = expect_object(block, path)
    kind = required(block, "type", str, path)
    if kind in _BLOCK_READ:
        note_unread(block, path, _BLOCK_READ[kind], _BLOCK_NOT_CARRIED, dropped)
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
            content=_parse_tool_result_content(
                block.get("content"), join(path, "content"), dropped
            ),
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
    cache_control = optional(block, "cache_control", dict, path)
    if kind == "url":
        return ImagePart(url=required(source, "url", str, source_path), cache_control=cache_control)
    media_type = one_of(
        required(source, "media_type", str, source_path),
        IMAGE_TYPES,
        join(source_path, "media_type"),
    )
    return ImagePart(
        data=required(source, "data", str, source_path),
        media_type=media_type,
        cache_control=cache_control,
    )


def _parse_document(block: dict[str, Any], path: str) -> DocumentPart:
    source = required(block, "source", dict, path)
    source_path = join(path, "source")
    kind = one_of(
        required(source, "type", str, source_path),
        ("base64", "text", "url", "content"),
        join(source_path, "type"),
    )
    title = optional(block, "title", str, path)
    cache_control = optional(block, "cache_control", dict, path)
    if kind == "base64":
        return DocumentPart(
            media_type=required(source, "media_type", str, source_path),
            data=required(source, "data", str, source_path),
            title=title,
            cache_control=cache_control,
        )
    if kind == "text":
        return DocumentPart(
            media_type=optional(source, "media_type", str, source_path) or "text/plain",
            text=required(source, "data", str, source_path),
            title=title,
            cache_control=cache_control,
        )
    if kind == "url":
        return DocumentPart(
            url=required(source, "url", str, source_path), title=title, cache_control=cache_control
        )
    content = source.get("content")
    texts = _parse_tool_result_content(content, join(source_path, "content"), [])
    return DocumentPart(
        media_type="text/plain",
        text="\n".join(p.text for p in texts if isinstance(p, TextPart)),
        title=title,
        cache_control=cache_control,
    )


def _parse_tool_result_content(
    raw: Any, path: str, dropped: list[str]
) -> list[TextPart | ImagePart]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [TextPart(raw)]
    parts: list[TextPart | ImagePart] = []
    for i, block in enumerate(expect(raw, list, path)):
        block_path = join(path, i)
        block = expect_object(block, block_path)
        kind = required(block, "type", str, block_path)
        if kind in ("text", "image", "document"):
            note_unread(block, block_path, _BLOCK_READ[kind], _BLOCK_NOT_CARRIED, dropped)
        if kind == "text":
            parts.append(
                TextPart(
                    required(block, "text", str, block_path),
                    cache_control=optional(block, "cache_control", dict, block_path),
                )
            )
        elif kind == "image":
            parts.append(_parse_image(block, block_path))
        elif kind == "document":
            document = _parse_document(block, block_path)
            if document.text is not None:
                if document.title is not None:
                    dropped.append(f"{block_path}.title: a tool result's text has no title")
                parts.append(TextPart(document.text, cache_control=document.cache_control))
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
