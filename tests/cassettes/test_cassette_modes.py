"""`chatmock_lab.cassette(...)` through the real proxy and the official SDKs: each record
mode, matching that ignores volatile fields, and unmatched requests in each dialect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

import chatmock_lab
from chatmock_lab.cassettes import load_cassette
from chatmock_lab.server.cassette_session import CassetteSession
from chatmock_lab.testing import FakeOpenAIUpstream

KEY = "sk-modes-test-0123456789abcdefghij"


@pytest.fixture
def fake() -> Iterator[FakeOpenAIUpstream]:
    with FakeOpenAIUpstream(api_key=KEY) as upstream:
        yield upstream


def env_for(fake: FakeOpenAIUpstream) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "CHATMOCK_OPENAI_BASE_URL": fake.base_url}


def ask(session: CassetteSession, text: str, **extra: object) -> str:
    with openai.OpenAI(base_url=session.endpoints.openai, api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": text}], **extra
        )
    return reply.choices[0].message.content or ""


def use(path: Path, mode: str, fake: FakeOpenAIUpstream) -> AbstractContextManager[CassetteSession]:
    return chatmock_lab.cassette(path, mode, provider="openai", env=env_for(fake))  # type: ignore[arg-type]


def prompts_in(path: Path) -> list[str]:
    return [
        json.loads(i.request.body or "{}")["messages"][0]["content"]
        for i in load_cassette(path).interactions
    ]


def test_every_record_mode(tmp_path: Path, fake: FakeOpenAIUpstream) -> None:
    path = tmp_path / "modes.yaml"

    # once, new cassette: records.
    with use(path, "once", fake) as session:
        assert ask(session, "one") == "Upstream says: one"
        assert session.recorded == 1
    assert len(fake.requests) == 1 and prompts_in(path) == ["one"]

    # once, existing cassette: replays, and records nothing new (an unknown request fails).
    with use(path, "once", fake) as session:
        assert ask(session, "one") == "Upstream says: one"
        with pytest.raises(openai.NotFoundError, match="no recorded request matches"):
            ask(session, "two")
    assert len(fake.requests) == 1 and prompts_in(path) == ["one"]

    # new_episodes: replays what it has, records what it lacks.
    with use(path, "new_episodes", fake) as session:
        assert ask(session, "one") == "Upstream says: one"
        assert ask(session, "two") == "Upstream says: two"
        assert (session.played, session.recorded) == (1, 1)
    assert len(fake.requests) == 2 and prompts_in(path) == ["one", "two"]

    # none: replay only, the upstream is never asked.
    with use(path, "none", fake) as session:
        assert ask(session, "two") == "Upstream says: two"
        assert ask(session, "one") == "Upstream says: one"
        with pytest.raises(openai.NotFoundError, match="record mode none"):
            ask(session, "three")
        assert session.unplayed() == []
    assert len(fake.requests) == 2

    # all: records everything again, replays nothing, keeps what was there.
    with use(path, "all", fake) as session:
        assert ask(session, "one") == "Upstream says: one"
        assert (session.played, session.recorded) == (0, 1)
    assert len(fake.requests) == 3 and prompts_in(path) == ["one", "two", "one"]

    # rewrite: starts the cassette afresh.
    with use(path, "rewrite", fake) as session:
        assert ask(session, "four") == "Upstream says: four"
    assert len(fake.requests) == 4 and prompts_in(path) == ["four"]


def test_replaying_a_missing_cassette_is_refused_at_once(tmp_path: Path) -> None:
    with (
        pytest.raises(ValueError, match=r"missing\.yaml: no such cassette to replay"),
        chatmock_lab.cassette(tmp_path / "missing.yaml", "none"),
    ):
        pass


def test_volatile_fields_do_not_stop_a_match(tmp_path: Path, fake: FakeOpenAIUpstream) -> None:
    path = tmp_path / "volatile.yaml"
    with use(path, "once", fake) as session:
        ask(session, "same", user="alice")
    assert '"user":"alice"' in (load_cassette(path).interactions[0].request.body or "")
    # Another end user, and the SDK's streaming options: still the same request.
    with chatmock_lab.cassette(path, "none") as session:
        with openai.OpenAI(base_url=session.endpoints.openai, api_key="k", max_retries=0) as client:
            chunks = client.chat.completions.create(
                model="gpt-4.1",
                messages=[{"role": "user", "content": "same"}],
                user="bob",
                stream=True,
                stream_options={"include_usage": True},
            )
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Upstream says: same"
        # The same words with another temperature are another request...
        with pytest.raises(openai.NotFoundError, match="temperature"):
            ask(session, "same", user="bob", temperature=0.5)
    # ... unless the test says the temperature does not matter to it.
    with chatmock_lab.cassette(path, "none", ignore=["temperature"]) as session:
        assert ask(session, "same", temperature=0.5) == "Upstream says: same"


def test_repeats_replay_again_only_when_allowed(tmp_path: Path, fake: FakeOpenAIUpstream) -> None:
    path = tmp_path / "repeat.yaml"
    with use(path, "once", fake) as session:
        ask(session, "again")
    with chatmock_lab.cassette(path, "none") as session:
        assert ask(session, "again") == "Upstream says: again"
        with pytest.raises(openai.NotFoundError) as used_up:
            ask(session, "again")
    # The request does match: the error says its recording was played, not that nothing
    # matches (with an empty diff), and names the options that let it play again.
    # In the OpenAI dialect's error shape, which the SDK parses into `body`.
    body = used_up.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error"
    message = body["message"]
    assert "no recorded request matches" not in message
    assert "repeat.yaml: the recording that matches POST /v1/chat/completions" in message
    assert "(interaction #0) was already played: recorded once, played once" in message
    assert "--allow-playback-repeats" in message
    assert "@pytest.mark.chatmock(allow_playback_repeats=True)" in message
    with chatmock_lab.cassette(path, "none", allow_playback_repeats=True) as session:
        assert [ask(session, "again") for _ in range(3)] == ["Upstream says: again"] * 3


def test_an_unmatched_request_is_an_error_in_each_dialect(
    tmp_path: Path, fake: FakeOpenAIUpstream
) -> None:
    path = tmp_path / "unmatched.yaml"
    with use(path, "once", fake) as session:
        ask(session, "recorded words")
    with chatmock_lab.cassette(path, "none") as session:
        urls = session.endpoints
        with (
            openai.OpenAI(base_url=urls.openai, api_key="k", max_retries=0) as client,
            pytest.raises(openai.NotFoundError) as openai_error,
        ):
            # Streaming too: the error comes before the first byte, not as a hang.
            for _ in client.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "other"}], stream=True
            ):
                pass
        with (
            anthropic.Anthropic(base_url=urls.anthropic, api_key="k", max_retries=0) as claude,
            pytest.raises(anthropic.NotFoundError) as anthropic_error,
        ):
            claude.messages.create(
                model="gpt-4.1", max_tokens=20, messages=[{"role": "user", "content": "other"}]
            )
        gemini = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=urls.gemini))
        with pytest.raises(genai_errors.ClientError) as gemini_error:
            gemini.models.generate_content(model="gpt-4.1", contents="other")
        # A raw look at the shapes each dialect's clients parse.
        raw = httpx.post(
            f"{urls.url}/v1/messages",
            json={
                "model": "gpt-4.1",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
            },
            timeout=10,
        )
    assert openai_error.value.status_code == 404
    assert anthropic_error.value.status_code == 404
    assert gemini_error.value.code == 404 and gemini_error.value.status == "NOT_FOUND"
    for message in (
        str(openai_error.value),
        str(anthropic_error.value),
        gemini_error.value.message or "",
    ):
        assert "unmatched.yaml" in message and "no recorded request matches" in message
        # The short diff against the closest recording shows what differs.
        assert '-   "content": "recorded words"' in message
    assert raw.json()["type"] == "error" and raw.json()["error"]["type"] == "not_found_error"


def test_serve_settings_configure_matching(
    tmp_path: Path, fake: FakeOpenAIUpstream, start_server
) -> None:
    path = tmp_path / "settings.yaml"
    with use(path, "once", fake) as session:
        ask(session, "configured")
    server = start_server(
        provider_name="openai",
        replay=path,
        match_ignore=("temperature", "seed"),
        allow_playback_repeats=True,
        cassette_cache=tmp_path / "parsed",
    )
    assert len(list((tmp_path / "parsed").glob("*.json"))) == 1
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
        answers = [
            client.chat.completions.create(
                model="gpt-4.1",
                messages=[{"role": "user", "content": "configured"}],
                temperature=t,
                seed=7,
            )
            .choices[0]
            .message.content
            for t in (0.1, 0.9, 1.5)
        ]
    assert answers == ["Upstream says: configured"] * 3


def test_a_stream_recorded_for_a_non_streaming_client_still_replays(
    tmp_path: Path, fake: FakeOpenAIUpstream
) -> None:
    """Cassettes recorded before the proxy asked one JSON body for clients that do not
    stream hold `stream: true`; the replay asks `stream: false` and still gets its answer
    (the provider reads the recorded stream). Recorded now, the body says which."""
    path = tmp_path / "old.yaml"
    with use(path, "all", fake) as session:
        with openai.OpenAI(base_url=session.endpoints.openai, api_key="k") as client:
            streamed = client.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "old times"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        plain = ask(session, "new times")
    first, second = (json.loads(i.request.body or "{}") for i in load_cassette(path).interactions)
    assert first["stream"] is True and "stream" not in second
    assert text == "Upstream says: old times" and plain == "Upstream says: new times"
    with use(path, "none", fake) as replay:
        assert ask(replay, "old times") == text
        assert ask(replay, "new times") == plain
        assert replay.played == 2
