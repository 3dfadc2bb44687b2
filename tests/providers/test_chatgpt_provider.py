"""The chatgpt provider: the proxy in front of a fake Codex backend and a fake OpenAI auth
server, driven by the official SDKs."""

from __future__ import annotations

import asyncio
import json
import logging

import anthropic
import httpx
import openai
import pytest

from chatmock_lab import accounts
from chatmock_lab.auth.chatgpt import load_tokens
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens
from chatmock_lab.auth.store import TokenStore
from chatmock_lab.testing import CodexReply, FakeCodexBackend
from chatmock_lab.testing.fake_chatgpt_auth import FakeChatGPTAuth
from tests.support import png_data_url


@pytest.fixture
def auth():
    with FakeChatGPTAuth() as server:
        yield server


@pytest.fixture
def codex():
    with FakeCodexBackend(models=("gpt-5", "gpt-5-codex", "gpt-5.1")) as server:
        yield server


def login(auth: FakeChatGPTAuth, home) -> ChatGPTTokens:
    return auth.store_login(home)


@pytest.fixture
def proxy(auth, codex, tmp_path, start_server):
    env = {
        "CHATMOCK_HOME": str(tmp_path),
        "HOME": str(tmp_path),
        "CHATMOCK_CHATGPT_AUTH_URL": auth.url,
        "CHATMOCK_CHATGPT_BASE_URL": codex.base_url,
    }
    tokens = login(auth, tmp_path)
    server = start_server(provider_name="chatgpt", env=env)
    server.tokens = tokens
    server.home = tmp_path
    return server


def test_text_and_streaming_with_the_backends_headers(codex, proxy) -> None:
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="gpt-5",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello Codex"},
            ],
            max_tokens=100,
            temperature=0.3,
        )
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": "Hello Codex"}], stream=True
            )
            if c.choices
        )
    assert reply.choices[0].message.content == "Codex says: Hello Codex"
    assert streamed == "Codex says: Hello Codex"
    assert reply.usage.prompt_tokens > 0
    sent = codex.requests[0]
    assert sent.path == "/backend-api/codex/responses"
    assert sent.headers["authorization"] == f"Bearer {proxy.tokens.access_token}"
    assert sent.headers["chatgpt-account-id"] == "acct-fake-0001"
    assert sent.headers["openai-beta"] == "responses=experimental"
    assert sent.headers["originator"] == "chatmock_lab"
    assert sent.headers["session_id"]
    body = sent.body
    assert body["model"] == "gpt-5"
    assert body["instructions"] == "Be brief."
    assert body["input"] == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hello Codex"}],
        }
    ]
    assert body["store"] is False and body["stream"] is True
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["prompt_cache_key"] == sent.headers["session_id"]
    # Fields the backend rejects are dropped deliberately.
    assert "max_output_tokens" not in body and "temperature" not in body


def test_effort_suffix_reasoning_summaries_and_explicit_effort(codex, proxy) -> None:
    codex.reply(CodexReply(text="Done.", reasoning="Thinking it through."))
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="gpt-5-high", messages=[{"role": "user", "content": "x"}]
        )
        assert reply.choices[0].message.model_extra["reasoning_content"] == "Thinking it through."
        assert codex.last_request().body["reasoning"] == {"effort": "high", "summary": "auto"}
        assert codex.last_request().body["model"] == "gpt-5"
        client.chat.completions.create(
            model="gpt-5-high", messages=[{"role": "user", "content": "x"}], reasoning_effort="low"
        )
    # An explicit effort is passed through, never rewritten by the name's suffix.
    assert codex.last_request().body["reasoning"]["effort"] == "low"


def test_tool_round_trip_with_two_parallel_calls_and_an_image(codex, proxy) -> None:
    codex.reply(
        CodexReply(
            tool_calls=[
                {"call_id": "call_p", "name": "get_weather", "arguments": {"city": "Paris"}},
                {"call_id": "call_t", "name": "get_weather", "arguments": {"city": "Tokyo"}},
            ]
        )
    )
    tool = {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    image = png_data_url(2, 2).split(",", 1)[1]
    with anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0) as claude:
        first = claude.messages.create(
            model="gpt-5",
            max_tokens=100,
            tools=[tool],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Weather in both?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": image},
                        },
                    ],
                }
            ],
        )
        assert [(b.id, b.input) for b in first.content] == [
            ("call_p", {"city": "Paris"}),
            ("call_t", {"city": "Tokyo"}),
        ]
        assert first.stop_reason == "tool_use"
        sent = codex.last_request().body
        assert sent["tools"][0]["name"] == "get_weather" and sent["tools"][0]["type"] == "function"
        assert sent["input"][0]["content"][1] == {
            "type": "input_image",
            "image_url": f"data:image/png;base64,{image}",
        }
        second = claude.messages.create(
            model="gpt-5",
            max_tokens=100,
            tools=[tool],
            messages=[
                {"role": "user", "content": "Weather in both?"},
                {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_p", "content": "21 C"},
                        {"type": "tool_result", "tool_use_id": "call_t", "content": "18 C"},
                    ],
                },
            ],
        )
    assert second.content[0].text.startswith("Codex says:")
    items = codex.last_request().body["input"]
    assert [i["type"] for i in items] == [
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    assert [(i["call_id"], i["output"]) for i in items[3:]] == [
        ("call_p", "21 C"),
        ("call_t", "18 C"),
    ]
    assert json.loads(items[1]["arguments"]) == {"city": "Paris"}


def test_a_401_refreshes_once_and_retries(auth, codex, proxy) -> None:
    codex.fail(401, body={"detail": "token expired"})
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "again"}]
        )
    assert reply.choices[0].message.content == "Codex says: again"
    assert auth.refresh_calls == 1
    first, second = codex.requests
    assert first.headers["authorization"] != second.headers["authorization"]
    # The refreshed login is kept for the next start.
    stored = load_tokens(TokenStore.default({"CHATMOCK_HOME": str(proxy.home)}))
    assert stored.access_token != proxy.tokens.access_token
    assert second.headers["authorization"] == f"Bearer {stored.access_token}"


def test_failures_reach_the_client_in_its_dialect(codex, proxy) -> None:
    codex.fail_in_stream("rate_limit_exceeded", "Rate limit reached. Please try again in 12s.")
    response = httpx.post(
        f"{proxy.url}/v1/messages",
        json={
            "model": "gpt-5",
            "max_tokens": 10,
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
        headers={"anthropic-version": "2023-06-01"},
    )
    # A failure before any output is a real HTTP error, with the upstream's reset time.
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert response.headers["retry-after"] == "12"
    codex.fail_in_stream("rate_limit_exceeded", "Rate limit reached. Please try again in 12s.")
    with (
        openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "12"
    codex.fail(
        400,
        body={
            "detail": "The 'gpt-9' model is not supported when using Codex with a ChatGPT account."
        },
    )
    with (
        openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.BadRequestError, match="not supported when using Codex"),
    ):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])


def test_dropped_connection_mid_stream(codex, proxy) -> None:
    codex.reply(CodexReply(text="a long answer cut in the middle", chunk_chars=2))
    codex.drop_connection_after(8)
    with (
        openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.APIError, match="broke off"),
    ):
        for _ in client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass


def test_models_come_from_the_backends_catalog(codex, proxy) -> None:
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        assert [m.id for m in client.models.list()] == ["gpt-5", "gpt-5-codex", "gpt-5.1"]


def test_without_a_login_the_error_says_which_command_to_run(tmp_path, start_server) -> None:
    server = start_server(
        provider_name="chatgpt", env={"CHATMOCK_HOME": str(tmp_path), "HOME": str(tmp_path)}
    )
    with (
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.AuthenticationError, match="chatmock-lab login chatgpt"),
    ):
        client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "x"}])


def test_usage_windows_are_kept_and_labelled_by_their_length(codex, proxy) -> None:
    codex.usage_headers = {
        "x-codex-primary-used-percent": "42",
        "x-codex-primary-window-minutes": "10080",
        "x-codex-primary-reset-after-seconds": "3600",
        "x-codex-secondary-used-percent": "7.5",
        "x-codex-secondary-window-minutes": "300",
        "x-codex-secondary-reset-after-seconds": "60",
    }
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "x"}])
    info = asyncio.run(
        accounts.account_info({"CHATMOCK_HOME": str(proxy.home), "HOME": str(proxy.home)})
    )
    usage = info["providers"]["chatgpt"]["usage"]
    assert [(w["window"], w["used_percent"]) for w in usage] == [("7 days", 42.0), ("5 hours", 7.5)]
    text = accounts.format_info(info)
    assert "7 days window: 42% used" in text and "5 hours window: 7.5% used" in text
    assert proxy.tokens.access_token not in json.dumps(info) + text


def test_debug_logs_carry_no_token(codex, proxy, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(model="gpt-5", messages=[{"role": "user", "content": "x"}])
    assert "-> chatgpt POST" in caplog.text  # the request was logged, headers and all
    for secret in (proxy.tokens.access_token, proxy.tokens.refresh_token, proxy.tokens.id_token):
        assert secret not in caplog.text


def test_chaos_at_the_backends_edge(codex, proxy) -> None:
    """Chaos over the Responses API upstream: an error before the first byte, a drop mid
    stream, a duplicated frame, all as the client would meet them from the backend."""
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:

        def ask(rule: str) -> str:
            text = ""
            for chunk in client.chat.completions.create(
                model="gpt-5",
                messages=[{"role": "user", "content": "x"}],
                stream=True,
                extra_headers={"x-chatmock-chaos": rule},
            ):
                text += chunk.choices[0].delta.content or "" if chunk.choices else ""
            return text

        with pytest.raises(openai.APIStatusError) as raised:
            ask("error status=503 retry_after=0.01 retries=0")
        assert raised.value.status_code == 503 and "chaos" in raised.value.message
        codex.reply(CodexReply(text="one two three four five", chunk_chars=4))
        with pytest.raises(openai.APIError, match="chatgpt broke off the stream"):
            ask("drop after=6")
        codex.reply(CodexReply(text="abcdefgh", chunk_chars=4))
        # The Responses stream's frames: created, in_progress, item added, part added,
        # then the deltas; the fifth is the first delta.
        assert ask("duplicate at=5") == "abcdabcdefgh"
    counts = proxy.app.extensions["chatmock_lab"].chaos.counts()
    assert counts == {"error 503": 1, "drop": 1, "duplicate": 1}
