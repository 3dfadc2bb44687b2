"""The canonical event stream every provider yields.

Text, refusal, reasoning and tool-call events arrive in the order the model produced them;
tool calls are keyed by `index` so that argument deltas of parallel calls may
interleave. `Usage` may come at any point (usually near the end) and `Finish` comes
once. An `Error` ends the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chatmock_lab.core.errors import ProxyError

# "refusal": the model declined (OpenAI's `refusal`, Anthropic's stop reason); each
# dialect says it its own way (OpenAI "stop" with `refusal`, Gemini "SAFETY").
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "refusal"]


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class RefusalDelta:
    """A piece of the model's refusal: text that is not an answer (OpenAI's `refusal`)."""

    text: str


@dataclass(slots=True, frozen=True)
class TokenLogprob:
    """One output token's log probability, with the most likely alternatives at its
    place when they were asked for (OpenAI's `logprobs.content[]` entry)."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top: tuple[TokenLogprob, ...] = ()


@dataclass(slots=True, frozen=True)
class LogprobsDelta:
    """Log probabilities of the tokens just produced; `refusal` says they belong to
    refusal text rather than to the answer."""

    tokens: tuple[TokenLogprob, ...]
    refusal: bool = False


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
    # Counted by the proxy's tokenizer because the upstream reported no usage.
    estimated: bool = False

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
    | RefusalDelta
    | LogprobsDelta
    | ReasoningDelta
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | Usage
    | Finish
    | Error
)
