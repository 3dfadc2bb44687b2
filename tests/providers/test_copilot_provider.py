"""The copilot provider: the proxy in front of a fake GitHub (tokens) and a fake Copilot
API (an OpenAI-compatible fake), driven by the official SDKs."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply
from chatmock_lab.testing.fake_github import FakeGitHub
from tests.support import png_data_url


@pytest.fixture
def copilot_api():
    with FakeOpenAIUpstream(
        models=("gpt-4.1", "claude-sonnet-4.5", "claude-sonnet-4", "gpt-5")
    ) as api:
        yield api


@pytest.fixture
def github(copilot_api):
    with FakeGitHub(copilot_api=copilot_api.base_url) as server:
        yield server


@pytest.fixture
def proxy(github, tmp_path, start_server):
    env = {
        "CHATMOCK_HOME": str(tmp_path),
        "HOME": str(tmp_path),
        "CHATMOCK_GITHUB_URL": github.github_url,
        "CHATMOCK_GITHUB_API_URL": github.api_url,
    }
    github.store_login(tmp_path)
    return start_server(provider_name="copilot", env=env)


def test_text_stream_and_headers_with_x_initiator(github, copilot_api, proxy) -> None:
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "Hello Copilot"}]
        )
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                model="gpt-4.1",
                messages=[{"role": "user", "content": "Hello Copilot"}],
                stream=True,
            )
            if c.choices
        )
        client.chat.completions.create(
            model="gpt-4.1",
            messages=[
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "w", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ],
            tools=[
                {
                    "type": "function",
                    "function": {"name": "w", "parameters": {"type": "object", "properties": {}}},
                }
            ],
        )
    assert reply.choices[0].message.content == streamed == "Upstream says: Hello Copilot"
    user_turn, _, agent_turn = copilot_api.requests
    assert user_turn.headers["authorization"] == f"Bearer {github.issued_copilot_tokens[-1]}"
    assert user_turn.headers["copilot-integration-id"] == "vscode-chat"
    assert user_turn.headers["editor-version"].startswith("vscode/")
    assert user_turn.headers["editor-plugin-version"].startswith("copilot-chat/")
    assert user_turn.headers["x-initiator"] == "user"
    assert agent_turn.headers["x-initiator"] == "agent"  # a turn that continues after tools
    assert "copilot-vision-request" not in user_turn.headers
    assert github.token_calls == 1  # one Copilot token serves every request until it expires


def test_images_send_the_vision_header(copilot_api, proxy) -> None:
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(
            model="gpt-4.1",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "see"},
                        {"type": "image_url", "image_url": {"url": png_data_url(2, 2)}},
                    ],
                }
            ],
        )
    assert copilot_api.last_request().headers["copilot-vision-request"] == "true"


def test_claude_names_map_to_copilots_ids_and_split_choices_merge(copilot_api, proxy) -> None:
    copilot_api.reply(
        FakeReply(
            text="Checking.",
            tool_calls=[{"id": "c9", "name": "w", "arguments": "{}"}],
            split_choices=True,
        )
    )
    with anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0) as claude:
        message = claude.messages.create(
            model="claude-sonnet-4-5-20250929",
            max_tokens=64,
            tools=[{"name": "w", "input_schema": {"type": "object", "properties": {}}}],
            messages=[{"role": "user", "content": "x"}],
        )
    assert [b.type for b in message.content] == ["text", "tool_use"]
    sent = copilot_api.last_request().body
    assert sent["model"] == "claude-sonnet-4.5"
    assert sent["max_tokens"] == 64  # Claude models take max_tokens
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "x"}], max_tokens=9
        )
        client.chat.completions.create(
            model="claude-opus-9", messages=[{"role": "user", "content": "x"}]
        )
    requests = list(copilot_api.requests)
    assert requests[-2].body["max_completion_tokens"] == 9  # reasoning models need it
    assert requests[-1].body["model"] == "claude-opus-9"  # unknown: passed on, never downgraded


def test_a_401_gets_a_new_copilot_token_and_one_retry(github, copilot_api, proxy) -> None:
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "one"}]
        )
        copilot_api.fail(401, message="token revoked")
        reply = client.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "two"}]
        )
    assert reply.choices[0].message.content == "Upstream says: two"
    assert github.token_calls == 2
    first, rejected, retried = copilot_api.requests
    assert rejected.headers["authorization"] == first.headers["authorization"]
    assert retried.headers["authorization"] != rejected.headers["authorization"]


def test_models_and_embeddings(copilot_api, proxy) -> None:
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        assert [m.id for m in client.models.list()] == [
            "gpt-4.1",
            "claude-sonnet-4.5",
            "claude-sonnet-4",
            "gpt-5",
        ]
        vectors = client.embeddings.create(model="text-embedding-3-small", input=["a"])
    assert len(vectors.data[0].embedding) == 8


def test_without_a_login_the_error_names_the_command(tmp_path, start_server) -> None:
    server = start_server(
        provider_name="copilot", env={"CHATMOCK_HOME": str(tmp_path), "HOME": str(tmp_path)}
    )
    with (
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError, match="chatmock-lab login copilot"),
    ):
        client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "x"}])


def test_usage_and_token_routes(github, tmp_path, start_server) -> None:
    env = {
        "CHATMOCK_HOME": str(tmp_path),
        "HOME": str(tmp_path),
        "CHATMOCK_GITHUB_URL": github.github_url,
        "CHATMOCK_GITHUB_API_URL": github.api_url,
    }
    github.store_login(tmp_path)
    open_proxy = start_server(provider_name="copilot", env=env)
    for path in ("/usage", "/token"):
        refused = httpx.get(f"{open_proxy.url}{path}")
        assert refused.status_code == 403 and "--api-key" in refused.json()["error"]["message"]

    key = "proxy-key-for-this-test"
    guarded = start_server(provider_name="copilot", env=env, api_key=key)
    usage = httpx.get(f"{guarded.url}/usage", headers={"authorization": f"Bearer {key}"}).json()
    assert usage["quota_snapshots"]["premium_interactions"]["remaining"] == 253
    assert httpx.get(f"{guarded.url}/token").status_code == 401
    token = httpx.get(f"{guarded.url}/token", headers={"authorization": f"Bearer {key}"}).json()
    assert token["token"] == github.issued_copilot_tokens[-1]
    assert token["expires_at"] > 0


def test_the_proxy_key_is_checked_in_every_dialect(start_server) -> None:
    key = "proxy-key-abcdef"
    server = start_server(api_key=key)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.get(f"{server.url}/health").status_code == 200  # liveness stays open
    with (
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError, match="proxy key"),
    ):
        client.chat.completions.create(**body)
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0) as client:
        assert client.chat.completions.create(**body).choices[0].message.content == "You said: hi"
    with anthropic.Anthropic(base_url=server.url, api_key=key, max_retries=0) as claude:
        assert claude.messages.create(max_tokens=5, **body).content[0].text.startswith("You said")
    gemini = {"contents": [{"parts": [{"text": "hi"}]}]}
    assert (
        httpx.post(f"{server.url}/v1beta/models/g:generateContent", json=gemini).status_code == 401
    )
    assert (
        httpx.post(
            f"{server.url}/v1beta/models/g:generateContent?key={key}", json=gemini
        ).status_code
        == 200
    )
    assert (
        httpx.post(
            f"{server.url}/v1beta/models/g:generateContent",
            json=gemini,
            headers={"x-goog-api-key": key},
        ).status_code
        == 200
    )


def test_reasoning_from_copilot_reaches_the_client(copilot_api, proxy) -> None:
    copilot_api.reply(FakeReply(text="42", reasoning="Counting carefully."))
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "x"}], reasoning_effort="high"
        )
    assert reply.choices[0].message.model_extra["reasoning_content"] == "Counting carefully."
    assert copilot_api.last_request().body["reasoning_effort"] == "high"


def test_chaos_at_copilots_edge(copilot_api, proxy) -> None:
    """Chaos between the proxy and Copilot's API, not between the proxy and GitHub's
    token endpoint: a malformed frame and a slow first token."""
    copilot_api.reply(FakeReply(text="Hello from Copilot, slowly", chunk_chars=5))
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        pieces = [
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                model="gpt-4.1",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                extra_headers={"x-chatmock-chaos": "malformed at=3 how=utf8"},
            )
            if c.choices
        ]
        assert "".join(pieces) == "Hello\ufffd from Copilot, slowly"
        copilot_api.reply(FakeReply(text="a b c d e f", chunk_chars=2))
        with pytest.raises(openai.APIError, match="copilot sent a malformed stream line"):
            for _ in client.chat.completions.create(
                model="gpt-4.1",
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
                extra_headers={"x-chatmock-chaos": "malformed at=4"},
            ):
                pass
    assert proxy.app.extensions["chatmock_lab"].chaos.counts() == {"malformed": 2}
