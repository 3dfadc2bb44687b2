"""What a provider says about one of its models, for every dialect's model routes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class ModelInfo:
    id: str
    owned_by: str
    created: int = 0
    display_name: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None
