"""What a provider is: something that turns a canonical request into canonical events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from chatmock_lab.core import ChatRequest, EmbeddingRequest, Event


@dataclass(slots=True, frozen=True)
class ModelInfo:
    id: str
    owned_by: str
    created: int = 0
    display_name: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None


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

    def stream(self, request: ChatRequest) -> AsyncIterator[Event]: ...

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult: ...

    async def aclose(self) -> None: ...
