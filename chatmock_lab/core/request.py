"""The canonical request: what every inbound dialect parses into and every provider reads.

Each dialect carries a superset of what the others can express somewhere, so these
types hold the union: system prompts as text blocks, multimodal parts, tool calls
with ids, tool results with an error flag, reasoning text with its signature,
sampling parameters, stop sequences, response format and reasoning effort.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(slots=True)
class TextPart:
    text: str
    # Anthropic prompt-caching hints; kept so a provider that understands them can pass them on.
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ImagePart:
    """An image given by URL or by base64 data with its media type."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None
    cache_control: dict[str, Any] | None = None

    @classmethod
    def from_url(cls, url: str, detail: str | None = None) -> ImagePart:
        """Split a `data:` URL into media type and base64 data; keep any other URL as is."""
        if url.startswith("data:") and ";base64," in url:
            header, _, data = url.partition(";base64,")
            return cls(data=data, media_type=header[5:] or None, detail=detail)
        return cls(url=url, detail=detail)

    def as_url(self) -> str:
        if self.url is not None:
            return self.url
        return f"data:{self.media_type or 'application/octet-stream'};base64,{self.data or ''}"


@dataclass(slots=True)
class DocumentPart:
    """A document (PDF, plain text, ...) by base64 data, URL or inline text."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    text: str | None = None
    title: str | None = None
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolCallPart:
    """A call the assistant made. `arguments` is the parsed JSON value, or the raw text
    when the model produced something that is not valid JSON (kept, never dropped)."""

    id: str
    name: str
    arguments: Any = field(default_factory=dict)
    # Gemini attaches thought signatures to function calls; they must be replayed.
    signature: str | None = None


@dataclass(slots=True)
class ToolResultPart:
    tool_call_id: str
    content: list[TextPart | ImagePart] = field(default_factory=list)
    is_error: bool = False
    # Gemini pairs results by function name, so a result may need to know it.
    name: str | None = None

    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(slots=True)
class ReasoningPart:
    """Reasoning (Anthropic thinking, Gemini thought, Responses reasoning summary).

    `signature` is the opaque token the vendor needs to accept the block back;
    `redacted` holds Anthropic's encrypted `redacted_thinking` data."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None


@dataclass(slots=True)
class RefusalPart:
    """The model's refusal (OpenAI's `refusal`): in an answer, or in an assistant turn
    the client sends back."""

    text: str = ""


Part = (
    TextPart
    | ImagePart
    | DocumentPart
    | ToolCallPart
    | ToolResultPart
    | ReasoningPart
    | RefusalPart
)


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)
    name: str | None = None

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass(slots=True)
class ToolDefinition:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolChoice:
    """`auto` lets the model decide, `none` forbids calls, `required` forces one.

    `allowed` narrows `required` (or `auto`) to these function names: OpenAI's named
    function, Anthropic's `{"type": "tool"}` and Gemini's `allowedFunctionNames` all
    land here."""

    mode: Literal["auto", "none", "required"] = "auto"
    allowed: list[str] | None = None


@dataclass(slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class ReasoningConfig:
    """Reasoning asked for: an effort level (OpenAI), a token budget (Anthropic, Gemini),
    or both. `include` says whether the client wants the reasoning text back."""

    effort: str | None = None
    budget_tokens: int | None = None
    include: bool = True


class Trace(Protocol):
    """Someone watching one request's traffic as it happens (the notebook's stream
    inspector): providers hand it to their HTTP calls, whose transport notes the
    upstream's bytes on it, and add their "not carried over" notes; the server notes
    events, client bytes and the inbound dialect's notes."""

    def add(
        self, side: Literal["upstream", "event", "client", "note", "request"], data: Any
    ) -> None: ...


class FaultPlan(Protocol):
    """Faults asked for one request (`chatmock_lab.chaos.ChaosPlan`): drawn afresh at
    each upstream call, by the transport or by a provider without one (the mock)."""

    def draw(self) -> tuple[Any, ...]: ...


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message] = field(default_factory=list)
    system: list[TextPart] = field(default_factory=list)
    tools: list[ToolDefinition] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    reasoning: ReasoningConfig | None = None
    # Log probabilities of output tokens, with `top_logprobs` alternatives each.
    logprobs: bool | None = None
    top_logprobs: int | None = None
    # Token id (as a string) -> bias, OpenAI's `logit_bias`.
    logit_bias: dict[str, float] | None = None
    # Processing tier asked for (OpenAI: auto/default/flex/priority; Anthropic:
    # auto/standard_only), passed to upstreams that take the same values.
    service_tier: str | None = None
    # OpenAI's cache routing key and the end user's stable id (the successor of `user`).
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    # Anthropic's top-level `cache_control` (automatic caching of the whole prompt).
    cache_control: dict[str, Any] | None = None
    # End-user id and free-form metadata; providers may forward them, the mock ignores them.
    user: str | None = None
    metadata: dict[str, Any] | None = None
    # Dialect-specific values a provider may pass on, e.g. "anthropic-beta": [features].
    extensions: dict[str, Any] = field(default_factory=dict)
    # Whether the client reads the answer as it comes. False: only the whole answer
    # matters, so a provider may ask its upstream for one body instead of a stream (no
    # frames to parse; the answer's events come at once at its end). How the answer is
    # read, not what was asked: left out of equality and repr (the mock's ids hash it).
    stream: bool = field(default=True, repr=False, compare=False)
    # Not part of what was asked: who is watching this request, if anyone.
    trace: Trace | None = field(default=None, repr=False, compare=False)
    # ... and what should go wrong on the way (`x-chatmock-chaos`, `serve --chaos`).
    chaos: FaultPlan | None = field(default=None, repr=False, compare=False)

    def last_user_message(self) -> Message | None:
        for message in reversed(self.messages):
            if message.role == "user":
                return message
        return None


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    """A canonical request as one dialect's client would send it.

    `body` is the JSON body (plain dicts, lists and scalars), `path` what it is POSTed to,
    relative to the API's root (Gemini puts the model and streaming there), and `dropped`
    names each canonical field that could not be carried over, one "field: why" note each,
    with the field spelled as its canonical path (`top_k`, `messages[2].parts[0]`)."""

    body: dict[str, Any]
    path: str
    dropped: list[str] = field(default_factory=list)


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[str]
    dimensions: int | None = None


def client_turn(
    parts: list[Part],
    role: Role = "user",
    *,
    arrange_results: Callable[[list[ToolResultPart]], list[ToolResultPart]] | None = None,
) -> list[Message]:
    """A client's turn as canonical messages. Anthropic and Gemini put tool results in a
    user turn; canonically they are a `tool` message of their own (OpenAI's shape),
    first, followed by the rest of the turn in its own `role` (if any, or if there were
    no results).
    `arrange_results` may reorder or merge the results first."""
    results = [p for p in parts if isinstance(p, ToolResultPart)]
    rest: list[Part] = [p for p in parts if not isinstance(p, ToolResultPart)]
    messages: list[Message] = []
    if results:
        arranged = arrange_results(results) if arrange_results is not None else results
        messages.append(Message(role="tool", parts=list(arranged)))
    if rest or not results:
        messages.append(Message(role=role, parts=rest))
    return messages


def request_data(request: ChatRequest, *, max_chars: int | None = None) -> dict[str, Any]:
    """`request` as JSON-able data, for people to read: optional fields at their
    defaults and fields left out of its repr (who watches it, what goes wrong) are left out; each
    part names its kind first (`{"part": "tool_call", ...}`), since a list of parts
    mixes them. Strings longer than `max_chars` are cut, with their length noted."""
    data = _readable(request, max_chars)
    assert isinstance(data, dict)
    return data


def _part_kind(cls: type) -> str:
    # ToolCallPart -> "tool_call"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__.removesuffix("Part")).lower()


def _at_default(spec: Field[Any], value: Any) -> bool:
    if spec.default is not MISSING:
        return bool(value == spec.default)
    if spec.default_factory is not MISSING:
        return bool(value == spec.default_factory())
    return False


def _readable(value: Any, max_chars: int | None) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        if type(value).__name__.endswith("Part"):
            out["part"] = _part_kind(type(value))
        for spec in fields(value):
            item = getattr(value, spec.name)
            if spec.repr and not _at_default(spec, item):
                out[spec.name] = _readable(item, max_chars)
        return out
    if isinstance(value, (list, tuple)):
        return [_readable(item, max_chars) for item in value]
    if isinstance(value, dict):
        return {str(k): _readable(v, max_chars) for k, v in value.items()}
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and max_chars is not None and len(value) > max_chars:
        return value[:max_chars] + f"... ({len(value)} characters)"
    return value
