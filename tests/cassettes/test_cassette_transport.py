"""Recording a real upstream stream through the httpx layer and replaying it offline."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import vcr

from chatmock_lab.cassettes import find_secrets, load_cassette, save_cassette
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


def test_one_cassette_replays_to_every_dialect(tmp_path, start_server) -> None:
    import anthropic
    import openai
    from google import genai
    from google.genai import types

    path = tmp_path / "every-dialect.yaml"
    with FakeOpenAIUpstream(api_key=KEY) as fake:
        env = {"XAI_API_KEY": KEY, "CHATMOCK_GROK_BASE_URL": fake.base_url}
        recorder = start_server(provider_name="grok", env=env, record=path)
        with openai.OpenAI(base_url=f"{recorder.url}/v1", api_key="k", max_retries=0) as client:
            recorded = client.chat.completions.create(
                model="grok-4",
                max_tokens=50,
                messages=[{"role": "user", "content": "Hello cassette"}],
            )
        assert recorded.choices[0].message.content == "Upstream says: Hello cassette"
        recorder.stop()  # the cassette is complete on disk once its recorder stops
    # The upstream is gone, and so is the key. The recorded bytes go through each
    # dialect's translator again.
    env = {"CHATMOCK_GROK_BASE_URL": env["CHATMOCK_GROK_BASE_URL"]}
    replies = []
    with openai.OpenAI(
        base_url=f"{start_server(provider_name='grok', env=env, replay=path).url}/v1",
        api_key="k",
        max_retries=0,
    ) as client:
        replies.append(
            client.chat.completions.create(
                model="grok-4",
                max_tokens=50,
                messages=[{"role": "user", "content": "Hello cassette"}],
            )
            .choices[0]
            .message.content
        )
    with anthropic.Anthropic(
        base_url=start_server(provider_name="grok", env=env, replay=path).url,
        api_key="k",
        max_retries=0,
    ) as claude:
        replies.append(
            claude.messages.create(
                model="grok-4",
                max_tokens=50,
                messages=[{"role": "user", "content": "Hello cassette"}],
            )
            .content[0]
            .text
        )
    gemini = genai.Client(
        api_key="k",
        http_options=types.HttpOptions(
            base_url=start_server(provider_name="grok", env=env, replay=path).url
        ),
    )
    replies.append(
        gemini.models.generate_content(
            model="grok-4",
            contents="Hello cassette",
            config=types.GenerateContentConfig(max_output_tokens=50),
        ).text
    )
    assert replies == ["Upstream says: Hello cassette"] * 3
    # Anything else is a clear error in the caller's dialect, naming the cassette.
    server = start_server(provider_name="grok", env=env, replay=path)
    with (
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.NotFoundError, match=r"every-dialect\.yaml"),
    ):
        client.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "Something else"}]
        )


def test_cassettes_check_fails_on_a_planted_secret_and_on_age(tmp_path) -> None:
    import subprocess
    import sys

    path = tmp_path / "clean.yaml"
    with FakeOpenAIUpstream(api_key=KEY) as fake:
        asyncio.run(
            collect(provider(fake.base_url, CassetteTransport(path, mode="once")), ask("x"))
        )

    def check(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "chatmock_lab", "cassettes", "check", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    clean = check(str(path))
    assert clean.returncode == 0, clean.stdout
    assert "ok" in clean.stdout
    planted = tmp_path / "planted.yaml"
    cassette = load_cassette(path)
    request = cassette.interactions[0].request
    request.body = request.body.replace("grok-4", "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX")
    save_cassette(planted, cassette)
    found = check(str(tmp_path))
    assert found.returncode == 1
    assert "planted.yaml: PROBLEMS" in found.stdout
    assert "ABCDEFGHIJKLMNOPQRSTUVWX" not in found.stdout  # reported, never shown
    old = check(str(path), "--max-age-days", "-1")
    assert old.returncode == 1 and "older than" in old.stdout
