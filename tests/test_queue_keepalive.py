"""A streamed request waiting in line for a Gate slot gets its headers and the dialect's
keep-alives after `--keepalive-seconds`, not silence until the queue timeout (issue 18);
if the wait then runs out, the dialect's own error frame ends the stream. And a keep-alive
due in the same turn as a stream's end never hides that end."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing

import anthropic
import httpx
import openai
import pytest

from chatmock_lab.core import Event, ProxyError, TextDelta
from chatmock_lab.server import BackgroundServer
from chatmock_lab.server.responses import event_batches
from chatmock_lab.server.state import app_state

LONG = {"role": "user", "content": "word " * 400}


@pytest.fixture
def one_slot_taken(start_server) -> Iterator[BackgroundServer]:
    """A proxy with one Gate slot, held by a slow streamed answer for the whole test."""
    server = start_server(
        max_concurrency=1, mock_delay_ms=50, keepalive_seconds=0.15, queue_timeout=0.8
    )
    gate = app_state(server.app).gate
    stop = threading.Event()

    def hold() -> None:
        body = {"model": "mock", "stream": True, "messages": [LONG]}
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body) as held:
            for _ in held.iter_bytes():
                if stop.is_set():
                    return

    holder = threading.Thread(target=hold)
    holder.start()
    deadline = time.monotonic() + 5
    while gate.in_use < 1:
        assert time.monotonic() < deadline, "the holding stream never took its slot"
        time.sleep(0.005)
    yield server
    stop.set()
    holder.join(10)


def test_openai_stream_waiting_in_line_gets_keepalives_then_its_error(one_slot_taken) -> None:
    body = {"model": "mock", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream(
        "POST", f"{one_slot_taken.url}/v1/chat/completions", json=body, timeout=10
    ) as waiting:
        assert waiting.status_code == 200
        text = waiting.read().decode()
    assert text.count(": keep-alive") >= 2, text
    assert '"error"' in text and "--max-concurrency" in text
    # The stream ends the dialect's way after its error.
    assert text.rstrip().endswith("data: [DONE]")


def test_the_sdks_see_the_dialects_own_error_after_the_wait(one_slot_taken) -> None:
    url = one_slot_taken.url
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="mock", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(openai.APIError, match="max-concurrency"):
            for _ in stream:
                pass
    with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as claude:
        with (
            pytest.raises(anthropic.APIStatusError) as caught,
            claude.messages.stream(
                model="claude-sonnet-4-5",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
            ) as events,
        ):
            for _ in events:
                pass
        assert "max-concurrency" in str(caught.value)


def test_anthropic_waiting_stream_gets_pings(one_slot_taken) -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with httpx.stream(
        "POST", f"{one_slot_taken.url}/v1/messages", json=body, timeout=10
    ) as waiting:
        assert waiting.status_code == 200
        text = waiting.read().decode()
    assert text.count("event: ping") >= 2, text
    assert "event: error" in text and "rate_limit_error" in text


def test_a_whole_answer_waiting_in_line_still_gets_a_429(one_slot_taken) -> None:
    answer = httpx.post(
        f"{one_slot_taken.url}/v1/chat/completions",
        json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "1"


def test_a_short_wait_answers_normally(start_server) -> None:
    server = start_server(max_concurrency=1, keepalive_seconds=5, queue_timeout=5)
    gate = app_state(server.app).gate
    results: list[str] = []

    def ask() -> None:
        body = {"model": "mock", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body) as reply:
            results.append(reply.read().decode())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 4 and all("keep-alive" not in text for text in results)
    assert all(text.rstrip().endswith("data: [DONE]") for text in results)
    assert gate.in_use == 0


@pytest.mark.parametrize("ending", ["end", "failure"])
def test_a_keepalive_due_with_the_last_event_does_not_lose_the_end(ending: str) -> None:
    """What `silence after=2 seconds=0.4` with `keepalive_seconds=0.1` hits now and then
    through the SDKs, made certain: the provider's last event and the end of its stream
    (or its failure) are queued in the same loop turn as a keep-alive tick."""
    tick = 0.1

    async def batches_seen() -> list[list[Event] | None]:
        loop = asyncio.get_running_loop()

        async def events() -> AsyncGenerator[Event, None]:
            yield TextDelta("a")
            resumed: asyncio.Future[None] = loop.create_future()

            def resume_then_keep_the_loop_busy() -> None:
                resumed.set_result(None)
                time.sleep(tick)  # past the keep-alive's deadline

            loop.call_later(tick / 2, resume_then_keep_the_loop_busy)
            await resumed
            yield TextDelta("b")
            if ending == "failure":
                raise ProxyError("the upstream failed")

        seen: list[list[Event] | None] = []
        async with asyncio.timeout(0.5), aclosing(event_batches(events(), tick)) as batches:
            async for batch in batches:
                seen.append(batch)
        return seen

    if ending == "failure":
        with pytest.raises(ProxyError, match="the upstream failed"):
            asyncio.run(batches_seen())
    else:
        assert asyncio.run(batches_seen()) == [[TextDelta("a")], [TextDelta("b")]]
