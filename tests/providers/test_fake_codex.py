"""The fake Codex backend over real HTTP with httpx: the exact event order of a scripted
stream, the backend's validation, failures, dropped connections and bearer tokens, and
the stream read back through the Responses translator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chatmock_lab.core import (
    ChatRequest,
    Error,
    Event,
    Message,
    ReasoningConfig,
    TextPart,
    ToolDefinition,
    collect,
)
from chatmock_lab.dialects.responses import (
    UpstreamResponsesStream,
    build_upstream_request,
    looks_like_encrypted_reasoning,
    upstream_error,
)
from chatmock_lab.sse import SSEDecoder
from chatmock_lab.testing.fake_codex import CodexReply, FakeCodexBackend

TOKEN = "chatgpt-access-token"
Frame = tuple[str, dict[str, Any]]


@pytest.fixture(scope="module")
def running_fake() -> Iterator[FakeCodexBackend]:
    with FakeCodexBackend() as fake:
        yield fake


@pytest.fixture
def fake(running_fake: FakeCodexBackend) -> Iterator[FakeCodexBackend]:
    running_fake.reset()
    yield running_fake
    running_fake.reset()


@pytest.fixture
def http(fake: FakeCodexBackend) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {TOKEN}", "chatgpt-account-id": "acct-1"}
    with httpx.Client(base_url=fake.base_url, headers=headers, timeout=10) as client:
        yield client


def _body(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-5",
        "instructions": "Be helpful.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        ],
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        **extra,
    }


def _frames(text: str) -> list[Frame]:
    decoder = SSEDecoder()
    frames: list[Frame] = []
    for line in text.split("\n"):
        frame = decoder.feed_line(line)
        if frame is not None:
            frames.append((frame.event, json.loads(frame.data)))
    return frames


def _post(http: httpx.Client, body: dict[str, Any]) -> list[Frame]:
    response = http.post("/responses", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return _frames(response.text)


def _translate(frames: list[Frame]) -> list[Event]:
    stream = UpstreamResponsesStream()
    events: list[Event] = []
    for kind, payload in frames:
        events += stream.feed(kind, payload)
    return events + stream.close()


def test_scripted_stream_follows_the_real_event_order(
    fake: FakeCodexBackend, http: httpx.Client
) -> None:
    fake.reply(
        text="Hi!",
        reasoning=["Plan.", "Act."],
        tool_calls=[
            {"call_id": "call_a", "name": "get_weather", "arguments": {"city": "Paris"}},
            {"call_id": "call_b", "name": "get_time", "arguments": "{}"},
        ],
        chunk_chars=3,
    )
    frames = _post(http, _body())
    summary_part = [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ]
    assert [kind for kind, _ in frames] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *summary_part,
        *summary_part,
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * 6,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert all(payload["type"] == kind for kind, payload in frames)
    assert [payload["sequence_number"] for _, payload in frames] == list(range(len(frames)))

    reasoning_done = next(p for k, p in frames if k == "response.output_item.done")["item"]
    assert reasoning_done["summary"] == [
        {"type": "summary_text", "text": "Plan."},
        {"type": "summary_text", "text": "Act."},
    ]
    assert looks_like_encrypted_reasoning(reasoning_done["encrypted_content"])
    completed = frames[-1][1]["response"]
    assert completed["status"] == "completed"
    assert [item["type"] for item in completed["output"]] == [
        "reasoning",
        "message",
        "function_call",
        "function_call",
    ]
    usage = completed["usage"]
    assert usage["output_tokens_details"]["reasoning_tokens"] == 4
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    response = collect(_translate(frames))
    assert response.reasoning() == "Plan.\n\nAct."
    assert response.text() == "Hi!"
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls()] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {}),
    ]
    assert response.finish_reason == "tool_calls"


def test_default_reply_echoes_the_last_user_text(http: httpx.Client) -> None:
    response = collect(_translate(_post(http, _body("ping"))))
    assert response.text() == "Codex says: ping"
    assert response.finish_reason == "stop"
    assert response.usage is not None and response.usage.input_tokens == 4


def test_encrypted_content_only_when_included(fake: FakeCodexBackend, http: httpx.Client) -> None:
    fake.reply(text="x", reasoning="why")
    body = _body()
    del body["include"]
    done = [p for k, p in _post(http, body) if k == "response.output_item.done"]
    assert "encrypted_content" not in done[0]["item"]


def test_incomplete_reply(fake: FakeCodexBackend, http: httpx.Client) -> None:
    fake.reply(text="Once upon", incomplete_reason="max_output_tokens")
    frames = _post(http, _body())
    assert frames[-1][0] == "response.incomplete"
    assert frames[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert collect(_translate(frames)).finish_reason == "length"


def test_translated_request_is_accepted(fake: FakeCodexBackend, http: httpx.Client) -> None:
    request = ChatRequest(
        model="gpt-5-codex",
        messages=[Message("user", [TextPart("hi")])],
        tools=[ToolDefinition(name="f")],
        reasoning=ReasoningConfig(effort="low"),
        max_tokens=100,
        temperature=0.5,
    )
    body, notes = build_upstream_request(request, prompt_cache_key="k")
    assert len(notes) == 2
    assert collect(_translate(_post(http, body))).text() == "Codex says: hi"
    recorded = fake.last_request()
    assert (recorded.method, recorded.path) == ("POST", "/backend-api/codex/responses")
    assert recorded.headers["authorization"] == f"Bearer {TOKEN}"
    assert recorded.headers["chatgpt-account-id"] == "acct-1"
    assert recorded.body == body


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"instructions": None}, "Instructions are required"),
        ({"store": True}, "Store must be set to false"),
        ({"store": None}, "Store must be set to false"),
        ({"stream": False}, "Stream must be set to true"),
        ({"max_output_tokens": 100}, "Unsupported parameter: max_output_tokens"),
        ({"temperature": 0.5}, "Unsupported parameter: temperature"),
        (
            {"model": "gpt-4o"},
            "The 'gpt-4o' model is not supported when using Codex with a ChatGPT account.",
        ),
    ],
)
def test_validation_like_the_real_backend(
    http: httpx.Client, change: dict[str, Any], detail: str
) -> None:
    body = _body()
    for key, value in change.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    response = http.post("/responses", json=body)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    error = upstream_error(response.json(), 400)
    assert (error.status, error.kind) == (400, "invalid_request")
    assert detail in error.message


def test_http_failures_then_recovery(fake: FakeCodexBackend, http: httpx.Client) -> None:
    fake.fail(503, times=2, message="overloaded")
    for _ in range(2):
        response = http.post("/responses", json=_body())
        assert response.status_code == 503
        assert response.json() == {"detail": "overloaded"}
    assert http.post("/responses", json=_body()).status_code == 200


def test_quota_failure(fake: FakeCodexBackend, http: httpx.Client) -> None:
    fake.fail(429, retry_after=30)
    response = http.post("/responses", json=_body())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "30"
    payload = response.json()
    assert payload["error"]["type"] == "usage_limit_reached"
    error = upstream_error(payload, 429, now=time.time())
    assert error.code == "usage_limit_reached"
    assert error.retry_after is not None and 25 <= error.retry_after <= 31


def test_custom_failure_body(fake: FakeCodexBackend, http: httpx.Client) -> None:
    fake.fail(500, body="<html>bad gateway</html>")
    response = http.post("/responses", json=_body())
    assert (response.status_code, response.text) == (500, "<html>bad gateway</html>")


def test_failure_in_stream(fake: FakeCodexBackend, http: httpx.Client) -> None:
    fake.fail_in_stream("rate_limit_exceeded", "Rate limit reached. Please try again in 7s.")
    frames = _post(http, _body())
    assert [kind for kind, _ in frames] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    [event] = _translate(frames)
    assert isinstance(event, Error)
    assert (event.error.status, event.error.retry_after) == (429, 7.0)


def test_dropped_connection(fake: FakeCodexBackend, http: httpx.Client) -> None:
    fake.drop_connection_after(3)
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", "/responses", json=_body()) as response,
    ):
        lines.extend(response.iter_lines())
    frames = _frames("\n".join(lines))
    assert [kind for kind, _ in frames] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ]
    [event] = _translate(frames)
    assert isinstance(event, Error)
    assert "ended before completing" in event.error.message
    # The fault was used up: the next request is answered in full.
    assert _post(http, _body())[-1][0] == "response.completed"


def test_bearer_tokens(fake: FakeCodexBackend, http: httpx.Client) -> None:
    fake.require_bearer("fresh-token")
    stale = http.post("/responses", json=_body())
    assert stale.status_code == 401
    assert stale.json()["error"]["code"] == "token_expired"
    error = upstream_error(stale.json(), 401)
    assert (error.kind, error.code) == ("authentication", "token_expired")

    missing = http.post("/responses", json=_body(), headers={"authorization": ""})
    assert (missing.status_code, missing.json()) == (401, {"detail": "Unauthorized"})

    fresh = http.post("/responses", json=_body(), headers={"authorization": "Bearer fresh-token"})
    assert fresh.status_code == 200
    assert fake.accepted_tokens == frozenset({"fresh-token"})
    fake.require_bearer()
    assert http.post("/responses", json=_body()).status_code == 200


def test_models_and_unknown_paths(fake: FakeCodexBackend, http: httpx.Client) -> None:
    response = http.get("/models", params={"client_version": "1.0.0"})
    assert response.status_code == 200
    models = response.json()["models"]
    assert [m["slug"] for m in models] == fake.models
    assert {"effort": "low", "description": "Low reasoning effort"} in models[0][
        "supported_reasoning_levels"
    ]
    recorded = fake.last_request()
    assert (recorded.method, recorded.path, recorded.query) == (
        "GET",
        "/backend-api/codex/models",
        {"client_version": "1.0.0"},
    )
    missing = http.get("/nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})


def test_knobs_reject_bad_values(fake: FakeCodexBackend) -> None:
    with pytest.raises(ValueError):
        CodexReply(chunk_chars=0)
    with pytest.raises(ValueError):
        fake.fail(200)
    with pytest.raises(ValueError):
        fake.drop_connection_after(-1)
    with pytest.raises(ValueError):
        fake.fail_in_stream("server_error", "boom", times=0)
