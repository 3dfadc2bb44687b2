"""Limits on what one request may hold or cost, each configurable, each a clear error in
the caller's dialect naming the field (issues 15 and 18)."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors

from chatmock_lab.config import Settings
from chatmock_lab.core.errors import MAX_MESSAGE_CHARS
from chatmock_lab.dialects.json_body import BodyLimits, decode_json_body

USER = {"role": "user", "content": "hi"}


def openai_error(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text[:300]
    return answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "param", "flag"),
    [
        ({"model": "mock", "messages": [USER] * 10_001}, "messages", "--max-messages"),
        (
            {
                "model": "mock",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}] * 10_001}],
            },
            "messages[0].content",
            "--max-parts",
        ),
        (
            {
                "model": "mock",
                "messages": [USER],
                "tools": [{"type": "function", "function": {"name": "f"}}] * 1_001,
            },
            "tools",
            "--max-tools",
        ),
        (
            {"model": "mock", "messages": [USER], "stop": ["x"] * 100_001},
            "stop",
            "--max-list-items",
        ),
        (
            {"model": "mock", "messages": [{"role": "user", "content": "x" * 10_485_761}]},
            "messages[0].content",
            "--max-string-chars",
        ),
    ],
    ids=["messages", "parts", "tools", "any list", "string"],
)
def test_each_default_limit_is_a_400_naming_the_field_and_the_flag(
    http: httpx.Client, body: dict[str, Any], param: str, flag: str
) -> None:
    error = openai_error(http.post("/v1/chat/completions", json=body))
    assert error["param"] == param
    assert flag in error["message"]
    assert http.get("/health").status_code == 200


def test_limits_are_configurable_and_spoken_in_each_dialect(start_server) -> None:
    server = start_server(max_messages=3, max_tools=1, max_parts=2, max_string_chars=50)
    url = server.url
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="mock", messages=[USER] * 4)  # type: ignore[list-item]
        assert "at most 3" in caught.value.message and "--max-messages" in caught.value.message
        with pytest.raises(openai.BadRequestError) as caught:
            client.embeddings.create(model="mock", input=["a", "b", "c", "d"])
        assert "--max-messages" in caught.value.message
    with anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as claude:
        with pytest.raises(anthropic.BadRequestError) as claude_caught:
            claude.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=5,
                messages=[{"role": "user", "content": [{"type": "text", "text": "a"}] * 3}],
            )
        assert "messages[0].content: 3 entries; at most 2" in claude_caught.value.message
    gemini = genai.Client(api_key="x", http_options={"base_url": url, "timeout": 10_000})
    with pytest.raises(genai_errors.ClientError) as gemini_caught:
        gemini.models.generate_content(model="mock", contents="x" * 51)
    assert gemini_caught.value.code == 400
    assert "--max-string-chars" in str(gemini_caught.value.message)
    ollama = httpx.post(
        f"{url}/api/chat",
        json={"model": "mock", "messages": [USER] * 4, "stream": False},
    )
    assert ollama.status_code == 400 and "--max-messages" in ollama.json()["error"]


def test_limit_settings_come_from_the_environment_and_are_checked() -> None:
    settings = Settings.from_env({"CHATMOCK_MAX_TOOLS": "7", "CHATMOCK_MAX_STRING_CHARS": "99"})
    assert (settings.max_tools, settings.max_string_chars) == (7, 99)
    with pytest.raises(ValueError, match="max_parts"):
        Settings(max_parts=0).validated()


def test_the_list_kinds_are_told_apart_by_field_name() -> None:
    tight = BodyLimits(max_messages=1, max_parts=1, max_tools=1, max_list_items=1)
    # A list named like a kind, but nested where that kind never is, counts as "any list".
    decode_json_body(b'{"a": {"messages": [1]}}', limits=tight)
    with pytest.raises(Exception, match="--max-list-items"):
        decode_json_body(b'{"a": {"messages": [1, 2]}}', limits=tight)
    with pytest.raises(Exception, match="--max-messages"):
        decode_json_body(b'{"contents": [{}, {}]}', limits=tight)
    with pytest.raises(Exception, match="--max-parts"):
        decode_json_body(b'{"contents": [{"parts": [{}, {}]}]}', limits=tight)
    with pytest.raises(Exception, match="--max-tools"):
        decode_json_body(b'{"tools": [{"functionDeclarations": [{}, {}]}]}', limits=tight)


def test_embeddings_take_at_most_openais_2048_inputs(http: httpx.Client) -> None:
    error = openai_error(http.post("/v1/embeddings", json={"model": "mock", "input": ["a"] * 2049}))
    assert error["param"] == "input" and "at most 2048" in error["message"]
    assert (
        http.post("/v1/embeddings", json={"model": "mock", "input": ["a"] * 2048}).status_code
        == 200
    )
    ollama = http.post("/api/embed", json={"model": "mock", "input": ["a"] * 2049})
    assert ollama.status_code == 400 and "at most 2048" in ollama.json()["error"]


def test_a_huge_bad_value_is_not_echoed_in_full(http: httpx.Client) -> None:
    role = "x" * 1_000_000
    answer = http.post(
        "/v1/chat/completions",
        json={"model": "mock", "messages": [{"role": role, "content": "hi"}]},
    )
    error = openai_error(answer)
    assert len(answer.content) < 2 * MAX_MESSAGE_CHARS
    assert error["message"].startswith("messages[0].role")
    assert "characters left out" in error["message"]
    long_key = http.post(
        "/v1/chat/completions",
        content=json.dumps({"model": "mock", "messages": [USER], "k" * 500_000: "\udfff"}).encode(),
        headers={"content-type": "application/json"},
    )
    assert long_key.status_code == 400 and len(long_key.content) < 2 * MAX_MESSAGE_CHARS


# A Quart route, and a chat route (served by hot_routes.py, which reads bodies itself).
@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/chat/completions"])
def test_a_body_over_the_limit_is_read_before_the_413(start_server, path: str) -> None:
    server = start_server(max_body_bytes=1_000_000)
    body = b'{"model": "mock", "input": "' + b"x" * 30_000_000 + b'"}'

    async def send(chunked: bool) -> httpx.Response:
        content: Any = body
        if chunked:

            async def pieces() -> Any:
                for start in range(0, len(body), 1 << 20):
                    yield body[start : start + (1 << 20)]

            content = pieces()
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                f"{server.url}{path}",
                content=content,
                headers={"content-type": "application/json"},
            )

    for chunked in (False, True):
        answer = asyncio.run(send(chunked))
        assert answer.status_code == 413
        assert "--max-body-bytes" in answer.json()["error"]["message"]


def test_a_body_sent_too_slowly_times_out_with_a_408(start_server) -> None:
    server = start_server(body_timeout=0.3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            assert chunk, f"closed without a whole answer: {received!r}"
            received += chunk
    assert received.startswith(b"HTTP/1.1 408")
    body = json.loads(received.split(b"\r\n\r\n", 1)[1])
    assert body["type"] == "error" and "request body" in body["error"]["message"]


def test_legacy_completions_take_at_most_128_prompts(http: httpx.Client) -> None:
    error = openai_error(
        http.post("/v1/completions", json={"model": "mock", "prompt": ["a"] * 129})
    )
    assert error["param"] == "prompt" and "at most 128" in error["message"]
    many = http.post("/v1/completions", json={"model": "mock", "prompt": ["a"] * 128})
    assert many.status_code == 200 and len(many.json()["choices"]) == 128
