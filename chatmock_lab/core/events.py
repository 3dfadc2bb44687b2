"""The canonical event stream every provider yields.

Text, reasoning and tool-call events arrive in the order the model produced them;
tool calls are keyed by `index` so that argument deltas of parallel calls may
interleave. `Usage` may come at any point (usually near the end) and `Finish` comes
once. An `Error` ends the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chatmock_lab.core.errors import ProxyError

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class ReasoningDelta:
    """A piece of reasoning text; `signature` completes the block (Anthropic's
    `signature_delta`, Gemini's `thoughtSignature`)."""

    text: str = ""
    signature: str | None = None


@dataclass(slots=True, frozen=True)
class ToolCallStart:
    index: int
    id: str
    name: str


@dataclass(slots=True, frozen=True)
class ToolCallDelta:
    index: int
    arguments: str


@dataclass(slots=True, frozen=True)
class ToolCallEnd:
    index: int


@dataclass(slots=True, frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True, frozen=True)
class Finish:
    reason: FinishReason = "stop"
    # The stop sequence that ended generation, when one did (Anthropic reports it).
    stop_sequence: str | None = None


@dataclass(slots=True, frozen=True)
class Error:
    error: ProxyError


Event = (
    TextDelta
    | ReasoningDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | Usage
    | Finish
    | Error
)
