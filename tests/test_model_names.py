"""Crafted model names cannot reach another path: dot segments, backslashes, control
characters and the like are a 400 naming `model` in the caller's dialect."""

from __future__ import annotations

import httpx
import pytest

from chatmock_lab.core import InvalidRequest
from chatmock_lab.dialects.fields import check_model_name

BAD_GEMINI_PATHS = [
    "/v1beta/models/..%2f..%2fadmin:generateContent",
    "/v1beta/models/x%00y:generateContent",
    "/v1beta/models/a%5cb:generateContent",
    "/v1beta/models/models%2f..%2fsecret:streamGenerateContent?alt=sse",
]


@pytest.mark.parametrize("path", BAD_GEMINI_PATHS)
def test_gemini_model_paths_are_refused(http: httpx.Client, path: str) -> None:
    answer = http.post(path, json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "model" in error["message"]


def test_a_crafted_model_lookup_is_not_answered_with_a_made_up_model(http: httpx.Client) -> None:
    answer = http.get("/v1beta/models/..%2f..%2fetc%2fpasswd", headers={"x-goog-api-key": "k"})
    assert answer.status_code == 400
    assert http.get("/v1/models/..%2fadmin").status_code == 400


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            {"model": "../admin", "messages": [{"role": "user", "content": "x"}]},
        ),
        (
            "/v1/messages",
            {"model": "a\u0000b", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        ),
        ("/api/chat", {"model": "a\\b", "messages": [{"role": "user", "content": "x"}]}),
        ("/v1/responses", {"model": "m?x=1", "input": "x"}),
        ("/v1/embeddings", {"model": "./m", "input": "x"}),
    ],
)
def test_body_model_names_are_checked_in_every_dialect(
    http: httpx.Client, path: str, body: dict
) -> None:
    answer = http.post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert "model" in answer.text


def test_provider_prefixes_and_vendor_names_still_work() -> None:
    for name in (
        "grok/grok-4",
        "openrouter/anthropic/claude-sonnet-4",
        "gpt-4.1",
        "models/gemini-2.5",
    ):
        assert check_model_name(name) == name
    for name in ("..", "a//b", "a/./b", "x\ty", "\x7f", ""):
        with pytest.raises(InvalidRequest):
            check_model_name(name)
