"""Notes ("field: why") that several dialects write the same way."""

from __future__ import annotations

from typing import Any, Protocol


class _Cacheable(Protocol):
    cache_control: dict[str, Any] | None


def note_cache_hint(part: _Cacheable, at: str, dropped: list[str], why: str) -> None:
    """Note `{at}.cache_control: {why}` when the part carries a prompt-caching hint
    (Anthropic's `cache_control`) that the target dialect cannot say."""
    if part.cache_control is not None:
        dropped.append(f"{at}.cache_control: {why}")
