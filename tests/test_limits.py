"""The Gate, the rate limiter and the retry policy, on a real event loop."""

from __future__ import annotations

import asyncio

import pytest

from chatmock_lab.core import ProxyError
from chatmock_lab.limits import Gate, RateLimiter, RetryPolicy, parse_retry_after


def run(coroutine):
    return asyncio.run(coroutine)


def test_gate_serves_waiters_first_in_first_out() -> None:
    async def scenario() -> list[int]:
        gate = Gate(max_concurrency=2, wait_timeout=5)
        order: list[int] = []
        held = [await gate.acquire(), await gate.acquire()]

        async def worker(n: int) -> None:
            permit = await gate.acquire()
            order.append(n)
            permit.release()

        tasks = []
        for n in range(6):
            tasks.append(asyncio.create_task(worker(n)))
            await asyncio.sleep(0)  # let each task queue up before the next
        assert gate.waiting == 6
        for permit in held:
            permit.release()
        await asyncio.gather(*tasks)
        assert (gate.in_use, gate.waiting, gate.peak) == (0, 0, 2)
        return order

    assert run(scenario()) == [0, 1, 2, 3, 4, 5]


def test_gate_wait_timeout_is_a_429_and_leaks_nothing() -> None:
    async def scenario() -> None:
        gate = Gate(max_concurrency=1, wait_timeout=0.01)
        permit = await gate.acquire()
        with pytest.raises(ProxyError) as caught:
            await gate.acquire()
        assert (caught.value.status, caught.value.kind) == (429, "rate_limit")
        assert caught.value.retry_after == 1
        assert "--max-concurrency" in caught.value.message
        permit.release()
        permit.release()  # idempotent
        assert gate.in_use == 0
        again = await gate.acquire()
        again.release()
        assert gate.in_use == 0

    run(scenario())


def test_a_cancelled_waiter_gives_its_place_away() -> None:
    async def scenario() -> None:
        gate = Gate(max_concurrency=1, wait_timeout=5)
        permit = await gate.acquire()
        cancelled = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        second = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        permit.release()
        (await second).release()
        assert (gate.in_use, gate.waiting) == (0, 0)

    run(scenario())


def test_a_waiter_cancelled_as_it_is_handed_a_permit_passes_it_on() -> None:
    async def scenario() -> None:
        gate = Gate(max_concurrency=1, wait_timeout=5)
        permit = await gate.acquire()
        first = asyncio.create_task(gate.acquire())
        second = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        permit.release()  # hands the slot to `first`...
        first.cancel()  # ...which is cancelled before it runs
        (outcome,) = await asyncio.gather(first, return_exceptions=True)
        # The cancellation wins (it is never swallowed) and the slot goes to the next in
        # line, counted once: it comes back when that one releases it.
        assert isinstance(outcome, asyncio.CancelledError)
        assert gate.in_use == 1
        (await second).release()
        assert gate.in_use == 0

    run(scenario())


def test_rate_limiter_rejects_early_requests_or_queues_them() -> None:
    async def scenario() -> None:
        strict = RateLimiter(10.0, wait=False)
        await strict.admit()
        with pytest.raises(ProxyError) as caught:
            await strict.admit()
        assert caught.value.status == 429 and caught.value.retry_after >= 1
        assert "--wait" in caught.value.message

        patient = RateLimiter(0.02, wait=True)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(3):
            await patient.admit()
        assert loop.time() - started >= 0.04 - 1e-3  # two intervals between three requests

        await RateLimiter(0, wait=False).admit()  # off

    run(scenario())


def test_retry_policy_backs_off_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_retries=3, base_delay=1.0, max_delay=3.0, max_retry_after=30)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 3.0)):
        delay = policy.delay(attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert policy.delay(4) is None
    assert policy.delay(1, retry_after=7) == 7
    assert policy.delay(1, retry_after=31) is None  # too long to wait for: the client decides
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None and parse_retry_after("-1") is None
