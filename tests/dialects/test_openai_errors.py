"""Every error answers in OpenAI's shape with the right status, via the SDK's exceptions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from chatmock_lab.core import ChatRequest, Event, Finish, ProxyError, TextDelta
from chatmock_lab.providers.mock import MockProvider
from tests.support import openai_client_for, sse_payloads

USER = [{"role": "user", "content": "hi"}]


def assert_openai_error(response: httpx.Response, status: int, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert error["param"] == param
    return error


def test_malformed_json_is_a_400(http) -> None:
    response = http.post(
        "/v1/chat/completions",
        content=b'{"model": "m", "messages": [',
        headers={"content-type": "application/json"},
    )
    error = assert_openai_error(response, 400)
    assert error["type"] == "invalid_request_error"
    assert "not valid JSON" in error["message"]


def test_malformed_json_through_the_sdk(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post(
            "/chat/completions",
            body=None,
            cast_to=object,
            options={"headers": {"content-type": "application/json"}},
        )
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER}, "model"),
        ({"model": 5, "messages": USER}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].image_url",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
        ({"model": "m", "messages": [{"role": "assistant"}]}, "messages[0].content"),
        ({"model": "m", "messages": USER, "n": 2}, "n"),
        ({"model": "m", "messages": USER, "temperature": "hot"}, "temperature"),
        ({"model": "m", "messages": USER, "temperature": 3}, "temperature"),
        ({"model": "m", "messages": USER, "max_tokens": 0}, "max_tokens"),
        (
            {"model": "m", "messages": USER, "max_completion_tokens": "many"},
            "max_completion_tokens",
        ),
        ({"model": "m", "messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"model": "m", "messages": USER, "stream": "yes"}, "stream"),
        ({"model": "m", "messages": USER, "reasoning_effort": "extreme"}, "reasoning_effort"),
        (
            {"model": "m", "messages": USER, "response_format": {"type": "yaml"}},
            "response_format.type",
        ),
        ({"model": "m", "messages": USER, "tools": [{"type": "function"}]}, "tools[0].function"),
        (
            {
                "model": "m",
                "messages": USER,
                "tools": [{"type": "function", "function": {"name": "bad name!"}}],
            },
            "tools[0].function.name",
        ),
        (
            {
                "model": "m",
                "messages": USER,
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "string"}},
                    }
                ],
            },
            "tools[0].function.parameters",
        ),
        ({"model": "m", "messages": USER, "tool_choice": "required"}, "tool_choice"),
        (
            {
                "model": "m",
                "messages": USER,
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "tool_choice",
        ),
    ],
)
def test_missing_or_mistyped_fields_are_400_naming_the_field(client, body, param) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/chat/completions", body=body, cast_to=object)
    error = caught.value.body
    assert caught.value.status_code == 400
    assert error["param"] == param
    assert param.split(".")[0].split("[")[0] in error["message"]
    assert error["type"] == "invalid_request_error"


def test_n_other_than_one_through_typed_call(client) -> None:
    with pytest.raises(openai.BadRequestError, match="only n=1"):
        client.chat.completions.create(model="m", messages=USER, n=3)


def test_unknown_path_is_404(client, http) -> None:
    with pytest.raises(openai.NotFoundError):
        client.get("/no/such/thing", cast_to=object)
    error = assert_openai_error(http.post("/v1/nothing-here", json={}), 404)
    assert "/v1/nothing-here" in error["message"]


def test_wrong_method_is_405(client, http) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.get("/chat/completions", cast_to=object)
    assert caught.value.status_code == 405
    response = http.get("/v1/chat/completions")
    assert_openai_error(response, 405)
    assert "POST" in response.headers["allow"]


def test_body_over_the_limit_is_413(start_server) -> None:
    server = start_server(max_body_bytes=64 * 1024)
    big = "x" * (70 * 1024)
    with openai_client_for(server) as client, pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": big}])
    assert caught.value.status_code == 413
    assert "65536" in caught.value.message
    # Below the limit the same server answers.
    with openai_client_for(server) as client:
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x" * 1000}]
        )


def test_default_limit_accepts_bodies_over_quarts_16_mb(server) -> None:
    # Words, not one repeated letter: tiktoken is slow on long runs of a single character.
    # Two halves: one string over 10 MiB is refused on its own (--max-string-chars).
    half = "lorem ipsum dolor sit amet " * (17 * 1024 * 1024 // 54 + 1)
    system = [{"role": "system", "content": half}] * 2
    with httpx.Client(base_url=server.url, timeout=60) as raw:
        response = raw.post(
            "/v1/chat/completions", json={"model": "m", "messages": [*system, *USER]}
        )
    assert response.status_code == 200


class _FailingProvider(MockProvider):
    """Stands in for an upstream that fails after sending part of its answer."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        yield TextDelta("partial ")
        raise ProxyError("upstream connection lost", status=502)


class _BrokenProvider(MockProvider):
    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        yield TextDelta("partial ")
        raise RuntimeError("bug with a secret sk-live-123 inside")
        yield Finish()  # pragma: no cover


def test_mid_stream_failure_is_an_error_frame_then_the_end(start_server) -> None:
    server = start_server(provider=_FailingProvider())
    with httpx.Client(base_url=server.url, timeout=10) as raw:
        response = raw.post(
            "/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True}
        )
    payloads = sse_payloads(response.text)
    assert response.status_code == 200
    assert payloads[-2]["error"]["message"] == "upstream connection lost"
    assert payloads[-1] == "[DONE]"
    with (
        openai_client_for(server) as client,
        pytest.raises(openai.APIError, match="upstream connection lost"),
    ):
        for _ in client.chat.completions.create(model="m", messages=USER, stream=True):
            pass


def test_unexpected_exceptions_never_leak_details(start_server) -> None:
    server = start_server(provider=_BrokenProvider())
    with httpx.Client(base_url=server.url, timeout=10) as raw:
        streamed = raw.post(
            "/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True}
        )
        collected = raw.post("/v1/chat/completions", json={"model": "m", "messages": USER})
    assert "sk-live-123" not in streamed.text and "Traceback" not in streamed.text
    assert sse_payloads(streamed.text)[-2]["error"]["type"] == "server_error"
    error = assert_openai_error(collected, 500)
    assert "RuntimeError" in error["message"] and "sk-live-123" not in error["message"]


def test_scenario_error_reaches_the_sdk_as_its_exception(tmp_path, start_server) -> None:
    scenario = tmp_path / "s.json"
    rules = [
        ("limit", {"status": 429, "message": "slow down", "retry_after": 7}),
        ("deny", {"status": 403, "message": "not for you"}),
        ("crash", {"status": 503, "message": "overloaded"}),
        ("who", {"status": 401, "message": "bad key"}),
    ]
    scenario.write_text(
        json.dumps({"rules": [{"match": {"contains": w}, "reply": {"error": e}} for w, e in rules]})
    )
    server = start_server(scenario=scenario)
    cases = {
        "limit": openai.RateLimitError,
        "deny": openai.PermissionDeniedError,
        "crash": openai.InternalServerError,
        "who": openai.AuthenticationError,
    }
    with openai_client_for(server) as client:
        for word, exception in cases.items():
            for stream in (False, True):
                with pytest.raises(exception):
                    client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": word}], stream=stream
                    )
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "limit"}]
            )
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["message"] == "slow down"
    assert caught.value.body["type"] == "rate_limit_error"
