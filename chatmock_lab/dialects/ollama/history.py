"""Ollama `messages` as canonical messages, tool results paired with their calls.

Ollama's history may carry no call ids: a tool message names its tool (`tool_name`)
or nothing at all. Calls without an `id` get deterministic ones (the same history
always gives the same ids, as in the Gemini dialect), and a result pairs by its
`tool_call_id`, else with the oldest unanswered call of its `tool_name`, else with the
oldest unanswered call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.core import (
    ImagePart,
    InvalidRequest,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from chatmock_lab.core.calls import stable_call_id
from chatmock_lab.dialects.fields import (
    expect,
    expect_object,
    join,
    note_unread,
    one_of,
    optional,
    required,
)
from chatmock_lab.images import decode_base64_image, media_type_of, standard_base64

ROLES = ("system", "user", "assistant", "tool")

_MESSAGE_READ = frozenset(
    {"role", "content", "thinking", "images", "tool_calls", "tool_name", "tool_call_id"}
)
_CALL_READ = frozenset({"id", "type", "function"})
_FUNCTION_READ = frozenset({"index", "name", "arguments"})


@dataclass(slots=True)
class _Calls:
    """Calls not answered yet, oldest first, as (id, name)."""

    pending: list[tuple[str, str]] = field(default_factory=list)

    def issue(self, call_id: str, name: str) -> None:
        self.pending.append((call_id, name))

    def answer(self, given: str | None, name: str | None, where: str) -> tuple[str, str | None]:
        """The id a result answers and the name of the call it answers."""
        for i, (call_id, call_name) in enumerate(self.pending):
            if (given is not None and call_id == given) or (
                given is None and (name is None or call_name == name)
            ):
                del self.pending[i]
                return call_id, call_name
        return given or stable_call_id(f"{where}:{name}:orphan"), name


def parse_messages(raw: list[Any], dropped: list[str]) -> tuple[list[TextPart], list[Message]]:
    """The leading system messages (the system slot) and the conversation."""
    system: list[TextPart] = []
    messages: list[Message] = []
    calls = _Calls()
    for i, item in enumerate(raw):
        path = join("messages", i)
        item = expect_object(item, path)
        note_unread(item, path, _MESSAGE_READ, {}, dropped)
        # Ollama lowercases roles before reading them.
        role_path = join(path, "role")
        role = one_of(required(item, "role", str, path).lower(), ROLES, role_path)
        content = optional(item, "content", str, path) or ""
        images = parse_images(item.get("images"), join(path, "images"))
        if role == "system":
            if images:
                raise InvalidRequest(
                    f"{join(path, 'images')}: a system message cannot carry images",
                    param=join(path, "images"),
                )
            if not messages:
                system.append(TextPart(content))
            else:
                messages.append(Message(role="system", parts=[TextPart(content)]))
        elif role == "user":
            parts: list[Part] = [TextPart(content)] if content or not images else []
            messages.append(Message(role="user", parts=[*parts, *images]))
        elif role == "assistant":
            messages.append(_assistant(item, path, content, calls, dropped))
        else:
            messages.append(_tool_result(item, path, content, images, calls))
    return system, _merge_results(messages)


def parse_images(raw: Any, path: str) -> list[Part]:
    if raw is None:
        return []
    images: list[Part] = []
    for j, value in enumerate(expect(raw, list, path)):
        data = expect(value, str, join(path, j))
        decoded = decode_base64_image(data)
        if decoded is None:
            raise InvalidRequest(f"{join(path, j)}: not base64 image data", param=join(path, j))
        images.append(ImagePart(data=standard_base64(data), media_type=media_type_of(decoded)))
    return images


def _assistant(
    item: dict[str, Any], path: str, content: str, calls: _Calls, dropped: list[str]
) -> Message:
    parts: list[Part] = []
    thinking = optional(item, "thinking", str, path)
    if thinking:
        parts.append(ReasoningPart(thinking))
    if content:
        parts.append(TextPart(content))
    if item.get("images"):
        dropped.append(f"{join(path, 'images')}: images in an assistant turn are not carried")
    raw_calls = item.get("tool_calls")
    for j, raw in enumerate(expect(raw_calls, list, join(path, "tool_calls")) if raw_calls else []):
        call_path = join(join(path, "tool_calls"), j)
        call = expect_object(raw, call_path)
        note_unread(call, call_path, _CALL_READ, {}, dropped)
        function_path = join(call_path, "function")
        function = expect_object(required(call, "function", dict, call_path), function_path)
        note_unread(function, function_path, _FUNCTION_READ, {}, dropped)
        name = required(function, "name", str, function_path)
        arguments = function.get("arguments")
        arguments = (
            {} if arguments is None else expect(arguments, dict, join(function_path, "arguments"))
        )
        call_id = optional(call, "id", str, call_path) or stable_call_id(f"{call_path}:{name}")
        calls.issue(call_id, name)
        parts.append(ToolCallPart(id=call_id, name=name, arguments=arguments))
    return Message(role="assistant", parts=parts)


def _tool_result(
    item: dict[str, Any], path: str, content: str, images: list[Part], calls: _Calls
) -> Message:
    name = optional(item, "tool_name", str, path)
    given = optional(item, "tool_call_id", str, path)
    call_id, call_name = calls.answer(given, name, path)
    result_parts: list[TextPart | ImagePart] = [TextPart(content)] if content else []
    result_parts += [p for p in images if isinstance(p, ImagePart)]
    result = ToolResultPart(tool_call_id=call_id, content=result_parts, name=name or call_name)
    return Message(role="tool", parts=[result])


def _merge_results(messages: list[Message]) -> list[Message]:
    """Consecutive tool messages are one turn of results, as the other dialects say it."""
    merged: list[Message] = []
    for message in messages:
        if message.role == "tool" and merged and merged[-1].role == "tool":
            merged[-1].parts.extend(message.parts)
        else:
            merged.append(message)
    return merged
