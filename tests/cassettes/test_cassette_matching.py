"""Matching replayed requests to recordings."""

from __future__ import annotations

import json
from typing import Any

from chatmock_lab.cassettes import (
    Cassette,
    Interaction,
    Matcher,
    MatchOptions,
    RecordedRequest,
    RecordedResponse,
    canonical_request,
)

URI = "https://api.openai.test/v1/chat/completions"


def _request(body: dict[str, Any], uri: str = URI, method: str = "POST") -> RecordedRequest:
    return RecordedRequest(method, uri, {"content-type": ["application/json"]}, json.dumps(body))


def _cassette(*bodies: dict[str, Any]) -> Cassette:
    return Cassette(
        [
            Interaction(_request(body), RecordedResponse(200, "OK", {}, f"answer {n}"))
            for n, body in enumerate(bodies)
        ]
    )


def _closest(matcher: Matcher, request: RecordedRequest) -> tuple[int, str]:
    found = matcher.closest(request)
    assert found is not None
    return found


HELLO = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


def test_volatile_fields_key_order_host_and_credentials_are_ignored() -> None:
    recorded = _request(
        {
            "model": "m",
            "id": "req-1",
            "user": "alice",
            "metadata": {"run": 1},
            "stream_options": {"include_usage": True},
            "prompt_cache_key": "pck-1",
            "safety_identifier": "user-hash-1",
            "messages": [{"role": "user", "content": "hello", "id": "kept", "created": 1}],
        },
        uri="https://api.openai.test/v1/chat/completions?key=%3CREDACTED%3E&alt=sse",
    )
    replayed = _request(
        {
            "messages": [{"created": 2, "id": "kept", "content": "hello", "role": "user"}],
            "model": "m",
            "id": "req-2",
            "session_id": "s",
            "user": "bob",
            "safety_identifier": "user-hash-2",
        },
        uri="http://127.0.0.1:8000/v1/chat/completions?alt=sse&key=real-key",
    )
    assert canonical_request(recorded) == canonical_request(replayed)
    method, path, query, body = canonical_request(replayed)
    assert (method, path, query) == ("POST", "/v1/chat/completions", "alt=sse")
    assert json.loads(body) == {
        "messages": [{"content": "hello", "id": "kept", "role": "user"}],
        "model": "m",
    }
    # Nested ids are not volatile, and the ignore list is configurable.
    other_id = _request({**HELLO, "messages": [{"id": "other"}]})
    assert canonical_request(other_id) != canonical_request(_request({**HELLO, "messages": [{}]}))
    assert canonical_request(recorded, ignore=()) != canonical_request(replayed, ignore=())


def test_schema_property_names_are_not_removed() -> None:
    def with_tool(prop: str) -> RecordedRequest:
        schema = {"type": "object", "properties": {prop: {"type": "string"}}}
        return _request({**HELLO, "tools": [{"function": {"parameters": schema}}]})

    assert canonical_request(with_tool("user")) != canonical_request(with_tool("name"))


def test_identical_requests_get_recordings_in_order_then_none() -> None:
    matcher = Matcher(_cassette(HELLO, {**HELLO, "model": "other"}, HELLO))
    first, second = matcher.match(_request(HELLO)), matcher.match(_request(HELLO))
    assert first is not None and second is not None
    assert (first.response.body, second.response.body) == ("answer 0", "answer 2")
    assert matcher.match(_request(HELLO)) is None
    assert matcher.unplayed() == [1]
    assert matcher.match(_request({**HELLO, "model": "other"})) is not None
    assert matcher.unplayed() == []


def test_used_up_names_the_played_recordings_of_a_request() -> None:
    matcher = Matcher(_cassette(HELLO, {**HELLO, "model": "other"}, HELLO))
    assert matcher.used_up(_request(HELLO)) == [(0, 0), (2, 0)]
    matcher.match(_request(HELLO))
    matcher.match(_request(HELLO))
    assert matcher.match(_request(HELLO)) is None
    assert matcher.used_up(_request(HELLO)) == [(0, 1), (2, 1)]
    # A request no recording matches has none to name.
    assert matcher.used_up(_request({**HELLO, "model": "unknown"})) == []


def test_repeats_replay_the_last_recording_again() -> None:
    matcher = Matcher(_cassette(HELLO, HELLO), MatchOptions(allow_playback_repeats=True))
    bodies = [matcher.match(_request(HELLO)) for _ in range(4)]
    assert [b.response.body if b else None for b in bodies] == [
        "answer 0",
        "answer 1",
        "answer 1",
        "answer 1",
    ]
    assert matcher.match(_request({**HELLO, "model": "unknown"})) is None


def test_form_bodies_match_regardless_of_parameter_order() -> None:
    def form(body: str) -> RecordedRequest:
        headers = {"Content-Type": ["application/x-www-form-urlencoded"]}
        return RecordedRequest("POST", "https://auth.test/token", headers, body)

    assert canonical_request(form("a=1&b=2")) == canonical_request(form("b=2&a=1"))
    assert canonical_request(form("a=1&b=2")) != canonical_request(form("a=1&b=3"))


def test_closest_names_the_most_similar_recording_with_a_short_diff() -> None:
    long_history = [{"role": "user", "content": f"line {n}"} for n in range(40)]
    matcher = Matcher(
        _cassette(
            {"model": "m", "messages": [{"role": "user", "content": "something else"}]},
            {**HELLO, "temperature": 0.5},
            {"model": "m", "messages": long_history},
        )
    )
    index, diff = _closest(matcher, _request({**HELLO, "temperature": 0.7}))
    assert index == 1
    assert '- "temperature": 0.5' in diff
    assert '+ "temperature": 0.7' in diff
    assert len(diff.splitlines()) <= 13

    _, long_diff = _closest(
        matcher,
        _request({"model": "m", "messages": [{"role": "user", "content": "x"}] * 40}),
    )
    assert len(long_diff.splitlines()) <= 13
    assert long_diff.splitlines()[-1].startswith("... (")

    _, path_diff = _closest(matcher, _request(HELLO, uri="https://x.test/v1/embeddings"))
    assert "+POST /v1/embeddings" in path_diff
    assert Matcher(Cassette([])).closest(_request(HELLO)) is None
