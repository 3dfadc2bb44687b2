"""Gemini requests (inbound): a GenerateContentRequest as a canonical request.

Source: the Gemini Developer API reference (generateContent, countTokens). Requests may
spell fields in camelCase or snake_case (the API accepts both); errors name a field by
its camelCase path. The contents (the conversation) are parsed by `history`. Every
documented field the canonical request cannot hold (`safetySettings`, `cachedContent`,
`generationConfig.speechConfig`, ...) and every undocumented one gets a "field: why"
note in `RequestOptions.dropped`, spelled as the client spelled it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    InvalidRequest,
    ReasoningConfig,
    ResponseFormat,
    TextPart,
    ToolChoice,
    ToolDefinition,
)
from chatmock_lab.dialects.fields import (
    expect,
    expect_object,
    join,
    one_of,
    optional_int,
    optional_number,
    string_list,
)
from chatmock_lab.dialects.gemini.history import note_unread, parse_contents
from chatmock_lab.dialects.gemini.schema import openapi_to_json_schema
from chatmock_lab.dialects.gemini.wire import (
    FUNCTION_NAME,
    MAX_STOP,
    MAX_TOP_LOGPROBS,
    SERVICE_TIERS,
    THINKING_LEVELS,
    get_field,
    model_id,
)

_MODES = ("AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED")

# Every documented GenerateContentRequest field (Developer API and Vertex AI) this parser
# reads, by camelCase name; the ones it does not carry are in _NOT_CARRIED, and any other
# field is noted as undocumented. `model` is read from the URL.
_READ = frozenset(
    {"model", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
     "serviceTier"}
)  # fmt: skip
_NOT_CARRIED = {
    "safetySettings": "safety thresholds are Gemini's; the upstream's own moderation applies",
    "cachedContent": "Gemini's context caches are not available here; the cached contents"
    " are not part of the prompt",
    "labels": "billing labels are Gemini's; not sent upstream",
    "store": "storing at the upstream is not the proxy's to decide",
    "modelArmorConfig": "Model Armor screening is Vertex AI's; not applied",
    "continuationToken": "continuations are Gemini's; answered as a new request",
}
_CONFIG_READ = frozenset(
    {
        "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema",
        "candidateCount", "maxOutputTokens", "temperature", "topP", "topK", "seed",
        "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs", "thinkingConfig",
        "responseModalities",
    }
)  # fmt: skip
_CONFIG_NOT_CARRIED = {
    "speechConfig": "speech output is not supported; the answer is text",
    "imageConfig": "image output is not supported; the answer is text",
    "mediaResolution": "media are sent at the upstream's default resolution",
    "audioTimestamp": "audio timestamps are Vertex AI's; not sent upstream",
    "routingConfig": "model routing is Vertex AI's; the model named is used",
    "modelSelectionConfig": "model selection is Vertex AI's; the model named is used",
    "enableAffectiveDialog": "affective dialog is Gemini's Live API; not sent upstream",
    "enableEnhancedCivicAnswers": "Gemini-only; no equivalent upstream",
    "audioTranscriptionConfig": "audio transcription is not supported",
    "translationConfig": "translation is Gemini's; not sent upstream",
    "responseFormat": "not read; use responseMimeType with responseJsonSchema",
}
_TOOL_CONFIG_NOT_CARRIED = {
    "retrievalConfig": "retrieval (grounding) settings have no equivalent here",
    "includeServerSideToolInvocations": "built-in tools run at Google; none run here",
}
_CALLING_NOT_CARRIED = {
    "streamFunctionCallArguments": "function-call arguments stream as the upstream sends them",
}
_DECLARATION_NOT_CARRIED = {
    "response": "a function's result schema has no canonical place; not sent upstream",
    "responseJsonSchema": "a function's result schema has no canonical place; not sent upstream",
    "behavior": "non-blocking calls are Gemini's Live API; the call blocks",
}


@dataclass(slots=True)
class RequestOptions:
    """What the request asks of the answer beside the canonical request: whether thoughts
    are shown (`thinkingConfig.includeThoughts`), and a "field: why" note for each part of
    the request that is not carried over."""

    include_thoughts: bool = False
    dropped: list[str] = field(default_factory=list)


def parse_request(
    body: Any, *, model: str, count_only: bool = False
) -> tuple[ChatRequest, RequestOptions]:
    """A GenerateContentRequest as a canonical request; `model` comes from the URL."""
    body = expect_object(body)
    options = RequestOptions()
    contents = get_field(body, "contents")
    if contents is None:
        if not count_only:
            raise InvalidRequest("contents: this field is required", param="contents")
        contents = []
    contents = expect(contents, list, "contents")
    if not contents and not count_only:
        raise InvalidRequest("contents: must contain at least one content", param="contents")

    note_unread(body, "", _READ, _NOT_CARRIED, options.dropped)
    config = get_field(body, "generationConfig")
    config = expect_object(config, "generationConfig") if config is not None else {}
    note_unread(config, "generationConfig", _CONFIG_READ, _CONFIG_NOT_CARRIED, options.dropped)
    reasoning = _parse_thinking(config, options)
    candidates = _config_int(config, "candidateCount")
    if candidates is not None and candidates != 1:
        raise InvalidRequest(
            f"generationConfig.candidateCount: only 1 candidate is supported (got {candidates})",
            param="generationConfig.candidateCount",
        )
    safety = get_field(body, "safetySettings")
    if safety is not None:
        expect(safety, list, "safetySettings")
    _note_modalities(config, options.dropped)
    logprobs, top_logprobs = _parse_logprobs(config)

    tools = _parse_tools(get_field(body, "tools"), options)
    request = ChatRequest(
        model=model_id(model),
        messages=parse_contents(contents, options.dropped),
        system=_parse_system(get_field(body, "systemInstruction"), options.dropped),
        tools=tools,
        tool_choice=_parse_tool_config(get_field(body, "toolConfig"), tools, options.dropped),
        max_tokens=_config_int(config, "maxOutputTokens", minimum=1),
        temperature=_config_number(config, "temperature", minimum=0, maximum=2),
        top_p=_config_number(config, "topP", minimum=0, maximum=1),
        top_k=_top_k(config),
        stop=_config_stop(config),
        seed=_config_int(config, "seed"),
        presence_penalty=_config_number(config, "presencePenalty"),
        frequency_penalty=_config_number(config, "frequencyPenalty"),
        response_format=_parse_response_format(config, options.dropped),
        reasoning=reasoning,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        service_tier=_parse_service_tier(get_field(body, "serviceTier"), options.dropped),
    )
    return request, options


def _note_modalities(config: dict[str, Any], dropped: list[str]) -> None:
    """Only text is answered: asking for TEXT (or nothing) loses nothing; any other
    modality asked for is noted."""
    raw = get_field(config, "responseModalities")
    if raw is None:
        return
    path = "generationConfig.responseModalities"
    modalities = [m.upper() for m in string_list(raw, path)]
    others = [m for m in modalities if m not in ("TEXT", "MODALITY_UNSPECIFIED")]
    if not others:
        return
    if "TEXT" in modalities:
        dropped.append(f"{path}: only text is answered; {', '.join(others)} not produced")
    else:
        dropped.append(f"{path}: only text is answered; {', '.join(others)} asked for, text sent")


def _parse_logprobs(config: dict[str, Any]) -> tuple[bool | None, int | None]:
    """`responseLogprobs` (log probabilities of the chosen tokens) and `logprobs` (how many
    top alternatives at each step, valid only with `responseLogprobs`)."""
    wanted = get_field(config, "responseLogprobs")
    if wanted is not None:
        wanted = expect(wanted, bool, "generationConfig.responseLogprobs")
    top = _config_int(config, "logprobs", minimum=0, maximum=MAX_TOP_LOGPROBS)
    if top is not None and not wanted:
        raise InvalidRequest(
            "generationConfig.logprobs: only valid with responseLogprobs set to true",
            param="generationConfig.logprobs",
        )
    return wanted, top


def _parse_service_tier(raw: Any, dropped: list[str]) -> str | None:
    """`serviceTier` by its lower-case name (`flex`, `priority`, `standard`), which
    OpenAI-compatible upstreams share in part; the unspecified tier is the default."""
    if raw is None:
        return None
    tier = expect(raw, str, "serviceTier").lower().removeprefix("service_tier_")
    if tier == "unspecified":
        return None
    if tier not in SERVICE_TIERS:
        dropped.append(f"serviceTier: {raw!r} is not a Gemini service tier; ignored")
        return None
    return tier


def _camel(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The field under its camelCase name only, so the checks below name it one way."""
    value = get_field(config, name)
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
    value = get_field(config, "stopSequences")
    if value is None:
        return []
    return string_list(value, "generationConfig.stopSequences", max_items=MAX_STOP)


def _parse_thinking(config: dict[str, Any], options: RequestOptions) -> ReasoningConfig | None:
    raw = get_field(config, "thinkingConfig")
    if raw is None:
        return None
    path = "generationConfig.thinkingConfig"
    raw = expect_object(raw, path)
    include = bool(get_field(raw, "includeThoughts"))
    if get_field(raw, "includeThoughts") is not None:
        expect(get_field(raw, "includeThoughts"), bool, join(path, "includeThoughts"))
    budget = get_field(raw, "thinkingBudget")
    level = get_field(raw, "thinkingLevel")
    if budget is not None and level is not None:
        raise InvalidRequest(
            f"{path}: thinkingBudget and thinkingLevel cannot be set together", param=path
        )
    options.include_thoughts = include
    if level is not None:
        level = one_of(
            expect(level, str, join(path, "thinkingLevel")),
            THINKING_LEVELS,
            join(path, "thinkingLevel"),
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


def _parse_response_format(config: dict[str, Any], dropped: list[str]) -> ResponseFormat | None:
    mime = get_field(config, "responseMimeType")
    schema = get_field(config, "responseJsonSchema")
    if schema is None:
        schema = get_field(config, "responseSchema")
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
        if mime != "text/plain":
            dropped.append(
                f"generationConfig.responseMimeType: {mime!r} is not carried; plain text is asked"
            )
    return None


def _parse_system(raw: Any, dropped: list[str]) -> list[TextPart]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [TextPart(raw)] if raw else []
    raw = expect_object(raw, "systemInstruction")
    note_unread(raw, "systemInstruction", frozenset({"parts", "role"}), {}, dropped)
    role = get_field(raw, "role")
    # google-genai sends a string instruction as a "user" content; the API ignores the role.
    if role not in (None, "", "user", "system"):
        dropped.append(f"systemInstruction.role: {role!r} is ignored; it is the system prompt")
    parts = expect(get_field(raw, "parts") or [], list, "systemInstruction.parts")
    texts = []
    for i, part in enumerate(parts):
        path = join("systemInstruction.parts", i)
        if isinstance(part, str):
            texts.append(TextPart(part))
            continue
        part = expect_object(part, path)
        text = get_field(part, "text")
        if text is None:
            raise InvalidRequest(f"{path}: a system instruction holds text parts only", param=path)
        texts.append(TextPart(expect(text, str, join(path, "text"))))
    return texts


def _parse_tools(raw: Any, options: RequestOptions) -> list[ToolDefinition]:
    if raw is None:
        return []
    tools: list[ToolDefinition] = []
    for i, tool in enumerate(expect(raw, list, "tools")):
        path = join("tools", i)
        tool = expect_object(tool, path)
        declarations = get_field(tool, "functionDeclarations")
        for key in tool:
            if key not in ("functionDeclarations", "function_declarations"):
                options.dropped.append(f"{join(path, key)}: built-in tool has no equivalent here")
        if declarations is None:
            continue
        for j, declaration in enumerate(
            expect(declarations, list, join(path, "functionDeclarations"))
        ):
            tools.append(
                _parse_declaration(
                    declaration, join(join(path, "functionDeclarations"), j), options.dropped
                )
            )
    return tools


def _parse_declaration(raw: Any, path: str, dropped: list[str]) -> ToolDefinition:
    raw = expect_object(raw, path)
    note_unread(
        raw,
        path,
        frozenset({"name", "description", "parameters", "parametersJsonSchema"}),
        _DECLARATION_NOT_CARRIED,
        dropped,
    )
    name = get_field(raw, "name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(
            f"{join(path, 'name')}: this field is required", param=join(path, "name")
        )
    if not FUNCTION_NAME.match(name):
        raise InvalidRequest(
            f"{join(path, 'name')}: must start with a letter or _ and use a-z, A-Z, 0-9, _ . : -",
            param=join(path, "name"),
        )
    # parametersJsonSchema (plain JSON Schema) wins over parameters (OpenAPI subset).
    schema = get_field(raw, "parametersJsonSchema")
    schema_path = join(path, "parametersJsonSchema")
    if schema is None and get_field(raw, "parameters") is not None:
        schema_path = join(path, "parameters")
        schema = openapi_to_json_schema(expect(get_field(raw, "parameters"), dict, schema_path))
    if schema is None:
        schema = {"type": "object", "properties": {}}
    schema = expect(schema, dict, schema_path)
    if schema.get("type") not in (None, "object"):
        raise InvalidRequest(
            f"{schema_path}: a function's parameters must be of type object,"
            f" got {schema.get('type')!r}",
            param=schema_path,
        )
    description = get_field(raw, "description")
    return ToolDefinition(
        name=name,
        description=expect(description, str, join(path, "description"))
        if description is not None
        else None,
        parameters=schema,
    )


def _parse_tool_config(
    raw: Any, tools: list[ToolDefinition], dropped: list[str]
) -> ToolChoice | None:
    if raw is None:
        return None
    raw = expect_object(raw, "toolConfig")
    note_unread(
        raw, "toolConfig", frozenset({"functionCallingConfig"}), _TOOL_CONFIG_NOT_CARRIED, dropped
    )
    calling = get_field(raw, "functionCallingConfig")
    if calling is None:
        return None
    path = "toolConfig.functionCallingConfig"
    calling = expect_object(calling, path)
    note_unread(
        calling, path, frozenset({"mode", "allowedFunctionNames"}), _CALLING_NOT_CARRIED, dropped
    )
    mode = get_field(calling, "mode") or "AUTO"
    mode = one_of(expect(mode, str, join(path, "mode")).upper(), _MODES, join(path, "mode"))
    allowed = get_field(calling, "allowedFunctionNames")
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
    if mode == "VALIDATED":
        # AUTO with schema-checked calls; the canonical model has no such knob.
        dropped.append(f"{path}.mode: VALIDATED is sent as AUTO (calls are not schema-checked)")
    return ToolChoice(mode="auto", allowed=names or None)
