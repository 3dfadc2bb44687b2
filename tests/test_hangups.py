"""A client that hangs up before the response headers releases its permit and its
upstream stream at once, whatever bytes it sent after its request (issue 18).

Hypercorn stops reading a connection whose request is complete and has more bytes
behind it (a pipelined request, a stray CRLF); before `server/connection_watch.py` such
a hang-up went unseen until the answer had run to its end.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from chatmock_lab.server import runner
from chatmock_lab.server.state import app_state
from chatmock_lab.testing import FakeOpenAIUpstream

# After the request: nothing, the CRLF some clients add, a pipelined request.
TRAILERS = {
    "nothing": b"",
    "crlf": b"\r\n",
    "pipelined": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
}


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - start


def send_and_hang_up_later(port: int, body: dict[str, object], trailer: bytes) -> socket.socket:
    data = json.dumps(body).encode()
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data) + data + trailer
    )
    return connection


@pytest.mark.parametrize("trailer", TRAILERS, ids=list(TRAILERS))
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_hang_up_while_the_mock_answers_frees_the_only_slot(
    start_server, trailer: str, stream: bool
) -> None:
    # 200 words at 8 characters a chunk and 50 ms a chunk: a minute-long answer.
    server = start_server(max_concurrency=1, mock_delay_ms=50)
    gate = app_state(server.app).gate
    body = {
        "model": "mock",
        "stream": stream,
        "messages": [{"role": "user", "content": "word " * 200}],
    }
    connection = send_and_hang_up_later(server.port, body, TRAILERS[trailer])
    wait_until(lambda: gate.in_use == 1, timeout=5)
    connection.close()
    wait_until(lambda: gate.in_use == 0, timeout=1)
    # The next request gets the slot, not a wait for the abandoned answer.
    reply = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]},
        timeout=5,
    )
    assert reply.status_code == 200


@pytest.mark.parametrize("trailer", TRAILERS, ids=list(TRAILERS))
def test_hang_up_before_the_upstream_answers_closes_the_upstream_stream(
    start_server, trailer: str
) -> None:
    with FakeOpenAIUpstream() as fake:
        server = start_server(
            provider_name="openai",
            env={"CHATMOCK_OPENAI_BASE_URL": fake.base_url},
            max_concurrency=1,
        )
        fake.delay_first_byte(30)
        body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        connection = send_and_hang_up_later(server.port, body, TRAILERS[trailer])
        wait_until(lambda: fake.in_flight == 1, timeout=5)
        connection.close()
        wait_until(lambda: fake.in_flight == 0, timeout=1)
        wait_until(lambda: app_state(server.app).gate.in_use == 0, timeout=1)


def test_pipelined_requests_are_still_answered_in_order(server) -> None:
    requests = (
        b"".join(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" for _ in range(3))
        + b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(requests)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 200") == 4
    assert b'"object":"list"' in received.split(b"\r\n\r\n")[-1].replace(b" ", b"")


def test_slow_headers_are_cut_off_and_do_not_slow_others(monkeypatch, start_server) -> None:
    monkeypatch.setattr(runner, "_IDLE_SECONDS", 0.5)
    server = start_server()
    slow = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(100)]
    for connection in slow:
        connection.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    reply = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]},
        timeout=5,
    )
    assert reply.status_code == 200
    for connection in slow:
        connection.settimeout(5)
        # Closed by the server (an empty read), not left open for ever.
        assert connection.recv(1024) == b""
        connection.close()
