"""Every Anthropic error answers in Anthropic's shape and status, via the SDK's exceptions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anthropic
import httpx
import pytest

from chatmock_lab.core import ChatRequest, Event, ProxyError, TextDelta, Usage
from chatmock_lab.providers.mock import MockProvider
from tests.support import sse_events

USER = [{"role": "user", "content": "hi"}]
HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
TOOL = {"name": "f", "input_schema": {"type": "object", "properties": {}}}


@pytest.fixture
def claude(server):
    with anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client:
        yield client


def assert_anthropic_error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == kind
    return body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "c", "messages": USER}, "max_tokens"),
        ({"model": "c", "max_tokens": 10}, "messages"),
        ({"max_tokens": 10, "messages": USER}, "model"),
        ({"model": "c", "max_tokens": "ten", "messages": USER}, "max_tokens"),
        ({"model": "c", "max_tokens": 0, "messages": USER}, "max_tokens"),
        (
            {
                "model": "c",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "video"}]}],
            },
            "messages[0].content[0].type",
        ),
        (
            {
                "model": "c",
                "max_tokens": 10,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_use", "id": "x", "name": "f", "input": {}}],
                    }
                ],
            },
            "messages[0].content[0].type",
        ),
        (
            {
                "model": "c",
                "max_tokens": 10,
                "messages": [
                    {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "x"}]}
                ],
            },
            "messages[0].content[0].type",
        ),
        (
            {"model": "c", "max_tokens": 10, "messages": [{"role": "bot", "content": "x"}]},
            "messages[0].role",
        ),
        ({"model": "c", "max_tokens": 10, "messages": [{"role": "user"}]}, "messages[0].content"),
        (
            {
                "model": "c",
                "max_tokens": 10,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/tiff",
                                    "data": "AA",
                                },
                            }
                        ],
                    }
                ],
            },
            "messages[0].content[0].source.media_type",
        ),
        (
            {"model": "c", "max_tokens": 10, "messages": USER, "tools": [{"name": "f"}]},
            "tools[0].input_schema",
        ),
        (
            {
                "model": "c",
                "max_tokens": 10,
                "messages": USER,
                "tools": [{"name": "f", "input_schema": {"type": "string"}}],
            },
            "tools[0].input_schema",
        ),
        (
            {
                "model": "c",
                "max_tokens": 10,
                "messages": USER,
                "tools": [{"name": "f", "input_schema": []}],
            },
            "tools[0].input_schema",
        ),
        (
            {
                "model": "c",
                "max_tokens": 10,
                "messages": USER,
                "tools": [{"name": "bad name", "input_schema": {"type": "object"}}],
            },
            "tools[0].name",
        ),
        (
            {
                "model": "c",
                "max_tokens": 10,
                "messages": USER,
                "tools": [TOOL],
                "tool_choice": {"type": "tool", "name": "g"},
            },
            "tool_choice.name",
        ),
        (
            {"model": "c", "max_tokens": 10, "messages": USER, "tool_choice": {"type": "any"}},
            "tool_choice",
        ),
        (
            {"model": "c", "max_tokens": 10, "messages": USER, "tool_choice": {"type": "maybe"}},
            "tool_choice.type",
        ),
        (
            {
                "model": "c",
                "max_tokens": 2000,
                "messages": USER,
                "thinking": {"type": "enabled", "budget_tokens": 500},
            },
            "thinking.budget_tokens",
        ),
        (
            {
                "model": "c",
                "max_tokens": 2000,
                "messages": USER,
                "thinking": {"type": "enabled", "budget_tokens": 3000},
            },
            "thinking.budget_tokens",
        ),
        (
            {"model": "c", "max_tokens": 2000, "messages": USER, "thinking": {"type": "enabled"}},
            "thinking.budget_tokens",
        ),
        ({"model": "c", "max_tokens": 10, "messages": USER, "temperature": 1.5}, "temperature"),
        (
            {"model": "c", "max_tokens": 10, "messages": USER, "stop_sequences": [1]},
            "stop_sequences[0]",
        ),
        (
            {"model": "c", "max_tokens": 10, "messages": USER, "system": [{"type": "image"}]},
            "system[0].type",
        ),
    ],
)
def test_invalid_requests_are_400_naming_the_field(claude, body, field) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.post("/v1/messages", body=body, cast_to=object)
    assert caught.value.status_code == 400
    assert caught.value.body["type"] == "error"
    error = caught.value.body["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"{field}:")


def test_count_tokens_validates_too(claude) -> None:
    with pytest.raises(anthropic.BadRequestError, match="messages"):
        claude.messages.count_tokens(model="c", messages="hi")  # type: ignore[arg-type]
    # max_tokens is not part of a count_tokens request.
    assert claude.messages.count_tokens(model="c", messages=USER).input_tokens > 0


def test_malformed_json(server) -> None:
    response = httpx.post(f"{server.url}/v1/messages", content=b"{nope", headers=HEADERS)
    assert "not valid JSON" in assert_anthropic_error(response, 400, "invalid_request_error")


def test_unknown_path_and_wrong_method_in_anthropics_shape(server, claude) -> None:
    assert_anthropic_error(
        httpx.post(f"{server.url}/v1/messages/nope", json={}, headers=HEADERS),
        404,
        "not_found_error",
    )
    assert_anthropic_error(
        httpx.get(f"{server.url}/v1/messages", headers=HEADERS), 405, "invalid_request_error"
    )
    with pytest.raises(anthropic.NotFoundError):
        claude.get("/v1/messages/batches/x/y", cast_to=object)


def test_body_over_the_limit(start_server) -> None:
    server = start_server(max_body_bytes=32 * 1024)
    with (
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.RequestTooLargeError) as caught,
    ):
        client.messages.create(
            model="c", max_tokens=10, messages=[{"role": "user", "content": "x" * 40_000}]
        )
    assert caught.value.status_code == 413
    assert caught.value.body["error"]["type"] == "request_too_large"


def test_scenario_errors_map_to_the_sdks_exceptions(tmp_path, start_server) -> None:
    rules = {
        "limit": {"status": 429, "message": "slow down", "retry_after": 3},
        "busy": {"status": 503, "message": "overloaded"},
        "key": {"status": 401, "message": "bad key"},
        "deny": {"status": 403, "message": "no"},
        "gone": {"status": 404, "message": "no such model"},
        "crash": {"status": 500, "message": "boom"},
    }
    scenario = tmp_path / "s.json"
    scenario.write_text(
        json.dumps(
            {"rules": [{"match": {"contains": k}, "reply": {"error": e}} for k, e in rules.items()]}
        )
    )
    server = start_server(scenario=scenario)
    expected = {
        "limit": (anthropic.RateLimitError, 429, "rate_limit_error"),
        "busy": (anthropic.OverloadedError, 529, "overloaded_error"),
        "key": (anthropic.AuthenticationError, 401, "authentication_error"),
        "deny": (anthropic.PermissionDeniedError, 403, "permission_error"),
        "gone": (anthropic.NotFoundError, 404, "not_found_error"),
        "crash": (anthropic.InternalServerError, 500, "api_error"),
    }
    with anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client:
        for word, (exception, status, kind) in expected.items():
            for stream in (False, True):
                with pytest.raises(exception) as caught:
                    client.messages.create(
                        model="c",
                        max_tokens=10,
                        messages=[{"role": "user", "content": word}],
                        stream=stream,
                    )
                assert caught.value.status_code == status
                assert caught.value.body["error"]["type"] == kind
                assert caught.value.body["error"]["message"] == rules[word]["message"]
            if word == "limit":
                assert caught.value.response.headers["retry-after"] == "3"


class _FailingProvider(MockProvider):
    """Stands in for an upstream that breaks after part of its answer."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        yield Usage(input_tokens=3)
        yield TextDelta("partial ")
        raise ProxyError("upstream went away", kind="overloaded")


def test_mid_stream_failure_is_an_error_event_then_a_clean_end(start_server) -> None:
    server = start_server(provider=_FailingProvider())
    response = httpx.post(
        f"{server.url}/v1/messages",
        json={"model": "c", "max_tokens": 10, "messages": USER, "stream": True},
        headers=HEADERS,
    )
    events = sse_events(response.text)
    names = [n for n, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "error",
    ]
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "upstream went away"},
    }
    with (
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.APIStatusError, match="upstream went away"),
        client.messages.stream(model="c", max_tokens=10, messages=USER) as stream,
    ):
        for _ in stream:
            pass
