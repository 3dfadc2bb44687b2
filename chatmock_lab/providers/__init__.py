"""Providers: the upstreams behind the proxy, and the registry that builds them by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from chatmock_lab.config import Settings
from chatmock_lab.limits import RetryPolicy
from chatmock_lab.providers.base import EmbeddingResult, ModelInfo, Provider
from chatmock_lab.providers.http import HttpUpstream, Timeouts

# Settings, the environment (credentials, base URLs), and the transport upstream calls
# go through (None: the network; or a cassette that records or replays).
ProviderFactory = Callable[
    [Settings, Mapping[str, str], "httpx.AsyncBaseTransport | None"], Provider
]


def _create_mock(
    settings: Settings, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None
) -> Provider:
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


def http_upstream(
    name: str, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> HttpUpstream:
    """The HTTP client settings every real upstream shares."""
    return HttpUpstream(
        name,
        timeouts=Timeouts(connect=settings.connect_timeout, first_byte=settings.first_byte_timeout),
        retry=RetryPolicy(max_retries=settings.retries),
        transport=transport,
    )


def _openai_compatible(name: str) -> ProviderFactory:
    def create(
        settings: Settings, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None
    ) -> Provider:
        from chatmock_lab.providers.openai_compatible import SPECS, OpenAICompatibleProvider

        return OpenAICompatibleProvider(SPECS[name], env, http_upstream(name, settings, transport))

    return create


def _create_chatgpt(
    settings: Settings, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None
) -> Provider:
    import time

    from chatmock_lab.auth.chatgpt import ChatGPTCredentials, default_issuer
    from chatmock_lab.auth.store import TokenStore, chatmock_home, codex_auth_path
    from chatmock_lab.dialects import responses
    from chatmock_lab.providers.chatgpt import ChatGPTProvider

    http = http_upstream("chatgpt", settings, transport)
    # Codex's error bodies (`detail`, quota resets) read differently from OpenAI's.
    http.error_parser = lambda payload, status: responses.upstream_error(
        payload, status, now=time.time()
    )
    if _replaying(transport):
        from chatmock_lab.auth.stand_ins import ReplayChatGPTCredentials

        # No usage store either: replayed quota headers are not this account's.
        return ChatGPTProvider(env, http, ReplayChatGPTCredentials())  # type: ignore[arg-type]
    credentials = ChatGPTCredentials(
        TokenStore.default(env),
        issuer=default_issuer(env),
        http_factory=lambda: httpx.AsyncClient(timeout=30.0),
        codex_auth_path=codex_auth_path(env),
    )
    usage = TokenStore(chatmock_home(env) / "usage.json")
    return ChatGPTProvider(env, http, credentials, usage_store=usage)


def _create_copilot(
    settings: Settings, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None
) -> Provider:
    from chatmock_lab.auth.github import CopilotCredentials, GitHubEndpoints
    from chatmock_lab.auth.stand_ins import ReplayCopilotCredentials
    from chatmock_lab.auth.store import TokenStore
    from chatmock_lab.providers.copilot import CopilotProvider

    kind = ReplayCopilotCredentials if _replaying(transport) else CopilotCredentials
    credentials = kind(
        TokenStore.default(env),
        endpoints=GitHubEndpoints.from_env(env),
        http_factory=lambda: httpx.AsyncClient(timeout=30.0),
        account_type=env.get("CHATMOCK_COPILOT_ACCOUNT_TYPE") or "individual",
        env=env,
    )
    return CopilotProvider(env, http_upstream("copilot", settings, transport), credentials)


def _create_qwen(
    settings: Settings, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None
) -> Provider:
    from chatmock_lab.accounts import qwen_environment
    from chatmock_lab.providers import qwen

    # A session saved by `chatmock-lab login qwen` fills in what the environment lacks.
    return qwen.create(settings, qwen_environment(env), transport)


_FACTORIES: dict[str, ProviderFactory] = {
    "chatgpt": _create_chatgpt,
    "qwen": _create_qwen,
    "copilot": _create_copilot,
    "mock": _create_mock,
    "grok": _openai_compatible("grok"),
    "openrouter": _openai_compatible("openrouter"),
    "openai": _openai_compatible("openai"),
}


def available_providers() -> list[str]:
    return sorted(_FACTORIES)


def create_provider(
    name: str,
    settings: Settings,
    env: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Provider:
    """Build the named provider; an unknown name is a `ValueError` listing the known ones.
    Building never touches the network: credentials are checked when a request comes."""
    factory = _FACTORIES.get(name)
    if factory is None:
        known = ", ".join(available_providers())
        raise ValueError(f"unknown provider {name!r} (available: {known})")
    env = env or {}
    if _replaying(transport):
        from chatmock_lab.auth.stand_ins import stand_in_environment

        env = stand_in_environment(env, secret_variables())
    return factory(settings, env, transport)


def _replaying(transport: httpx.AsyncBaseTransport | None) -> bool:
    """Whether every call this transport takes is answered from a cassette."""
    return bool(getattr(transport, "replay_only", False))


def secret_variables() -> list[str]:
    """Environment variables that hold provider credentials, for masking in logs."""
    from chatmock_lab.providers.openai_compatible import SPECS

    return [spec.key_variable for spec in SPECS.values()] + ["QWEN_AUTH_TOKEN", "QWEN_COOKIES"]


__all__ = [
    "EmbeddingResult",
    "ModelInfo",
    "Provider",
    "available_providers",
    "create_provider",
    "http_upstream",
    "secret_variables",
]
