"""The network transports under the proxy (`--upstream-transport aiohttp|httpx`) against
a raw upstream that answers the ways real servers do: gzip-encoded JSON, a chunked SSE
stream split mid-line and mid-character, and a connection closed after each answer."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator

import httpx
import openai
import pytest

from chatmock_lab.providers.http import HttpUpstream

ANSWER = "Grüße aus dem Upstream"


def _completion() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-raw",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": ANSWER},
                 "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
        }
    ).encode()  # fmt: skip


def _stream() -> bytes:
    frames = [
        {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        for piece in ("Grüße ", "aus dem ", "Upstream")
    ]
    frames.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = "".join(
        "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", **f}) + "\r\n\r\n"
        for f in frames
    )
    return (body + "data: [DONE]\r\n\r\n").encode()


class _RawUpstream:
    """HTTP/1.1 by hand: JSON answers gzip-encoded, streams chunked in pieces that cut
    lines and UTF-8 characters, and every other connection closed after its answer."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[bytes] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _RawUpstream:
        self._thread.start()
        assert self._ready.wait(10), "the raw upstream did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            self.requests.append(body)
            if json.loads(body).get("stream"):
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                stream = _stream()
                # Cut inside "Grüße" (ü is two bytes) and between \r and \n.
                for start, end in ((0, 60), (60, 61), (61, 180), (180, len(stream))):
                    piece = stream[start:end]
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            else:
                packed = gzip.compress(_completion())
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(packed), packed)
                )
            await writer.drain()
            answered += 1
            if answered % 2 == 0:
                writer.close()
                return


@pytest.fixture
def raw() -> Iterator[_RawUpstream]:
    with _RawUpstream() as upstream:
        yield upstream


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_gzip_chunked_and_closed_connections(raw: _RawUpstream, start_server, transport) -> None:
    env = {"OPENAI_API_KEY": "sk-raw", "CHATMOCK_OPENAI_BASE_URL": f"http://127.0.0.1:{raw.port}"}
    proxy = start_server(provider_name="openai", env=env, upstream_transport=transport)
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        for _ in range(3):
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.choices[0].message.content == ANSWER
            assert reply.usage is not None and reply.usage.completion_tokens == 5
            chunks = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    plain, streamed = json.loads(raw.requests[0]), json.loads(raw.requests[1])
    assert "stream" not in plain and streamed["stream"] is True
    assert len(raw.requests) == 6


def test_a_closed_upstream_keeps_the_transport_it_was_given() -> None:
    """A provider closed and called again (a retired one finishing late) still goes
    through its cassette or tap, never around it to the network."""

    class Given(httpx.AsyncBaseTransport):
        closed = 0

        async def aclose(self) -> None:
            Given.closed += 1

    given = Given()
    upstream = HttpUpstream("x", transport=given)
    asyncio.run(upstream.aclose())
    assert upstream.transport is given and Given.closed == 1
