"""Parsing an inbound Responses request (`POST /v1/responses`) into the canonical model.

Source: OpenAI's API reference, "Create a model response", and the openai-python SDK's
`ResponseCreateParams`. Input items are read by `items`; every other field is
carried, noted in `dropped` ("field: why"), or refused where dropping it would change
the answer (`background`, `conversation`, `prompt`).

`previous_response_id` is resolved by the route (the stored conversation is server
state); `with_history` puts the stored messages before this request's input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    InvalidRequest,
    Message,
    ReasoningConfig,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
)
from chatmock_lab.core.tools import narrow_tool_choice
from chatmock_lab.dialects.fields import (
    expect,
    expect_object,
    join,
    note_unread,
    one_of,
    optional,
    optional_int,
    optional_number,
    required,
)
from chatmock_lab.dialects.openai.parse import parse_function
from chatmock_lab.dialects.responses.items import parse_input
from chatmock_lab.dialects.responses.wire import (
    INCLUDE_ENCRYPTED_REASONING,
    INCLUDE_LOGPROBS,
    REASONING_EFFORTS,
    REASONING_SUMMARIES,
    SERVICE_TIERS,
)

# Every documented "Create a model response" field this parser reads or refuses.
_READ = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "reasoning", "text", "max_output_tokens", "temperature", "top_p", "store",
        "metadata", "include", "prompt_cache_key", "safety_identifier", "service_tier",
        "user", "truncation", "top_logprobs", "stream", "stream_options", "background",
        "conversation", "previous_response_id", "prompt",
    }
)  # fmt: skip
_NOT_CARRIED = {
    "max_tool_calls": "limits OpenAI-hosted tool calls; no hosted tools run here",
    "prompt_cache_retention": "cache retention is an OpenAI-only setting; not sent upstream",
    "prompt_cache_options": "prompt-cache options are OpenAI-only; not sent upstream",
    "context_management": "server-side compaction is OpenAI's; the proxy does not compact",
    "background_options": "background responses are not supported",
    "moderation": "OpenAI's moderation is not run by the proxy",
    "access_programs": "OpenAI access programs do not apply here",
    "image": "image context options are OpenAI-only",
}
_FUNCTION_TOOL_FIELDS = frozenset({"type", "name", "description", "parameters", "strict"})


@dataclass(slots=True)
class ResponsesOptions:
    """How the client wants the answer, and what the response object echoes back.

    `input` is this request's input as canonical messages (system turns included, before
    any are lifted into the system slot), which the store appends to the conversation;
    `instructions` the request's own instructions (never carried to a later response).
    `echo` holds the request fields a response object repeats (tools, text, reasoning,
    ...), already in their wire form."""

    stream: bool = False
    store: bool = True
    previous_response_id: str | None = None
    include_encrypted_reasoning: bool = False
    input: list[Message] = field(default_factory=list)
    instructions: list[TextPart] = field(default_factory=list)
    echo: dict[str, Any] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def parse_request(body: Any) -> tuple[ChatRequest, ResponsesOptions]:
    """A Responses body as a canonical request (without any stored conversation), plus
    how the client wants it answered."""
    body = expect_object(body)
    model = required(body, "model", str)
    options = ResponsesOptions()
    _refuse_unsupported(body)
    options.previous_response_id = optional(body, "previous_response_id", str)
    options.stream = bool(optional(body, "stream", bool))
    store = optional(body, "store", bool)
    options.store = True if store is None else store
    optional(body, "stream_options", dict)
    dropped = options.dropped
    unread = {k: v for k, v in body.items() if not (k == "background" and v is False)}
    note_unread(unread, "", _READ, _NOT_CARRIED, dropped)

    raw_input = body.get("input")
    if raw_input is None and options.previous_response_id is None:
        raise InvalidRequest("input: this field is required", param="input")
    options.input = parse_input(raw_input, dropped) if raw_input is not None else []
    if not options.input and options.previous_response_id is None:
        raise InvalidRequest("input: must contain at least one item", param="input")
    instructions = optional(body, "instructions", str)
    options.instructions = [TextPart(instructions)] if instructions else []

    tools = _parse_tools(body.get("tools"), dropped)
    choice = narrow_tool_choice(
        _parse_tool_choice(body.get("tool_choice"), dropped),
        {t.name for t in tools},
        dropped,
        noun="function",
    )
    includes = _parse_include(body.get("include"))
    options.include_encrypted_reasoning = INCLUDE_ENCRYPTED_REASONING in includes
    top_logprobs = optional_int(body, "top_logprobs", minimum=0, maximum=20)
    service_tier = optional(body, "service_tier", str)
    if service_tier is not None:
        one_of(service_tier, SERVICE_TIERS, "service_tier")
    truncation = optional(body, "truncation", str)
    if truncation is not None:
        one_of(truncation, ("auto", "disabled"), "truncation")
        if truncation == "auto":
            dropped.append("truncation: the proxy does not truncate; the upstream's limit applies")
    reasoning = _parse_reasoning(body.get("reasoning"), dropped)
    text_format = _parse_text(body.get("text"), dropped)
    metadata = optional(body, "metadata", dict)
    system, messages = split_system(options.instructions, options.input)
    request = ChatRequest(
        model=model,
        messages=messages,
        system=system,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=optional(body, "parallel_tool_calls", bool),
        max_tokens=optional_int(body, "max_output_tokens", minimum=1),
        temperature=optional_number(body, "temperature", minimum=0, maximum=2),
        top_p=optional_number(body, "top_p", minimum=0, maximum=1),
        response_format=text_format,
        reasoning=reasoning,
        logprobs=True if INCLUDE_LOGPROBS in includes or top_logprobs else None,
        top_logprobs=top_logprobs,
        service_tier=service_tier,
        prompt_cache_key=optional(body, "prompt_cache_key", str),
        safety_identifier=optional(body, "safety_identifier", str),
        user=optional(body, "user", str),
        metadata=metadata,
    )
    options.echo = _echo(body, request)
    return request, options


def _refuse_unsupported(body: dict[str, Any]) -> None:
    """Fields whose loss would change the answer: refused, not dropped."""
    if optional(body, "background", bool):
        raise InvalidRequest(
            "background: background responses are not supported; send the request"
            " without background (stream it for long answers)",
            param="background",
        )
    if body.get("conversation") is not None:
        raise InvalidRequest(
            "conversation: stored conversations are not supported; send the history"
            " in input or continue with previous_response_id",
            param="conversation",
        )
    if body.get("prompt") is not None:
        raise InvalidRequest(
            "prompt: prompt templates are stored at OpenAI and cannot be resolved here;"
            " send instructions and input instead",
            param="prompt",
        )


def with_history(
    request: ChatRequest, options: ResponsesOptions, history: list[Message]
) -> ChatRequest:
    """The request continued from a stored conversation: its messages, then this input.
    Only this request's instructions apply (a previous response's are not carried).
    Results in `options.input` answering a stored call are given the call's function
    name (Gemini pairs results by it), so the conversation stored next has it too."""
    names = {
        part.id: part.name
        for message in history
        for part in message.parts
        if isinstance(part, ToolCallPart)
    }
    for message in options.input:
        for part in message.parts:
            if isinstance(part, ToolResultPart) and part.name is None:
                part.name = names.get(part.tool_call_id)
    system, messages = split_system(options.instructions, [*history, *options.input])
    return dataclasses.replace(request, system=system, messages=messages)


def split_system(
    instructions: list[TextPart], turns: list[Message]
) -> tuple[list[TextPart], list[Message]]:
    """The system slot and the messages after it: the instructions when there are
    some, with every system and developer turn kept in its place (an upstream that
    speaks Responses gets them back as the separate items they were); else the leading
    system and developer turns, as the other dialects' system prompts."""
    if instructions:
        return list(instructions), list(turns)
    system: list[TextPart] = []
    start = 0
    while start < len(turns) and turns[start].role == "system":
        system += [p for p in turns[start].parts if isinstance(p, TextPart)]
        start += 1
    return system, list(turns[start:])


# ---------------------------------------------------------------- tools


def _parse_tools(raw: Any, dropped: list[str]) -> list[ToolDefinition]:
    if raw is None:
        return []
    tools: list[ToolDefinition] = []
    for i, tool in enumerate(expect(raw, list, "tools")):
        path = join("tools", i)
        tool = expect_object(tool, path)
        kind = required(tool, "type", str, path)
        if kind != "function":
            dropped.append(
                f"{path}: {kind!r} is an OpenAI-hosted (or non-function) tool; not carried over"
            )
            continue
        note_unread(tool, path, _FUNCTION_TOOL_FIELDS, {}, dropped)
        tools.append(parse_function(tool, path))
    return tools


def _parse_tool_choice(raw: Any, dropped: list[str]) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        mode = one_of(raw, ("auto", "none", "required"), "tool_choice")
        return ToolChoice(mode=mode)  # type: ignore[arg-type]
    choice = expect_object(raw, "tool_choice")
    kind = required(choice, "type", str, "tool_choice")
    if kind == "function":
        return ToolChoice(mode="required", allowed=[required(choice, "name", str, "tool_choice")])
    if kind == "allowed_tools":
        mode = one_of(
            required(choice, "mode", str, "tool_choice"), ("auto", "required"), "tool_choice.mode"
        )
        names: list[str] = []
        for k, tool in enumerate(required(choice, "tools", list, "tool_choice")):
            at = join("tool_choice.tools", k)
            tool = expect_object(tool, at)
            if tool.get("type") == "function":
                names.append(required(tool, "name", str, at))
            else:
                dropped.append(f"{at}: only function tools can be allowed here; left out")
        return ToolChoice(mode=mode, allowed=names)  # type: ignore[arg-type]
    dropped.append(f"tool_choice: {kind!r} names a tool that is not carried over; 'auto' applies")
    return ToolChoice(mode="auto")


# ---------------------------------------------------------------- the rest


def _parse_include(raw: Any) -> set[str]:
    if raw is None:
        return set()
    values = expect(raw, list, "include")
    for k, value in enumerate(values):
        expect(value, str, join("include", k))
    return set(values)


def _parse_reasoning(raw: Any, dropped: list[str]) -> ReasoningConfig | None:
    if raw is None:
        return None
    reasoning = expect_object(raw, "reasoning")
    effort = optional(reasoning, "effort", str, "reasoning")
    if effort is not None:
        one_of(effort, REASONING_EFFORTS, "reasoning.effort")
    summary = optional(reasoning, "summary", str, "reasoning") or optional(
        reasoning, "generate_summary", str, "reasoning"
    )
    if summary is not None:
        one_of(summary, REASONING_SUMMARIES, "reasoning.summary")
        if summary != "auto":
            dropped.append(
                f"reasoning.summary: {summary!r} has no canonical form;"
                " the summary is as the upstream gives it"
            )
    note_unread(
        reasoning, "reasoning", frozenset({"effort", "summary", "generate_summary"}), {}, dropped
    )
    if effort == "none" or (effort is None and summary is None):
        return None
    return ReasoningConfig(effort=effort)


def _parse_text(raw: Any, dropped: list[str]) -> ResponseFormat | None:
    if raw is None:
        return None
    text = expect_object(raw, "text")
    verbosity = optional(text, "verbosity", str, "text")
    if verbosity is not None:
        one_of(verbosity, ("low", "medium", "high"), "text.verbosity")
        if verbosity != "medium":
            dropped.append(
                "text.verbosity: no canonical equivalent; the upstream's default applies"
            )
    note_unread(text, "text", frozenset({"format", "verbosity"}), {}, dropped)
    fmt = optional(text, "format", dict, "text")
    if fmt is None:
        return None
    kind = one_of(
        required(fmt, "type", str, "text.format"),
        ("text", "json_object", "json_schema"),
        "text.format.type",
    )
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat(type="json_object")
    if fmt.get("description") is not None:
        dropped.append("text.format.description: no canonical place; not sent upstream")
    return ResponseFormat(
        type="json_schema",
        name=required(fmt, "name", str, "text.format"),
        schema=required(fmt, "schema", dict, "text.format"),
        strict=optional(fmt, "strict", bool, "text.format"),
    )


def _echo(body: dict[str, Any], request: ChatRequest) -> dict[str, Any]:
    """The request settings a response object repeats, as the client gave them (with
    OpenAI's defaults where it gave none)."""
    tools = [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters,
            "strict": True if t.strict is None else t.strict,
        }
        for t in request.tools
    ]
    raw_reasoning = body.get("reasoning")
    reasoning: dict[str, Any] = raw_reasoning if isinstance(raw_reasoning, dict) else {}
    text = dict(body["text"]) if isinstance(body.get("text"), dict) else {}
    text.setdefault("format", {"type": "text"})
    text.setdefault("verbosity", "medium")
    return {
        "instructions": body.get("instructions"),
        "max_output_tokens": request.max_tokens,
        "metadata": request.metadata or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": request.prompt_cache_key,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": request.safety_identifier,
        "service_tier": request.service_tier or "default",
        "store": body.get("store", True) is not False,
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "text": text,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": tools,
        "top_logprobs": request.top_logprobs or 0,
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "truncation": body.get("truncation") or "disabled",
        "user": request.user,
    }
