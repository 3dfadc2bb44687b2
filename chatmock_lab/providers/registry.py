"""The one list of providers: names, the module that builds each, and their secrets.

A provider module is imported only when a provider of its kind is first built, so a
proxy in front of the mock never loads the account providers' login code. Each module
offers `create(name, context) -> Provider` and `secret_variables(name) -> list[str]`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from types import ModuleType

import httpx

from chatmock_lab.chaos import Chaos
from chatmock_lab.config import ConfigError, Settings
from chatmock_lab.providers.base import Provider
from chatmock_lab.providers.context import ProviderContext
from chatmock_lab.redact import Redactor, app_redactor

# name -> module under chatmock_lab.providers that builds it.
_MODULES: dict[str, str] = {
    "chatgpt": "chatgpt",
    "copilot": "copilot",
    "grok": "openai_compatible",
    "mock": "mock",
    "openai": "openai_compatible",
    "openrouter": "openai_compatible",
    "qwen": "qwen",
}


class UnknownProvider(ConfigError):
    """A provider name that is not in the registry (from a flag, a model prefix or
    `?provider=`); the message lists the known names."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown provider {name!r} (available: {', '.join(_MODULES)})")
        self.name = name


def available_providers() -> list[str]:
    return sorted(_MODULES)


def _module(name: str) -> ModuleType:
    module = _MODULES.get(name)
    if module is None:
        raise UnknownProvider(name)
    return importlib.import_module(f"chatmock_lab.providers.{module}")


def secret_variables(names: list[str] | None = None) -> list[str]:
    """Environment variables that hold provider credentials (all providers', or those
    of `names`), for masking in logs and for stand-ins in replays."""
    variables: list[str] = []
    for name in names or available_providers():
        variables += [v for v in _module(name).secret_variables(name) if v not in variables]
    return variables


def create_provider(
    name: str,
    settings: Settings,
    env: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    auth_transport: httpx.AsyncBaseTransport | None = None,
    redactor: Redactor | None = None,
    chaos: Chaos | None = None,
) -> Provider:
    """Build the named provider (`UnknownProvider` for a name not in the registry).
    Building never touches the network: credentials are checked when a request comes."""
    module = _module(name)
    context = ProviderContext(
        settings=settings,
        env=env or {},
        transport=transport,
        auth_transport=auth_transport,
        redactor=redactor or app_redactor(),
        chaos=chaos if chaos is not None else Chaos(),
    )
    if context.replaying:
        from chatmock_lab.auth.stand_ins import stand_in_environment

        # No request reaches an upstream: any value stands in for a missing credential.
        env = stand_in_environment(context.env, module.secret_variables(name))
        context = dataclasses.replace(context, env=env)
    provider: Provider = module.create(name, context)
    return provider
