"""What a provider is built from: settings, the environment, and the transports its
HTTP clients go through.

Every provider module has a `create(name, context)` function that builds the provider
from this alone, so the registry needs no knowledge of any provider's constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from chatmock_lab.chaos import Chaos
from chatmock_lab.config import Settings
from chatmock_lab.core import ProxyError
from chatmock_lab.limits import RetryPolicy
from chatmock_lab.providers.http import HttpUpstream, Timeouts
from chatmock_lab.redact import Redactor, app_redactor

ErrorParser = Callable[[Any, int], ProxyError]


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """`transport` carries upstream calls (None: the network; or a cassette that records
    or replays). `auth_transport` carries login and token-refresh calls: injectable
    like the other, but never recorded. `redactor` masks this app's secrets."""

    settings: Settings
    env: Mapping[str, str] = field(default_factory=dict)
    transport: httpx.AsyncBaseTransport | None = None
    auth_transport: httpx.AsyncBaseTransport | None = None
    redactor: Redactor = field(default_factory=app_redactor)
    # The server's chaos: its seeded draws and counts (a provider without a wire, the
    # mock, applies faults itself).
    chaos: Chaos = field(default_factory=Chaos)

    @property
    def replaying(self) -> bool:
        """Whether every upstream call is answered from a cassette (no login is needed)."""
        return bool(getattr(self.transport, "replay_only", False))

    def http_upstream(self, name: str, *, error_parser: ErrorParser | None = None) -> HttpUpstream:
        """The HTTP client every real upstream shares: timeouts, retries, masked logs.
        `error_parser` reads this upstream's error bodies (OpenAI's envelope by default)."""
        settings = self.settings
        return HttpUpstream(
            name,
            timeouts=Timeouts(
                connect=settings.connect_timeout, first_byte=settings.first_byte_timeout
            ),
            retry=RetryPolicy(max_retries=settings.retries),
            transport=self.transport,
            error_parser=error_parser,
            redactor=self.redactor,
        )
