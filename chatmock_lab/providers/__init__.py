"""Providers: the upstreams behind the proxy.

`registry` names them and builds them; each provider module builds itself from a
`ProviderContext` (settings, environment, transports); `base` says what a provider is
and the capabilities some have.
"""

from chatmock_lab.providers.base import (
    ClientToken,
    EmbeddingResult,
    IssuesClientToken,
    ModelInfo,
    Provider,
    ReportsUsage,
    RequestHint,
    TakesRequestHints,
    report_dropped,
)
from chatmock_lab.providers.context import ProviderContext
from chatmock_lab.providers.registry import (
    UnknownProvider,
    available_providers,
    create_provider,
    secret_variables,
)

__all__ = [
    "ClientToken",
    "EmbeddingResult",
    "IssuesClientToken",
    "ModelInfo",
    "Provider",
    "ProviderContext",
    "ReportsUsage",
    "RequestHint",
    "TakesRequestHints",
    "UnknownProvider",
    "available_providers",
    "create_provider",
    "report_dropped",
    "secret_variables",
]
