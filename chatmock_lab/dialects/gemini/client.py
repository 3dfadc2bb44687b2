"""Gemini requests (outbound): a canonical request as a Gemini client would send it.

Source: the Gemini Developer API reference (GenerateContentRequest, FunctionDeclaration,
FunctionCallingConfig, ThinkingConfig). Model turns are spelled by the encoder shared
with responses (`content.model_parts`); which tools and tool choice are carried over is
the hub's decision (`core.tools`), spelled here in Gemini's modes.
"""

from __future__ import annotations

import copy
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    ImagePart,
    Message,
    ReasoningConfig,
    RenderedRequest,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
)
from chatmock_lab.core.notes import note_cache_hint
from chatmock_lab.core.tools import carried_tools, narrow_tool_choice
from chatmock_lab.dialects.gemini.content import media_part, model_parts
from chatmock_lab.dialects.gemini.wire import (
    FUNCTION_NAME,
    MAX_STOP,
    NO_CACHE_HINTS,
    THINKING_LEVELS,
    model_id,
)

# Canonical efforts above Gemini's highest thinking level.
_LEVEL_ALIASES = {"xhigh": "HIGH", "max": "HIGH"}


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
            note_cache_hint(part, f"system[{k}]", dropped, NO_CACHE_HINTS)
        body["systemInstruction"] = {"parts": [{"text": p.text} for p in system]}
    tools = carried_tools(
        request.tools, FUNCTION_NAME, "is not a valid Gemini function name", dropped
    )
    if tools:
        body["tools"] = [
            {"functionDeclarations": _render_declarations(request.tools, tools, dropped)}
        ]
    tool_config = _render_tool_config(request.tool_choice, [t.name for t in tools], dropped)
    if tool_config is not None:
        body["toolConfig"] = {"functionCallingConfig": tool_config}
    if request.parallel_tool_calls is not None:
        dropped.append("parallel_tool_calls: Gemini has no switch for parallel calls")
    config = _render_generation_config(request, dropped)
    if config:
        body["generationConfig"] = config
    if request.user is not None:
        dropped.append("user: Gemini has no end-user id")
    for name in ("logit_bias", "service_tier", "prompt_cache_key", "safety_identifier"):
        if getattr(request, name) is not None:
            dropped.append(f"{name}: Gemini has no {name}")
    if request.cache_control is not None:
        dropped.append(f"cache_control: {NO_CACHE_HINTS}")
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
            parts = model_parts(message.parts, replay=True, where=where, dropped=dropped)
            contents.append({"role": "model", "parts": parts})
        elif message.role == "tool":
            parts = _response_parts(message.parts, call_names, where, dropped)
            contents.append({"role": "user", "parts": parts})
        else:
            parts = [
                rendered
                for j, part in enumerate(message.parts)
                if (rendered := media_part(part, f"{where}.parts[{j}]", dropped)) is not None
            ]
            if previous == "tool":
                # Gemini answers calls in a user turn, which may hold the user's next words
                # too; the parser splits it into the same two canonical messages again.
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": "user", "parts": parts})
        previous = message.role
    return contents, moved


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


def _render_declarations(
    tools: list[ToolDefinition], carried: list[ToolDefinition], dropped: list[str]
) -> list[dict[str, Any]]:
    """The carried tools as function declarations; notes name each by its index in `tools`."""
    declarations: list[dict[str, Any]] = []
    indexes = {id(tool): i for i, tool in enumerate(tools)}
    for tool in carried:
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        declaration["parametersJsonSchema"] = tool.parameters
        at = f"tools[{indexes[id(tool)]}]"
        if tool.strict is not None:
            dropped.append(f"{at}.strict: Gemini function declarations have no strict flag")
        note_cache_hint(tool, at, dropped, NO_CACHE_HINTS)
        declarations.append(declaration)
    return declarations


def _render_tool_config(
    choice: ToolChoice | None, names: list[str], dropped: list[str]
) -> dict[str, Any] | None:
    """The hub's narrowed choice in Gemini's modes: auto narrowed to some functions is
    VALIDATED, since ANY would force a call; NONE names no functions."""
    narrowed = narrow_tool_choice(choice, names, dropped, noun="function")
    if narrowed is None:
        return None
    if narrowed.mode == "none":
        return {"mode": "NONE"}
    mode = "ANY" if narrowed.mode == "required" else ("VALIDATED" if narrowed.allowed else "AUTO")
    config: dict[str, Any] = {"mode": mode}
    if narrowed.allowed:
        config["allowedFunctionNames"] = narrowed.allowed
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
        "responseLogprobs": request.logprobs,
        "logprobs": request.top_logprobs,
    }
    config: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    if request.stop:
        config["stopSequences"] = request.stop[:MAX_STOP]
        if len(request.stop) > MAX_STOP:
            dropped.append(f"stop: Gemini takes at most {MAX_STOP} stop sequences")
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
    elif effort is not None and effort.upper() in THINKING_LEVELS:
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
