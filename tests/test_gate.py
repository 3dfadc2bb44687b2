"""The Gate, the rate limit and approval, on the running proxy in front of a fake upstream."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import openai
import pytest

from chatmock_lab.limits import ApprovalRequest, Gate, Permit
from chatmock_lab.testing import FakeOpenAIUpstream

KEY = "xai-gate-test-key-0123456789"


class TicketGate(Gate):
    """The real Gate, noting in which order its callers (numbered on arrival) got a slot."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals = 0
        self.granted: list[int] = []

    async def acquire(self) -> Permit:
        self.arrivals += 1
        ticket = self.arrivals
        permit = await super().acquire()
        self.granted.append(ticket)
        return permit


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.005)


def test_fifty_requests_through_four_slots(start_server) -> None:
    with FakeOpenAIUpstream(api_key=KEY) as fake:
        server = start_server(
            provider_name="grok",
            env={"XAI_API_KEY": KEY, "CHATMOCK_GROK_BASE_URL": fake.base_url},
            max_concurrency=4,
            queue_timeout=2.0,
        )
        state = server.app.extensions["chatmock_lab"]
        gate = state.gate = TicketGate(max_concurrency=4, wait_timeout=2.0)
        results: dict[int, httpx.Response] = {}

        async def run() -> None:
            limits = httpx.Limits(max_connections=60)
            async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:

                async def ask(n: int) -> None:
                    results[n] = await client.post(
                        "/v1/chat/completions",
                        json={"model": "m", "messages": [{"role": "user", "content": f"req-{n}"}]},
                    )

                async def enqueue(numbers: range) -> list[asyncio.Task[None]]:
                    tasks = []
                    for n in numbers:
                        before = gate.in_use + gate.waiting
                        tasks.append(asyncio.create_task(ask(n)))
                        # In line before the next is sent, so the arrival order is known.
                        while gate.in_use + gate.waiting == before:
                            await asyncio.sleep(0.002)
                    return tasks

                fake.hold()
                first = await enqueue(range(1, 21))  # 4 reach the held upstream, 16 wait
                assert (gate.in_use, gate.waiting) == (4, 16)
                while gate.waiting:  # the 16 give up after the queue timeout
                    await asyncio.sleep(0.01)
                second = await enqueue(range(21, 51))  # 30 more wait behind the held 4
                fake.release()
                await asyncio.gather(*first, *second)

        asyncio.run(run())

        # First in, first out: slots were granted in arrival order (the order in which the
        # upstream then sees them may differ by a hair, as requests race there).
        assert gate.granted == [1, 2, 3, 4, *range(21, 51)]
        served = sorted(int(re.search(r"req-(\d+)", str(r.body)).group(1)) for r in fake.requests)
        assert served == [1, 2, 3, 4, *range(21, 51)]
        assert fake.max_in_flight == 4
        assert gate.peak == 4
        for n in range(5, 21):
            response = results[n]
            assert response.status_code == 429
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"]["type"] == "rate_limit_error"
        assert all(results[n].status_code == 200 for n in [1, 2, 3, 4, *range(21, 51)])
        assert (gate.in_use, gate.waiting) == (0, 0)


def test_rate_limit_rejects_or_queues(start_server) -> None:
    strict = start_server(rate_limit=30.0)
    with openai.OpenAI(base_url=f"{strict.url}/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "one"}])
        with pytest.raises(openai.RateLimitError, match="--rate-limit") as caught:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "two"}])
    assert int(caught.value.response.headers["retry-after"]) >= 1
    patient = start_server(rate_limit=0.05, wait=True)
    with openai.OpenAI(base_url=f"{patient.url}/v1", api_key="k", max_retries=0) as client:
        for word in ("one", "two", "three"):
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": word}]
            )
            assert reply.choices[0].message.content == f"You said: {word}"


def test_manual_approval_asks_and_a_refusal_is_a_403(start_server) -> None:
    asked: list[ApprovalRequest] = []

    async def approver(request: ApprovalRequest) -> bool:
        asked.append(request)
        return "yes" in request.summary

    server = start_server(approver=approver)
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "yes please"}]
        )
        assert reply.choices[0].message.content == "You said: yes please"
        with pytest.raises(openai.PermissionDeniedError, match="refused by the operator"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "no"}])
    response = httpx.post(
        f"{server.url}/v1/messages",
        json={"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "no"}]},
    )
    assert response.status_code == 403 and response.json()["error"]["type"] == "permission_error"
    assert [(a.provider, a.model) for a in asked] == [("mock", "m"), ("mock", "m"), ("mock", "c")]
    assert server.app.extensions["chatmock_lab"].gate.in_use == 0
