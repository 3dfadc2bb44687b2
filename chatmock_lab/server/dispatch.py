"""From a canonical request to a running event stream: the one path every dialect takes.

Provider choice, model mapping, approval, the Gate (held for the whole stream), the rate
limit, then the provider; the first event is awaited so that a failure before any
output becomes an HTTP error in the caller's dialect.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from quart import request

from chatmock_lab.core import ChatRequest, Event, ProxyError
from chatmock_lab.limits import ApprovalRequest
from chatmock_lab.providers import Provider
from chatmock_lab.server.responses import aclose_events, prime
from chatmock_lab.server.state import ServerState, server_state

logger = logging.getLogger(__name__)


def select_provider(model: str) -> tuple[Provider, str]:
    return server_state().select(model, request.args.get("provider"))


async def open_stream(
    chat: ChatRequest, *, dropped: list[str] | None = None
) -> AsyncIterator[Event]:
    state = server_state()
    for note in dropped or ():
        logger.debug("not carried over: %s", note)
    provider, model = select_provider(chat.model)
    # Qwen's web chat keeps conversations by id; a client may name one per request.
    chat_id = request.args.get("chat_id") or request.headers.get("x-qwen-chat-id")
    if chat_id:
        chat.extensions["qwen-chat-id"] = chat_id
    chat.model = provider.map_model(model)
    return await prime(_guarded(state, provider, chat))


async def _guarded(
    state: ServerState, provider: Provider, chat: ChatRequest
) -> AsyncIterator[Event]:
    # Everything runs inside the generator, so that a generator closed before it started
    # holds nothing, and one closed at any later point releases its permit.
    if state.approver is not None:
        summary = f"{len(chat.messages)} message(s), last: {_last_text(chat)!r}"
        if not await state.approver(ApprovalRequest(provider.name, chat.model, summary)):
            raise ProxyError(
                "The request was refused by the operator (--manual)", kind="permission"
            )
    permit = await state.gate.acquire()
    try:
        await state.rate_limiter.admit()
        events = provider.stream(chat)
        try:
            async for event in events:
                yield event
        finally:
            await aclose_events(events)
    finally:
        permit.release()


def _last_text(chat: ChatRequest) -> str:
    last = chat.last_user_message()
    text = last.text() if last is not None else ""
    return text if len(text) <= 80 else text[:77] + "..."


def keepalive_seconds() -> float:
    return server_state().settings.keepalive_seconds
