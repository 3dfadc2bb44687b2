"""Parsing an inbound Chat Completions request into the canonical model.

Source: OpenAI's API reference, "Create chat completion" (`POST /v1/chat/completions`).
Anything the canonical model cannot hold is refused with an `InvalidRequest` naming
the exact parameter path, as OpenAI does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    InvalidRequest,
    Message,
    ReasoningConfig,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
    parse_arguments,
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
from chatmock_lab.dialects.openai.wire import MAX_STOP, REASONING_EFFORTS, TOOL_NAME

_ROLES = ("system", "developer", "user", "assistant", "tool")


@dataclass(slots=True)
class StreamOptions:
    """How the client wants the answer sent (`stream`, `stream_options.include_usage`),
    and the request fields the canonical model does not carry ("field: why")."""

    stream: bool = False
    include_usage: bool = False
    dropped: list[str] = field(default_factory=list)


def parse_request(body: Any) -> tuple[ChatRequest, StreamOptions]:
    """A Chat Completions body as a canonical request, plus how the client wants it sent."""
    body = expect_object(body)
    model = required(body, "model", str)
    raw_messages = required(body, "messages", list)
    if not raw_messages:
        raise InvalidRequest("messages: must contain at least one message", param="messages")
    n = optional_int(body, "n")
    if n is not None and n != 1:
        raise InvalidRequest(
            f"n: only n=1 is supported (got {n}); send separate requests for more choices",
            param="n",
        )

    system, messages = _parse_messages(raw_messages)
    tools = _parse_tools(body.get("tools"))
    tool_choice = _parse_tool_choice(body.get("tool_choice"), tools)
    max_tokens = optional_int(body, "max_completion_tokens", minimum=1)
    if max_tokens is None:
        max_tokens = optional_int(body, "max_tokens", minimum=1)
    stop = parse_stop(body)

    request = ChatRequest(
        model=model,
        messages=messages,
        system=system,
        tools=tools,
        tool_choice=tool_choice,
        parallel_tool_calls=optional(body, "parallel_tool_calls", bool),
        max_tokens=max_tokens,
        temperature=optional_number(body, "temperature", minimum=0, maximum=2),
        top_p=optional_number(body, "top_p", minimum=0, maximum=1),
        stop=stop,
        seed=optional_int(body, "seed"),
        presence_penalty=optional_number(body, "presence_penalty", minimum=-2, maximum=2),
        frequency_penalty=optional_number(body, "frequency_penalty", minimum=-2, maximum=2),
        response_format=_parse_response_format(body.get("response_format")),
        reasoning=_parse_reasoning_effort(body.get("reasoning_effort")),
        user=optional(body, "user", str),
        metadata=optional(body, "metadata", dict),
    )
    return request, parse_stream_options(body)


def parse_stream_options(body: dict[str, Any]) -> StreamOptions:
    """`stream` and `stream_options` (shared with legacy Completions)."""
    stream = bool(optional(body, "stream", bool))
    options = optional(body, "stream_options", dict) or {}
    include_usage = bool(optional(options, "include_usage", bool, "stream_options"))
    return StreamOptions(stream=stream, include_usage=include_usage)


def parse_stop(body: dict[str, Any]) -> list[str]:
    """`stop`: a string or up to four strings (shared with legacy Completions)."""
    if body.get("stop") is None:
        return []
    return string_list(body["stop"], "stop", max_items=MAX_STOP)


def _parse_reasoning_effort(value: Any) -> ReasoningConfig | None:
    if value is None:
        return None
    effort = one_of(expect(value, str, "reasoning_effort"), REASONING_EFFORTS, "reasoning_effort")
    if effort == "none":
        return None
    return ReasoningConfig(effort=effort)


def _parse_messages(raw: list[Any]) -> tuple[list[TextPart], list[Message]]:
    system: list[TextPart] = []
    messages: list[Message] = []
    call_names: dict[str, str] = {}
    for i, item in enumerate(raw):
        path = join("messages", i)
        item = expect_object(item, path)
        role = one_of(required(item, "role", str, path), _ROLES, join(path, "role"))
        name = optional(item, "name", str, path)
        if role in ("system", "developer"):
            parts = _content_parts(item.get("content"), join(path, "content"), _TEXT_ONLY)
            # Leading system prompts form the system slot; later ones keep their place.
            if not messages:
                system.extend(parts)
            else:
                messages.append(Message(role="system", parts=list(parts), name=name))
        elif role == "user":
            parts = _content_parts(item.get("content"), join(path, "content"), _USER_PARTS)
            messages.append(Message(role="user", parts=parts, name=name))
        elif role == "assistant":
            message = _assistant_message(item, path)
            for part in message.parts:
                if isinstance(part, ToolCallPart):
                    call_names[part.id] = part.name
            message.name = name
            messages.append(message)
        else:
            call_id = required(item, "tool_call_id", str, path)
            content = _content_parts(
                item.get("content"), join(path, "content"), _TEXT_ONLY, allow_empty=True
            )
            result = ToolResultPart(
                tool_call_id=call_id, content=list(content), name=call_names.get(call_id)
            )
            # Consecutive tool messages are one turn of results, as the other dialects say it.
            if messages and messages[-1].role == "tool":
                messages[-1].parts.append(result)
            else:
                messages.append(Message(role="tool", parts=[result]))
    return system, messages


_TEXT_ONLY = ("text",)
_USER_PARTS = ("text", "image_url", "file")


def _content_parts(
    content: Any, path: str, kinds: tuple[str, ...], *, allow_empty: bool = False
) -> list[Any]:
    """Message content (a string or typed parts) as canonical parts of the allowed kinds."""
    if content is None:
        if allow_empty:
            return []
        raise InvalidRequest(f"{path}: this field is required", param=path)
    if isinstance(content, str):
        return [TextPart(content)]
    parts: list[Any] = []
    for j, item in enumerate(expect(content, list, path)):
        part_path = join(path, j)
        item = expect_object(item, part_path)
        kind = required(item, "type", str, part_path)
        if kind not in kinds:
            supported = ", ".join(repr(k) for k in kinds)
            raise InvalidRequest(
                f"{join(part_path, 'type')}: unsupported content part type {kind!r}"
                f" (supported here: {supported})",
                param=join(part_path, "type"),
            )
        if kind == "text":
            parts.append(TextPart(required(item, "text", str, part_path)))
        elif kind == "image_url":
            image = required(item, "image_url", dict, part_path)
            url = required(image, "url", str, join(part_path, "image_url"))
            detail = optional(image, "detail", str, join(part_path, "image_url"))
            parts.append(ImagePart.from_url(url, detail=detail))
        else:
            file = required(item, "file", dict, part_path)
            parts.append(_file_part(file, join(part_path, "file")))
    return parts


def _file_part(file: dict[str, Any], path: str) -> DocumentPart:
    file_data = optional(file, "file_data", str, path)
    if file_data is None:
        raise InvalidRequest(
            f"{join(path, 'file_data')}: only inline files (file_data) are supported here",
            param=join(path, "file_data"),
        )
    image = ImagePart.from_url(file_data)
    return DocumentPart(
        media_type=image.media_type or "application/pdf",
        data=image.data if image.data is not None else file_data,
        title=optional(file, "filename", str, path),
    )


def _assistant_message(item: dict[str, Any], path: str) -> Message:
    parts: list[Any] = []
    content = item.get("content")
    content_path = join(path, "content")
    if isinstance(content, str):
        if content:
            parts.append(TextPart(content))
    elif content is not None:
        for j, block in enumerate(expect(content, list, content_path)):
            block_path = join(content_path, j)
            block = expect_object(block, block_path)
            kind = one_of(
                required(block, "type", str, block_path),
                ("text", "refusal"),
                join(block_path, "type"),
            )
            parts.append(TextPart(required(block, kind, str, block_path)))
    reasoning = item.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        parts.insert(0, ReasoningPart(text=reasoning))
    calls = item.get("tool_calls")
    if calls is not None:
        calls_path = join(path, "tool_calls")
        for k, call in enumerate(expect(calls, list, calls_path)):
            call_path = join(calls_path, k)
            call = expect_object(call, call_path)
            function = required(call, "function", dict, call_path)
            function_path = join(call_path, "function")
            arguments = optional(function, "arguments", str, function_path) or ""
            parts.append(
                ToolCallPart(
                    id=required(call, "id", str, call_path),
                    name=required(function, "name", str, function_path),
                    arguments=parse_arguments(arguments),
                )
            )
    if content is None and calls is None:
        raise InvalidRequest(
            f"{content_path}: an assistant message needs content or tool_calls", param=content_path
        )
    return Message(role="assistant", parts=parts)


def _parse_tools(raw: Any) -> list[ToolDefinition]:
    if raw is None:
        return []
    tools: list[ToolDefinition] = []
    for i, item in enumerate(expect(raw, list, "tools")):
        path = join("tools", i)
        item = expect_object(item, path)
        one_of(required(item, "type", str, path), ("function",), join(path, "type"))
        function = required(item, "function", dict, path)
        function_path = join(path, "function")
        name = required(function, "name", str, function_path)
        if not TOOL_NAME.match(name):
            raise InvalidRequest(
                f"{join(function_path, 'name')}: must be 1-64 characters of a-z, A-Z, 0-9, _ or -",
                param=join(function_path, "name"),
            )
        parameters = function.get("parameters")
        tools.append(
            ToolDefinition(
                name=name,
                description=optional(function, "description", str, function_path),
                parameters=(
                    json_schema_object(parameters, join(function_path, "parameters"))
                    if parameters is not None
                    else {"type": "object", "properties": {}}
                ),
                strict=optional(function, "strict", bool, function_path),
            )
        )
    return tools


def _named_function(value: dict[str, Any], path: str) -> str:
    function = required(value, "function", dict, path)
    return required(function, "name", str, join(path, "function"))


def _parse_tool_choice(raw: Any, tools: list[ToolDefinition]) -> ToolChoice | None:
    if raw is None:
        return None
    if not tools and raw != "none":
        raise InvalidRequest(
            "tool_choice: only allowed when tools are specified", param="tool_choice"
        )
    if isinstance(raw, str):
        return ToolChoice(mode=one_of(raw, ("auto", "none", "required"), "tool_choice"))  # type: ignore[arg-type]
    raw = expect_object(raw, "tool_choice")
    kind = one_of(
        required(raw, "type", str, "tool_choice"), ("function", "allowed_tools"), "tool_choice.type"
    )
    if kind == "function":
        names = [_named_function(raw, "tool_choice")]
        mode = "required"
    else:
        allowed = required(raw, "allowed_tools", dict, "tool_choice")
        path = "tool_choice.allowed_tools"
        mode = one_of(
            required(allowed, "mode", str, path), ("auto", "required"), join(path, "mode")
        )
        names = [
            _named_function(
                expect_object(tool, join(join(path, "tools"), i)), join(join(path, "tools"), i)
            )
            for i, tool in enumerate(required(allowed, "tools", list, path))
        ]
    known = {t.name for t in tools}
    for name in names:
        if name not in known:
            raise InvalidRequest(
                f"tool_choice: function {name!r} is not among the request's tools",
                param="tool_choice",
            )
    return ToolChoice(mode=mode, allowed=names)  # type: ignore[arg-type]


def _parse_response_format(raw: Any) -> ResponseFormat | None:
    if raw is None:
        return None
    raw = expect_object(raw, "response_format")
    kind = one_of(
        required(raw, "type", str, "response_format"),
        ("text", "json_object", "json_schema"),
        "response_format.type",
    )
    if kind != "json_schema":
        return ResponseFormat(type=kind)  # type: ignore[arg-type]
    spec = required(raw, "json_schema", dict, "response_format")
    path = "response_format.json_schema"
    return ResponseFormat(
        type="json_schema",
        name=required(spec, "name", str, path),
        schema=optional(spec, "schema", dict, path) or {},
        strict=optional(spec, "strict", bool, path),
    )
