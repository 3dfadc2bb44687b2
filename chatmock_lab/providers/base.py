"""What a provider is: something that turns a canonical request into canonical events."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from chatmock_lab.core import ChatRequest, EmbeddingRequest, Event, ModelInfo


@dataclass(slots=True)
class EmbeddingResult:
    vectors: list[list[float]]
    input_tokens: int


@runtime_checkable
class Provider(Protocol):
    """An upstream. Every provider streams; a non-streaming answer is the stream collected.

    `stream` may raise `ProxyError` before its first event (the client then gets a
    proper HTTP error) or yield an `Error` event later (a mid-stream error)."""

    name: str

    async def models(self) -> list[ModelInfo]: ...

    async def model(self, model_id: str) -> ModelInfo | None: ...

    def map_model(self, model: str) -> str:
        """The upstream's name for a requested model (aliases, dated names). Never a
        silent downgrade: a name the provider cannot serve is passed on unchanged."""
        ...

    def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]: ...

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult: ...

    async def aclose(self) -> None: ...


# Capabilities some providers have. The server asks for a capability (`isinstance`
# against these protocols), never for a provider class.


@dataclass(slots=True, frozen=True)
class ClientToken:
    """A credential a provider can hand to a tool that calls the upstream itself."""

    token: str = field(repr=False)
    expires_at: float


@runtime_checkable
class ReportsUsage(Protocol):
    """A provider that can say how much of its account's quota is used (`GET /usage`)."""

    async def usage(self) -> dict[str, object]: ...


@runtime_checkable
class IssuesClientToken(Protocol):
    """A provider that hands out its current upstream token (`GET /token`)."""

    async def client_token(self) -> ClientToken: ...


@dataclass(slots=True, frozen=True)
class RequestHint:
    """A per-request choice a client may make for one provider: read from the query
    parameter `query` or the header `header`, and put into the canonical request's
    `extensions[extension]` (Qwen's conversation id, for example)."""

    extension: str
    query: str | None = None
    header: str | None = None


class SpeaksUpstreamDialect(Protocol):
    """A provider whose upstream streams in one of the proxy's own dialects (`openai`,
    `responses`, ...), so that the traffic page can check that side too."""

    upstream_dialect: str


@runtime_checkable
class TakesRequestHints(Protocol):
    """A provider that reads per-request hints from the client's HTTP request."""

    request_hints: tuple[RequestHint, ...]


_notes = logging.getLogger("chatmock_lab.notes")


def report_dropped(who: str, request: ChatRequest, notes: Iterable[str]) -> None:
    """Say what was not carried over: each "field: why" note is logged (shown with
    `--verbose`) and added to the request's trace (the notebook inspector, taps).
    `who` is the inbound dialect or the provider that could not carry the field."""
    for note in notes:
        _notes.debug("%s: not carried over: %s", who, note)
        if request.trace is not None:
            request.trace.add("note", f"{who}: {note}")
