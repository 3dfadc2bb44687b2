"""The request an Anthropic client would send: `render_request` turns a canonical
request into a `/v1/messages` body, noting everything it cannot carry as "field: why".

Sources: the Messages API reference for the body, "Extended thinking" for the
feature-compatibility rules (`_fit_thinking`), and "Vision" / "PDF support" for the
image and document sources Anthropic takes.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    RenderedRequest,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolDefinition,
    ToolResultPart,
)
from chatmock_lab.core.notes import note_cache_hint
from chatmock_lab.core.tools import carried_tools, narrow_tool_choice
from chatmock_lab.dialects.anthropic.blocks import assistant_block, text_block
from chatmock_lab.dialects.anthropic.wire import (
    EFFORTS,
    IMAGE_TYPES,
    MIN_THINKING_BUDGET,
    SERVICE_TIERS,
    TOOL_NAME,
    tool_use_id,
)
from chatmock_lab.images import decode_base64_image, media_type_of

_MIN_THINKING_TOP_P = 0.95
# Canonical efforts output_config.effort lacks, and the nearest it has ("none" is handled
# as thinking disabled).
_EFFORT_ALIASES = {"minimal": "low"}
# Anthropic requires max_tokens; a request that set none gets this much (translator policy).
_DEFAULT_MAX_TOKENS = 4096
_MAX_TEMPERATURE = 1.0


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
    for name in (
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "prompt_cache_key",
        "safety_identifier",
    ):
        if getattr(request, name) is not None:
            dropped.append(f"{name}: Anthropic has no {name}")
    if request.service_tier in SERVICE_TIERS:
        body["service_tier"] = request.service_tier
    elif request.service_tier is not None:
        dropped.append(f"service_tier: {request.service_tier!r} is not an Anthropic service tier")
    if request.cache_control is not None:
        body["cache_control"] = request.cache_control
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


def _compact(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One plain text block as the string clients usually send; the parser reads both."""
    if len(blocks) == 1 and blocks[0].keys() == {"type", "text"} and blocks[0]["type"] == "text":
        return blocks[0]["text"]
    return blocks


def _render_system(parts: list[TextPart]) -> str | list[dict[str, Any]] | None:
    if not parts:
        return None
    return _compact([text_block(p) for p in parts])


def _render_tools(tools: list[ToolDefinition], dropped: list[str]) -> list[dict[str, Any]]:
    # Gemini allows '.' and ':' in names; Anthropic rejects the whole request.
    carried = carried_tools(tools, TOOL_NAME, "is not a valid Anthropic tool name", dropped)
    rendered: list[dict[str, Any]] = []
    for tool in carried:
        item: dict[str, Any] = {"name": tool.name}
        if tool.description:
            item["description"] = tool.description
        item["input_schema"] = tool.parameters
        if tool.strict is not None:
            item["strict"] = tool.strict
        if tool.cache_control is not None:
            item["cache_control"] = tool.cache_control
        rendered.append(item)
    return rendered


def _render_tool_choice(
    request: ChatRequest, names: set[str], dropped: list[str]
) -> dict[str, Any] | None:
    """The choice narrowed by the hub, in Anthropic's spelling, with the parallel flag
    (`disable_parallel_tool_use`) that Anthropic keeps inside `tool_choice`."""
    choice = narrow_tool_choice(request.tool_choice, names, dropped)
    parallel = request.parallel_tool_calls
    if not names:
        if parallel is not None:
            dropped.append("parallel_tool_calls: no tools to call")
        return None
    if choice is None and parallel is None:
        return None
    mode = choice.mode if choice is not None else "auto"
    allowed = (choice.allowed or []) if choice is not None else []
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
    if effort is not None and effort not in EFFORTS:
        alias = _EFFORT_ALIASES.get(effort)
        sent = f"; sent as {alias!r}" if alias else ""
        dropped.append(f"reasoning.effort: Anthropic has no {effort!r} effort{sent}")
        effort = alias
    thinking: dict[str, Any] | None = {"type": "adaptive"}
    budget = reasoning.budget_tokens
    if budget is not None:
        if budget < MIN_THINKING_BUDGET:
            dropped.append(f"reasoning.budget_tokens: Anthropic's minimum is 1024, not {budget}")
            budget = MIN_THINKING_BUDGET
        if max_tokens is None:
            max_tokens = budget + _DEFAULT_MAX_TOKENS
        elif budget >= max_tokens:
            # Lower the budget to fit, unless that would take it below Anthropic's minimum.
            fits = max_tokens - 1 if max_tokens > MIN_THINKING_BUDGET else None
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
    parts: list[Part], where: str, dropped: list[str], *, text_only: bool = False
) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        block: dict[str, Any] | None = None
        if isinstance(part, TextPart):
            block = text_block(part)
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
        return _cached({"type": "image", "source": {"type": "url", "url": part.url}}, part)
    media_type = part.media_type or media_type_of(decode_base64_image(part.data or "") or b"")
    if media_type not in IMAGE_TYPES:
        dropped.append(f"{at}: Anthropic takes jpeg, png, gif or webp images, not {media_type}")
        return None
    source = {"type": "base64", "media_type": media_type, "data": part.data or ""}
    return _cached({"type": "image", "source": source}, part)


def _cached(block: dict[str, Any], part: ImagePart | DocumentPart) -> dict[str, Any]:
    """The block with the part's prompt-caching hint, when it has one."""
    if part.cache_control is not None:
        block["cache_control"] = part.cache_control
    return block


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
    return _cached(block, part)


def _decoded_text(data: str) -> str | None:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
        return None


def _assistant_blocks(parts: list[Part], where: str, dropped: list[str]) -> list[dict[str, Any]]:
    """An assistant turn's blocks: what Anthropic takes back, encoded as its responses
    are (`blocks.assistant_block`)."""
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        at = f"{where}.parts[{j}]"
        if isinstance(part, TextPart) and not part.text:
            continue  # Anthropic rejects empty text blocks
        if isinstance(part, ReasoningPart) and part.redacted is None and not part.signature:
            # Anthropic checks the signature of every thinking block it gets back.
            dropped.append(f"{at}: reasoning without a signature cannot go back to Anthropic")
        elif isinstance(part, (TextPart, RefusalPart, ReasoningPart, ToolCallPart)):
            blocks.append(assistant_block(part, at, dropped))
        else:
            dropped.append(f"{at}: {type(part).__name__} has no place in an assistant message")
    return blocks


def _result_blocks(parts: list[Part], where: str, dropped: list[str]) -> list[dict[str, Any]]:
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
                note_cache_hint(item, f"{at}.content[{k}]", dropped, "not read in a tool result")
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
