"""An OpenAI-compatible upstream that costs almost nothing: raw asyncio, one canned
answer, so a benchmark through the proxy measures the proxy and not the fake.

Usage::

    python benchmarks/minimal_upstream.py [--port N] [--chunks N]

Speaks just enough HTTP/1.1 for keep-alive clients (Content-Length bodies, no chunked
requests). `POST .../chat/completions` answers one JSON completion, or an SSE stream of
`--chunks` content chunks, a finish chunk, a usage chunk and `[DONE]` when the body says
`"stream": true`; `GET /health` and `GET .../models` answer too. Prints
`listening on http://127.0.0.1:PORT` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

_MODEL = "fake-model-1"


def completion_body() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-min",
            "object": "chat.completion",
            "created": 1700000000,
            "model": _MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello from the minimal upstream."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
        }
    ).encode()


def stream_body(chunks: int) -> bytes:
    def frame(delta: dict[str, object], finish: str | None = None, **extra: object) -> bytes:
        payload = {
            "id": "chatcmpl-min",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": _MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    parts = [frame({"role": "assistant", "content": ""})]
    parts += [frame({"content": f"word{i} "}) for i in range(chunks)]
    parts.append(frame({}, "stop"))
    usage = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}
    parts.append(
        b"data: "
        + json.dumps(
            {
                "id": "chatcmpl-min",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": _MODEL,
                "choices": [],
                "usage": usage,
            }
        ).encode()
        + b"\n\n"
    )
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _Answers:
    def __init__(self, chunks: int) -> None:
        self.completion = _response("200 OK", "application/json", completion_body())
        self.stream = _response("200 OK", "text/event-stream", stream_body(chunks))
        self.models = _response(
            "200 OK",
            "application/json",
            json.dumps({"object": "list", "data": [{"id": _MODEL, "object": "model"}]}).encode(),
        )
        self.health = _response("200 OK", "application/json", b'{"status":"ok"}')
        self.missing = _response("404 Not Found", "application/json", b'{"error":"not found"}')


class _Protocol(asyncio.Protocol):
    def __init__(self, answers: _Answers) -> None:
        self.answers = answers
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            assert self.transport is not None
            self.transport.write(self._answer(head.split(" ", 2), body))

    def _answer(self, request_line: list[str], body: bytes) -> bytes:
        method, path = request_line[0], request_line[1] if len(request_line) > 1 else "/"
        if method == "POST" and path.endswith("/chat/completions"):
            streamed = b'"stream":true' in body.replace(b" ", b"")
            return self.answers.stream if streamed else self.answers.completion
        if path.endswith("/models"):
            return self.answers.models
        if path == "/health":
            return self.answers.health
        return self.answers.missing


async def serve(port: int, chunks: int) -> None:
    answers = _Answers(chunks)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Protocol(answers), "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="minimal_upstream", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.chunks))


if __name__ == "__main__":
    main()
