"""The proxy in front of a fake chat.qwen.ai web API, driven by the OpenAI and Anthropic SDKs."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import anthropic
import httpx
import openai
import pytest

from chatmock_lab.config import Settings
from chatmock_lab.core import (
    ChatRequest,
    Error,
    Finish,
    Message,
    ProxyError,
    ReasoningDelta,
    TextDelta,
    TextPart,
    Usage,
    acollect,
)
from chatmock_lab.providers import create_provider
from chatmock_lab.providers.qwen import CHAT_ID_EXTENSION, QwenProvider, _QwenStream
from chatmock_lab.redact import RedactingFilter, redactor
from chatmock_lab.testing.fake_qwen import FakeQwen, QwenReply
from tests.support import png_data_url

TOKEN = "qwen-web-session-token-0123456789abcdef"
COOKIE_VALUES = ("1-SsxModItnaValue0123", "cna-value-987654321", TOKEN)
COOKIES = (
    f"ssxmod_itna={COOKIE_VALUES[0]}; cna={COOKIE_VALUES[1]}; token={COOKIE_VALUES[2]}; "
    "acw_tc=0a1b2c3d4e5f6a7b"
)
CHAT_ID = "5f0b2f7e-3c1a-4d2b-9e8f-0a1b2c3d4e5f"
OTHER_CHAT_ID = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"
USER = [{"role": "user", "content": "Hello Qwen"}]
THINKING = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
def fake():
    with FakeQwen(token=TOKEN) as upstream:
        yield upstream


def qwen_env(fake: FakeQwen, **overrides: str | None) -> dict[str, str]:
    env: dict[str, str | None] = {
        "QWEN_AUTH_TOKEN": TOKEN,
        "QWEN_COOKIES": COOKIES,
        "QWEN_CHAT_ID": CHAT_ID,
        "CHATMOCK_QWEN_BASE_URL": fake.url,
        **overrides,
    }
    return {name: value for name, value in env.items() if value is not None}


@pytest.fixture
def start_qwen(fake, start_server):
    def start(*, retries: int = 0, **overrides: str | None):
        env = qwen_env(fake, **overrides)
        provider = create_provider("qwen", Settings(retries=retries), env)
        return start_server(provider=provider, env=env)

    return start


@pytest.fixture
def proxy(start_qwen):
    return start_qwen()


def openai_client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="client-key", max_retries=0)


def anthropic_client(server) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="client-key", max_retries=0)


def stream_parts(stream) -> tuple[str, str, int]:
    """Reasoning, text, and the number of chunks that carried text, of an OpenAI stream."""
    reasoning, text, chunks = [], [], 0
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning.append((delta.model_extra or {}).get("reasoning_content") or "")
        if delta.content:
            text.append(delta.content)
            chunks += 1
    return "".join(reasoning), "".join(text), chunks


# --------------------------------------------------------------------------- answers


def test_openai_text_and_stream_agree_and_reach_qwen_as_the_web_app_sends_them(fake, proxy) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *USER]
    with openai_client(proxy) as client:
        reply = client.chat.completions.create(
            model="qwen3-max", messages=messages, temperature=0.3, top_p=0.9, max_tokens=64
        )
        _, streamed, chunks = stream_parts(
            client.chat.completions.create(model="qwen3-max", messages=messages, stream=True)
        )
    assert reply.choices[0].message.content == "Qwen says: Hello Qwen"
    assert reply.choices[0].finish_reason == "stop"
    assert streamed == reply.choices[0].message.content
    assert chunks > 1  # passed on as it came, not in one piece
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0

    first, second = fake.chat_requests()
    assert (first.method, first.path, first.query) == (
        "POST",
        "/api/v2/chat/completions",
        {"chat_id": CHAT_ID},
    )
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["cookie"] == COOKIES  # a real Cookie header, verbatim
    assert first.headers["source"] == "web"
    assert first.headers["user-agent"].startswith("Mozilla/5.0")
    assert first.headers["origin"] == fake.url
    assert first.headers["referer"] == f"{fake.url}/c/{CHAT_ID}"
    assert uuid.UUID(first.headers["x-request-id"]) != uuid.UUID(second.headers["x-request-id"])
    assert first.body == {
        "model": "qwen3-max",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello Qwen"},
        ],
        "stream": True,
        "incremental_output": True,
        "chat_mode": "normal",
        "chat_id": CHAT_ID,
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 64,
    }


def test_thinking_arrives_as_openai_reasoning_content(fake, proxy) -> None:
    for _ in range(2):
        fake.reply(QwenReply(think="Six times seven is 42.", answer="42."))
    with openai_client(proxy) as client:
        reply = client.chat.completions.create(
            model="qwen3-max", messages=USER, reasoning_effort="high"
        )
        reasoning, text, _ = stream_parts(
            client.chat.completions.create(model="qwen3-max", messages=USER, stream=True)
        )
    message = reply.choices[0].message
    assert message.content == "42."
    assert message.model_extra["reasoning_content"] == "Six times seven is 42."
    assert (reasoning, text) == ("Six times seven is 42.", "42.")
    asked, plain = fake.chat_requests()
    # Only a request that asked for reasoning turns thinking on.
    assert asked.body["feature_config"] == {"thinking_enabled": True, "output_schema": "phase"}
    assert "feature_config" not in plain.body


def test_thinking_reaches_anthropic_clients_only_when_enabled(fake, proxy) -> None:
    for _ in range(3):
        fake.reply(QwenReply(think="Counting the letters.", answer="Three."))
    with anthropic_client(proxy) as client:
        thought = client.messages.create(
            model="qwen3-max", max_tokens=2048, thinking=THINKING, messages=USER
        )
        with client.messages.stream(
            model="qwen3-max", max_tokens=2048, thinking=THINKING, messages=USER
        ) as stream:
            streamed = stream.get_final_message()
        plain = client.messages.create(model="qwen3-max", max_tokens=100, messages=USER)
    for message in (thought, streamed):
        assert [block.type for block in message.content] == ["thinking", "text"]
        assert message.content[0].thinking == "Counting the letters."
        assert message.content[1].text == "Three."
        assert message.stop_reason == "end_turn"
        assert message.usage.output_tokens > 0
    assert [block.type for block in plain.content] == ["text"]
    assert plain.content[0].text == "Three."


def test_cumulative_chunks_are_cut_to_what_is_new(fake, proxy) -> None:
    cumulative = QwenReply(
        think="Let me think about it.", answer="The answer is 42.", chunk_chars=3, incremental=False
    )
    fake.reply(cumulative)
    fake.reply(cumulative)
    with openai_client(proxy) as client:
        reply = client.chat.completions.create(model="qwen3-max", messages=USER)
        reasoning, text, chunks = stream_parts(
            client.chat.completions.create(model="qwen3-max", messages=USER, stream=True)
        )
    assert reply.choices[0].message.content == "The answer is 42."
    assert reply.choices[0].message.model_extra["reasoning_content"] == "Let me think about it."
    assert (reasoning, text) == ("Let me think about it.", "The answer is 42.")
    assert chunks == 6  # one per upstream chunk, each only its new characters


def test_the_fake_streams_the_web_format_both_ways(fake) -> None:
    headers = {"authorization": f"Bearer {TOKEN}", "cookie": COOKIES}
    url = f"{fake.url}/api/v2/chat/completions?chat_id={CHAT_ID}"
    body = {"model": "qwen3-max", "messages": USER}
    deltas = {}
    for incremental in (True, False):
        fake.reply(QwenReply(think="Hmm.", answer="abcdefgh", incremental=incremental))
        response = httpx.post(url, headers=headers, json=body, timeout=10)
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = [
            json.loads(line.removeprefix("data: "))
            for line in response.text.splitlines()
            if line.startswith("data: ")
        ]
        assert "response.created" in frames[0]
        deltas[incremental] = [f["choices"][0]["delta"] for f in frames[1:]]
        assert [(d["phase"], d["status"]) for d in deltas[incremental]] == [
            ("think", "typing"),
            ("think", "finished"),
            ("answer", "typing"),
            ("answer", "typing"),
            ("answer", "finished"),
        ]
        assert frames[-1]["usage"]["output_tokens"] > 0
    assert [d["content"] for d in deltas[True][2:4]] == ["abcd", "efgh"]
    assert [d["content"] for d in deltas[False][2:4]] == ["abcd", "abcdefgh"]
    # Without cookies the bot protection answers; a wrong token is refused without an echo.
    assert "<html" in httpx.post(url, headers={"authorization": f"Bearer {TOKEN}"}, json=body).text
    refused = httpx.post(url, headers={**headers, "authorization": "Bearer nope-123456"}, json=body)
    assert refused.status_code == 401 and "nope-123456" not in refused.text
    assert "***" in repr(fake.last_request()) and TOKEN not in repr(fake.last_request())


def test_images_go_as_image_url_parts_and_tools_are_dropped(fake, proxy, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="chatmock_lab")
    image = png_data_url(2, 2)
    weather = {"type": "object", "properties": {"city": {"type": "string"}}}
    with openai_client(proxy) as client:
        reply = client.chat.completions.create(
            model="qwen3-vl-plus",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": image}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
            ],
            tools=[
                {"type": "function", "function": {"name": "get_weather", "parameters": weather}}
            ],
            tool_choice="auto",
        )
    assert reply.choices[0].message.content.startswith("Qwen says:")
    assert not reply.choices[0].message.tool_calls
    body = fake.last_request().body
    assert "tools" not in body and "tool_choice" not in body
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": image}},
            ],
        },
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "Result of tool call call_1:\nSunny"},
    ]
    assert "no function calling" in caplog.text


# --------------------------------------------------------------------------- chats and models


def test_a_request_may_name_its_own_conversation(fake) -> None:
    env = qwen_env(fake, QWEN_MODEL="qwen3-coder-plus")
    provider = create_provider("qwen", Settings(retries=0), env)

    def ask(**extensions: str) -> ChatRequest:
        return ChatRequest(
            model="", messages=[Message("user", [TextPart("Hi")])], extensions=extensions
        )

    async def run() -> tuple[str, ProxyError]:
        try:
            answer = await acollect(provider.stream(ask(**{CHAT_ID_EXTENSION: OTHER_CHAT_ID})))
            with pytest.raises(ProxyError) as refused:
                await acollect(provider.stream(ask(**{CHAT_ID_EXTENSION: "not-a-uuid"})))
            return answer.text(), refused.value
        finally:
            await provider.aclose()

    text, refused = asyncio.run(run())
    assert text == "Qwen says: Hi"
    (sent,) = fake.chat_requests()  # the invalid id never left the proxy
    assert sent.query == {"chat_id": OTHER_CHAT_ID}
    assert sent.body["chat_id"] == OTHER_CHAT_ID
    assert sent.headers["referer"].endswith(f"/c/{OTHER_CHAT_ID}")
    assert sent.body["model"] == "qwen3-coder-plus"  # QWEN_MODEL when none is asked for
    assert (refused.kind, refused.status, refused.param) == ("invalid_request", 400, "chat_id")
    assert "not-a-uuid" not in refused.message


@pytest.mark.parametrize(
    ("chat_id", "named"),
    [(None, "set QWEN_CHAT_ID to its UUID"), ("12345", "QWEN_CHAT_ID must be the UUID")],
)
def test_a_missing_or_malformed_chat_id_is_the_callers_error(
    fake, start_qwen, chat_id, named
) -> None:
    server = start_qwen(QWEN_CHAT_ID=chat_id)
    with (
        openai_client(server) as client,
        pytest.raises(openai.BadRequestError, match=named) as caught,
    ):
        client.chat.completions.create(model="qwen3-max", messages=USER)
    assert caught.value.body["param"] == "chat_id"
    assert fake.chat_requests() == []


def test_models_are_listed_without_calling_qwen_and_embeddings_are_refused(
    fake, start_qwen
) -> None:
    server = start_qwen(QWEN_MODEL="qwen-custom-preview")
    with openai_client(server) as client:
        ids = [model.id for model in client.models.list()]
        assert client.models.retrieve("qwen-plus").owned_by == "qwen"
        with pytest.raises(openai.BadRequestError, match="no embeddings"):
            client.embeddings.create(model="qwen3-max", input="hello")
    assert ids[0] == "qwen-custom-preview"
    assert {"qwen3-max", "qwen3-coder-plus", "qwen-plus"} <= set(ids)
    assert fake.requests == []


# --------------------------------------------------------------------------- errors


def test_missing_credentials_name_the_variables(fake, start_qwen) -> None:
    without_token = start_qwen(QWEN_AUTH_TOKEN=None)
    with (
        openai_client(without_token) as client,
        pytest.raises(openai.AuthenticationError, match="set QWEN_AUTH_TOKEN and QWEN_COOKIES"),
    ):
        client.chat.completions.create(model="qwen3-max", messages=USER)
    without_cookies = start_qwen(QWEN_COOKIES=None)
    with (
        anthropic_client(without_cookies) as client,
        pytest.raises(anthropic.AuthenticationError, match="no QWEN_COOKIES") as caught,
    ):
        client.messages.create(model="qwen3-max", max_tokens=50, messages=USER)
    assert "logged-in chat.qwen.ai browser session" in str(caught.value)
    assert caught.value.body["error"]["type"] == "authentication_error"
    assert fake.requests == []


def test_upstream_errors_reach_each_client_in_its_own_dialect(fake, proxy) -> None:
    fake.fail(429, times=2)
    with (
        openai_client(proxy) as client,
        pytest.raises(openai.RateLimitError, match="RateLimited"),
    ):
        client.chat.completions.create(model="qwen3-max", messages=USER)
    with (
        anthropic_client(proxy) as client,
        pytest.raises(anthropic.RateLimitError) as caught,
    ):
        client.messages.create(model="qwen3-max", max_tokens=50, messages=USER)
    assert caught.value.body["error"]["type"] == "rate_limit_error"

    # The daily limit comes as an application error inside a 200 answer.
    fake.reject("RateLimited", "You've reached the upper limit for today's usage.", times=2)
    with (
        openai_client(proxy) as client,
        pytest.raises(openai.RateLimitError, match="upper limit for today"),
    ):
        client.chat.completions.create(model="qwen3-max", messages=USER)
    with (
        anthropic_client(proxy) as client,
        pytest.raises(anthropic.RateLimitError, match="upper limit for today"),
    ):
        client.messages.create(model="qwen3-max", max_tokens=50, messages=USER)

    fake.challenge()
    with (
        openai_client(proxy) as client,
        pytest.raises(openai.AuthenticationError, match=r"bot protection.*QWEN_COOKIES"),
    ):
        client.chat.completions.create(model="qwen3-max", messages=USER)


def test_an_error_inside_the_stream_ends_it_in_the_callers_dialect(fake, proxy) -> None:
    fake.reply(QwenReply(answer="partial answer that breaks", chunk_chars=4))
    fake.fail_in_stream("The model is overloaded.", code="Internal_Error", after_chunks=2)
    seen = []
    with (
        openai_client(proxy) as client,
        pytest.raises(openai.APIError, match="model is overloaded"),
    ):
        for chunk in client.chat.completions.create(model="qwen3-max", messages=USER, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(chunk.choices[0].delta.content)
    assert "".join(seen) == "partial "

    fake.reply(QwenReply(answer="partial answer that breaks", chunk_chars=4))
    fake.fail_in_stream("The model is overloaded.", after_chunks=2)
    with (
        anthropic_client(proxy) as client,
        pytest.raises(anthropic.APIStatusError, match="model is overloaded"),
        client.messages.stream(model="qwen3-max", max_tokens=50, messages=USER) as stream,
    ):
        stream.get_final_message()

    # Before any output it is a plain HTTP error.
    fake.fail_in_stream("Invalid input.", code="Bad_Request")
    with (
        openai_client(proxy) as client,
        pytest.raises(openai.BadRequestError, match="Invalid input"),
    ):
        client.chat.completions.create(model="qwen3-max", messages=USER)


def test_a_server_error_is_retried_before_anything_was_sent(fake, start_qwen) -> None:
    server = start_qwen(retries=1)
    fake.fail(503, retry_after=0)
    with openai_client(server) as client:
        reply = client.chat.completions.create(model="qwen3-max", messages=USER)
    assert reply.choices[0].message.content == "Qwen says: Hello Qwen"
    assert len(fake.chat_requests()) == 2


def test_no_token_or_cookie_in_logs_reprs_or_error_messages(fake, start_qwen, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    # As `chatmock-lab serve` installs it: it masks the values the provider registered.
    caplog.handler.addFilter(RedactingFilter(redactor))
    wrong = "qwen-expired-session-token-fedcba9876"
    servers = {"right": start_qwen(), "wrong": start_qwen(QWEN_AUTH_TOKEN=wrong)}
    messages: list[str] = []
    with openai_client(servers["right"]) as client:
        client.chat.completions.create(model="qwen3-max", messages=USER)
        fake.fail(400, body={"error": {"code": "Bad_Request", "details": f"cookie was {COOKIES}"}})
        with pytest.raises(openai.BadRequestError) as echoed:
            client.chat.completions.create(model="qwen3-max", messages=USER)
        messages.append(str(echoed.value))
    with (
        openai_client(servers["wrong"]) as client,
        pytest.raises(openai.AuthenticationError, match="QWEN_AUTH_TOKEN") as expired,
    ):
        client.chat.completions.create(model="qwen3-max", messages=USER)
    messages.append(str(expired.value))
    provider = create_provider("qwen", Settings(), qwen_env(fake))
    assert isinstance(provider, QwenProvider)
    reprs = [repr(provider), repr(fake), *(repr(r) for r in fake.requests)]
    assert "Bearer ***" in caplog.text  # the verbose log did show the request headers
    for secret in (TOKEN, wrong, COOKIES, *COOKIE_VALUES):
        assert secret not in caplog.text
        for text in (*messages, *reprs):
            assert secret not in text


def test_the_stream_parser_reads_the_frame_shapes_real_clients_report() -> None:
    def delta(content: str, phase: str | None, status: str = "typing", rid: str = "a") -> dict:
        fields = {"role": "assistant", "content": content, "status": status}
        if phase is not None:
            fields["phase"] = phase
        return {"choices": [{"delta": fields}], "response_id": rid}

    def summary(*thoughts: str) -> dict:
        extra = {"summary_thought": {"content": list(thoughts)}}
        return {
            "choices": [{"delta": {"content": "", "phase": "thinking_summary", "extra": extra}}]
        }

    parser = _QwenStream()
    frames = [
        {"response.created": {"chat_id": CHAT_ID, "response_id": "a", "response_index": "0"}},
        {"response.created": {"chat_id": CHAT_ID, "response_id": "b", "response_index": "1"}},
        True,  # seen as `data: true` at the end of some streams
        summary("First thought"),
        summary("First thought", "Second"),
        delta("", "thinking_summary", "finished"),
        delta("Pa", "answer"),
        delta("Lo", "answer", rid="b"),  # a second generation, interleaved: not ours
        delta("ris", None),  # no phase: answer text
        delta("", "answer", "finished", rid="b"),
    ]
    events = [event for frame in frames for event in parser.feed(frame)]
    assert not parser.finished  # the other generation's finish is not ours
    last = delta("", "answer", "finished")
    last["choices"][0]["finish_reason"] = "null"  # DashScope's string null means nothing
    last["usage"] = {"prompt_tokens": 7, "completion_tokens": 3}
    events += parser.feed(last)
    assert parser.finished
    events += parser.close()
    assert events == [
        ReasoningDelta("First thought"),
        ReasoningDelta("\nSecond"),
        TextDelta("Pa"),
        TextDelta("ris"),
        Usage(input_tokens=7, output_tokens=3),
        Finish("stop"),
    ]

    # A finished think phase ends the reasoning, not the answer; a finish reason ends it.
    parser = _QwenStream()
    assert parser.feed(delta("", "think", "finished")) == [] and not parser.finished
    length = {"choices": [{"delta": {"content": "cut"}, "finish_reason": "length"}]}
    assert parser.feed(length) == [TextDelta("cut")]
    assert parser.close() == [Finish("length")]

    errors = [
        {"success": False, "data": {"code": "RateLimited", "details": "Daily limit."}},
        {"error": {"code": "Internal_Error", "details": "Something broke."}},
        {"ret": ["FAIL_SYS_USER_VALIDATE::slide to verify"]},
    ]
    reported = []
    for payload in errors:
        (event,) = _QwenStream().feed(payload)
        assert isinstance(event, Error)
        reported.append(event.error)
    assert [(error.status, error.kind) for error in reported] == [
        (429, "rate_limit"),
        (502, "api_error"),
        (401, "authentication"),
    ]
    assert "Daily limit." in reported[0].message


def test_the_chat_id_can_be_named_per_request_through_the_proxy(fake, proxy) -> None:
    with openai_client(proxy) as client:
        client.chat.completions.create(
            model="qwen3-max",
            messages=[{"role": "user", "content": "Hi"}],
            extra_query={"chat_id": OTHER_CHAT_ID},
        )
        client.chat.completions.create(
            model="qwen3-max",
            messages=[{"role": "user", "content": "Hi"}],
            extra_headers={"x-qwen-chat-id": OTHER_CHAT_ID},
        )
    assert [r.query["chat_id"] for r in fake.chat_requests()] == [OTHER_CHAT_ID, OTHER_CHAT_ID]


def test_the_registered_provider_uses_a_session_saved_by_login(
    fake, tmp_path, start_server
) -> None:
    from chatmock_lab import accounts

    env = {k: v for k, v in qwen_env(fake).items() if k not in ("QWEN_AUTH_TOKEN", "QWEN_COOKIES")}
    env["CHATMOCK_HOME"] = str(tmp_path)
    full = qwen_env(fake)
    accounts.login_qwen(full["QWEN_AUTH_TOKEN"], full["QWEN_COOKIES"], env)
    server = start_server(provider_name="qwen", env=env)
    with openai_client(server) as client:
        reply = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "Hi"}]
        )
    assert reply.choices[0].message.content == "Qwen says: Hi"
    assert fake.last_request().headers["cookie"] == full["QWEN_COOKIES"]


def test_chaos_at_qwens_edge(fake, start_server) -> None:
    """Chaos over Qwen's own stream format: an error before the first byte and a drop
    mid stream reach an Anthropic client as its own error and its `error` event."""
    proxy = start_server(provider_name="qwen", env=qwen_env(fake))
    with anthropic_client(proxy) as client:
        with pytest.raises(anthropic.RateLimitError, match="chaos"):
            client.messages.create(
                model="qwen3-max",
                max_tokens=50,
                messages=USER,
                extra_headers={"x-chatmock-chaos": "error status=429 retries=0"},
            )
        fake.reply(QwenReply(answer="one two three four five six", chunk_chars=3))
        text = ""
        with (
            pytest.raises(anthropic.APIStatusError, match="qwen broke off the stream"),
            client.messages.stream(
                model="qwen3-max",
                max_tokens=50,
                messages=USER,
                extra_headers={"x-chatmock-chaos": "drop after=4"},
            ) as stream,
        ):
            for piece in stream.text_stream:
                text += piece
        assert text and "one two three four five six".startswith(text)
    counts = proxy.app.extensions["chatmock_lab"].chaos.counts()
    assert counts == {"error 429": 1, "drop": 1}
