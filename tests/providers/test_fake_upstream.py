"""The fake OpenAI-compatible upstream, checked over real HTTP with the official SDK and
with raw httpx where the exact wire matters."""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply

API_KEY = "sk-fake-upstream-key"
WEATHER_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    for name in ("get_weather", "get_time")
]


@pytest.fixture(scope="module")
def running_fake() -> Iterator[FakeOpenAIUpstream]:
    with FakeOpenAIUpstream(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def fake(running_fake: FakeOpenAIUpstream) -> Iterator[FakeOpenAIUpstream]:
    running_fake.reset()
    yield running_fake
    running_fake.reset()


@pytest.fixture
def sdk(fake: FakeOpenAIUpstream) -> Iterator[openai.OpenAI]:
    # No retries unless a test asks: each test must see the first answer.
    with openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def http(fake: FakeOpenAIUpstream) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=fake.base_url, headers=headers, timeout=10) as client:
        yield client


def _chat_body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "fake-model-1", "messages": [{"role": "user", "content": text}], **extra}


def _payloads(body: str) -> list[Any]:
    """The `data:` payloads of an SSE body, `[DONE]` kept as the string."""
    payloads: list[Any] = []
    for line in body.splitlines():
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
            payloads.append(data if data == "[DONE]" else json.loads(data))
    return payloads


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def test_default_echo_reply_is_the_same_streamed_or_not(
    fake: FakeOpenAIUpstream, sdk: openai.OpenAI
) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "there"}],
        },
    ]
    whole = sdk.chat.completions.create(model="fake-model-2", messages=messages)
    stream = sdk.chat.completions.create(model="fake-model-2", messages=messages, stream=True)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert whole.choices[0].message.content == "Upstream says: hello there"
    assert streamed == whole.choices[0].message.content
    assert whole.model == "fake-model-2"
    assert whole.object == "chat.completion"
    assert whole.id.startswith("chatcmpl-")
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage is not None
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    assert whole.usage.completion_tokens_details is not None
    assert whole.usage.prompt_tokens_details is not None
    assert len(fake.requests) == 2


def test_scripted_reply_with_reasoning_and_two_tool_calls(
    fake: FakeOpenAIUpstream, sdk: openai.OpenAI, http: httpx.Client
) -> None:
    script = FakeReply(
        text="Checking both.",
        reasoning="The user wants weather and time.",
        tool_calls=[
            {"id": "call_w", "name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"id": "call_t", "name": "get_time", "arguments": '{"city": "Lima"}'},
        ],
        chunk_chars=3,
    )
    fake.reply(script)
    with sdk.chat.completions.stream(
        model="fake-model-1", messages=[{"role": "user", "content": "go"}], tools=WEATHER_TOOLS
    ) as stream:
        final = stream.get_final_completion()

    message = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.content == "Checking both."
    assert message.tool_calls is not None
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls]
    assert calls == [
        ("call_w", "get_weather", '{"city": "Paris"}'),
        ("call_t", "get_time", '{"city": "Lima"}'),
    ]

    fake.reply(script, text="")
    answer = http.post("/chat/completions", json=_chat_body()).json()
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_w",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "call_t",
                "type": "function",
                "function": {"name": "get_time", "arguments": '{"city": "Lima"}'},
            },
        ],
        "reasoning_content": "The user wants weather and time.",
    }
    assert answer["choices"][0]["logprobs"] is None


def test_stream_wire_order_and_include_usage(fake: FakeOpenAIUpstream, http: httpx.Client) -> None:
    fake.reply(text="abcdefg", reasoning="hmm", chunk_chars=4, usage={"prompt_tokens": 1})
    response = http.post(
        "/chat/completions",
        json=_chat_body(stream=True, stream_options={"include_usage": True}),
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = _payloads(response.text)
    assert payloads[-1] == "[DONE]"
    chunks = payloads[:-1]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "hmm"},
        {"content": "abcd"},
        {"content": "efg"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * 4 + ["stop"]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 1}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1

    plain = _payloads(http.post("/chat/completions", json=_chat_body(stream=True)).text)
    assert all("usage" not in c for c in plain[:-1])
    assert all(c["choices"] for c in plain[:-1])


def test_requests_are_recorded_with_headers_query_and_body(
    fake: FakeOpenAIUpstream, sdk: openai.OpenAI
) -> None:
    before = time.monotonic()
    sdk.chat.completions.create(
        model="fake-model-1",
        messages=[{"role": "user", "content": "record me"}],
        temperature=0.5,
        extra_headers={"X-Custom-Header": "yes"},
        extra_query={"api-version": "2024-01-01"},
    )
    recorded = fake.last_request()
    assert recorded.method == "POST"
    assert recorded.path == "/v1/chat/completions"
    assert recorded.headers["authorization"] == f"Bearer {API_KEY}"
    assert recorded.headers["x-custom-header"] == "yes"
    assert recorded.query == {"api-version": "2024-01-01"}
    assert recorded.body["messages"] == [{"role": "user", "content": "record me"}]
    assert recorded.body["temperature"] == 0.5
    assert before <= recorded.received_at <= time.monotonic()

    sdk.models.list()
    assert [r.path for r in fake.requests] == ["/v1/chat/completions", "/v1/models"]
    assert fake.last_request().body is None


def test_wrong_or_missing_key_is_rejected(fake: FakeOpenAIUpstream) -> None:
    wrong = openai.OpenAI(base_url=fake.base_url, api_key="sk-wrong", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"

    bare = httpx.post(f"{fake.base_url}/chat/completions", json=_chat_body(), timeout=10)
    assert bare.status_code == 401
    error = bare.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    assert fake.in_flight == 0
    assert len(fake.requests) == 2, "rejected requests are still recorded"


def test_fail_with_retry_after_then_success(fake: FakeOpenAIUpstream, http: httpx.Client) -> None:
    fake.fail(429, message="slow down", retry_after=0.05)
    limited = http.post("/chat/completions", json=_chat_body())
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "0.05"
    assert limited.json() == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert http.post("/chat/completions", json=_chat_body()).status_code == 200

    # The SDK honours retry-after and retries into the scripted reply.
    fake.reset()
    fake.fail(503, times=2, retry_after=0.01)
    fake.reply(text="finally")
    with openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=2) as patient:
        answer = patient.chat.completions.create(
            model="fake-model-1", messages=[{"role": "user", "content": "hi"}]
        )
    assert answer.choices[0].message.content == "finally"
    assert len(fake.requests) == 3

    fake.fail(500, body={"detail": "upstream exploded"})
    raw = http.post("/chat/completions", json=_chat_body())
    assert (raw.status_code, raw.json()) == (500, {"detail": "upstream exploded"})
    assert "retry-after" not in raw.headers


def test_drop_connection_mid_stream(fake: FakeOpenAIUpstream, http: httpx.Client) -> None:
    fake.drop_connection_after(2)
    lines: list[str] = []
    with (
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)),
        http.stream("POST", "/chat/completions", json=_chat_body(stream=True)) as response,
    ):
        assert response.status_code == 200
        lines.extend(line for line in response.iter_lines() if line)
    assert len(lines) == 2
    _wait_until(lambda: fake.in_flight == 0)
    assert fake.disconnects == [], "a drop by the server is not a client disconnect"

    # Only the next stream was dropped.
    after = http.post("/chat/completions", json=_chat_body(stream=True))
    assert _payloads(after.text)[-1] == "[DONE]"


def test_malformed_frame_then_the_stream_goes_on(
    fake: FakeOpenAIUpstream, http: httpx.Client
) -> None:
    fake.malformed_after(1)
    body = http.post("/chat/completions", json=_chat_body(stream=True)).text
    frames = body.split("\n\n")
    assert frames[1] == "data: {this is not json"
    assert frames[0].startswith("data: {")
    assert body.endswith("data: [DONE]\n\n")
    good = "\n\n".join(f for f in frames if f != "data: {this is not json")
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in _payloads(good)[:-1])
    assert text == "Upstream says: hello there"


def test_delay_first_byte(fake: FakeOpenAIUpstream, http: httpx.Client) -> None:
    fake.delay_first_byte(0.3)
    started = time.monotonic()
    with http.stream("POST", "/chat/completions", json=_chat_body(stream=True)) as response:
        headers_at = time.monotonic()
        response.read()
    assert headers_at - started >= 0.3
    # Only one request was delayed; no upper bound here, this is not a speed test.
    assert http.post("/chat/completions", json=_chat_body()).status_code == 200


def test_hold_lets_concurrent_requests_pile_up(
    fake: FakeOpenAIUpstream, http: httpx.Client
) -> None:
    fake.hold()
    statuses: list[int] = []

    def call() -> None:
        statuses.append(http.post("/chat/completions", json=_chat_body()).status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        _wait_until(lambda: fake.in_flight == 4)
        assert statuses == []
    finally:
        fake.release()
        for thread in threads:
            thread.join(10)
    assert statuses == [200] * 4
    assert fake.max_in_flight == 4
    assert fake.in_flight == 0


def test_client_disconnect_mid_stream_is_noticed(
    fake: FakeOpenAIUpstream, http: httpx.Client
) -> None:
    fake.reply(text="x" * 200, chunk_chars=1, chunk_delay=0.02)
    with http.stream("POST", "/chat/completions", json=_chat_body(stream=True)) as response:
        first = next(line for line in response.iter_lines() if line)
    assert first.startswith("data: ")
    _wait_until(lambda: len(fake.disconnects) == 1)
    _wait_until(lambda: fake.in_flight == 0)


def test_client_gone_while_held_is_noticed(fake: FakeOpenAIUpstream) -> None:
    fake.hold()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{fake.base_url}/chat/completions",
            json=_chat_body(),
            headers={"authorization": f"Bearer {API_KEY}"},
            timeout=httpx.Timeout(10, read=0.2),
        )
    _wait_until(lambda: len(fake.disconnects) == 1 and fake.in_flight == 0)


def test_models_and_model_lookup(fake: FakeOpenAIUpstream, sdk: openai.OpenAI) -> None:
    listed = [m.id for m in sdk.models.list()]
    assert listed == ["fake-model-1", "fake-model-2"]
    model = sdk.models.retrieve("fake-model-2")
    assert (model.id, model.object, model.owned_by) == ("fake-model-2", "model", "fake")
    assert isinstance(model.created, int)

    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve("no-such-model")
    assert caught.value.code == "model_not_found"
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"


def test_embeddings_float_and_base64(
    fake: FakeOpenAIUpstream, sdk: openai.OpenAI, http: httpx.Client
) -> None:
    request = {"model": "fake-embed", "input": ["alpha", "beta"]}
    floats = http.post("/embeddings", json={**request, "encoding_format": "float"}).json()
    packed = http.post("/embeddings", json={**request, "encoding_format": "base64"}).json()

    assert floats["object"] == "list"
    assert floats["model"] == "fake-embed"
    assert floats["usage"]["prompt_tokens"] == floats["usage"]["total_tokens"] > 0
    vectors = [item["embedding"] for item in floats["data"]]
    assert [item["index"] for item in floats["data"]] == [0, 1]
    assert all(len(v) == 8 for v in vectors)
    assert vectors[0] != vectors[1]
    assert sum(x * x for x in vectors[0]) == pytest.approx(1.0, abs=1e-5)
    decoded = [
        list(struct.unpack("<8f", base64.b64decode(item["embedding"]))) for item in packed["data"]
    ]
    assert decoded == vectors

    again = sdk.embeddings.create(model="fake-embed", input="alpha")
    assert again.data[0].embedding == vectors[0]


def test_split_choices_quirk_on_the_wire(fake: FakeOpenAIUpstream, http: httpx.Client) -> None:
    fake.reply(
        text="hi",
        tool_calls=[{"id": "call_1", "name": "f", "arguments": "{}"}],
        split_choices=True,
    )
    chunks = _payloads(http.post("/chat/completions", json=_chat_body(stream=True)).text)[:-1]
    choices = [c["choices"][0] for c in chunks]
    tool_indexes = {c["index"] for c in choices if "tool_calls" in c["delta"]}
    text_indexes = {c["index"] for c in choices if "content" in c["delta"]}
    finishes = [(c["index"], c["finish_reason"]) for c in choices if c["finish_reason"]]
    assert tool_indexes == {1}
    assert text_indexes == {0}
    assert finishes == [(0, "tool_calls"), (1, "tool_calls")]


def test_parallel_calls_all_at_tool_index_zero(
    fake: FakeOpenAIUpstream, http: httpx.Client
) -> None:
    fake.reply(
        tool_calls=[
            {"id": "call_a", "name": "f", "arguments": '{"n": 1}'},
            {"id": "call_b", "name": "g", "arguments": '{"n": 2}'},
        ],
        tool_calls_at_index_zero=True,
    )
    chunks = _payloads(http.post("/chat/completions", json=_chat_body(stream=True)).text)[:-1]
    fragments = [call for c in chunks for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert {f["index"] for f in fragments} == {0}
    assert [f["id"] for f in fragments if "id" in f] == ["call_a", "call_b"]
    assert [f["function"]["name"] for f in fragments if "id" in f] == ["f", "g"]


def test_json_answer_to_a_stream_request(fake: FakeOpenAIUpstream, http: httpx.Client) -> None:
    fake.reply(text="plain", json_when_streaming=True)
    response = http.post("/chat/completions", json=_chat_body(stream=True))
    assert response.headers["content-type"] == "application/json"
    assert response.json()["object"] == "chat.completion"
    assert response.json()["choices"][0]["message"]["content"] == "plain"


def test_malformed_json_body_is_a_400(fake: FakeOpenAIUpstream, http: httpx.Client) -> None:
    response = http.post(
        "/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake.last_request().body is None
    assert fake.in_flight == 0


def test_reset_forgets_everything(fake: FakeOpenAIUpstream, http: httpx.Client) -> None:
    fake.reply(text="queued")
    fake.fail(500)
    fake.delay_first_byte(5)
    fake.hold()
    http.get("/models")
    fake.reset()
    assert list(fake.requests) == []
    assert fake.max_in_flight == 0
    answer = http.post("/chat/completions", json=_chat_body()).json()
    assert answer["choices"][0]["message"]["content"] == "Upstream says: hello there"
