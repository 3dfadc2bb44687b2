"""The one encoder of assistant content in Ollama's shape, shared by answers (`render`)
and by the history a client sends back (`client`).

Ollama's message has one `content` string, a `thinking` string and `tool_calls` whose
`arguments` are an object (`{"function": {"index", "name", "arguments": {...}}}`); a
refusal is plain content there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatmock_lab.core import Part, ReasoningPart, RefusalPart, TextPart, ToolCallPart
from chatmock_lab.core.tools import arguments_object


def tool_call(call: ToolCallPart, index: int) -> dict[str, Any]:
    """A call as Ollama sends it: whole, with object arguments (anything else kept under
    `_raw`, see `core.tools.arguments_object`)."""
    return {
        "id": call.id,
        "function": {
            "index": index,
            "name": call.name,
            "arguments": arguments_object(call.arguments),
        },
    }


def assistant_fields(parts: Sequence[Part], *, show_thinking: bool = True) -> dict[str, Any]:
    """`content`, and `thinking` and `tool_calls` when there are any."""
    text = "".join(p.text for p in parts if isinstance(p, (TextPart, RefusalPart)))
    fields: dict[str, Any] = {"content": text}
    thinking = "".join(p.text for p in parts if isinstance(p, ReasoningPart))
    if thinking and show_thinking:
        fields["thinking"] = thinking
    calls = [p for p in parts if isinstance(p, ToolCallPart)]
    if calls:
        fields["tool_calls"] = [tool_call(call, i) for i, call in enumerate(calls)]
    return fields
