"""Holding the proxy up under load: the Gate, the rate limit, retries, and approval.

- `Gate`: at most N upstream requests at once; waiting callers are served first in,
  first out, and give up with a 429 after a wait timeout. A permit is released exactly
  once whatever happens (success, error, timeout, cancellation).
- `RateLimiter`: a minimum interval between upstream requests; an early request gets
  a 429, or waits its turn.
- `RetryPolicy`: exponential backoff with jitter, honouring `Retry-After`.
- `Approver`: asks a person before each upstream request (`--manual`).
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chatmock_lab.core import ProxyError

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})


class Permit:
    """One unit of the Gate's capacity; `release` is idempotent."""

    __slots__ = ("_gate", "_released")

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._gate._hand_on()


class Gate:
    def __init__(self, max_concurrency: int, wait_timeout: float) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.max_concurrency = max_concurrency
        self.wait_timeout = wait_timeout
        self.in_use = 0
        self.peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    @property
    def full(self) -> bool:
        """Whether a caller now would have to wait in line."""
        return self.in_use >= self.max_concurrency or self.waiting > 0

    def _take(self) -> Permit:
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)
        return Permit(self)

    async def acquire(self) -> Permit:
        """A permit, waiting in line for at most `wait_timeout` seconds (then a 429)."""
        if self.in_use < self.max_concurrency and not self._waiters:
            return self._take()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            # Not `wait_for`: before Python 3.12 it can swallow a cancellation arriving
            # as the wait ends. The shield keeps a timeout from cancelling the waiter
            # itself, so a permit handed over just then is seen below.
            async with asyncio.timeout(self.wait_timeout):
                await asyncio.shield(waiter)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed a permit just as we gave up: pass it on instead of leaking it
                # (`_hand_on` gives our count to the next waiter, or frees it).
                self._hand_on()
            else:
                waiter.cancel()
            with_timeout = isinstance(exc, TimeoutError)
            if with_timeout:
                raise ProxyError(
                    f"Too many requests in flight: waited {self.wait_timeout:g} s for one of"
                    f" {self.max_concurrency} upstream slots (--max-concurrency)",
                    kind="rate_limit",
                    retry_after=1,
                ) from None
            raise
        # The releasing side already counted this permit as ours.
        self.peak = max(self.peak, self.in_use)
        return Permit(self)

    def _hand_on(self) -> None:
        """Give a released slot to the first live waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_use -= 1


class RateLimiter:
    """At least `interval` seconds between upstream requests."""

    def __init__(self, interval: float, *, wait: bool) -> None:
        self.interval = interval
        self.wait = wait
        self._next = 0.0

    async def admit(self) -> None:
        if self.interval <= 0:
            return
        now = asyncio.get_running_loop().time()
        if self.wait:
            slot = max(now, self._next)
            self._next = slot + self.interval
            if slot > now:
                await asyncio.sleep(slot - now)
            return
        if now < self._next:
            retry_after = self._next - now
            raise ProxyError(
                f"Rate limited: one upstream request every {self.interval:g} s (--rate-limit);"
                f" retry in {retry_after:.1f} s, or start with --wait to queue instead",
                kind="rate_limit",
                retry_after=max(1.0, retry_after),
            )
        self._next = now + self.interval


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this is not waited for; the error goes to the client.
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait before retry number `attempt` (1-based), or None to give up."""
        if attempt > self.max_retries:
            return None
        if retry_after is not None:
            return None if retry_after > self.max_retry_after else max(0.0, retry_after)
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        # Jitter keeps many clients that failed together from retrying together.
        return backoff * random.uniform(0.5, 1.0)


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (a number; an HTTP date is not worth honouring here)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What a person is shown before an upstream request goes out."""

    provider: str
    model: str
    summary: str


Approver = Callable[[ApprovalRequest], Awaitable[bool]]


class TerminalApprover:
    """Asks on the terminal, one question at a time (`--manual` in the CLI)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def _ask(self, request: ApprovalRequest) -> bool:
        with self._lock:
            print(
                f"\nchatmock-lab: send to {request.provider} ({request.model})? {request.summary}",
                file=sys.stderr,
                flush=True,
            )
            try:
                answer = input("Approve? [y/N] ")
            except EOFError:
                return False
            return answer.strip().lower() in ("y", "yes")

    async def __call__(self, request: ApprovalRequest) -> bool:
        return await asyncio.to_thread(self._ask, request)
