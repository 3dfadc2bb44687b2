"""OpenAI dialect (inbound): Chat Completions, legacy Completions, embeddings, models.

Pure translation between OpenAI's wire format and the canonical model: no I/O, no
globals. Stream renderers are small state machines fed one canonical event at a time,
returning the bytes to send.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import struct
from dataclasses import dataclass
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    ChatResponse,
    DocumentPart,
    EmbeddingRequest,
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
from chatmock_lab.tokens import arguments_json, decode

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_ROLES = ("system", "developer", "user", "assistant", "tool")
# Chat Completions takes at most four stop sequences.
_MAX_STOP = 4

_ERROR_TYPES: dict[str, str] = {
    "invalid_request": "invalid_request_error",
    "authentication": "authentication_error",
    "permission": "permission_error",
    "not_found": "invalid_request_error",
    "method_not_allowed": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "rate_limit": "rate_limit_error",
    "timeout": "timeout_error",
    "api_error": "server_error",
    "overloaded": "server_error",
}


@dataclass(slots=True)
class StreamOptions:
    stream: bool = False
    include_usage: bool = False


# --------------------------------------------------------------------------- requests


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
    stop = string_list(body["stop"], "stop", max_items=4) if body.get("stop") is not None else []

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
    return request, _parse_stream_options(body)


def _parse_stream_options(body: dict[str, Any]) -> StreamOptions:
    stream = bool(optional(body, "stream", bool))
    options = optional(body, "stream_options", dict) or {}
    include_usage = bool(optional(options, "include_usage", bool, "stream_options"))
    return StreamOptions(stream=stream, include_usage=include_usage)


def _parse_reasoning_effort(value: Any) -> ReasoningConfig | None:
    if value is None:
        return None
    effort = one_of(expect(value, str, "reasoning_effort"), _REASONING_EFFORTS, "reasoning_effort")
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
        if not _TOOL_NAME.match(name):
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


# --------------------------------------------------------------------------- responses


def usage_json(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage()
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _tool_call_json(call: ToolCallPart) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments_json(call.arguments)},
    }


def render_response(response: ChatResponse, *, id: str, model: str, created: int) -> dict[str, Any]:
    calls = response.tool_calls()
    text = response.text()
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if text or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = [_tool_call_json(c) for c in calls]
    reasoning = response.reasoning()
    if reasoning:
        # OpenAI itself returns no reasoning text; compatible servers use this field.
        message["reasoning_content"] = reasoning
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": response.finish_reason,
            }
        ],
        "usage": usage_json(response.usage),
    }


def sse(payload: dict[str, Any] | str) -> bytes:
    if isinstance(payload, str):
        data = payload
    else:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


DONE = sse("[DONE]")
# An SSE comment: clients skip it, proxies and load balancers see traffic.
KEEPALIVE = b": keep-alive\n\n"


class ChatStreamRenderer:
    """Canonical events in, `chat.completion.chunk` SSE frames out."""

    def __init__(self, *, id: str, model: str, created: int, include_usage: bool) -> None:
        self._base = {
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._include_usage = include_usage
        self._usage: Usage | None = None
        self._tool_slots: dict[int, int] = {}
        self._finished = False
        self._closed = False
        # Every chunk shares its envelope; serialising it once keeps the per-chunk cost to
        # encoding the delta alone (this is the hot path of every stream).
        envelope = json.dumps(
            {**self._base, "system_fingerprint": None, "choices": [{"index": 0, "delta": None}]},
            separators=(",", ":"),
        )
        self._head = ("data: " + envelope[: envelope.rindex("null")]).encode()
        self._close = "}]" + (',"usage":null' if include_usage else "") + "}\n\n"

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        reason = "null" if finish_reason is None else f'"{finish_reason}"'
        body = json.dumps(delta, ensure_ascii=False, separators=(",", ":"))
        return self._head + f'{body},"logprobs":null,"finish_reason":{reason}{self._close}'.encode()

    def start(self) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""})]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, TextDelta):
            return [self._chunk({"content": event.text})] if event.text else []
        if isinstance(event, ReasoningDelta):
            return [self._chunk({"reasoning_content": event.text})] if event.text else []
        if isinstance(event, ToolCallStart):
            slot = self._tool_slots.setdefault(event.index, len(self._tool_slots))
            call = {
                "index": slot,
                "id": event.id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(event, ToolCallDelta):
            slot = self._tool_slots.get(event.index, event.index)
            call = {"index": slot, "function": {"arguments": event.arguments}}
            return [self._chunk({"tool_calls": [call]})]
        if isinstance(event, Usage):
            self._usage = event
            return []
        if isinstance(event, Finish):
            if self._finished:
                return []
            self._finished = True
            return [self._chunk({}, event.reason)]
        if isinstance(event, Error):
            self._closed = True
            return [sse(render_error(event.error)[1]), DONE]
        return []

    def keepalive(self) -> list[bytes]:
        return [] if self._closed else [KEEPALIVE]

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        frames = [] if self._finished else [self._chunk({}, "stop")]
        if self._include_usage:
            frames.append(sse({**self._base, "choices": [], "usage": usage_json(self._usage)}))
        frames.append(DONE)
        return frames


# --------------------------------------------------------------------------- legacy completions


@dataclass(slots=True)
class CompletionRequest:
    """A legacy completion: one canonical chat request per prompt."""

    requests: list[ChatRequest]
    prompts: list[str]
    options: StreamOptions
    echo: bool = False


def _prompt_texts(raw: Any) -> list[str]:
    """`prompt` as strings: a string, a list of strings, token ids, or lists of token ids."""
    if isinstance(raw, str):
        return [raw]
    items = expect(raw, list, "prompt")
    if not items:
        raise InvalidRequest("prompt: must not be empty", param="prompt")
    if all(isinstance(x, int) and not isinstance(x, bool) for x in items):
        return [decode(items)]
    texts: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, list) and all(
            isinstance(x, int) and not isinstance(x, bool) for x in item
        ):
            texts.append(decode(item))
        else:
            raise InvalidRequest(
                f"prompt[{i}]: expected a string or a list of token ids", param=f"prompt[{i}]"
            )
    return texts


def parse_completion_request(body: Any) -> CompletionRequest:
    body = expect_object(body)
    model = required(body, "model", str)
    if "prompt" not in body or body["prompt"] is None:
        raise InvalidRequest("prompt: this field is required", param="prompt")
    prompts = _prompt_texts(body["prompt"])
    n = optional_int(body, "n")
    if n is not None and n != 1:
        raise InvalidRequest(f"n: only n=1 is supported (got {n})", param="n")
    best_of = optional_int(body, "best_of")
    if best_of is not None and best_of != 1:
        raise InvalidRequest(
            f"best_of: only best_of=1 is supported (got {best_of})", param="best_of"
        )
    stop = string_list(body["stop"], "stop", max_items=4) if body.get("stop") is not None else []
    common = {
        "max_tokens": optional_int(body, "max_tokens", minimum=1),
        "temperature": optional_number(body, "temperature", minimum=0, maximum=2),
        "top_p": optional_number(body, "top_p", minimum=0, maximum=1),
        "seed": optional_int(body, "seed"),
        "presence_penalty": optional_number(body, "presence_penalty", minimum=-2, maximum=2),
        "frequency_penalty": optional_number(body, "frequency_penalty", minimum=-2, maximum=2),
        "user": optional(body, "user", str),
    }
    optional(body, "suffix", str)
    requests = [
        ChatRequest(
            model=model,
            messages=[Message(role="user", parts=[TextPart(prompt)])],
            stop=list(stop),
            **common,  # type: ignore[arg-type]
        )
        for prompt in prompts
    ]
    return CompletionRequest(
        requests=requests,
        prompts=prompts,
        options=_parse_stream_options(body),
        echo=bool(optional(body, "echo", bool)),
    )


def render_completion(
    responses: list[ChatResponse],
    prompts: list[str],
    *,
    id: str,
    model: str,
    created: int,
    echo: bool,
) -> dict[str, Any]:
    choices = [
        {
            "text": (prompt if echo else "") + response.text(),
            "index": i,
            "logprobs": None,
            "finish_reason": "length" if response.finish_reason == "length" else "stop",
        }
        for i, (response, prompt) in enumerate(zip(responses, prompts, strict=True))
    ]
    return {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
        "usage": usage_json(sum_usage(r.usage for r in responses)),
    }


def sum_usage(usages: Any) -> Usage:
    total = Usage()
    for u in usages:
        if u is not None:
            total = Usage(
                input_tokens=total.input_tokens + u.input_tokens,
                output_tokens=total.output_tokens + u.output_tokens,
                cached_tokens=total.cached_tokens + u.cached_tokens,
                cache_write_tokens=total.cache_write_tokens + u.cache_write_tokens,
                reasoning_tokens=total.reasoning_tokens + u.reasoning_tokens,
            )
    return total


class CompletionStreamRenderer:
    """Canonical events of one prompt in, `text_completion` SSE frames out.

    Several prompts are streamed one after another, each with its own `index`; the
    caller sends `usage_frame` and `DONE` once at the very end."""

    def __init__(self, *, id: str, model: str, created: int, index: int, echo: str | None) -> None:
        self._base = {"id": id, "object": "text_completion", "created": created, "model": model}
        self._index = index
        self._echo = echo
        self._finished = False
        self.usage: Usage | None = None
        self.failed = False

    def _chunk(self, text: str, finish_reason: str | None = None) -> bytes:
        choice = {
            "text": text,
            "index": self._index,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        return sse({**self._base, "choices": [choice]})

    def start(self) -> list[bytes]:
        return [self._chunk(self._echo)] if self._echo else []

    def feed(self, event: Event) -> list[bytes]:
        if self.failed:
            return []
        if isinstance(event, TextDelta) and event.text:
            return [self._chunk(event.text)]
        if isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finish) and not self._finished:
            self._finished = True
            return [self._chunk("", "length" if event.reason == "length" else "stop")]
        elif isinstance(event, Error):
            self.failed = True
            return [sse(render_error(event.error)[1])]
        return []

    def keepalive(self) -> list[bytes]:
        return [] if self.failed else [KEEPALIVE]

    def finish(self) -> list[bytes]:
        if self._finished or self.failed:
            return []
        self._finished = True
        return [self._chunk("", "stop")]

    def usage_frame(self, usage: Usage) -> bytes:
        return sse({**self._base, "choices": [], "usage": usage_json(usage)})


# --------------------------------------------------------------------------- embeddings


@dataclass(slots=True)
class EmbeddingOptions:
    encoding_format: str = "float"


def parse_embedding_request(body: Any) -> tuple[EmbeddingRequest, EmbeddingOptions]:
    body = expect_object(body)
    model = required(body, "model", str)
    if "input" not in body or body["input"] is None:
        raise InvalidRequest("input: this field is required", param="input")
    raw = body["input"]
    if isinstance(raw, str) or (
        isinstance(raw, list)
        and raw
        and all(isinstance(x, int) and not isinstance(x, bool) for x in raw)
    ):
        inputs = [raw if isinstance(raw, str) else decode(raw)]
    else:
        items = expect(raw, list, "input")
        if not items:
            raise InvalidRequest("input: must not be empty", param="input")
        inputs = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                inputs.append(item)
            elif isinstance(item, list) and all(isinstance(x, int) for x in item):
                inputs.append(decode(item))
            else:
                raise InvalidRequest(
                    f"input[{i}]: expected a string or a list of token ids", param=f"input[{i}]"
                )
    encoding = body.get("encoding_format") or "float"
    one_of(encoding, ("float", "base64"), "encoding_format")
    dimensions = optional_int(body, "dimensions", minimum=1, maximum=8192)
    optional(body, "user", str)
    return (
        EmbeddingRequest(model=model, inputs=inputs, dimensions=dimensions),
        EmbeddingOptions(encoding_format=encoding),
    )


def render_embeddings(
    vectors: list[list[float]], *, model: str, input_tokens: int, encoding_format: str
) -> dict[str, Any]:
    def encode(vector: list[float]) -> list[float] | str:
        if encoding_format == "base64":
            return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        return vector

    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode(v)}
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": input_tokens, "total_tokens": input_tokens},
    }


# --------------------------------------------------------------------------- models and errors


def render_model(model_id: str, *, owned_by: str, created: int) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def render_model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": models}


def render_error(error: ProxyError) -> tuple[int, dict[str, Any]]:
    """The status and body OpenAI would send for this error."""
    code = error.code
    if code is None and error.kind == "not_found" and error.param == "model":
        code = "model_not_found"
    return error.status, {
        "error": {
            "message": error.message,
            "type": _ERROR_TYPES.get(error.kind, "server_error"),
            "param": error.param,
            "code": code,
        }
    }


# --------------------------------------------------------------------------- upstream (outbound)

_UPSTREAM_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
# Effort for a thinking budget when the upstream knows only efforts (translator policy:
# no vendor defines the mapping).
_EFFORT_FOR_BUDGET = ((2048, "low"), (8192, "medium"))


def effort_for(reasoning: ReasoningConfig) -> str:
    if reasoning.effort is not None:
        return reasoning.effort
    if reasoning.budget_tokens is not None:
        for limit, effort in _EFFORT_FOR_BUDGET:
            if reasoning.budget_tokens < limit:
                return effort
        return "high"
    return "medium"


def _note_cache_hint(part: TextPart, at: str, dropped: list[str]) -> None:
    if part.cache_control is not None:
        dropped.append(f"{at}.cache_control: Chat Completions has no prompt-caching hints")


def _upstream_user_content(parts: list[Any], dropped: list[str], where: str) -> Any:
    for j, part in enumerate(parts):
        if isinstance(part, TextPart):
            _note_cache_hint(part, f"{where}.parts[{j}]", dropped)
    if all(isinstance(p, TextPart) for p in parts) and len(parts) == 1:
        return parts[0].text
    content: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            image: dict[str, Any] = {"url": part.as_url()}
            if part.detail:
                image["detail"] = part.detail
            if part.url is not None and part.media_type:
                dropped.append(f"{at}.media_type: an image URL carries no media type here")
            content.append({"type": "image_url", "image_url": image})
        elif isinstance(part, DocumentPart):
            if part.text is not None:
                title = f"{part.title}\n\n" if part.title else ""
                content.append({"type": "text", "text": title + part.text})
                dropped.append(f"{at}: a text document has no Chat Completions form; sent as text")
            elif part.data is not None:
                file = {"file_data": f"data:{part.media_type};base64,{part.data}"}
                if part.title:
                    file["filename"] = part.title
                content.append({"type": "file", "file": file})
            else:
                dropped.append(f"{at}: a document by URL ({part.url}) has no Chat Completions form")
        else:
            dropped.append(f"{at}: {type(part).__name__} has no place in a user message")
    return content


def _upstream_assistant(message: Message, dropped: list[str], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, part in enumerate(message.parts):
        at = f"{where}.parts[{j}]"
        if isinstance(part, TextPart):
            _note_cache_hint(part, at, dropped)
            texts.append(part.text)
        elif isinstance(part, ToolCallPart):
            calls.append(_tool_call_json(part))
            if part.signature is not None:
                dropped.append(f"{at}.signature: Chat Completions has no thought signatures")
        elif isinstance(part, ReasoningPart):
            dropped.append(f"{at}: reasoning blocks are not sent back to Chat Completions")
        else:
            dropped.append(f"{at}: {type(part).__name__} has no place in an assistant message")
    text = "".join(texts)
    # `null` content is for a turn of tool calls; a turn left with nothing (only reasoning)
    # still needs some content to be a valid message.
    entry: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        entry["tool_calls"] = calls
    return entry


def _upstream_tool_results(
    message: Message, dropped: list[str], where: str
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for j, part in enumerate(message.parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, ToolResultPart):
            dropped.append(f"{at}: {type(part).__name__} has no place in a tool message")
            continue
        if any(isinstance(p, ImagePart) for p in part.content):
            dropped.append(f"{at}: images in tool results are not carried over")
        text = part.text()
        if part.is_error:
            # Tool messages have no error flag; the text is the only place left to say it.
            dropped.append(f"{at}.is_error: tool messages have no error flag; text says 'Error:'")
            text = f"Error: {text}"
        messages.append({"role": "tool", "tool_call_id": part.tool_call_id, "content": text})
    return messages


def _upstream_messages(request: ChatRequest, dropped: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system:
        for k, system_part in enumerate(request.system):
            _note_cache_hint(system_part, f"system[{k}]", dropped)
        messages.append({"role": "system", "content": "\n\n".join(p.text for p in request.system)})
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role == "tool":
            messages += _upstream_tool_results(message, dropped, where)
            continue
        if message.role == "system":
            for j, part in enumerate(message.parts):
                if isinstance(part, TextPart):
                    _note_cache_hint(part, f"{where}.parts[{j}]", dropped)
            entry: dict[str, Any] = {"role": "system", "content": message.text()}
        elif message.role == "user":
            entry = {
                "role": "user",
                "content": _upstream_user_content(message.parts, dropped, where),
            }
        else:
            entry = _upstream_assistant(message, dropped, where)
        if message.name:
            entry["name"] = message.name
        messages.append(entry)
    return messages


def _upstream_tools(request: ChatRequest, dropped: list[str]) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(request.tools):
        if not _TOOL_NAME.match(tool.name):
            # Names from Gemini may hold '.' or ':'; Chat Completions rejects the request.
            dropped.append(f"tools[{i}]: {tool.name!r} is not a valid Chat Completions name")
            continue
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        function["parameters"] = tool.parameters
        if tool.strict is not None:
            function["strict"] = tool.strict
        tools.append({"type": "function", "function": function})
    return tools


def _upstream_tool_choice(choice: ToolChoice, names: set[str], dropped: list[str]) -> Any:
    allowed = [n for n in choice.allowed or [] if n in names]
    if len(allowed) < len(choice.allowed or []):
        dropped.append("tool_choice.allowed: names a tool that was not carried over")
        if not allowed:
            # Forcing a call to tools the client did not pick would change the request.
            return "none" if choice.mode == "none" else "auto"
    if not allowed or choice.mode == "none":
        return choice.mode
    if len(allowed) == 1 and choice.mode == "required":
        return {"type": "function", "function": {"name": allowed[0]}}
    return {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required" if choice.mode == "required" else "auto",
            "tools": [{"type": "function", "function": {"name": n}} for n in allowed],
        },
    }


def _upstream_reasoning_effort(reasoning: ReasoningConfig, dropped: list[str]) -> str:
    effort = effort_for(reasoning)
    if effort not in _REASONING_EFFORTS:
        dropped.append(f"reasoning.effort: {effort!r} is not a Chat Completions effort; 'medium'")
        effort = "medium"
    if reasoning.budget_tokens is not None:
        dropped.append(
            f"reasoning.budget_tokens: Chat Completions takes an effort, not a budget"
            f" ({reasoning.budget_tokens} tokens sent as {effort!r})"
        )
    elif reasoning.effort is None:
        dropped.append(f"reasoning.effort: none given (adaptive thinking); sent as {effort!r}")
    if not reasoning.include:
        dropped.append("reasoning.include: Chat Completions has no switch for reasoning text")
    return effort


def _chat_body(
    request: ChatRequest, *, stream: bool, max_tokens_field: str, dropped: list[str]
) -> dict[str, Any]:
    """A Chat Completions body for `request`: the one renderer behind both the upstream
    request and `render_request`. Notes what it cannot carry in `dropped`."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _upstream_messages(request, dropped),
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    tools = _upstream_tools(request, dropped)
    if tools:
        body["tools"] = tools
        if request.tool_choice is not None:
            names = {t["function"]["name"] for t in tools}
            body["tool_choice"] = _upstream_tool_choice(request.tool_choice, names, dropped)
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    elif request.tool_choice is not None and request.tool_choice.mode != "none":
        dropped.append("tool_choice: no tools to choose from")
    if request.max_tokens is not None:
        body[max_tokens_field] = request.max_tokens
    optional_fields = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "user": request.user,
    }
    body.update({k: v for k, v in optional_fields.items() if v is not None})
    if request.stop:
        # OpenAI rejects more than four; the first four are what a client could send.
        body["stop"] = request.stop[:_MAX_STOP]
        if len(request.stop) > _MAX_STOP:
            dropped.append(f"stop: Chat Completions takes at most {_MAX_STOP} stop sequences")
    if request.top_k is not None:
        dropped.append("top_k: Chat Completions has no top_k")
    if request.reasoning is not None:
        body["reasoning_effort"] = _upstream_reasoning_effort(request.reasoning, dropped)
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema":
        spec: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {}}
        if fmt.strict is not None:
            spec["strict"] = fmt.strict
        body["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif fmt is not None:
        body["response_format"] = {"type": fmt.type}
    if request.metadata:
        # OpenAI answers 400 to metadata without `store: true`, and storing the completion
        # at OpenAI is not ours to decide.
        dropped.append("metadata: Chat Completions accepts metadata only with store: true")
    for key in request.extensions:
        dropped.append(f"extensions.{key}: no Chat Completions equivalent")
    return body


def build_upstream_request(
    request: ChatRequest, *, max_tokens_field: str = "max_completion_tokens"
) -> tuple[dict[str, Any], list[str]]:
    """A streaming Chat Completions body for an OpenAI-compatible upstream, and what could
    not be carried over."""
    dropped: list[str] = []
    body = _chat_body(request, stream=True, max_tokens_field=max_tokens_field, dropped=dropped)
    return body, dropped


def render_request(request: ChatRequest, *, stream: bool = False) -> RenderedRequest:
    """The `/v1/chat/completions` body the openai SDK would send for `request`.

    The same renderer as the upstream request, with a client's choices: `max_tokens`
    (what every Chat Completions server reads), and `stream` plus
    `stream_options.include_usage` only when streaming. Normalisations (not losses, so
    not in `dropped`): system parts are joined by blank lines into one system message, an
    assistant's text parts into one string and put before its tool calls, a tool result's
    text parts into one string, a json_schema format without a name is named "response"."""
    dropped: list[str] = []
    body = _chat_body(request, stream=stream, max_tokens_field="max_tokens", dropped=dropped)
    # A copy, so a caller editing the body cannot reach into the canonical request.
    return RenderedRequest(body=copy.deepcopy(body), path="/v1/chat/completions", dropped=dropped)


def _usage_from(raw: dict[str, Any]) -> Usage:
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(prompt.get("cached_tokens") or 0),
        cache_write_tokens=int(prompt.get("cache_write_tokens") or 0),
        reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
    )


def upstream_error(payload: Any, status: int) -> ProxyError:
    """An upstream's error body (OpenAI's shape, or anything) as a ProxyError with its status."""
    message = None
    code = None
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            code = error.get("code") if isinstance(error.get("code"), str) else None
        elif isinstance(error, str):
            message = error
        message = message or payload.get("detail") or payload.get("message")
    elif isinstance(payload, str) and payload.strip():
        message = payload.strip()[:500]
    return ProxyError(
        f"Upstream error {status}: {message or 'no details'}",
        status=status if status >= 400 else 502,
        code=code,
    )


class UpstreamChatStream:
    """Chat Completions chunks from an upstream in, canonical events out.

    Tool-call fragments join by `tool_calls[].index`; a new id at an index already in
    use opens a new call (servers that put every parallel call at index 0); choices
    split across indexes (Copilot) merge into one answer; the usage-only final chunk is
    kept; the finish comes once, after everything else."""

    def __init__(self) -> None:
        # (choice index, tool_calls index) -> (canonical index, call id)
        self._calls: dict[tuple[int, int], tuple[int, str]] = {}
        self._next_index = 0
        self._open: list[int] = []
        self._reason: FinishReason | None = None
        self.done = False

    def feed(self, payload: Any) -> list[Event]:
        if not isinstance(payload, dict):
            return [
                Error(ProxyError("Upstream sent a chunk that is not a JSON object", status=502))
            ]
        if payload.get("error"):
            self.done = True
            return [Error(upstream_error(payload, 502))]
        events: list[Event] = []
        for choice in payload.get("choices") or []:
            events += self._choice(choice)
        usage = payload.get("usage")
        if isinstance(usage, dict):
            events.append(_usage_from(usage))
        return events

    def _choice(self, choice: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        delta = choice.get("delta") or choice.get("message") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events.append(ReasoningDelta(reasoning))
        content = delta.get("content")
        if isinstance(content, str) and content:
            events.append(TextDelta(content))
        choice_index = int(choice.get("index") or 0)
        for position, call in enumerate(delta.get("tool_calls") or []):
            events += self._tool_call(choice_index, position, call)
        reason = choice.get("finish_reason")
        if reason:
            self._reason = _UPSTREAM_FINISH.get(reason, "stop")
        return events

    def _tool_call(self, choice_index: int, position: int, call: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        key = (choice_index, int(call.get("index", position)))
        function = call.get("function") or {}
        call_id = call.get("id")
        known = self._calls.get(key)
        if call_id and (known is None or known[1] != call_id):
            index = self._next_index
            self._next_index += 1
            self._calls[key] = (index, call_id)
            self._open.append(index)
            events.append(ToolCallStart(index=index, id=call_id, name=function.get("name") or ""))
        elif known is None:
            return events  # a fragment for a call that never started: nothing to join it to
        index = self._calls[key][0]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            events.append(ToolCallDelta(index=index, arguments=arguments))
        elif isinstance(arguments, dict):
            events.append(ToolCallDelta(index=index, arguments=json.dumps(arguments)))
        return events

    def close(self) -> list[Event]:
        """End of the upstream stream: close calls and finish, once."""
        events: list[Event] = [ToolCallEnd(index=i) for i in self._open]
        reason = self._reason or "stop"
        if self._open and reason == "stop":
            reason = "tool_calls"
        self._open = []
        events.append(Finish(reason=reason))
        return events

    @property
    def finished(self) -> bool:
        """Whether the upstream said how the answer ended (a finish reason)."""
        return self._reason is not None


def events_from_completion(body: dict[str, Any]) -> list[Event]:
    """A whole `chat.completion` (an upstream that ignored `stream: true`) as events."""
    stream = UpstreamChatStream()
    events: list[Event] = []
    for choice in body.get("choices") or []:
        events += stream._choice(choice)
    if isinstance(body.get("usage"), dict):
        events.append(_usage_from(body["usage"]))
    return events + stream.close()
