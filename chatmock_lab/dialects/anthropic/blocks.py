"""Content blocks as Anthropic writes them: text, and the one encoder for assistant
content, used for a response's `content` and for an assistant turn in a request alike.

An assistant block is the same object in both places (the Messages API reference
describes one `ContentBlock` that a client may send back unchanged); only what may be
sent back differs, and that is decided by the caller (`client.py`) before encoding.
"""

from __future__ import annotations

from typing import Any

from chatmock_lab.core import OutputPart, ReasoningPart, RefusalPart, TextPart
from chatmock_lab.core.tools import arguments_object
from chatmock_lab.dialects.anthropic.wire import tool_use_id


def text_block(part: TextPart) -> dict[str, Any]:
    """A text block, with the part's prompt-caching hint when it has one."""
    block: dict[str, Any] = {"type": "text", "text": part.text}
    if part.cache_control is not None:
        block["cache_control"] = part.cache_control
    return block


def assistant_block(part: OutputPart, at: str, dropped: list[str]) -> dict[str, Any]:
    """One part of an assistant turn as its Anthropic block.

    Thinking without a signature gets `""` (Anthropic's own streams may end a thinking
    block unsigned); redacted thinking is `redacted_thinking`. A tool call's id is made
    to fit Anthropic's alphabet and arguments that are not an object go under `_raw`,
    each noted in `dropped` as `<at>...: why`, as is a thought signature, which
    Anthropic's tool calls cannot carry. A refusal is text (with `stop_reason:
    "refusal"` on a response, which the caller sets)."""
    if isinstance(part, TextPart):
        return text_block(part)
    if isinstance(part, RefusalPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ReasoningPart):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    call_id = tool_use_id(part.id)
    if call_id != part.id:
        dropped.append(f"{at}.id: {part.id!r} is not a valid Anthropic id; sent as {call_id!r}")
    if not isinstance(part.arguments, dict):
        dropped.append(f"{at}.arguments: not a JSON object; sent under '_raw'")
    if part.signature is not None:
        dropped.append(f"{at}.signature: Anthropic tool calls carry no thought signature")
    return {
        "type": "tool_use",
        "id": call_id,
        "name": part.name,
        "input": arguments_object(part.arguments),
    }
