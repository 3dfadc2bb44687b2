"""The OpenAI dialect as a client speaks it: the Chat Completions request a client
(the openai SDK) or the proxy sends, and the upstream codec that reads what an
OpenAI-compatible server answers (chunks, a whole `chat.completion`, error bodies).

Sources: OpenAI's API reference ("Create chat completion", the chunk object, error
codes). One renderer (`_chat_body`) is behind both `render_request` and
`build_upstream_request`; what it cannot carry is noted as "field: why" in `dropped`.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    Error,
    Event,
    Finish,
    FinishReason,
    ImagePart,
    LogprobsDelta,
    Message,
    ProxyError,
    ReasoningConfig,
    ReasoningDelta,
    ReasoningPart,
    RefusalDelta,
    RefusalPart,
    RenderedRequest,
    TextDelta,
    TextPart,
    TokenLogprob,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
    arguments_json,
)
from chatmock_lab.core.calls import stable_call_id
from chatmock_lab.core.errors import kind_for_error_object
from chatmock_lab.core.notes import note_cache_hint
from chatmock_lab.core.reasoning import effort_for
from chatmock_lab.core.tools import carried_tools, narrow_tool_choice
from chatmock_lab.dialects.openai.render import assistant_message
from chatmock_lab.dialects.openai.wire import (
    FINISH_REASONS,
    MAX_STOP,
    MAX_TOKENS_FIELD,
    MAX_TOKENS_FIELDS,
    REASONING_EFFORTS,
    SERVICE_TIERS,
    TOOL_NAME,
    usage_from_json,
)

_NO_CACHE_HINTS = "Chat Completions has no prompt-caching hints"

# --------------------------------------------------------------------------- requests


def _upstream_user_content(parts: list[Any], dropped: list[str], where: str) -> Any:
    for j, part in enumerate(parts):
        if isinstance(part, TextPart):
            note_cache_hint(part, f"{where}.parts[{j}]", dropped, _NO_CACHE_HINTS)
    if all(isinstance(p, TextPart) for p in parts) and len(parts) == 1:
        return parts[0].text
    content: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            content.append(_image_json(part, at, dropped))
        elif isinstance(part, DocumentPart):
            note_cache_hint(part, at, dropped, _NO_CACHE_HINTS)
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


def _image_json(part: ImagePart, at: str, dropped: list[str]) -> dict[str, Any]:
    note_cache_hint(part, at, dropped, _NO_CACHE_HINTS)
    image: dict[str, Any] = {"url": part.as_url()}
    if part.detail:
        image["detail"] = part.detail
    if part.url is not None and part.media_type:
        dropped.append(f"{at}.media_type: an image URL carries no media type here")
    return {"type": "image_url", "image_url": image}


def _upstream_assistant(message: Message, dropped: list[str], where: str) -> dict[str, Any]:
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[ToolCallPart] = []
    for j, part in enumerate(message.parts):
        at = f"{where}.parts[{j}]"
        if isinstance(part, TextPart):
            note_cache_hint(part, at, dropped, _NO_CACHE_HINTS)
            texts.append(part.text)
        elif isinstance(part, RefusalPart):
            refusals.append(part.text)
        elif isinstance(part, ToolCallPart):
            calls.append(part)
            if part.signature is not None:
                dropped.append(f"{at}.signature: Chat Completions has no thought signatures")
        elif isinstance(part, ReasoningPart):
            dropped.append(f"{at}: reasoning blocks are not sent back to Chat Completions")
        else:
            dropped.append(f"{at}: {type(part).__name__} has no place in an assistant message")
    # The same encoding as an answer's message: text parts joined, calls after them.
    entry = assistant_message("".join(texts), calls)
    if refusals:
        entry["refusal"] = "".join(refusals)
    return entry


def _upstream_tool_results(
    message: Message, dropped: list[str], where: str
) -> list[dict[str, Any]]:
    """One `tool` message per result; several text parts stay apart (array content),
    and images, which tool messages cannot hold, follow in one user message."""
    messages: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    for j, part in enumerate(message.parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, ToolResultPart):
            dropped.append(f"{at}: {type(part).__name__} has no place in a tool message")
            continue
        texts = [p.text for p in part.content if isinstance(p, TextPart)]
        if part.is_error:
            # Tool messages have no error flag; the text is the only place left to say it.
            dropped.append(f"{at}.is_error: tool messages have no error flag; text says 'Error:'")
            texts = [f"Error: {texts[0] if texts else ''}", *texts[1:]]
        content: Any = texts[0] if len(texts) <= 1 else [{"type": "text", "text": t} for t in texts]
        messages.append(
            {"role": "tool", "tool_call_id": part.tool_call_id, "content": content or ""}
        )
        result_images = [p for p in part.content if isinstance(p, ImagePart)]
        if result_images:
            images.append(
                {"type": "text", "text": f"Images returned by tool call {part.tool_call_id}:"}
            )
            images += [_image_json(image, at, dropped) for image in result_images]
    if images:
        messages.append({"role": "user", "content": images})
    return messages


def _upstream_messages(request: ChatRequest, dropped: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system:
        for k, system_part in enumerate(request.system):
            note_cache_hint(system_part, f"system[{k}]", dropped, _NO_CACHE_HINTS)
        messages.append({"role": "system", "content": "\n\n".join(p.text for p in request.system)})
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role == "tool":
            messages += _upstream_tool_results(message, dropped, where)
            continue
        if message.role == "system":
            for j, part in enumerate(message.parts):
                if isinstance(part, TextPart):
                    note_cache_hint(part, f"{where}.parts[{j}]", dropped, _NO_CACHE_HINTS)
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


def _tool_json(tool: ToolDefinition, at: str, dropped: list[str]) -> dict[str, Any]:
    note_cache_hint(tool, at, dropped, _NO_CACHE_HINTS)
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _tool_choice_json(choice: ToolChoice) -> Any:
    """A choice already narrowed to the tools sent (`narrow_tool_choice`), on the wire:
    a mode, one forced function, or `allowed_tools` for several names."""
    allowed = choice.allowed or []
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
    if effort not in REASONING_EFFORTS:
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
    # Names from Gemini may hold '.' or ':'; Chat Completions rejects the whole request.
    tools = carried_tools(request.tools, TOOL_NAME, "is not a valid Chat Completions name", dropped)
    if tools:
        body["tools"] = [_tool_json(t, f"tools[{i}]", dropped) for i, t in enumerate(tools)]
    choice = narrow_tool_choice(request.tool_choice, {t.name for t in tools}, dropped)
    if choice is not None:
        body["tool_choice"] = _tool_choice_json(choice)
    if tools and request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls
    if request.max_tokens is not None:
        body[max_tokens_field] = request.max_tokens
    optional_fields = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "user": request.user,
        "logprobs": request.logprobs,
        "top_logprobs": request.top_logprobs,
        "logit_bias": request.logit_bias,
        "prompt_cache_key": request.prompt_cache_key,
        "safety_identifier": request.safety_identifier,
    }
    body.update({k: v for k, v in optional_fields.items() if v is not None})
    if request.service_tier in SERVICE_TIERS:
        body["service_tier"] = request.service_tier
    elif request.service_tier is not None:
        dropped.append(
            f"service_tier: {request.service_tier!r} is not a Chat Completions service tier"
        )
    if request.cache_control is not None:
        dropped.append(f"cache_control: {_NO_CACHE_HINTS}")
    if request.stop:
        # OpenAI rejects more than four; the first four are what a client could send.
        body["stop"] = request.stop[:MAX_STOP]
        if len(request.stop) > MAX_STOP:
            dropped.append(f"stop: Chat Completions takes at most {MAX_STOP} stop sequences")
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
        if key != MAX_TOKENS_FIELD:
            dropped.append(f"extensions.{key}: no Chat Completions equivalent")
    return body


def build_upstream_request(
    request: ChatRequest,
    *,
    max_tokens_field: str | None = None,
    default_max_tokens_field: str = "max_completion_tokens",
    stream: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """A Chat Completions body for an OpenAI-compatible upstream (streaming, or with
    `stream=False` one whole answer), and what could not be carried over.

    The token limit goes in `max_tokens_field` when the provider is configured with one;
    else in the field an OpenAI client used; else in `default_max_tokens_field`."""
    dropped: list[str] = []
    field = max_tokens_field or _client_max_tokens_field(request) or default_max_tokens_field
    body = _chat_body(request, stream=stream, max_tokens_field=field, dropped=dropped)
    return body, dropped


def _client_max_tokens_field(request: ChatRequest) -> str | None:
    field = request.extensions.get(MAX_TOKENS_FIELD)
    return field if field in MAX_TOKENS_FIELDS else None


def render_request(request: ChatRequest, *, stream: bool = False) -> RenderedRequest:
    """The `/v1/chat/completions` body the openai SDK would send for `request`.

    The same renderer as the upstream request, with a client's choices: the token limit
    as the OpenAI client said it, else `max_tokens` (what every Chat Completions server
    reads), and `stream` plus `stream_options.include_usage` only when streaming.
    Normalisations (not losses, so not in `dropped`): system parts are joined by blank
    lines into one system message, an assistant's text parts into one string and put
    before its tool calls, images in tool results follow the results in a user message,
    a json_schema format without a name is named "response"."""
    dropped: list[str] = []
    field = _client_max_tokens_field(request) or "max_tokens"
    body = _chat_body(request, stream=stream, max_tokens_field=field, dropped=dropped)
    # A copy, so a caller editing the body cannot reach into the canonical request.
    return RenderedRequest(body=copy.deepcopy(body), path="/v1/chat/completions", dropped=dropped)


# --------------------------------------------------------------------------- upstream codec


def upstream_error(payload: Any, status: int) -> ProxyError:
    """An upstream's error body (OpenAI's shape, or anything) as a ProxyError.

    An error status is kept as it is; an error object inside a 200 answer (a stream's
    `{"error": ...}` chunk, context length exceeded for instance) keeps the kind its
    `code` or `type` names, so a client's mistake stays a 400 that SDKs do not retry;
    one of no known kind is a 502."""
    message = None
    code = None
    kind = None
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            code = error.get("code") if isinstance(error.get("code"), str) else None
            kind = kind_for_error_object(error)
        elif isinstance(error, str):
            message = error
        message = message or payload.get("detail") or payload.get("message")
    elif isinstance(payload, str) and payload.strip():
        message = payload.strip()[:500]
    text = f"Upstream error {status if status >= 400 else ''}".rstrip()
    text = f"{text}: {message or 'no details'}"
    if status >= 400:
        return ProxyError(text, status=status, code=code)
    if kind is not None:
        return ProxyError(text, kind=kind, code=code)
    return ProxyError(text, status=502, code=code)


class UpstreamChatStream:
    """Chat Completions chunks from an upstream in, canonical events out.

    Tool-call fragments join by `tool_calls[].index`, then id: a new id at an index
    already in use opens a new call (servers that put every parallel call at index 0),
    as does a new function name without an id there; a call that comes without an id
    (Ollama, some vLLM and SGLang versions) gets one made from the chunk's id, so a
    replay gives the same. Choices split across indexes (Copilot) merge into one
    answer; refusals, log probabilities and vLLM's matched `stop_reason` are kept; the
    usage-only final chunk is kept; the finish comes once, after everything else."""

    def __init__(self) -> None:
        # (choice index, tool_calls index) -> the call open there
        self._calls: dict[tuple[int, int], _UpstreamCall] = {}
        self._next_index = 0
        self._open: list[int] = []
        self._reason: FinishReason | None = None
        self._stop_sequence: str | None = None
        self._refused = False
        self._chunk_id = ""
        self.done = False

    def feed_frame(self, event: str, payload: Any) -> list[Event]:
        # Chat Completions streams name no events; everything is in the payload.
        return self.feed(payload)

    def feed(self, payload: Any) -> list[Event]:
        """One decoded `data:` payload (a chunk, or an error object mid-stream)."""
        if not isinstance(payload, dict):
            return [
                Error(ProxyError("Upstream sent a chunk that is not a JSON object", status=502))
            ]
        if payload.get("error"):
            self.done = True
            # An error chunk in a stream that began with 200.
            return [Error(upstream_error(payload, 200))]
        if isinstance(payload.get("id"), str):
            self._chunk_id = payload["id"]
        events: list[Event] = []
        for choice in payload.get("choices") or []:
            if isinstance(choice, dict):
                events += self._choice(choice)
        usage = payload.get("usage")
        if isinstance(usage, dict):
            events.append(usage_from_json(usage))
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
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refused = True
            events.append(RefusalDelta(refusal))
        events += _logprobs_events(choice.get("logprobs"))
        choice_index = _int_or(choice.get("index"), 0)
        for position, call in enumerate(delta.get("tool_calls") or []):
            if isinstance(call, dict):
                events += self._tool_call(choice_index, position, call)
        reason = choice.get("finish_reason")
        if reason:
            self._reason = FINISH_REASONS.get(reason, "stop")
            # vLLM and SGLang name the stop string that matched; a token id is no sequence.
            matched = choice.get("stop_reason")
            if isinstance(matched, str) and matched and self._reason == "stop":
                self._stop_sequence = matched
        return events

    def _tool_call(self, choice_index: int, position: int, call: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        key = (choice_index, _int_or(call.get("index"), position))
        function = call.get("function") or {}
        raw_id, raw_name = call.get("id"), function.get("name")
        call_id: str = raw_id if isinstance(raw_id, str) else ""
        name: str = raw_name if isinstance(raw_name, str) else ""
        known = self._calls.get(key)
        opens = known is None or (
            (call_id and call_id != known.id) or (not call_id and name and known.named)
        )
        if opens:
            index = self._next_index
            self._next_index += 1
            # Made from the chunk's id, so that a replayed stream answers the same ids.
            call_id = call_id or stable_call_id(f"{self._chunk_id or uuid.uuid4().hex}:{index}")
            self._calls[key] = _UpstreamCall(index, call_id, named=bool(name))
            self._open.append(index)
            events.append(ToolCallStart(index=index, id=call_id, name=name))
        else:
            assert known is not None
            if name and not known.named:
                # A name that comes after the id cannot be sent any more; keep the first.
                known.named = True
        index = self._calls[key].index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            events.append(ToolCallDelta(index=index, arguments=arguments))
        elif isinstance(arguments, dict):
            events.append(ToolCallDelta(index=index, arguments=arguments_json(arguments)))
        return events

    def close(self) -> list[Event]:
        """End of the upstream stream: close calls and finish, once."""
        events: list[Event] = [ToolCallEnd(index=i) for i in self._open]
        reason = self._reason or "stop"
        if self._open and reason == "stop":
            reason = "tool_calls"
        elif self._refused and reason == "stop":
            reason = "refusal"
        self._open = []
        events.append(Finish(reason=reason, stop_sequence=self._stop_sequence))
        return events

    @property
    def finished(self) -> bool:
        """Whether the upstream said how the answer ended (a finish reason)."""
        return self._reason is not None


@dataclass(slots=True)
class _UpstreamCall:
    index: int
    id: str
    # Whether the call's function name has come (a second name without an id is a new call).
    named: bool


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _logprobs_events(logprobs: Any) -> list[Event]:
    """A choice's `logprobs` (`content` for the answer's tokens, `refusal` for the
    refusal's) as events; anything malformed is skipped, not fatal."""
    if not isinstance(logprobs, dict):
        return []
    events: list[Event] = []
    for key, refusal in (("content", False), ("refusal", True)):
        tokens = _token_logprobs(logprobs.get(key))
        if tokens:
            events.append(LogprobsDelta(tokens=tokens, refusal=refusal))
    return events


def _token_logprobs(entries: Any, *, top: bool = True) -> tuple[TokenLogprob, ...]:
    if not isinstance(entries, list):
        return ()
    tokens: list[TokenLogprob] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
            continue
        logprob = entry.get("logprob")
        if not isinstance(logprob, (int, float)) or isinstance(logprob, bool):
            continue
        raw_bytes = entry.get("bytes")
        token_bytes = (
            tuple(b for b in raw_bytes if isinstance(b, int))
            if isinstance(raw_bytes, list)
            else None
        )
        alternatives = _token_logprobs(entry.get("top_logprobs"), top=False) if top else ()
        tokens.append(TokenLogprob(entry["token"], float(logprob), token_bytes, alternatives))
    return tuple(tokens)


def events_from_completion(body: dict[str, Any]) -> list[Event]:
    """A whole `chat.completion` (a non-streamed answer, or an upstream that ignored
    `stream: true`) as events."""
    stream = UpstreamChatStream()
    events = stream.feed(body)
    # An error object answered with a 200 ends there; anything else is a whole answer.
    return events if stream.done else events + stream.close()
