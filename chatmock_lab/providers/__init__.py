"""Providers: the upstreams behind the proxy, and the registry that builds them by name."""

from __future__ import annotations

from collections.abc import Callable

from chatmock_lab.config import Settings
from chatmock_lab.providers.base import EmbeddingResult, ModelInfo, Provider


def _create_mock(settings: Settings) -> Provider:
    from chatmock_lab.providers.mock import MockOptions, MockProvider
    from chatmock_lab.providers.scenario import load_scenario

    scenario = load_scenario(settings.scenario) if settings.scenario else None
    return MockProvider(
        MockOptions(
            chunk_chars=settings.mock_chunk_chars,
            delay_ms=settings.mock_delay_ms,
            scenario=scenario,
        )
    )


_FACTORIES: dict[str, Callable[[Settings], Provider]] = {"mock": _create_mock}


def available_providers() -> list[str]:
    return sorted(_FACTORIES)


def create_provider(name: str, settings: Settings) -> Provider:
    """Build the named provider; an unknown name is a `ValueError` listing the known ones."""
    factory = _FACTORIES.get(name)
    if factory is None:
        known = ", ".join(available_providers())
        raise ValueError(f"unknown provider {name!r} (available: {known})")
    return factory(settings)


__all__ = [
    "EmbeddingResult",
    "ModelInfo",
    "Provider",
    "available_providers",
    "create_provider",
]
