"""The proxy in front of a fake OpenAI-compatible upstream, driven by all three SDKs."""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply
from tests.support import png_data_url, sse_events, sse_payloads

UPSTREAM_KEY = "xai-test-upstream-key-0123456789"
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


@pytest.fixture
def fake():
    with FakeOpenAIUpstream(api_key=UPSTREAM_KEY) as upstream:
        yield upstream


@pytest.fixture
def proxy(fake, start_server):
    env = {"XAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_GROK_BASE_URL": fake.base_url}
    return start_server(provider_name="grok", env=env, retries=2)


def state_of(server):
    return server.app.extensions["chatmock_lab"]


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.005)


def test_openai_sdk_text_stream_and_usage(fake, proxy) -> None:
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="client-key", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="grok-4",
            messages=[{"role": "user", "content": "Hello upstream"}],
            temperature=0.2,
        )
        pieces = [
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                model="grok-4",
                messages=[{"role": "user", "content": "Hello upstream"}],
                stream=True,
            )
            if c.choices
        ]
    assert reply.choices[0].message.content == "Upstream says: Hello upstream"
    assert "".join(pieces) == reply.choices[0].message.content
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    sent = fake.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert (
        sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    )  # the upstream's key, not the client's
    # A client that waits for the whole answer: one JSON body asked for, no stream.
    assert sent.body == {
        "model": "grok-4",
        "messages": [{"role": "user", "content": "Hello upstream"}],
        "temperature": 0.2,
    }
    assert sent.headers["accept"] == "application/json"
    streamed = fake.requests[1]
    assert streamed.body == {
        "model": "grok-4",
        "messages": [{"role": "user", "content": "Hello upstream"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert streamed.headers["accept"] == "text/event-stream"


def test_openai_sdk_tools_images_and_reasoning_reach_the_upstream_field_by_field(
    fake, proxy
) -> None:
    fake.reply(
        FakeReply(
            reasoning="Need the weather.",
            tool_calls=[
                {"id": "call_up_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
            ],
        )
    )
    image = png_data_url(2, 2)
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="grok-4",
            messages=[
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Weather here?"},
                        {"type": "image_url", "image_url": {"url": image}},
                    ],
                },
            ],
            tools=[
                {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}
            ],
            tool_choice="required",
            max_tokens=50,
            reasoning_effort="low",
        )
    call = reply.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "call_up_1",
        "get_weather",
        {"city": "Paris"},
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.choices[0].message.model_extra["reasoning_content"] == "Need the weather."
    body = fake.last_request().body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {"type": "image_url", "image_url": {"url": image}},
            ],
        },
    ]
    assert body["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}
    ]
    assert body["tool_choice"] == "required"
    assert body["max_tokens"] == 50  # grok takes max_tokens
    assert body["reasoning_effort"] == "low"


def test_anthropic_sdk_through_an_openai_compatible_upstream(fake, proxy) -> None:
    fake.reply(
        FakeReply(
            text="Checking.",
            tool_calls=[{"id": "call_7", "name": "get_weather", "arguments": '{"city": "Oslo"}'}],
        )
    )
    with (
        anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0) as client,
        client.messages.stream(
            model="grok-4",
            max_tokens=100,
            system="Be brief.",
            tools=[{"name": "get_weather", "input_schema": WEATHER}],
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
        ) as stream,
    ):
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"city": "Oslo"} and message.content[1].id == "call_7"
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens > 0
    body = fake.last_request().body
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["max_tokens"] == 100
    assert body["tools"][0]["function"]["parameters"] == WEATHER


def test_gemini_sdk_through_an_openai_compatible_upstream(fake, proxy) -> None:
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=proxy.url))
    response = client.models.generate_content(model="grok-4", contents="Hello from Gemini")
    assert response.text == "Upstream says: Hello from Gemini"
    assert response.usage_metadata.prompt_token_count > 0
    chunks = list(
        client.models.generate_content_stream(model="grok-4", contents="Hello from Gemini")
    )
    assert "".join(c.text or "" for c in chunks) == response.text
    assert fake.last_request().body["messages"] == [
        {"role": "user", "content": "Hello from Gemini"}
    ]


def test_upstream_quirks_split_choices_index_zero_and_json_answers(fake, proxy) -> None:
    calls = [
        {"id": "a", "name": "f", "arguments": "{}"},
        {"id": "b", "name": "g", "arguments": '{"x": 1}'},
    ]
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        for quirk in (
            {"split_choices": True},
            {"tool_calls_at_index_zero": True},
            {"json_when_streaming": True},
        ):
            fake.reply(FakeReply(text="Both.", tool_calls=calls, **quirk))
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}]
            )
            message = reply.choices[0].message
            assert message.content == "Both.", quirk
            assert [(c.id, c.function.name) for c in message.tool_calls] == [
                ("a", "f"),
                ("b", "g"),
            ], quirk


def test_provider_choice_per_request_and_model_lists(fake, start_server) -> None:
    env = {"XAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_GROK_BASE_URL": fake.base_url}
    server = start_server(env=env)  # the default provider stays the mock
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
        prefixed = client.chat.completions.create(
            model="grok/grok-4", messages=[{"role": "user", "content": "hi"}]
        )
        queried = client.chat.completions.create(
            model="grok-4",
            messages=[{"role": "user", "content": "hi"}],
            extra_query={"provider": "grok"},
        )
        default = client.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "hi"}]
        )
        assert [m.id for m in client.models.list(extra_query={"provider": "grok"})] == [
            "fake-model-1",
            "fake-model-2",
        ]
        assert [m.id for m in client.models.list()] == ["mock", "mock-reasoning", "mock-embedding"]
    assert (
        prefixed.choices[0].message.content
        == queried.choices[0].message.content
        == "Upstream says: hi"
    )
    assert default.choices[0].message.content == "You said: hi"
    assert [r.body["model"] for r in fake.requests if r.path.endswith("/completions")] == [
        "grok-4",
        "grok-4",
    ]
    with anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as claude:
        assert [m.id for m in claude.models.list(extra_query={"provider": "grok"}).data] == [
            "fake-model-1",
            "fake-model-2",
        ]
    gemini_models = httpx.get(f"{server.url}/v1beta/models", params={"provider": "grok"}).json()
    assert [m["name"] for m in gemini_models["models"]] == [
        "models/fake-model-1",
        "models/fake-model-2",
    ]


def test_embeddings_through_the_upstream(fake, proxy) -> None:
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        result = client.embeddings.create(model="emb", input=["a", "b"])
    assert [len(d.embedding) for d in result.data] == [8, 8]
    assert fake.last_request().body["input"] == ["a", "b"]


def test_unknown_provider_and_missing_credentials_answer_in_the_callers_dialect(
    start_server,
) -> None:
    server = start_server(env={})
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError, match="XAI_API_KEY"):
            client.chat.completions.create(
                model="grok/grok-4", messages=[{"role": "user", "content": "x"}]
            )
        with pytest.raises(openai.BadRequestError, match="unknown provider 'nope'") as caught:
            client.chat.completions.create(
                model="x",
                messages=[{"role": "user", "content": "x"}],
                extra_query={"provider": "nope"},
            )
        assert caught.value.body["param"] == "provider"
    with (
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as claude,
        pytest.raises(anthropic.AuthenticationError, match="OPENROUTER_API_KEY"),
    ):
        claude.messages.create(
            model="openrouter/x", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    response = httpx.post(
        f"{server.url}/v1beta/models/grok/grok-4:generateContent",
        json={"contents": [{"parts": [{"text": "x"}]}]},
    )
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "XAI_API_KEY" in response.json()["error"]["message"]


def test_openrouter_sends_its_attribution_headers(fake, start_server) -> None:
    env = {"OPENROUTER_API_KEY": UPSTREAM_KEY, "CHATMOCK_OPENROUTER_BASE_URL": fake.base_url}
    server = start_server(provider_name="openrouter", env=env)
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(
            model="anthropic/claude-x", messages=[{"role": "user", "content": "x"}]
        )
    sent = fake.last_request()
    assert sent.body["model"] == "anthropic/claude-x"  # not a provider prefix: passed on whole
    assert sent.headers["x-title"] == "chatmock-lab"
    assert sent.headers["http-referer"].startswith("https://")


def test_any_openai_compatible_server_without_a_key(start_server) -> None:
    with FakeOpenAIUpstream() as local:
        server = start_server(
            provider_name="openai", env={"CHATMOCK_OPENAI_BASE_URL": local.base_url}
        )
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
            reply = client.chat.completions.create(
                model="llama3", messages=[{"role": "user", "content": "x"}], max_tokens=9
            )
        assert reply.choices[0].message.content == "Upstream says: x"
        assert "authorization" not in local.last_request().headers
        assert local.last_request().body["max_tokens"] == 9


# ----------------------------------------------------------------------------- faults


def test_429_with_retry_after_is_retried_and_the_client_never_sees_it(fake, proxy) -> None:
    fake.fail(429, retry_after=0.05, message="slow down")
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "again"}]
        )
    assert reply.choices[0].message.content == "Upstream says: again"
    assert len(fake.requests) == 2


def test_persistent_500_reaches_each_dialect_with_the_upstream_message(fake, proxy) -> None:
    fake.fail(500, times=3, message="the upstream is on fire")
    with (
        openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.InternalServerError, match="the upstream is on fire"),
    ):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(fake.requests) == 3  # one try and two retries
    fake.fail(500, times=3, message="the upstream is on fire")
    with (
        anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0) as claude,
        pytest.raises(anthropic.InternalServerError, match="the upstream is on fire"),
    ):
        claude.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    fake.fail(500, times=3, message="the upstream is on fire", retry_after=0.01)
    response = httpx.post(
        f"{proxy.url}/v1beta/models/m:generateContent",
        json={"contents": [{"parts": [{"text": "x"}]}]},
    )
    assert response.status_code == 500
    assert "the upstream is on fire" in response.json()["error"]["message"]
    assert state_of(proxy).gate.in_use == 0


def test_dropped_connection_mid_stream_is_an_error_event_and_a_clean_end(fake, proxy) -> None:
    fake.reply(FakeReply(text="a long answer that will be cut off halfway", chunk_chars=3))
    fake.drop_connection_after(4)
    body = httpx.post(
        f"{proxy.url}/v1/messages",
        json={
            "model": "m",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
        timeout=10,
    ).text
    events = sse_events(body)
    assert events[-1][0] == "error"
    assert "broke off the stream" in events[-1][1]["error"]["message"]
    assert [n for n, _ in events].count("content_block_delta") >= 1
    fake.reply(FakeReply(text="cut again", chunk_chars=2))
    fake.drop_connection_after(3)
    with (
        openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client,
        pytest.raises(openai.APIError, match="broke off"),
    ):
        for _ in client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass
    assert state_of(proxy).gate.in_use == 0


def test_malformed_stream_line_is_reported_not_swallowed(fake, proxy) -> None:
    fake.malformed_after(3)
    body = httpx.post(
        f"{proxy.url}/v1/chat/completions",
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        timeout=10,
    ).text
    payloads = sse_payloads(body)
    assert "malformed stream line" in payloads[-2]["error"]["message"]
    assert payloads[-1] == "[DONE]"


def test_an_upstream_slower_than_the_first_byte_timeout(fake, start_server) -> None:
    env = {"XAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_GROK_BASE_URL": fake.base_url}
    server = start_server(provider_name="grok", env=env, first_byte_timeout=0.2, retries=0)
    fake.delay_first_byte(2.0)
    started = time.monotonic()
    response = httpx.post(
        f"{server.url}/v1/messages",
        json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        headers={"anthropic-version": "2023-06-01"},
        timeout=10,
    )
    assert time.monotonic() - started < 2.0  # the proxy gave up, it did not wait for the fake
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"
    assert "--first-byte-timeout" in response.json()["error"]["message"]


def test_client_disconnect_closes_the_upstream_and_frees_the_permit(fake, proxy) -> None:
    fake.reply(FakeReply(text="x" * 400, chunk_chars=2, chunk_delay=0.05))
    with httpx.stream(
        "POST",
        f"{proxy.url}/v1/chat/completions",
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        timeout=10,
    ) as response:
        chunks = response.iter_raw()
        next(chunks)
        try:
            wait_until(lambda: state_of(proxy).gate.in_use == 1)
        except AssertionError:
            rest = b"".join(chunks)[-600:]
            raise AssertionError(f"the stream is not in flight: {rest!r}") from None
    left = time.monotonic()
    wait_until(lambda: fake.disconnects, timeout=1.0)
    assert fake.disconnects[0] - left < 1.0
    wait_until(lambda: state_of(proxy).gate.in_use == 0, timeout=1.0)
