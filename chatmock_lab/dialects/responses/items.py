"""Input items of a Responses request as canonical messages.

Consecutive assistant-side items (reasoning, output messages, function calls) form one
assistant turn and consecutive `function_call_output` items one tool turn, as the other
dialects say them. A reasoning item's `encrypted_content` is kept opaque as the part's
`signature`; its summary (or, without one, its full text) is the part's text. Items of
OpenAI-hosted tools have no canonical form and are dropped with a note.
"""

from __future__ import annotations

from typing import Any

from chatmock_lab.core import (
    DocumentPart,
    ImagePart,
    InvalidRequest,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    parse_arguments,
)
from chatmock_lab.dialects.fields import expect, expect_object, join, one_of, optional, required

_ROLES = ("user", "system", "developer", "assistant")
_USER_PARTS = ("input_text", "input_image", "input_file")
_ASSISTANT_PARTS = ("output_text", "refusal", "input_text")
# Item types OpenAI documents that have no canonical form (hosted tools' calls and
# their outputs, compaction): dropped with a note rather than refused.
_FOREIGN_ITEMS = frozenset(
    {
        "file_search_call", "web_search_call", "computer_call", "computer_call_output",
        "image_generation_call", "code_interpreter_call", "local_shell_call",
        "local_shell_call_output", "shell_call", "shell_call_output", "apply_patch_call",
        "apply_patch_call_output", "mcp_list_tools", "mcp_approval_request",
        "mcp_approval_response", "mcp_call", "custom_tool_call", "custom_tool_call_output",
        "compaction", "tool_search_call", "tool_search_output", "additional_tools",
    }
)  # fmt: skip


def parse_input(raw: Any, dropped: list[str]) -> list[Message]:
    """`input` (a string or items) as canonical messages, system turns included."""
    if isinstance(raw, str):
        return [Message(role="user", parts=[TextPart(raw)])]
    messages: list[Message] = []
    call_names: dict[str, str] = {}
    for i, item in enumerate(expect(raw, list, "input")):
        path = join("input", i)
        item = expect_object(item, path)
        kind = optional(item, "type", str, path) or ("message" if "role" in item else None)
        if kind is None:
            raise InvalidRequest(
                f"{join(path, 'type')}: this field is required", param=join(path, "type")
            )
        if kind == "message":
            _add(messages, _message(item, path))
        elif kind == "function_call":
            call = ToolCallPart(
                id=required(item, "call_id", str, path),
                name=required(item, "name", str, path),
                arguments=parse_arguments(required(item, "arguments", str, path)),
            )
            call_names[call.id] = call.name
            _add(messages, Message(role="assistant", parts=[call]))
        elif kind == "function_call_output":
            call_id = required(item, "call_id", str, path)
            result = ToolResultPart(
                tool_call_id=call_id,
                content=_output_parts(item.get("output"), join(path, "output")),
                name=call_names.get(call_id),
            )
            _add(messages, Message(role="tool", parts=[result]))
        elif kind == "reasoning":
            _add(messages, Message(role="assistant", parts=[_reasoning(item, path)]))
        elif kind == "item_reference":
            raise InvalidRequest(
                f"{join(path, 'type')}: item references are not supported; send the item itself",
                param=join(path, "type"),
            )
        elif kind in _FOREIGN_ITEMS:
            dropped.append(f"{path}: a {kind!r} item has no canonical form; not carried over")
        else:
            raise InvalidRequest(
                f"{join(path, 'type')}: unsupported input item type {kind!r} (supported:"
                " 'message', 'function_call', 'function_call_output', 'reasoning')",
                param=join(path, "type"),
            )
    return messages


def _add(messages: list[Message], message: Message) -> None:
    """Append, merging an assistant-side or tool item into the turn it continues."""
    last = messages[-1] if messages else None
    if last is not None and last.role == message.role and message.role in ("assistant", "tool"):
        last.parts += message.parts
    else:
        messages.append(message)


def _message(item: dict[str, Any], path: str) -> Message:
    role = one_of(required(item, "role", str, path), _ROLES, join(path, "role"))
    content_path = join(path, "content")
    content = item.get("content")
    if content is None:
        raise InvalidRequest(f"{content_path}: this field is required", param=content_path)
    if role == "assistant":
        return Message(role="assistant", parts=_assistant_parts(content, content_path))
    kinds = _USER_PARTS if role == "user" else ("input_text",)
    parts = _input_parts(content, content_path, kinds)
    return Message(role="user" if role == "user" else "system", parts=parts)


def _part_type(part: dict[str, Any], path: str, kinds: tuple[str, ...]) -> str:
    kind = required(part, "type", str, path)
    if kind not in kinds:
        supported = ", ".join(repr(k) for k in kinds)
        raise InvalidRequest(
            f"{join(path, 'type')}: unsupported content part type {kind!r} (supported here:"
            f" {supported})",
            param=join(path, "type"),
        )
    return kind


def _input_parts(content: Any, path: str, kinds: tuple[str, ...]) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    parts: list[Part] = []
    for j, part in enumerate(expect(content, list, path)):
        part_path = join(path, j)
        part = expect_object(part, part_path)
        kind = _part_type(part, part_path, kinds)
        if kind == "input_text":
            parts.append(TextPart(required(part, "text", str, part_path)))
        elif kind == "input_image":
            parts.append(_image(part, part_path))
        else:
            parts.append(_file(part, part_path))
    return parts


def _unresolvable_file_id(part: dict[str, Any], path: str) -> None:
    if part.get("file_id") is not None:
        raise InvalidRequest(
            f"{join(path, 'file_id')}: files uploaded to OpenAI cannot be read here;"
            " send the content inline",
            param=join(path, "file_id"),
        )


def _image(part: dict[str, Any], path: str) -> ImagePart:
    detail = optional(part, "detail", str, path)
    url = optional(part, "image_url", str, path)
    if url is None:
        _unresolvable_file_id(part, path)
        raise InvalidRequest(
            f"{join(path, 'image_url')}: this field is required", param=join(path, "image_url")
        )
    return ImagePart.from_url(url, detail=None if detail == "auto" else detail)


def _file(part: dict[str, Any], path: str) -> DocumentPart:
    title = optional(part, "filename", str, path)
    file_data = optional(part, "file_data", str, path)
    if file_data is not None:
        image = ImagePart.from_url(file_data)
        if image.data is not None:
            return DocumentPart(media_type=image.media_type, data=image.data, title=title)
        # Bare base64, as some clients send it: PDF is what the API takes that way.
        return DocumentPart(media_type="application/pdf", data=file_data, title=title)
    file_url = optional(part, "file_url", str, path)
    if file_url is not None:
        return DocumentPart(url=file_url, title=title)
    _unresolvable_file_id(part, path)
    raise InvalidRequest(
        f"{path}: an input_file needs file_data or file_url", param=join(path, "file_data")
    )


def _assistant_parts(content: Any, path: str) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    parts: list[Part] = []
    for j, part in enumerate(expect(content, list, path)):
        part_path = join(path, j)
        part = expect_object(part, part_path)
        kind = _part_type(part, part_path, _ASSISTANT_PARTS)
        if kind == "refusal":
            parts.append(RefusalPart(required(part, "refusal", str, part_path)))
        else:
            parts.append(TextPart(required(part, "text", str, part_path)))
    return parts


def _output_parts(output: Any, path: str) -> list[TextPart | ImagePart]:
    if output is None:
        raise InvalidRequest(f"{path}: this field is required", param=path)
    if isinstance(output, str):
        return [TextPart(output)]
    parts: list[TextPart | ImagePart] = []
    for j, part in enumerate(expect(output, list, path)):
        part_path = join(path, j)
        part = expect_object(part, part_path)
        kind = _part_type(part, part_path, ("input_text", "input_image", "output_text"))
        if kind == "input_image":
            parts.append(_image(part, part_path))
        else:
            parts.append(TextPart(required(part, "text", str, part_path)))
    return parts


def _reasoning(item: dict[str, Any], path: str) -> ReasoningPart:
    texts: list[str] = []
    for key, text_key in (("summary", "text"), ("content", "text")):
        raw = item.get(key)
        if raw is None:
            continue
        for k, entry in enumerate(expect(raw, list, join(path, key))):
            entry = expect_object(entry, join(join(path, key), k))
            texts.append(required(entry, text_key, str, join(join(path, key), k)))
        if texts:
            # The summary stands for the reasoning; its full text comes only without one.
            break
    signature = optional(item, "encrypted_content", str, path)
    return ReasoningPart(text="\n\n".join(texts), signature=signature or None)
