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
    RefusalPart,
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
    note_unread,
    one_of,
    optional,
    optional_int,
    optional_number,
    required,
    string_list,
)
from chatmock_lab.dialects.openai.wire import (
    MAX_STOP,
    MAX_TOKENS_FIELD,
    REASONING_EFFORTS,
    SERVICE_TIERS,
    TOOL_NAME,
)

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
# Every documented "Create chat completion" field this parser reads into the canonical
# request or says it does not carry; any other field is noted as undocumented.
_READ = frozenset(
    {
        "model", "messages", "n", "tools", "tool_choice", "functions", "function_call",
        "max_completion_tokens", "max_tokens", "stop", "parallel_tool_calls", "temperature",
        "top_p", "seed", "presence_penalty", "frequency_penalty", "response_format",
        "reasoning_effort", "user", "metadata", "logprobs", "top_logprobs", "logit_bias",
        "service_tier", "prompt_cache_key", "safety_identifier", "stream", "stream_options",
    }
)  # fmt: skip
# Documented fields with no canonical place: why each is not carried.
_NOT_CARRIED = {
    "prediction": "predicted outputs are an OpenAI-only latency feature; not sent upstream",
    "audio": "audio output is not supported; the answer is text",
    "store": "storing completions at the upstream is not the proxy's to decide",
    "web_search_options": "web search is an OpenAI-hosted tool with no equivalent here",
    "verbosity": "no canonical equivalent; the upstream's default verbosity applies",
    "prompt_cache_retention": "cache retention is an OpenAI-only setting; not sent upstream",
    "modalities": "only text output is supported",
}


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

    dropped = _not_carried(body)
    system, messages = _parse_messages(raw_messages)
    if body.get("functions") is not None:
        # The pre-tools spelling of function calling: the same tools, another shape.
        if body.get("tools") is not None:
            raise InvalidRequest(
                "functions: send either tools or the legacy functions, not both",
                param="functions",
            )
        tools = _parse_functions(body["functions"])
        tool_choice = _parse_function_call(body.get("function_call"), tools)
    else:
        if body.get("function_call") is not None:
            raise InvalidRequest(
                "function_call: only allowed with functions (use tool_choice with tools)",
                param="function_call",
            )
        tools = _parse_tools(body.get("tools"))
        tool_choice = _parse_tool_choice(body.get("tool_choice"), tools)
    max_completion_tokens = optional_int(body, "max_completion_tokens", minimum=1)
    max_tokens = (
        max_completion_tokens
        if max_completion_tokens is not None
        else optional_int(body, "max_tokens", minimum=1)
    )
    extensions: dict[str, Any] = {}
    if max_tokens is not None:
        # Said again the client's way to an OpenAI-compatible upstream (Azure and
        # reasoning models refuse `max_tokens`, older servers know only `max_tokens`).
        extensions[MAX_TOKENS_FIELD] = (
            "max_completion_tokens" if max_completion_tokens is not None else "max_tokens"
        )
    stop = parse_stop(body)
    logprobs = optional(body, "logprobs", bool)
    top_logprobs = optional_int(body, "top_logprobs", minimum=0, maximum=20)
    if top_logprobs is not None and not logprobs:
        raise InvalidRequest(
            "top_logprobs: logprobs must be set to true when top_logprobs is used",
            param="top_logprobs",
        )
    service_tier = optional(body, "service_tier", str)
    if service_tier is not None:
        one_of(service_tier, SERVICE_TIERS, "service_tier")

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
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        logit_bias=_parse_logit_bias(body.get("logit_bias")),
        service_tier=service_tier,
        prompt_cache_key=optional(body, "prompt_cache_key", str),
        safety_identifier=optional(body, "safety_identifier", str),
        extensions=extensions,
    )
    options = parse_stream_options(body)
    options.dropped = dropped
    return request, options


def _not_carried(body: dict[str, Any]) -> list[str]:
    """Notes for the documented fields the canonical request has no place for, and for
    fields OpenAI does not document (sent by a client for another server, perhaps)."""
    # The defaults lose nothing.
    unread = {
        key: value
        for key, value in body.items()
        if not (key == "modalities" and value == ["text"]) and not (key == "store" and not value)
    }
    notes: list[str] = []
    note_unread(unread, "", _READ, _NOT_CARRIED, notes)
    return notes


def _parse_logit_bias(raw: Any) -> dict[str, float] | None:
    if raw is None:
        return None
    bias: dict[str, float] = {}
    for token in expect_object(raw, "logit_bias"):
        if not token.isdigit():
            raise InvalidRequest(
                f"{join('logit_bias', token)}: keys must be token ids", param="logit_bias"
            )
        number = optional_number(raw, token, "logit_bias", minimum=-100, maximum=100)
        if number is not None:
            bias[token] = number
    return bias


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
    legacy_ids: dict[str, str] = {}
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
                    if part.id == legacy_call_id(path):
                        legacy_ids[part.name] = part.id
            message.name = name
            messages.append(message)
        else:
            if role == "function":
                # Legacy function results pair by name with the latest call of it.
                function_name = required(item, "name", str, path)
                call_id = legacy_ids.get(function_name, "")
                if not call_id:
                    raise InvalidRequest(
                        f"{join(path, 'name')}: no earlier assistant function_call"
                        f" of {function_name!r} to answer",
                        param=join(path, "name"),
                    )
                name = None
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
            text = required(block, kind, str, block_path)
            parts.append(TextPart(text) if kind == "text" else RefusalPart(text))
    refusal = optional(item, "refusal", str, path)
    if refusal:
        parts.append(RefusalPart(refusal))
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
    legacy_call = item.get("function_call")
    if legacy_call is not None:
        call_path = join(path, "function_call")
        legacy_call = expect_object(legacy_call, call_path)
        arguments = optional(legacy_call, "arguments", str, call_path) or ""
        name = required(legacy_call, "name", str, call_path)
        # Legacy calls have no id; the `function` message that answers it names the function.
        parts.append(
            ToolCallPart(id=legacy_call_id(path), name=name, arguments=parse_arguments(arguments))
        )
    if content is None and calls is None and legacy_call is None and not refusal:
        raise InvalidRequest(
            f"{content_path}: an assistant message needs content or tool_calls", param=content_path
        )
    return Message(role="assistant", parts=parts)


def legacy_call_id(path: str) -> str:
    """The id given to a legacy `function_call` at `path` (messages[i]): stable, so the
    same conversation sent again is the same request."""
    return "call_" + "".join(c for c in path if c.isdigit())


def _parse_tools(raw: Any) -> list[ToolDefinition]:
    if raw is None:
        return []
    tools: list[ToolDefinition] = []
    for i, item in enumerate(expect(raw, list, "tools")):
        path = join("tools", i)
        item = expect_object(item, path)
        one_of(required(item, "type", str, path), ("function",), join(path, "type"))
        function = required(item, "function", dict, path)
        tools.append(parse_function(function, join(path, "function")))
    return tools


def parse_function(function: dict[str, Any], path: str) -> ToolDefinition:
    """A function declaration at `path` (`name`, `description`, `parameters`, `strict`):
    Chat Completions' `tools[].function`, and the Responses API's flat function tool."""
    name = required(function, "name", str, path)
    if not TOOL_NAME.match(name):
        raise InvalidRequest(
            f"{join(path, 'name')}: must be 1-64 characters of a-z, A-Z, 0-9, _ or -",
            param=join(path, "name"),
        )
    parameters = function.get("parameters")
    return ToolDefinition(
        name=name,
        description=optional(function, "description", str, path),
        parameters=(
            json_schema_object(parameters, join(path, "parameters"))
            if parameters is not None
            else {"type": "object", "properties": {}}
        ),
        strict=optional(function, "strict", bool, path),
    )


def _parse_functions(raw: Any) -> list[ToolDefinition]:
    """Legacy `functions`: each is a tool's `function` object without the wrapper."""
    wrapped = [
        {"type": "function", "function": expect_object(item, join("functions", i))}
        for i, item in enumerate(expect(raw, list, "functions"))
    ]
    try:
        return _parse_tools(wrapped)
    except InvalidRequest as error:
        # Name the field the client sent, not the tools spelling it was read as.
        path = (error.param or "").replace("tools[", "functions[", 1).replace(".function", "", 1)
        message = error.message.replace(error.param or "\0", path, 1)
        raise InvalidRequest(message, param=path) from None


def _parse_function_call(raw: Any, tools: list[ToolDefinition]) -> ToolChoice | None:
    """Legacy `function_call`: "none", "auto" or `{"name": ...}`."""
    if raw is None:
        return None
    if isinstance(raw, str):
        mode = one_of(raw, ("none", "auto"), "function_call")
        return ToolChoice(mode=mode)  # type: ignore[arg-type]
    name = required(expect_object(raw, "function_call"), "name", str, "function_call")
    if name not in {t.name for t in tools}:
        raise InvalidRequest(
            f"function_call: function {name!r} is not among the request's functions",
            param="function_call",
        )
    return ToolChoice(mode="required", allowed=[name])


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
