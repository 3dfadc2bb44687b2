"""Chaos at the httpx seam where providers call their upstreams.

A provider's HTTP call carries its request's `ChaosPlan` in the httpx request's
extensions (`CHAOS_EXTENSION`); `ChaosTransport`, just above the network, draws the
plan's rules for that call and answers the error, or passes the upstream's answer on
with its body made to misbehave. It sits under the cassette deck, so a recording keeps
what the client was really sent; a replay applies rules itself (`chaotic_response`)
over interactions recorded without any. Every answer to a call that had a plan says
which rules hit it (`CHAOS_APPLIED`, "" for none), for the recorder.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx

from chatmock_lab.chaos.body import chaotic_body, error_response, first_rule
from chatmock_lab.chaos.plan import ChaosPlan
from chatmock_lab.chaos.rules import ChaosRule, format_rules
from chatmock_lab.sse import is_event_stream

CHAOS_EXTENSION = "chatmock_lab.chaos"
CHAOS_APPLIED = "chatmock_lab.chaos_applied"

Send = Callable[[httpx.Request], Awaitable[httpx.Response]]


class ChaosTransport(httpx.AsyncBaseTransport):
    """Passes every call to `inner`; one that carries a plan gets its chaos."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"ChaosTransport({self.inner!r})"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        plan = request.extensions.get(CHAOS_EXTENSION)
        if not isinstance(plan, ChaosPlan):
            return await self.inner.handle_async_request(request)
        return await chaotic_response(plan.draw(), request, self.inner.handle_async_request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def chaotic_response(
    rules: Sequence[ChaosRule], request: httpx.Request, send: Send
) -> httpx.Response:
    """The answer to `request` with `rules` applied: an `error` rule's answer without
    calling `send` at all, else what `send` answers with its body changed."""
    error = first_rule(rules, "error")
    if error is not None:
        response = error_response(error, request)
    else:
        response = await send(request)
        if rules:
            response = httpx.Response(
                status_code=response.status_code,
                headers=response.headers,
                stream=_ChaoticStream(response, rules),
                extensions=response.extensions,
                request=request,
            )
    response.extensions[CHAOS_APPLIED] = format_rules(rules)
    return response


class _ChaoticStream(httpx.AsyncByteStream):
    def __init__(self, response: httpx.Response, rules: Sequence[ChaosRule]) -> None:
        self._response = response
        self._rules = rules

    async def __aiter__(self) -> AsyncIterator[bytes]:
        event_stream = is_event_stream(self._response.headers)
        async for chunk in chaotic_body(
            self._response.aiter_raw(), self._rules, event_stream=event_stream
        ):
            yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()
