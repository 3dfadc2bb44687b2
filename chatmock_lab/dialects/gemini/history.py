"""Gemini contents as canonical messages: parts, call/response pairing, cancelled calls.

Function calls without ids get deterministic ones; a function response pairs by id, or
else with the oldest pending call of the same name. Calls that never got a response
(the user cancelled them) are removed from the history, and so are responses to calls
it does not hold. Gemini CLI's nested lists of parts are flattened.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.core import (
    DocumentPart,
    ImagePart,
    InvalidRequest,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    client_turn,
)
from chatmock_lab.core.calls import stable_call_id
from chatmock_lab.dialects.fields import (
    describe,
    expect,
    expect_object,
    join,
    one_of,
)
from chatmock_lab.dialects.fields import note_unread as _note_unread
from chatmock_lab.dialects.gemini.wire import get_field, has_field, signature_from_wire
from chatmock_lab.images import standard_base64


@dataclass(slots=True)
class _History:
    """Pairs function responses with the calls they answer while contents are parsed."""

    pending: dict[str, deque[str]] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    issued: set[str] = field(default_factory=set)

    def call_id(self, given: str | None, name: str, where: str) -> str:
        call_id = given or stable_call_id(f"{where}:{name}")
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
            call_id = stable_call_id(f"{where}:{name}:orphan")
        self.answered.add(call_id)
        return call_id


# The keys of a part this module reads, and why the others a part may hold are not carried.
_PART_READ = frozenset(
    {"text", "thought", "thoughtSignature", "inlineData", "fileData", "functionCall",
     "functionResponse"}
)  # fmt: skip
_PART_NOT_CARRIED = {
    "videoMetadata": "video clipping and frame rate have no canonical place",
    "mediaResolution": "media are sent at the upstream's default resolution",
    "partMetadata": "part metadata has no canonical place",
}
_CALL_NOT_CARRIED = {
    "partialArgs": "streamed partial arguments are not read; args are",
    "willContinue": "streamed partial arguments are not read; args are",
}
_RESPONSE_NOT_CARRIED = {
    "parts": "media inside a function response are not carried; the response is",
    "willContinue": "streamed function responses are Gemini's Live API",
    "scheduling": "response scheduling is Gemini's Live API",
}


def camel_name(key: str) -> str:
    """A field name in camelCase, however the client spelled it."""
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def note_unread(
    obj: dict[str, Any],
    path: str,
    read: frozenset[str],
    not_carried: dict[str, str],
    dropped: list[str],
) -> None:
    """`fields.note_unread` by camelCase name (Gemini takes snake_case spellings too)."""
    _note_unread(obj, path, read, not_carried, dropped, name_of=camel_name)


def parse_contents(contents: list[Any], dropped: list[str]) -> list[Message]:
    """The contents as canonical messages; parts that are not carried over are noted in
    `dropped`. A user content holding function responses becomes a tool message (the
    responses, each call answered once) and then a user message (the rest)."""
    history = _History()
    messages: list[Message] = []
    for i, content in enumerate(contents):
        path = join("contents", i)
        if isinstance(content, list):
            # Gemini CLI sometimes sends a bare list of parts (function responses) as a content.
            content = {"role": "user", "parts": content}
        content = expect_object(content, path)
        role = get_field(content, "role") or "user"
        role = one_of(
            expect(role, str, join(path, "role")), ("user", "model", "function"), join(path, "role")
        )
        raw_parts = get_field(content, "parts")
        if raw_parts is None:
            raise InvalidRequest(
                f"{join(path, 'parts')}: this field is required", param=join(path, "parts")
            )
        parts: list[Part] = []
        for j, raw in enumerate(_flatten(expect(raw_parts, list, join(path, "parts")))):
            parts.extend(_parse_part(raw, join(join(path, "parts"), j), role, history, dropped))
        if role == "model":
            messages.append(Message(role="assistant", parts=parts))
            continue
        messages += client_turn(parts, arrange_results=_dedupe_results)
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
    unique: list[ToolResultPart] = []
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
            message.parts = [
                p
                for p in message.parts
                if isinstance(p, ToolResultPart) and p.tool_call_id in history.issued
            ]
            if not message.parts:
                continue
        kept.append(message)
    return kept


def _parse_part(
    raw: Any, path: str, role: str, history: _History, dropped: list[str]
) -> list[Part]:
    if isinstance(raw, str):
        return [TextPart(raw)]
    raw = expect_object(raw, path)
    if any(has_field(raw, kind) for kind in _PART_READ - {"thought", "thoughtSignature"}):
        note_unread(raw, path, _PART_READ, _PART_NOT_CARRIED, dropped)
    signature = get_field(raw, "thoughtSignature")
    if signature is not None:
        signature = signature_from_wire(expect(signature, str, join(path, "thoughtSignature")))
    if has_field(raw, "text"):
        text = expect(get_field(raw, "text"), str, join(path, "text"))
        if get_field(raw, "thought") is True:
            return [ReasoningPart(text=text, signature=signature)]
        # An empty model text carries nothing (other dialects never send one) unless it
        # holds a thought signature, which must survive.
        parts: list[Part] = [TextPart(text)] if text or role != "model" else []
        if signature is not None and role == "model":
            parts.insert(0, ReasoningPart(signature=signature))
        return parts
    if has_field(raw, "inlineData"):
        return [_inline_data(get_field(raw, "inlineData"), join(path, "inlineData"))]
    if has_field(raw, "fileData"):
        return [_file_data(get_field(raw, "fileData"), join(path, "fileData"))]
    if has_field(raw, "functionCall"):
        call_path = join(path, "functionCall")
        call = expect_object(get_field(raw, "functionCall"), call_path)
        note_unread(
            call,
            call_path,
            frozenset({"id", "name", "args"}),
            _CALL_NOT_CARRIED,
            dropped,
        )
        name = _required_str(call, "name", call_path)
        args = get_field(call, "args")
        given = get_field(call, "id")
        return [
            ToolCallPart(
                id=history.call_id(given if isinstance(given, str) else None, name, path),
                name=name,
                arguments=expect(args, dict, join(call_path, "args")) if args is not None else {},
                signature=signature,
            )
        ]
    if has_field(raw, "functionResponse"):
        response_path = join(path, "functionResponse")
        response = expect_object(get_field(raw, "functionResponse"), response_path)
        note_unread(
            response,
            response_path,
            frozenset({"id", "name", "response"}),
            _RESPONSE_NOT_CARRIED,
            dropped,
        )
        name = _required_str(response, "name", response_path)
        given = get_field(response, "id")
        content, is_error = _function_response_content(get_field(response, "response"))
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
        if has_field(raw, kind):
            dropped.append(f"{path}.{kind}: not carried over")
            return []
    raise InvalidRequest(
        f"{path}: a part needs one of text, inlineData, fileData, functionCall, functionResponse",
        param=path,
    )


def _required_str(obj: dict[str, Any], name: str, path: str) -> str:
    value = get_field(obj, name)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            f"{join(path, name)}: this field is required (a string, got {describe(value)})",
            param=join(path, name),
        )
    return value


def _inline_data(raw: Any, path: str) -> ImagePart | DocumentPart:
    raw = expect_object(raw, path)
    mime = _required_str(raw, "mimeType", path)
    # Canonical data is standard base64; Gemini accepts the URL-safe alphabet too.
    data = standard_base64(_required_str(raw, "data", path))
    if mime.startswith("image/"):
        return ImagePart(data=data, media_type=mime)
    return DocumentPart(media_type=mime, data=data)


def _file_data(raw: Any, path: str) -> ImagePart | DocumentPart:
    raw = expect_object(raw, path)
    uri = _required_str(raw, "fileUri", path)
    mime = get_field(raw, "mimeType")
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
