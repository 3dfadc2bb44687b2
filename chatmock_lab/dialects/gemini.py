"""Gemini dialect (inbound): generateContent, streamGenerateContent, countTokens, models.

Pure translation between the Gemini Developer API's wire format and the canonical
model. Requests may spell fields in camelCase or snake_case (the API accepts both);
responses are camelCase. Function calls without ids get deterministic ones, results
pair by id or else with the oldest pending call of the same name, and calls that never
got a result (cancelled by the user) are removed from the history.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections import deque
from dataclasses import dataclass, field
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
    parse_arguments,
)
from chatmock_lab.dialects.fields import (
    describe,
    expect,
    expect_object,
    join,
    one_of,
    optional_int,
    optional_number,
    string_list,
)
from chatmock_lab.images import decode_base64_image, media_type_of
from chatmock_lab.tokens import arguments_json

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
_MODES = ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED")
_LEVELS = ("MINIMAL", "LOW", "MEDIUM", "HIGH", "THINKING_LEVEL_UNSPECIFIED")
_OPENAPI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_FUNCTION_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$")
_MAX_STOP = 5
# Canonical efforts above Gemini's highest thinking level.
_LEVEL_ALIASES = {"xhigh": "HIGH", "max": "HIGH"}
# Media types of image URLs by extension, for fileData, which needs one. A table, not
# `mimetypes`, whose answers depend on the machine's configuration files.
_IMAGE_EXTENSIONS = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
}
# Schema keywords whose values are user data or names, never schemas to normalise.
_SCHEMA_LEAVES = {"enum", "required", "const", "default", "example", "examples", "propertyOrdering"}

_STATUSES: dict[str, str] = {
    "invalid_request": "INVALID_ARGUMENT",
    "authentication": "UNAUTHENTICATED",
    "permission": "PERMISSION_DENIED",
    "not_found": "NOT_FOUND",
    "method_not_allowed": "INVALID_ARGUMENT",
    "request_too_large": "INVALID_ARGUMENT",
    "rate_limit": "RESOURCE_EXHAUSTED",
    "timeout": "DEADLINE_EXCEEDED",
    "api_error": "INTERNAL",
    "overloaded": "UNAVAILABLE",
}

_FINISH_REASONS: dict[str, str] = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    # Gemini ends a turn of function calls with STOP; clients look at the parts.
    "tool_calls": "STOP",
    "content_filter": "SAFETY",
}


@dataclass(slots=True)
class RequestOptions:
    include_thoughts: bool = False
    dropped: list[str] = field(default_factory=list)


def _get(obj: dict[str, Any], name: str) -> Any:
    """A field by its camelCase name, or by the snake_case spelling the API also accepts."""
    if name in obj:
        return obj[name]
    return obj.get(_SNAKE.sub("_", name).lower())


def _has(obj: dict[str, Any], name: str) -> bool:
    return _get(obj, name) is not None


def model_id(name: str) -> str:
    """A model name without its `models/` prefix."""
    return name.removeprefix("models/")


# --------------------------------------------------------------------------- requests


def parse_request(
    body: Any, *, model: str, count_only: bool = False
) -> tuple[ChatRequest, RequestOptions]:
    """A GenerateContentRequest as a canonical request; `model` comes from the URL."""
    body = expect_object(body)
    options = RequestOptions()
    contents = _get(body, "contents")
    if contents is None:
        if not count_only:
            raise InvalidRequest("contents: this field is required", param="contents")
        contents = []
    contents = expect(contents, list, "contents")
    if not contents and not count_only:
        raise InvalidRequest("contents: must contain at least one content", param="contents")

    config = _get(body, "generationConfig")
    config = expect_object(config, "generationConfig") if config is not None else {}
    reasoning = _parse_thinking(config, options)
    candidates = _config_int(config, "candidateCount")
    if candidates is not None and candidates != 1:
        raise InvalidRequest(
            f"generationConfig.candidateCount: only 1 candidate is supported (got {candidates})",
            param="generationConfig.candidateCount",
        )
    safety = _get(body, "safetySettings")
    if safety is not None:
        expect(safety, list, "safetySettings")

    tools = _parse_tools(_get(body, "tools"), options)
    request = ChatRequest(
        model=model_id(model),
        messages=_parse_contents(contents, options),
        system=_parse_system(_get(body, "systemInstruction")),
        tools=tools,
        tool_choice=_parse_tool_config(_get(body, "toolConfig"), tools),
        max_tokens=_config_int(config, "maxOutputTokens", minimum=1),
        temperature=_config_number(config, "temperature", minimum=0, maximum=2),
        top_p=_config_number(config, "topP", minimum=0, maximum=1),
        top_k=_top_k(config),
        stop=_config_stop(config),
        seed=_config_int(config, "seed"),
        presence_penalty=_config_number(config, "presencePenalty"),
        frequency_penalty=_config_number(config, "frequencyPenalty"),
        response_format=_parse_response_format(config),
        reasoning=reasoning,
    )
    return request, options


def _camel(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The field under its camelCase name only, so the checks below name it one way."""
    value = _get(config, name)
    return {name: value} if value is not None else {}


def _config_int(config: dict[str, Any], name: str, **bounds: int) -> int | None:
    return optional_int(_camel(config, name), name, "generationConfig", **bounds)


def _config_number(config: dict[str, Any], name: str, **bounds: float) -> float | None:
    return optional_number(_camel(config, name), name, "generationConfig", **bounds)


def _top_k(config: dict[str, Any]) -> int | None:
    # google-genai types topK as a float and sends 20.0; the API rounds it down.
    value = _config_number(config, "topK", minimum=0)
    return None if value is None else int(value)


def _config_stop(config: dict[str, Any]) -> list[str]:
    value = _get(config, "stopSequences")
    if value is None:
        return []
    return string_list(value, "generationConfig.stopSequences", max_items=_MAX_STOP)


def _parse_thinking(config: dict[str, Any], options: RequestOptions) -> ReasoningConfig | None:
    raw = _get(config, "thinkingConfig")
    if raw is None:
        return None
    path = "generationConfig.thinkingConfig"
    raw = expect_object(raw, path)
    include = bool(_get(raw, "includeThoughts"))
    if _get(raw, "includeThoughts") is not None:
        expect(_get(raw, "includeThoughts"), bool, join(path, "includeThoughts"))
    budget = _get(raw, "thinkingBudget")
    level = _get(raw, "thinkingLevel")
    if budget is not None and level is not None:
        raise InvalidRequest(
            f"{path}: thinkingBudget and thinkingLevel cannot be set together", param=path
        )
    options.include_thoughts = include
    if level is not None:
        level = one_of(
            expect(level, str, join(path, "thinkingLevel")), _LEVELS, join(path, "thinkingLevel")
        )
        return ReasoningConfig(effort=level.lower(), include=include)
    if budget is not None:
        budget = expect(budget, int, join(path, "thinkingBudget"))
        if budget == 0:
            return None
        if budget < -1:
            raise InvalidRequest(
                f"{path}.thinkingBudget: must be -1 (dynamic), 0 (off) or positive, got {budget}",
                param=join(path, "thinkingBudget"),
            )
        return ReasoningConfig(budget_tokens=None if budget == -1 else budget, include=include)
    return ReasoningConfig(include=include) if include else None


def _parse_response_format(config: dict[str, Any]) -> ResponseFormat | None:
    mime = _get(config, "responseMimeType")
    schema = _get(config, "responseJsonSchema")
    if schema is None:
        schema = _get(config, "responseSchema")
        if schema is not None:
            schema = openapi_to_json_schema(expect(schema, dict, "generationConfig.responseSchema"))
    if schema is not None:
        return ResponseFormat(
            type="json_schema", schema=expect(schema, dict, "generationConfig.responseJsonSchema")
        )
    if mime is not None:
        expect(mime, str, "generationConfig.responseMimeType")
        if mime == "application/json":
            return ResponseFormat(type="json_object")
    return None


def _parse_system(raw: Any) -> list[TextPart]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [TextPart(raw)] if raw else []
    raw = expect_object(raw, "systemInstruction")
    parts = expect(_get(raw, "parts") or [], list, "systemInstruction.parts")
    texts = []
    for i, part in enumerate(parts):
        path = join("systemInstruction.parts", i)
        if isinstance(part, str):
            texts.append(TextPart(part))
            continue
        part = expect_object(part, path)
        text = _get(part, "text")
        if text is None:
            raise InvalidRequest(f"{path}: a system instruction holds text parts only", param=path)
        texts.append(TextPart(expect(text, str, join(path, "text"))))
    return texts


def openapi_to_json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-subset Schema (`"type": "STRING"`, `nullable`) as JSON Schema."""
    if isinstance(schema, list):
        return [openapi_to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str) and value.upper() in _OPENAPI_TYPES:
            out["type"] = value.lower()
        elif key == "nullable":
            continue
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {k: openapi_to_json_schema(v) for k, v in value.items()}
        elif key in _SCHEMA_LEAVES:
            out[key] = value
        else:
            out[key] = openapi_to_json_schema(value)
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _parse_tools(raw: Any, options: RequestOptions) -> list[ToolDefinition]:
    if raw is None:
        return []
    tools: list[ToolDefinition] = []
    for i, tool in enumerate(expect(raw, list, "tools")):
        path = join("tools", i)
        tool = expect_object(tool, path)
        declarations = _get(tool, "functionDeclarations")
        for key in tool:
            if key not in ("functionDeclarations", "function_declarations"):
                options.dropped.append(f"{join(path, key)}: built-in tool has no equivalent here")
        if declarations is None:
            continue
        for j, declaration in enumerate(
            expect(declarations, list, join(path, "functionDeclarations"))
        ):
            tools.append(
                _parse_declaration(declaration, join(join(path, "functionDeclarations"), j))
            )
    return tools


def _parse_declaration(raw: Any, path: str) -> ToolDefinition:
    raw = expect_object(raw, path)
    name = _get(raw, "name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(
            f"{join(path, 'name')}: this field is required", param=join(path, "name")
        )
    if not _FUNCTION_NAME.match(name):
        raise InvalidRequest(
            f"{join(path, 'name')}: must start with a letter or _ and use a-z, A-Z, 0-9, _ . : -",
            param=join(path, "name"),
        )
    # parametersJsonSchema (plain JSON Schema) wins over parameters (OpenAPI subset).
    schema = _get(raw, "parametersJsonSchema")
    schema_path = join(path, "parametersJsonSchema")
    if schema is None and _get(raw, "parameters") is not None:
        schema_path = join(path, "parameters")
        schema = openapi_to_json_schema(expect(_get(raw, "parameters"), dict, schema_path))
    if schema is None:
        schema = {"type": "object", "properties": {}}
    schema = expect(schema, dict, schema_path)
    if schema.get("type") not in (None, "object"):
        raise InvalidRequest(
            f"{schema_path}: a function's parameters must be of type object,"
            f" got {schema.get('type')!r}",
            param=schema_path,
        )
    description = _get(raw, "description")
    return ToolDefinition(
        name=name,
        description=expect(description, str, join(path, "description"))
        if description is not None
        else None,
        parameters=schema,
    )


def _parse_tool_config(raw: Any, tools: list[ToolDefinition]) -> ToolChoice | None:
    if raw is None:
        return None
    raw = expect_object(raw, "toolConfig")
    calling = _get(raw, "functionCallingConfig")
    if calling is None:
        return None
    path = "toolConfig.functionCallingConfig"
    calling = expect_object(calling, path)
    mode = _get(calling, "mode") or "AUTO"
    mode = one_of(expect(mode, str, join(path, "mode")).upper(), _MODES, join(path, "mode"))
    allowed = _get(calling, "allowedFunctionNames")
    names = (
        string_list(allowed, join(path, "allowedFunctionNames")) if allowed is not None else None
    )
    known = {t.name for t in tools}
    for name in names or []:
        if name not in known:
            raise InvalidRequest(
                f"{path}.allowedFunctionNames: {name!r} is not among the declared functions",
                param=join(path, "allowedFunctionNames"),
            )
    if mode == "NONE":
        return ToolChoice(mode="none")
    if mode == "ANY":
        if not tools:
            raise InvalidRequest(
                f"{path}.mode: ANY needs at least one function declaration",
                param=join(path, "mode"),
            )
        return ToolChoice(mode="required", allowed=names or None)
    # VALIDATED is AUTO with schema-checked calls; the canonical model has no such knob.
    return ToolChoice(mode="auto", allowed=names or None)


@dataclass(slots=True)
class _History:
    """Pairs function responses with the calls they answer while contents are parsed."""

    pending: dict[str, deque[str]] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    issued: set[str] = field(default_factory=set)

    def call_id(self, given: str | None, name: str, where: str) -> str:
        call_id = given or _generated_id(f"{where}:{name}")
        self.issued.add(call_id)
        self.pending.setdefault(name, deque()).append(call_id)
        return call_id

    def result_id(self, given: str | None, name: str, where: str) -> str:
        queue = self.pending.get(name) or deque()
        if given and given in queue:
            queue.remove(given)
            call_id = given
        elif given:
            call_id = given
        elif queue:
            call_id = queue.popleft()
        else:
            call_id = _generated_id(f"{where}:{name}:orphan")
        self.answered.add(call_id)
        return call_id


def _generated_id(seed: str) -> str:
    # Deterministic, so the same history always gives the same ids (and the same answer).
    # 29 characters: within the 40 that OpenAI-compatible upstreams accept.
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


def _parse_contents(contents: list[Any], options: RequestOptions) -> list[Message]:
    history = _History()
    messages: list[Message] = []
    for i, content in enumerate(contents):
        path = join("contents", i)
        if isinstance(content, list):
            # Gemini CLI sometimes sends a bare list of parts (function responses) as a content.
            content = {"role": "user", "parts": content}
        content = expect_object(content, path)
        role = _get(content, "role") or "user"
        role = one_of(
            expect(role, str, join(path, "role")), ("user", "model", "function"), join(path, "role")
        )
        raw_parts = _get(content, "parts")
        if raw_parts is None:
            raise InvalidRequest(
                f"{join(path, 'parts')}: this field is required", param=join(path, "parts")
            )
        parts: list[Any] = []
        for j, raw in enumerate(_flatten(expect(raw_parts, list, join(path, "parts")))):
            parts.extend(_parse_part(raw, join(join(path, "parts"), j), role, history, options))
        if role == "model":
            messages.append(Message(role="assistant", parts=parts))
            continue
        results = [p for p in parts if isinstance(p, ToolResultPart)]
        rest = [p for p in parts if not isinstance(p, ToolResultPart)]
        if results:
            messages.append(Message(role="tool", parts=_dedupe_results(results)))
        if rest or not results:
            messages.append(Message(role="user", parts=rest))
    return _drop_unanswered_calls(messages, history)


def _flatten(parts: list[Any]) -> list[Any]:
    """Parts with nested lists (Gemini CLI's form of function responses) flattened."""
    flat: list[Any] = []
    for part in parts:
        if isinstance(part, list):
            flat.extend(_flatten(part))
        else:
            flat.append(part)
    return flat


def _dedupe_results(results: list[ToolResultPart]) -> list[ToolResultPart]:
    seen: set[str] = set()
    unique = []
    for result in results:
        if result.tool_call_id not in seen:
            seen.add(result.tool_call_id)
            unique.append(result)
    return unique


def _drop_unanswered_calls(messages: list[Message], history: _History) -> list[Message]:
    """Remove function calls that never got a response (the user cancelled them):
    no provider accepts a call without its result, wherever it stands."""
    kept: list[Message] = []
    for message in messages:
        if message.role == "assistant":
            message.parts = [
                p
                for p in message.parts
                if not (isinstance(p, ToolCallPart) and p.id not in history.answered)
            ]
            if not message.parts:
                continue
        if message.role == "tool":
            message.parts = [p for p in message.parts if p.tool_call_id in history.issued]
            if not message.parts:
                continue
        kept.append(message)
    return kept


def _parse_part(
    raw: Any, path: str, role: str, history: _History, options: RequestOptions
) -> list[Any]:
    if isinstance(raw, str):
        return [TextPart(raw)]
    raw = expect_object(raw, path)
    signature = _get(raw, "thoughtSignature")
    if signature is not None:
        signature = expect(signature, str, join(path, "thoughtSignature"))
    if _has(raw, "text"):
        text = expect(_get(raw, "text"), str, join(path, "text"))
        if _get(raw, "thought") is True:
            return [ReasoningPart(text=text, signature=signature)]
        # An empty model text carries nothing (other dialects never send one) unless it
        # holds a thought signature, which must survive.
        parts: list[Any] = [TextPart(text)] if text or role != "model" else []
        if signature is not None and role == "model":
            parts.insert(0, ReasoningPart(signature=signature))
        return parts
    if _has(raw, "inlineData"):
        return [_inline_data(_get(raw, "inlineData"), join(path, "inlineData"))]
    if _has(raw, "fileData"):
        return [_file_data(_get(raw, "fileData"), join(path, "fileData"))]
    if _has(raw, "functionCall"):
        call_path = join(path, "functionCall")
        call = expect_object(_get(raw, "functionCall"), call_path)
        name = _required_str(call, "name", call_path)
        args = _get(call, "args")
        given = _get(call, "id")
        return [
            ToolCallPart(
                id=history.call_id(given if isinstance(given, str) else None, name, path),
                name=name,
                arguments=expect(args, dict, join(call_path, "args")) if args is not None else {},
                signature=signature,
            )
        ]
    if _has(raw, "functionResponse"):
        response_path = join(path, "functionResponse")
        response = expect_object(_get(raw, "functionResponse"), response_path)
        name = _required_str(response, "name", response_path)
        given = _get(response, "id")
        content, is_error = _function_response_content(_get(response, "response"))
        return [
            ToolResultPart(
                tool_call_id=history.result_id(
                    given if isinstance(given, str) else None, name, path
                ),
                content=content,
                is_error=is_error,
                name=name,
            )
        ]
    for kind in ("executableCode", "codeExecutionResult", "videoMetadata"):
        if _has(raw, kind):
            options.dropped.append(f"{path}.{kind}: not carried over")
            return []
    raise InvalidRequest(
        f"{path}: a part needs one of text, inlineData, fileData, functionCall, functionResponse",
        param=path,
    )


def _required_str(obj: dict[str, Any], name: str, path: str) -> str:
    value = _get(obj, name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"{join(path, name)}: this field is required (a string, got {describe(value)})",
            param=join(path, name),
        )
    return value


def _inline_data(raw: Any, path: str) -> ImagePart | DocumentPart:
    raw = expect_object(raw, path)
    mime = _required_str(raw, "mimeType", path)
    data = _required_str(raw, "data", path)
    if mime.startswith("image/"):
        return ImagePart(data=data, media_type=mime)
    return DocumentPart(media_type=mime, data=data)


def _file_data(raw: Any, path: str) -> ImagePart | DocumentPart:
    raw = expect_object(raw, path)
    uri = _required_str(raw, "fileUri", path)
    mime = _get(raw, "mimeType")
    if isinstance(mime, str) and mime.startswith("image/"):
        return ImagePart(url=uri, media_type=mime)
    return DocumentPart(url=uri, media_type=mime if isinstance(mime, str) else None)


def _function_response_content(response: Any) -> tuple[list[TextPart | ImagePart], bool]:
    """`{"output": x}` is the result, `{"error": x}` a failure, anything else is the output."""
    if isinstance(response, dict) and set(response) == {"error"}:
        return [TextPart(_as_text(response["error"]))], True
    if isinstance(response, dict) and set(response) == {"output"}:
        return [TextPart(_as_text(response["output"]))], False
    if response is None:
        return [], False
    return [TextPart(_as_text(response))], False


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- rendering requests


def render_request(request: ChatRequest, *, stream: bool = False) -> RenderedRequest:
    """The GenerateContentRequest a Gemini client would send for `request`; the model and
    streaming are in the path (`:streamGenerateContent?alt=sse` when streaming).

    Schemas go as `parametersJsonSchema` / `responseJsonSchema`, which Gemini accepts as
    plain JSON Schema, so they pass unchanged (no OpenAPI-subset conversion). Normalisations
    (not losses, so not in `dropped`): a tool turn and the user turn after it become one
    user content, results first; a signature of hidden reasoning rides on the text part
    after it, as Gemini sends it; a text document goes as base64 `text/plain` inline data; a
    tool result's text parts are joined into `{"output": text}` (`{"error": text}` when it
    failed); an image URL without a media type gets one from its extension; auto narrowed
    to some functions is mode VALIDATED (Gemini honours allowedFunctionNames only with ANY
    and VALIDATED); reasoning without effort or budget is a dynamic budget (-1)."""
    dropped: list[str] = []
    contents, moved = _render_contents(request.messages, dropped)
    body: dict[str, Any] = {"contents": contents}
    system = [*request.system, *moved]
    if system:
        for k, part in enumerate(request.system):
            _note_cache_hint(part, f"system[{k}]", dropped)
        body["systemInstruction"] = {"parts": [{"text": p.text} for p in system]}
    declarations = _render_declarations(request.tools, dropped)
    if declarations:
        body["tools"] = [{"functionDeclarations": declarations}]
    tool_config = _render_tool_config(request.tool_choice, declarations, dropped)
    if tool_config is not None:
        body["toolConfig"] = {"functionCallingConfig": tool_config}
    if request.parallel_tool_calls is not None:
        dropped.append("parallel_tool_calls: Gemini has no switch for parallel calls")
    config = _render_generation_config(request, dropped)
    if config:
        body["generationConfig"] = config
    if request.user is not None:
        dropped.append("user: Gemini has no end-user id")
    for key in request.metadata or {}:
        dropped.append(f"metadata.{key}: Gemini has no request metadata")
    for key in request.extensions:
        dropped.append(f"extensions.{key}: no Gemini equivalent")
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    # A copy, so a caller editing the body cannot reach into the canonical request.
    return RenderedRequest(
        body=copy.deepcopy(body),
        path=f"/v1beta/models/{model_id(request.model)}:{method}",
        dropped=dropped,
    )


def _note_cache_hint(part: TextPart, at: str, dropped: list[str]) -> None:
    if part.cache_control is not None:
        dropped.append(f"{at}.cache_control: Gemini has no per-part caching hints")


def _render_contents(
    messages: list[Message], dropped: list[str]
) -> tuple[list[dict[str, Any]], list[TextPart]]:
    """The contents, and the text of system turns, which Gemini can only hold up front."""
    contents: list[dict[str, Any]] = []
    moved: list[TextPart] = []
    # functionResponse needs the function's name; a result may only know its call's id.
    call_names: dict[str, str] = {}
    previous: str | None = None
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.name:
            dropped.append(f"{where}.name: Gemini contents have no name")
        if message.role == "system":
            dropped.append(f"{where}: Gemini has no system turns; moved to systemInstruction")
            moved += [p for p in message.parts if isinstance(p, TextPart)]
            continue
        if message.role == "assistant":
            for part in message.parts:
                if isinstance(part, ToolCallPart):
                    call_names[part.id] = part.name
            parts = _model_parts(message.parts, where, dropped)
            contents.append({"role": "model", "parts": parts})
        elif message.role == "tool":
            parts = _response_parts(message.parts, call_names, where, dropped)
            contents.append({"role": "user", "parts": parts})
        else:
            parts = [
                rendered
                for j, part in enumerate(message.parts)
                if (rendered := _media_part(part, f"{where}.parts[{j}]", dropped)) is not None
            ]
            if previous == "tool":
                # Gemini answers calls in a user turn, which may hold the user's next words
                # too; the parser splits it into the same two canonical messages again.
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": "user", "parts": parts})
        previous = message.role
    return contents, moved


def _media_part(part: Any, at: str, dropped: list[str]) -> dict[str, Any] | None:
    """A text, image or document part, as user and model turns both hold them."""
    if isinstance(part, TextPart):
        _note_cache_hint(part, at, dropped)
        return {"text": part.text}
    if isinstance(part, ImagePart):
        return _image_part(part, at, dropped)
    if isinstance(part, DocumentPart):
        return _document_part(part, at, dropped)
    dropped.append(f"{at}: {type(part).__name__} has no place in this Gemini turn")
    return None


def _image_part(part: ImagePart, at: str, dropped: list[str]) -> dict[str, Any] | None:
    if part.detail:
        dropped.append(f"{at}.detail: Gemini images have no detail level")
    if part.url is not None:
        # fileData is meant for Files-API URIs; whether Gemini fetches other URLs is its call.
        mime = part.media_type or _IMAGE_EXTENSIONS.get(
            part.url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
        )
        if mime is None:
            dropped.append(f"{at}: Gemini needs an image URL's media type, and it is unknown")
            return None
        return {"fileData": {"mimeType": mime, "fileUri": part.url}}
    mime = part.media_type or media_type_of(decode_base64_image(part.data or "") or b"")
    if mime is None:
        dropped.append(f"{at}: Gemini needs the image's media type, and it is unknown")
        return None
    return {"inlineData": {"mimeType": mime, "data": part.data or ""}}


def _document_part(part: DocumentPart, at: str, dropped: list[str]) -> dict[str, Any] | None:
    if part.title is not None:
        dropped.append(f"{at}.title: Gemini parts have no title")
    if part.data is not None:
        mime = part.media_type or "application/pdf"
        return {"inlineData": {"mimeType": mime, "data": part.data}}
    if part.text is not None:
        data = base64.b64encode(part.text.encode()).decode()
        return {"inlineData": {"mimeType": "text/plain", "data": data}}
    if part.url is not None:
        file: dict[str, Any] = {"fileUri": part.url}
        if part.media_type is not None:
            file = {"mimeType": part.media_type, **file}
        return {"fileData": file}
    dropped.append(f"{at}: an empty document")
    return None


def _model_parts(parts: list[Any], where: str, dropped: list[str]) -> list[dict[str, Any]]:
    rendered: list[dict[str, Any]] = []
    # A signature of hidden reasoning, waiting for the text part Gemini puts it on.
    pending: str | None = None
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        following = parts[j + 1] if j + 1 < len(parts) else None
        if isinstance(part, ReasoningPart):
            if part.redacted is not None:
                dropped.append(f"{at}: Anthropic's redacted thinking has no Gemini form")
            elif part.text:
                thought: dict[str, Any] = {"text": part.text, "thought": True}
                if part.signature:
                    thought["thoughtSignature"] = part.signature
                rendered.append(thought)
            elif part.signature and isinstance(following, TextPart) and following.text:
                pending = part.signature
            elif part.signature:
                rendered.append({"text": "", "thoughtSignature": part.signature})
        elif isinstance(part, ToolCallPart):
            if not isinstance(part.arguments, dict):
                dropped.append(f"{at}.arguments: not a JSON object; sent under '_raw'")
            call: dict[str, Any] = {
                "functionCall": {
                    "id": part.id,
                    "name": part.name,
                    "args": function_args(part.arguments),
                }
            }
            if part.signature:
                call["thoughtSignature"] = part.signature
            rendered.append(call)
        elif isinstance(part, TextPart) and not part.text:
            continue  # the parser drops empty model text; Gemini never sends one unsigned
        else:
            media = _media_part(part, at, dropped)
            if media is not None:
                if pending is not None and "text" in media:
                    media["thoughtSignature"], pending = pending, None
                rendered.append(media)
    return rendered


def _response_parts(
    parts: list[Any], call_names: dict[str, str], where: str, dropped: list[str]
) -> list[dict[str, Any]]:
    rendered: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if not isinstance(part, ToolResultPart):
            dropped.append(f"{at}: {type(part).__name__} has no place in a tool turn")
            continue
        name = part.name or call_names.get(part.tool_call_id)
        if name is None:
            dropped.append(f"{at}: Gemini needs the function's name, and no call gives it")
            continue
        if any(isinstance(p, ImagePart) for p in part.content):
            dropped.append(f"{at}: images in function responses are not carried over")
        # The documented shape: {"output": ...} for a result, {"error": ...} for a failure.
        response = {"error" if part.is_error else "output": part.text()}
        rendered.append(
            {"functionResponse": {"id": part.tool_call_id, "name": name, "response": response}}
        )
    return rendered


def _render_declarations(tools: list[ToolDefinition], dropped: list[str]) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not _FUNCTION_NAME.match(tool.name):
            dropped.append(f"tools[{i}]: {tool.name!r} is not a valid Gemini function name")
            continue
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        declaration["parametersJsonSchema"] = tool.parameters
        if tool.strict is not None:
            dropped.append(f"tools[{i}].strict: Gemini function declarations have no strict flag")
        declarations.append(declaration)
    return declarations


def _render_tool_config(
    choice: ToolChoice | None, declarations: list[dict[str, Any]], dropped: list[str]
) -> dict[str, Any] | None:
    if choice is None:
        return None
    if not declarations:
        # Without functions, AUTO and NONE say nothing; ANY would be rejected.
        if choice.mode == "required":
            dropped.append("tool_choice: no functions to choose from")
        return None
    names = {d["name"] for d in declarations}
    allowed = [n for n in choice.allowed or [] if n in names]
    forced = choice.mode == "required"
    if len(allowed) < len(choice.allowed or []):
        dropped.append("tool_choice.allowed: names a function that was not carried over")
        # Forcing a call to functions the client did not pick would change the request.
        forced = forced and bool(allowed)
    if choice.mode == "none":
        return {"mode": "NONE"}
    mode = "ANY" if forced else ("VALIDATED" if allowed else "AUTO")
    config: dict[str, Any] = {"mode": mode}
    if allowed:
        config["allowedFunctionNames"] = allowed
    return config


def _render_generation_config(request: ChatRequest, dropped: list[str]) -> dict[str, Any]:
    values = {
        "maxOutputTokens": request.max_tokens,
        "temperature": request.temperature,
        "topP": request.top_p,
        "topK": request.top_k,
        "seed": request.seed,
        "presencePenalty": request.presence_penalty,
        "frequencyPenalty": request.frequency_penalty,
    }
    config: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    if request.stop:
        config["stopSequences"] = request.stop[:_MAX_STOP]
        if len(request.stop) > _MAX_STOP:
            dropped.append(f"stop: Gemini takes at most {_MAX_STOP} stop sequences")
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema":
            config["responseJsonSchema"] = fmt.schema or {}
            if fmt.name is not None:
                dropped.append("response_format.name: Gemini's response schema has no name")
            if fmt.strict is not None:
                dropped.append("response_format.strict: Gemini's response schema has no strict")
    if request.reasoning is not None:
        config["thinkingConfig"] = _render_thinking(request.reasoning, dropped)
    return config


def _render_thinking(reasoning: ReasoningConfig, dropped: list[str]) -> dict[str, Any]:
    thinking: dict[str, Any] = {"includeThoughts": True} if reasoning.include else {}
    effort = reasoning.effort
    if reasoning.budget_tokens is not None:
        thinking["thinkingBudget"] = reasoning.budget_tokens
        if effort is not None:
            # Gemini answers 400 to a budget and a level together.
            dropped.append("reasoning.effort: Gemini takes a budget or a level, not both")
    elif effort == "none":
        thinking["thinkingBudget"] = 0
    elif effort is not None and effort.upper() in _LEVELS:
        thinking["thinkingLevel"] = effort.upper()
    elif effort is not None:
        level = _LEVEL_ALIASES.get(effort)
        if level is None:
            dropped.append(f"reasoning.effort: Gemini has no {effort!r} level; dynamic budget")
            thinking["thinkingBudget"] = -1
        else:
            dropped.append(f"reasoning.effort: Gemini has no {effort!r} level; sent as {level}")
            thinking["thinkingLevel"] = level
    else:
        thinking["thinkingBudget"] = -1  # dynamic: the model decides, as adaptive thinking
    return thinking


# --------------------------------------------------------------------------- responses


def finish_reason(reason: FinishReason) -> str:
    return _FINISH_REASONS[reason]


def usage_json(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage()
    metadata: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens - usage.reasoning_tokens,
        "totalTokenCount": usage.total_tokens,
    }
    if usage.reasoning_tokens:
        metadata["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cached_tokens:
        metadata["cachedContentTokenCount"] = usage.cached_tokens
    return metadata


def function_args(arguments: Any) -> dict[str, Any]:
    """`args` must be an object; raw text from a model that wrote invalid JSON is kept."""
    if isinstance(arguments, dict):
        return arguments
    return {"_raw": arguments_json(arguments)}


def _call_json(call: ToolCallPart, signature: str | None) -> dict[str, Any]:
    part: dict[str, Any] = {
        "functionCall": {"id": call.id, "name": call.name, "args": function_args(call.arguments)}
    }
    if signature or call.signature:
        part["thoughtSignature"] = call.signature or signature
    return part


def _parts_json(parts: list[Any], include_thoughts: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    # A signature of hidden reasoning rides on the next part, as Gemini does it.
    pending_signature: str | None = None
    for part in parts:
        if isinstance(part, ReasoningPart):
            if include_thoughts and part.text:
                thought: dict[str, Any] = {"text": part.text, "thought": True}
                if part.signature:
                    thought["thoughtSignature"] = part.signature
                out.append(thought)
            else:
                pending_signature = part.signature or pending_signature
        elif isinstance(part, TextPart):
            text: dict[str, Any] = {"text": part.text}
            if pending_signature:
                text["thoughtSignature"], pending_signature = pending_signature, None
            out.append(text)
        elif isinstance(part, ToolCallPart):
            out.append(_call_json(part, pending_signature))
            pending_signature = None
    return out


def render_response(
    response: ChatResponse, *, id: str, model: str, include_thoughts: bool
) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": _parts_json(response.parts, include_thoughts),
                },
                "finishReason": finish_reason(response.finish_reason),
                "index": 0,
            }
        ],
        "usageMetadata": usage_json(response.usage),
        "modelVersion": model,
        "responseId": id,
    }


def sse_frame(payload: dict[str, Any]) -> bytes:
    return (
        f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\r\n\r\n".encode()
    )


class _ArrayFraming:
    """Google's JSON-array stream: `[` + element + `,\\r\\n` + element ... + `]`."""

    def __init__(self) -> None:
        self.count = 0

    def frame(self, payload: dict[str, Any]) -> bytes:
        prefix = "[" if self.count == 0 else ",\r\n"
        self.count += 1
        return (prefix + json.dumps(payload, ensure_ascii=False, separators=(",", ":"))).encode()

    def close(self) -> bytes:
        return b"[]" if self.count == 0 else b"]"


@dataclass(slots=True)
class _PendingCall:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


class GenerateStreamRenderer:
    """Canonical events in, streamed GenerateContentResponse chunks out (SSE or JSON array).

    Text goes out as it comes; a function call goes out whole once its arguments are
    complete; usage and the finish reason ride on the final chunk."""

    def __init__(self, *, id: str, model: str, include_thoughts: bool, sse: bool) -> None:
        self._id = id
        self._model = model
        self._include_thoughts = include_thoughts
        self._array = None if sse else _ArrayFraming()
        self._usage: Usage | None = None
        self._calls: dict[int, _PendingCall] = {}
        self._signature: str | None = None
        self._closed = False

    def _frame(self, payload: dict[str, Any]) -> bytes:
        return self._array.frame(payload) if self._array is not None else sse_frame(payload)

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        payload: dict[str, Any] = {"candidates": [candidate]}
        if finish is not None:
            candidate["finishReason"] = finish
            payload["usageMetadata"] = usage_json(self._usage)
        payload["modelVersion"] = self._model
        payload["responseId"] = self._id
        return self._frame(payload)

    def start(self) -> list[bytes]:
        return []

    def keepalive(self) -> list[bytes]:
        # SSE comments are invisible to clients; a JSON array has no room for one.
        return [b": keep-alive\r\n\r\n"] if self._array is None and not self._closed else []

    def _emit_call(self, index: int) -> list[bytes]:
        call = self._calls.pop(index)
        part = ToolCallPart(
            id=call.id, name=call.name, arguments=parse_arguments("".join(call.arguments))
        )
        signature, self._signature = self._signature, None
        return [self._chunk([_call_json(part, signature)])]

    def feed(self, event: Event) -> list[bytes]:
        if self._closed:
            return []
        if isinstance(event, TextDelta):
            if not event.text:
                return []
            part: dict[str, Any] = {"text": event.text}
            if self._signature:
                part["thoughtSignature"], self._signature = self._signature, None
            return [self._chunk([part])]
        if isinstance(event, ReasoningDelta):
            if event.signature is not None:
                if self._include_thoughts:
                    return [
                        self._chunk(
                            [{"text": "", "thought": True, "thoughtSignature": event.signature}]
                        )
                    ]
                self._signature = event.signature
                return []
            if self._include_thoughts and event.text:
                return [self._chunk([{"text": event.text, "thought": True}])]
            return []
        if isinstance(event, ToolCallStart):
            self._calls[event.index] = _PendingCall(id=event.id, name=event.name)
        elif isinstance(event, ToolCallDelta):
            if event.index in self._calls:
                self._calls[event.index].arguments.append(event.arguments)
        elif isinstance(event, ToolCallEnd):
            if event.index in self._calls:
                return self._emit_call(event.index)
        elif isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, Finish):
            return self._finish(finish_reason(event.reason))
        elif isinstance(event, Error):
            self._closed = True
            frames = [self._frame(render_error(event.error)[1])]
            if self._array is not None:
                frames.append(self._array.close())
            return frames
        return []

    def _finish(self, reason: str) -> list[bytes]:
        frames: list[bytes] = []
        for index in list(self._calls):
            frames += self._emit_call(index)
        frames.append(self._chunk([], reason))
        self._closed = True
        if self._array is not None:
            frames.append(self._array.close())
        return frames

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        return self._finish("STOP")


# --------------------------------------------------------------------------- models and errors


def render_model(
    model: str,
    *,
    display_name: str | None = None,
    input_limit: int | None = None,
    output_limit: int | None = None,
) -> dict[str, Any]:
    return {
        "name": f"models/{model_id(model)}",
        "baseModelId": model_id(model),
        "version": "001",
        "displayName": display_name or model_id(model),
        "description": f"{model_id(model)} served by chatmock-lab",
        "inputTokenLimit": input_limit or 1_048_576,
        "outputTokenLimit": output_limit or 65_536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
        "temperature": 1.0,
        "maxTemperature": 2.0,
        "topP": 0.95,
        "topK": 64,
        "thinking": True,
    }


def render_model_list(
    models: list[dict[str, Any]], *, next_page_token: str | None
) -> dict[str, Any]:
    page: dict[str, Any] = {"models": models}
    if next_page_token:
        page["nextPageToken"] = next_page_token
    return page


def render_error(error: ProxyError) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {
        "code": error.status,
        "message": error.message,
        "status": _STATUSES.get(error.kind, "INTERNAL"),
    }
    if error.param:
        body["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": error.param, "description": error.message}],
            }
        ]
    return error.status, {"error": body}
