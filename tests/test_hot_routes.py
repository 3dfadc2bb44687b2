"""The chat routes served straight from ASGI (server/hot_routes.py): which requests take
that way, and what it does itself rather than Quart (the rest of its behaviour is every
other test's, since the chat routes are the ones they call)."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest
from quart import Quart
from quart.signals import request_started

from chatmock_lab.server import BackgroundServer
from chatmock_lab.server.state import app_state

HOT_PATHS = (
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/responses",
    "/responses",
    "/v1/messages",
    "/messages",
    "/api/chat",
    "/api/generate",
    "/v1beta/models/gemini-2.5-flash:generateContent",
    "/v1/models/gemini-2.5-flash:streamGenerateContent",
    "/models/gemini-2.5-flash:countTokens",
)
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
CHAT = {"model": "mock", "messages": [{"role": "user", "content": "hello"}]}
BODIES = {
    "/v1/responses": {"model": "mock", "input": "hello"},
    "/responses": {"model": "mock", "input": "hello"},
    "/v1/messages": CHAT | {"max_tokens": 50},
    "/messages": CHAT | {"max_tokens": 50},
    "/api/chat": CHAT | {"stream": False},
    "/api/generate": {"model": "mock", "prompt": "hello", "stream": False},
} | {path: GEMINI for path in HOT_PATHS if ":" in path}


def test_chat_posts_skip_quarts_dispatch_and_everything_else_keeps_it(start_server) -> None:
    server = start_server()
    dispatched: list[str] = []
    lock = threading.Lock()

    def noted(sender: Quart, **_: Any) -> None:
        from quart import request

        with lock:
            dispatched.append(f"{request.method} {request.path}")

    request_started.connect(noted, server.app)
    try:
        with httpx.Client(base_url=server.url) as http:
            for path in HOT_PATHS:
                answer = http.post(path, json=BODIES.get(path, CHAT))
                assert answer.status_code == 200, (path, answer.text)
            assert dispatched == []
            assert http.get("/health").status_code == 200
            assert http.post("/v1/embeddings", json={"model": "m", "input": "x"}).status_code == 200
            assert http.get("/v1/chat/completions").status_code == 405
            assert http.get("/v1beta/models/gemini-2.5-flash").status_code == 200
    finally:
        request_started.disconnect(noted, server.app)
    assert dispatched == [
        "GET /health",
        "POST /v1/embeddings",
        "GET /v1/chat/completions",
        "GET /v1beta/models/gemini-2.5-flash",
    ]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/api/chat"])
def test_other_methods_on_a_chat_path_get_quarts_405_in_the_dialect(
    server: BackgroundServer, path: str
) -> None:
    answer = httpx.get(f"{server.url}{path}")
    assert answer.status_code == 405
    assert answer.headers["allow"].split(", ").count("POST") == 1
    assert "not allowed" in json.dumps(answer.json())


def test_a_client_that_hangs_up_on_a_whole_answer_frees_its_permit(start_server) -> None:
    # A non-streaming answer is collected before anything is sent: the hang-up must
    # still cancel it, as a stream's does (the storm tests cover streams).
    server = start_server(mock_delay_ms=100, max_concurrency=1)
    gate = app_state(server.app).gate
    body = json.dumps(CHAT | {"messages": [{"role": "user", "content": "hello " * 40}]})
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        deadline = time.monotonic() + 5
        while gate.in_use == 0:  # the answer has started (and would take seconds)
            assert time.monotonic() < deadline, "the request never took its permit"
            time.sleep(0.01)
    hung_up = time.monotonic()
    while gate.in_use:
        assert time.monotonic() - hung_up < 1.0, "the permit outlived the client"
        time.sleep(0.01)
    # And the next request gets the one permit at once.
    started = time.monotonic()
    streamed = CHAT | {"stream": True}
    with (
        httpx.Client(base_url=server.url) as http,
        http.stream("POST", "/v1/chat/completions", json=streamed) as answer,
    ):
        next(answer.iter_bytes())
    assert time.monotonic() - started < 1.0
