"""Chaos for the mock, which has no wire: the same rules applied to its events, each
fault ending the way the same fault from an HTTP upstream ends (`providers/http.py`'s
errors), so a client meets the same thing whichever provider answers.

A chunk here is one event after the opening usage; an `error` rule's answer goes
through the proxy's retries as an upstream's would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence

from chatmock_lab.chaos import ChaosRule, error_body
from chatmock_lab.chaos.body import first_rule, misbehaving
from chatmock_lab.core import (
    Error,
    Event,
    ProxyError,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    Usage,
)
from chatmock_lab.dialects.openai import upstream_error
from chatmock_lab.limits import RETRYABLE_STATUSES, RetryPolicy
from chatmock_lab.providers.http import (
    broke_off_error,
    malformed_line_error,
    retry_policy_under,
    unfinished_error,
)

# What a lenient UTF-8 decoder makes of a cut-short sequence.
_REPLACEMENT = "\ufffd"


def chaos_error(rule: ChaosRule) -> ProxyError:
    """An `error` rule's answer as the proxy reads an upstream's (OpenAI's envelope)."""
    error = upstream_error(error_body(rule), rule.status)
    error.retry_after = rule.retry_after
    return error


async def drawn_with_retries(
    draw: Callable[[], Sequence[ChaosRule]], retry: RetryPolicy
) -> tuple[ChaosRule, ...]:
    """The rules that hit the call the mock answers. An `error` that hits is retried
    (with a new draw) as the proxy retries an upstream's error; the last one raises."""
    attempt = 0
    while True:
        attempt += 1
        rules = tuple(draw())
        error = first_rule(rules, "error")
        if error is None:
            return rules
        failure = chaos_error(error)
        policy = retry_policy_under(retry, rules)
        retryable = error.status in RETRYABLE_STATUSES
        delay = policy.delay(attempt, failure.retry_after) if retryable else None
        if delay is None:
            raise failure
        await asyncio.sleep(delay)


class _EventFaults:
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream
        self._started = time.monotonic()

    def malformed(self, event: Event, how: str) -> Event:
        if how != "utf8":
            # The proxy cannot read a broken frame: the stream ends with its error.
            return Error(malformed_line_error(self._upstream, repr(event)))
        if isinstance(event, (TextDelta, RefusalDelta, ReasoningDelta)) and event.text:
            return dataclasses.replace(event, text=_REPLACEMENT + event.text)
        return event

    def dropped(self, count: int) -> Event:
        elapsed = time.monotonic() - self._started
        return Error(broke_off_error(self._upstream, elapsed, "RemoteProtocolError"))

    def cut_short(self) -> Event:
        return Error(unfinished_error(self._upstream))

    def ends(self, event: Event) -> bool:
        return isinstance(event, Error)


async def chaotic_events(
    events: AsyncIterator[Event], rules: Sequence[ChaosRule], *, upstream: str
) -> AsyncIterator[Event]:
    """The provider's events with `rules` applied (the opening usage passes first)."""
    first = await anext(events, None)
    if first is None:
        return
    if isinstance(first, Usage):
        yield first
        rest = events
    else:
        rest = _prepended(first, events)
    async for event in misbehaving(rest, rules, _EventFaults(upstream)):
        yield event


async def _prepended(first: Event, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    yield first
    async for event in events:
        yield event
