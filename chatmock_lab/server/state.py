"""What a running app holds: settings, providers (built on first use), and the limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from quart import current_app

from chatmock_lab.config import Settings
from chatmock_lab.core import InvalidRequest
from chatmock_lab.limits import Approver, Gate, RateLimiter
from chatmock_lab.providers import Provider, available_providers, create_provider

_KEY = "chatmock_lab"


@dataclass(slots=True)
class ServerState:
    settings: Settings
    env: Mapping[str, str]
    gate: Gate
    rate_limiter: RateLimiter
    approver: Approver | None = None
    # Every upstream call goes through it when a cassette records or replays.
    transport: httpx.AsyncBaseTransport | None = None
    providers: dict[str, Provider] = field(default_factory=dict)
    requests_served: int = 0

    @property
    def provider(self) -> Provider:
        """The default provider."""
        return self.provider_named(self.settings.provider)

    def provider_named(self, name: str, *, param: str = "model") -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            try:
                provider = create_provider(name, self.settings, self.env, self.transport)
            except ValueError as exc:
                raise InvalidRequest(str(exc), param=param) from None
            self.providers[name] = provider
        return provider

    def select(self, model: str, requested: str | None = None) -> tuple[Provider, str]:
        """The provider for a request and the model name to give it: `?provider=`, else a
        `provider/model` prefix naming a known provider, else the default."""
        if requested:
            return self.provider_named(requested, param="provider"), model
        prefix, slash, rest = model.partition("/")
        if slash and rest and prefix in available_providers():
            return self.provider_named(prefix), rest
        return self.provider, model

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()


def server_state() -> ServerState:
    return current_app.extensions[_KEY]


def attach_state(extensions: dict[str, object], state: ServerState) -> None:
    extensions[_KEY] = state
