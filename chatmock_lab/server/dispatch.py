"""From a canonical request to a running event stream: the one path every dialect takes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from chatmock_lab.core import ChatRequest, Event
from chatmock_lab.server.responses import prime
from chatmock_lab.server.state import server_state

logger = logging.getLogger(__name__)


async def open_stream(
    request: ChatRequest, *, dropped: list[str] | None = None
) -> AsyncIterator[Event]:
    """Hand the request to the provider and wait for its first event, so that a failure
    before any output raises here (and becomes an HTTP error in the caller's dialect)."""
    state = server_state()
    for note in dropped or ():
        logger.debug("not carried over: %s", note)
    provider = state.provider
    request.model = provider.map_model(request.model)
    return await prime(provider.stream(request))


def keepalive_seconds() -> float:
    return server_state().settings.keepalive_seconds
