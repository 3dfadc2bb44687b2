"""The Responses request as the proxy sends it to the ChatGPT Codex backend.

The Codex backend (`POST {base}/responses`) only streams, stores nothing
(`store: false`) and rejects the sampling fields of the public API, so a canonical
request is cut down to what it accepts, and every field left behind is named in the
returned notes. Reasoning survives tool turns only by replaying the encrypted
reasoning items it sent, since nothing is stored server-side.

Reasoning replay rule: a `ReasoningPart` goes back as a `reasoning` item only when its
`signature` is Responses encrypted content. Those are Fernet tokens (base64url of a
0x80 version byte and a big-endian timestamp, so they start with `gAAAAA`); Anthropic
and Gemini signatures are base64 protobufs and never do. A request may override the
guess with `extensions["responses.replay_reasoning"]`: True replays every signed part,
False none. Reasoning that is not replayed is dropped with a note, as the backend
would reject a foreign signature.
"""

from __future__ import annotations

import re
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    arguments_json,
)
from chatmock_lab.core.reasoning import effort_for
from chatmock_lab.core.tools import narrow_tool_choice

# The `ChatRequest.extensions` key that overrides the encrypted-content guess.
REPLAY_REASONING = "responses.replay_reasoning"

_FERNET = re.compile(r"^gAAAAA[A-Za-z0-9_\-]+={0,2}$")
_ERROR_PREFIX = "Error: "


def looks_like_encrypted_reasoning(signature: str) -> bool:
    """Whether a reasoning signature has the shape of Responses `encrypted_content`."""
    return bool(_FERNET.match(signature))


def _replayable(part: ReasoningPart, request: ChatRequest) -> bool:
    if not part.signature:
        return False
    override = request.extensions.get(REPLAY_REASONING)
    if isinstance(override, bool):
        return override
    return looks_like_encrypted_reasoning(part.signature)


def _user_content(parts: list[Any], notes: list[str], where: str) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, ImagePart):
            image: dict[str, Any] = {"type": "input_image", "image_url": part.as_url()}
            if part.detail:
                image["detail"] = part.detail
            content.append(image)
        elif isinstance(part, DocumentPart):
            document = _document(part)
            if document is None:
                notes.append(f"{where}: an empty document has no Responses form")
            else:
                content.append(document)
        elif not isinstance(part, ToolResultPart):
            notes.append(f"{where}: {type(part).__name__} has no place in a user message")
    return content


def _document(part: DocumentPart) -> dict[str, Any] | None:
    if part.text is not None:
        title = f"{part.title}\n\n" if part.title else ""
        return {"type": "input_text", "text": title + part.text}
    if part.data is not None:
        media_type = part.media_type or "application/octet-stream"
        file: dict[str, Any] = {
            "type": "input_file",
            "file_data": f"data:{media_type};base64,{part.data}",
        }
        if part.title:
            file["filename"] = part.title
        return file
    if part.url is not None:
        file = {"type": "input_file", "file_url": part.url}
        if part.title:
            file["filename"] = part.title
        return file
    return None


def _tool_output(part: ToolResultPart, notes: list[str], where: str) -> dict[str, Any]:
    if any(isinstance(p, ImagePart) for p in part.content):
        notes.append(f"{where}: images in tool results are not carried over")
    text = part.text()
    if part.is_error:
        # The wire has no error flag: the model learns of the failure from the text.
        text = _ERROR_PREFIX + text
    return {"type": "function_call_output", "call_id": part.tool_call_id, "output": text}


def _assistant_items(
    message: Message, request: ChatRequest, notes: list[str], where: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []

    def flush_text() -> None:
        if texts:
            content = list(texts)
            items.append({"type": "message", "role": "assistant", "content": content})
            texts.clear()

    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                texts.append({"type": "output_text", "text": part.text})
            continue
        if isinstance(part, RefusalPart):
            texts.append({"type": "refusal", "refusal": part.text})
            continue
        # Items keep the order the model produced them in: reasoning, text, calls.
        flush_text()
        if isinstance(part, ToolCallPart):
            if part.signature:
                notes.append(f"{where}: the thought signature of call {part.id} is not sent")
            items.append(
                {
                    "type": "function_call",
                    "call_id": part.id,
                    "name": part.name,
                    "arguments": arguments_json(part.arguments),
                }
            )
        elif isinstance(part, ReasoningPart):
            items += _reasoning_item(part, request, notes, where)
        elif isinstance(part, ToolResultPart):
            items.append(_tool_output(part, notes, where))
        else:
            notes.append(f"{where}: {type(part).__name__} has no place in an assistant message")
    flush_text()
    return items


def _reasoning_item(
    part: ReasoningPart, request: ChatRequest, notes: list[str], where: str
) -> list[dict[str, Any]]:
    if part.redacted is not None:
        notes.append(f"{where}: redacted reasoning from another vendor is not sent")
        return []
    if not _replayable(part, request):
        why = "it has no encrypted content" if not part.signature else "its signature is foreign"
        notes.append(f"{where}: reasoning is not replayed ({why})")
        return []
    summary = [{"type": "summary_text", "text": part.text}] if part.text else []
    return [{"type": "reasoning", "summary": summary, "encrypted_content": part.signature}]


def _input_items(request: ChatRequest, notes: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role == "assistant":
            items += _assistant_items(message, request, notes, where)
            continue
        if message.role == "system":
            # Leading system prompts are in `instructions`; later ones keep their place.
            text = [{"type": "input_text", "text": message.text()}]
            items.append({"type": "message", "role": "developer", "content": text})
            continue
        # Results first: they answer the calls just before, whatever the user adds.
        for part in message.parts:
            if isinstance(part, ToolResultPart):
                items.append(_tool_output(part, notes, where))
        content = _user_content(message.parts, notes, where)
        if content:
            items.append({"type": "message", "role": "user", "content": content})
    return items


def _tools(request: ChatRequest, body: dict[str, Any], notes: list[str]) -> None:
    tools = request.tools
    choice = narrow_tool_choice(request.tool_choice, {t.name for t in tools}, notes)
    if not tools:
        return
    wire_choice: Any = "auto" if choice is None else choice.mode
    if choice is not None and choice.allowed:
        if choice.mode == "required" and len(choice.allowed) == 1:
            wire_choice = {"type": "function", "name": choice.allowed[0]}
        else:
            # The Codex body has no `allowed_tools` choice; offering only the allowed
            # tools says the same thing.
            tools = [t for t in tools if t.name in choice.allowed]
            notes.append("tool_choice.allowed: sent as a narrowed tools list")
    body["tools"] = [
        {
            "type": "function",
            "name": t.name,
            **({"description": t.description} if t.description else {}),
            "parameters": t.parameters,
            "strict": t.strict is True,
        }
        for t in tools
    ]
    body["tool_choice"] = wire_choice
    body["parallel_tool_calls"] = (
        True if request.parallel_tool_calls is None else request.parallel_tool_calls
    )


def _text_format(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"format": {"type": "json_object"}}
    spec: dict[str, Any] = {
        "type": "json_schema",
        "name": fmt.name or "response",
        "schema": fmt.schema or {},
    }
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    return {"format": spec}


def _dropped(request: ChatRequest) -> list[str]:
    present = {
        "max_output_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "top_k": request.top_k,
        "stop": request.stop or None,
        "seed": request.seed,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "user": request.user,
        "metadata": request.metadata,
        "logprobs": request.logprobs,
        "top_logprobs": request.top_logprobs,
        "logit_bias": request.logit_bias,
        "service_tier": request.service_tier,
        "safety_identifier": request.safety_identifier,
        "cache_control": request.cache_control,
    }
    notes = [
        f"{name}: dropped deliberately (the Codex backend does not take it)"
        for name, value in present.items()
        if value is not None
    ]
    notes += [
        f"tools[{i}].cache_control: the Responses API has no prompt-caching hints"
        for i, tool in enumerate(request.tools)
        if tool.cache_control is not None
    ]
    return notes


def build_upstream_request(
    request: ChatRequest, *, prompt_cache_key: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A Codex-backend Responses body for `request`, and notes on what was not sent."""
    notes: list[str] = []
    body: dict[str, Any] = {
        "model": request.model,
        # The backend rejects a body without this field; an empty string satisfies it.
        "instructions": "\n\n".join(p.text for p in request.system),
        "input": _input_items(request, notes),
    }
    _tools(request, body, notes)
    if request.reasoning is not None:
        reasoning: dict[str, Any] = {"effort": effort_for(request.reasoning)}
        if request.reasoning.include:
            reasoning["summary"] = "auto"
        body["reasoning"] = reasoning
    body["store"] = False
    body["stream"] = True
    body["include"] = ["reasoning.encrypted_content"]
    if prompt_cache_key is not None:
        body["prompt_cache_key"] = prompt_cache_key
    text = _text_format(request)
    if text is not None:
        body["text"] = text
    return body, notes + _dropped(request)
