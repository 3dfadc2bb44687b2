"""One decoding path refuses what would otherwise fail deep inside with a 500: lone
surrogates, nesting too deep, NaN/Infinity, numbers out of range; each is a 400 in the
caller's dialect naming the field (issue #15's first defect class)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from chatmock_lab.core import InvalidRequest
from chatmock_lab.dialects.json_body import decode_json_body

CHAT = '{"model": "m", "messages": [{"role": "user", "content": %s}]}'
ROUTES: dict[str, tuple[str, str]] = {
    # dialect: (path, body template with %s where the bad value goes)
    "openai": ("/v1/chat/completions", CHAT),
    "anthropic": ("/v1/messages", '{"model": "m", "max_tokens": %s, "messages": []}'),
    "gemini": ("/v1beta/models/m:generateContent", '{"contents": [{"parts": [{"text": %s}]}]}'),
    "embeddings": ("/v1/embeddings", '{"model": "m", "input": %s}'),
    "count_tokens": ("/v1/messages/count_tokens", '{"model": "m", "messages": %s}'),
    "ollama": ("/api/chat", CHAT),
    "responses": ("/v1/responses", '{"model": "m", "input": %s}'),
}
BAD_VALUES = {
    "lone surrogate": '"hello \\udfff"',
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "overflowing float": "1e400",
    "huge integer": "1" + "0" * 30,
    "deep nesting": "[" * 10_000 + "]" * 10_000,
    "nesting beyond the limit": "[" * 150 + "]" * 150,
}


def error_message(dialect: str, body: Any) -> str:
    if dialect == "ollama":
        return body["error"]
    return body["error"]["message"]


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("dialect", ROUTES)
def test_bad_json_values_are_a_400_in_the_callers_dialect(
    http: httpx.Client, dialect: str, bad: str
) -> None:
    path, template = ROUTES[dialect]
    answer = http.post(
        path,
        content=(template % BAD_VALUES[bad]).encode(),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400, answer.text[:300]
    body = answer.json()
    message = error_message(
        dialect.replace("embeddings", "openai").replace("count_tokens", "anthropic"), body
    )
    if dialect == "gemini":
        assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert "Traceback" not in answer.text and len(answer.text) < 2000
    if bad == "lone surrogate":
        assert "lone surrogate" in message and "\\udfff" in message
    elif bad in ("deep nesting", "nesting beyond the limit"):
        assert "deeper than 100 levels" in message
    # The server is healthy afterwards.
    assert http.get("/health").status_code == 200


def test_the_field_at_fault_is_named() -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode_json_body(b'{"messages": [{"content": [{"text": "a\\ud800b"}]}]}')
    assert caught.value.param == "messages[0].content[0].text"
    with pytest.raises(InvalidRequest) as caught:
        decode_json_body(b'{"max_tokens": 100000000000000000000000000}')
    assert caught.value.param == "max_tokens"
    assert "out of range" in caught.value.message


def test_what_is_valid_passes_untouched() -> None:
    # A surrogate pair is one valid character; big but 64-bit integers are numbers.
    body = decode_json_body(b'{"t": "\\ud83d\\ude00", "n": 9223372036854775807, "x": 1.5e300}')
    assert body == {"t": "\U0001f600", "n": 2**63 - 1, "x": 1.5e300}
    nested: Any = "leaf"
    for _ in range(99):
        nested = [nested]
    assert decode_json_body(__import__("json").dumps(nested)) == nested


def test_the_depth_limit_is_configurable(start_server) -> None:
    server = start_server(max_json_depth=300)
    deep = "[" * 150 + "]" * 150
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post(
            "/v1/chat/completions",
            content=(CHAT % deep).encode(),
            headers={"content-type": "application/json"},
        )
    # Past the decoder: now the parser says what is wrong with the content.
    assert answer.status_code == 400
    assert "deeper" not in answer.json()["error"]["message"]


GEMINI_TEXT = '{"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"topK": %s}}'
DEEP_SCHEMA = '{"type": "object", "properties": {"a": ' * 800 + '{"type": "string"}' + "}}" * 800


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/v1beta/models/mock:generateContent", GEMINI_TEXT % "NaN", "NaN is not a JSON value"),
        ("/v1beta/models/mock:generateContent", GEMINI_TEXT % "Infinity", "Infinity"),
        ("/v1beta/models/mock:generateContent", GEMINI_TEXT % "1e400", "generationConfig.topK"),
        (
            "/v1/chat/completions",
            '{"model": "mock", "messages": [{"role": "user", "content": "hi"}], "tools":'
            ' [{"type": "function", "function": {"name": "f", "parameters": '
            + DEEP_SCHEMA
            + "}}]}",
            "deeper than 100 levels",
        ),
        (
            "/v1/chat/completions",
            '{"model": "mock", "stream": true,'
            ' "messages": [{"role": "user", "content": "a\\udfff"}]}',
            "messages[0].content: the text holds a lone surrogate",
        ),
    ],
    ids=[
        "gemini topK NaN",
        "gemini topK Infinity",
        "gemini topK 1e400",
        "800-deep schema",
        "streamed lone surrogate",
    ],
)
def test_issue_18_500s_are_400s(http: httpx.Client, path: str, body: str, expected: str) -> None:
    answer = http.post(path, content=body.encode(), headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text[:300]
    assert expected in answer.json()["error"]["message"]
