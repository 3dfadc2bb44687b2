"""Recording a real upstream stream through the httpx layer and replaying it offline."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import vcr

from chatmock_lab.cassettes import find_secrets, load_cassette
from chatmock_lab.cassettes.transport import CassetteTransport
from chatmock_lab.core import ChatRequest, Message, ProxyError, TextPart, acollect
from chatmock_lab.providers.http import HttpUpstream
from chatmock_lab.providers.openai_compatible import SPECS, OpenAICompatibleProvider
from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply

KEY = "xai-cassette-test-key-0123456789"


def provider(base_url: str, transport: CassetteTransport) -> OpenAICompatibleProvider:
    env = {"XAI_API_KEY": KEY, "CHATMOCK_GROK_BASE_URL": base_url}
    return OpenAICompatibleProvider(SPECS["grok"], env, HttpUpstream("grok", transport=transport))


def ask(text: str) -> ChatRequest:
    return ChatRequest(model="grok-4", messages=[Message(role="user", parts=[TextPart(text)])])


async def collect(upstream: OpenAICompatibleProvider, request: ChatRequest):
    try:
        return await acollect(upstream.stream(request))
    finally:
        await upstream.aclose()


def test_record_then_replay_offline_with_chunks_and_no_secrets(tmp_path) -> None:
    path = tmp_path / "grok.yaml"
    with FakeOpenAIUpstream(api_key=KEY) as fake:
        fake.reply(FakeReply(text="recorded words", reasoning="hm", chunk_chars=3))
        base_url = fake.base_url
        recorded = asyncio.run(
            collect(provider(base_url, CassetteTransport(path, mode="once")), ask("hello"))
        )
    assert recorded.text() == "recorded words"

    cassette = load_cassette(path)
    (interaction,) = cassette.interactions
    response = interaction.response
    assert response.complete and len(response.chunks) > 3
    assert "".join(text for _, text in response.chunks) == response.body
    assert KEY not in path.read_text()
    assert interaction.request.headers["authorization"] == ["Bearer <REDACTED>"]
    assert find_secrets(cassette) == []

    # The upstream is gone; the cassette answers, the same chunks, the same answer.
    replayed = asyncio.run(
        collect(provider(base_url, CassetteTransport(path, mode="none")), ask("hello"))
    )
    assert replayed == recorded

    # A request that was never recorded gets a clear error naming the cassette.
    with pytest.raises(ProxyError) as caught:
        asyncio.run(
            collect(provider(base_url, CassetteTransport(path, mode="none")), ask("goodbye"))
        )
    assert str(path) in caught.value.message and "closest recorded request" in caught.value.message

    # Plain vcrpy loads the same file.
    with vcr.use_cassette(str(path), record_mode="none", match_on=["method", "path"]):
        body = httpx.post(f"{base_url}/chat/completions", json={}).text
    assert body == response.body


def test_once_replays_an_existing_cassette_and_all_records_again(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    with FakeOpenAIUpstream(api_key=KEY) as fake:
        asyncio.run(
            collect(provider(fake.base_url, CassetteTransport(path, mode="once")), ask("one"))
        )
        asyncio.run(
            collect(provider(fake.base_url, CassetteTransport(path, mode="once")), ask("one"))
        )
        assert len(fake.requests) == 1  # the second run replayed
        asyncio.run(
            collect(
                provider(fake.base_url, CassetteTransport(path, mode="new_episodes")), ask("two")
            )
        )
        asyncio.run(
            collect(provider(fake.base_url, CassetteTransport(path, mode="all")), ask("one"))
        )
        assert len(fake.requests) == 3
        rewritten = CassetteTransport(path, mode="rewrite")
        asyncio.run(collect(provider(fake.base_url, rewritten), ask("three")))
    assert len(load_cassette(path).interactions) == 1


def test_a_stream_cut_off_by_the_upstream_is_recorded_as_such(tmp_path) -> None:
    path = tmp_path / "cut.yaml"
    with FakeOpenAIUpstream(api_key=KEY) as fake:
        fake.reply(FakeReply(text="a long answer that is cut", chunk_chars=2))
        fake.drop_connection_after(4)
        upstream = provider(fake.base_url, CassetteTransport(path, mode="once"))

        async def run():
            try:
                return [event async for event in upstream.stream(ask("x"))]
            finally:
                await upstream.aclose()

        events = asyncio.run(run())
    assert "broke off" in events[-1].error.message
    (interaction,) = load_cassette(path).interactions
    assert interaction.response.complete is False
    assert "broke off" in interaction.response.error
