"""Hub decisions about tools, made once for every dialect.

Arguments travel as parsed JSON (`ToolCallPart.arguments`); these functions turn them
into the text a model writes and back, decide which declared tools a dialect can carry,
and narrow a `ToolChoice` to the tools that were carried over. Each dialect then only
spells the result in its own wire format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from chatmock_lab.core.request import ToolChoice, ToolDefinition


def arguments_json(arguments: object) -> str:
    """Tool-call arguments as the JSON text a model would have written."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def parse_arguments(text: str) -> Any:
    """Tool-call arguments as JSON; invalid JSON is kept as the raw text, never dropped."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


def arguments_object(arguments: Any) -> dict[str, Any]:
    """Arguments for a dialect whose calls must carry an object (Anthropic's `input`,
    Gemini's `args`): anything else (raw text from a model that wrote invalid JSON, a
    bare value) is kept under `_raw` instead of being dropped."""
    if isinstance(arguments, dict):
        return arguments
    return {"_raw": arguments_json(arguments)}


def carried_tools(
    tools: list[ToolDefinition], valid_name: re.Pattern[str], why: str, dropped: list[str]
) -> list[ToolDefinition]:
    """The tools whose names the target dialect accepts; each other one is noted as
    `tools[i]: 'name' <why>` (a name it rejects would fail the whole request)."""
    carried: list[ToolDefinition] = []
    for i, tool in enumerate(tools):
        if valid_name.match(tool.name):
            carried.append(tool)
        else:
            dropped.append(f"tools[{i}]: {tool.name!r} {why}")
    return carried


def narrow_tool_choice(
    choice: ToolChoice | None, names: Collection[str], dropped: list[str], *, noun: str = "tool"
) -> ToolChoice | None:
    """The choice restricted to the tools carried over (`names`).

    Without tools, `auto` and `none` say nothing and `required` cannot be said: the
    result is None (noted for `required`). Allowed names that were not carried over are
    noted and left out; when none is left, a forced call becomes `auto`, since forcing
    a call to tools the client did not pick would change the request."""
    if choice is None:
        return None
    if not names:
        if choice.mode == "required":
            dropped.append(f"tool_choice: no {noun}s to choose from")
        return None
    wanted = choice.allowed or []
    allowed = [name for name in wanted if name in names]
    mode = choice.mode
    if len(allowed) < len(wanted):
        dropped.append(f"tool_choice.allowed: names a {noun} that was not carried over")
        if not allowed and mode == "required":
            mode = "auto"
    return ToolChoice(mode=mode, allowed=allowed or None)
