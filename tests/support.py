"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import copy
import json
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import openai

from chatmock_lab.core import ChatRequest, Event
from chatmock_lab.providers.mock import MockProvider
from chatmock_lab.server import BackgroundServer


def openai_client_for(server: BackgroundServer) -> openai.OpenAI:
    # No retries: a test must see the first answer, not a retried one.
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-test-not-a-secret", max_retries=0)


def sse_payloads(body: str) -> list[Any]:
    """The decoded `data:` payloads of an SSE body, `[DONE]` kept as the string."""
    payloads: list[Any] = []
    for frame in body.split("\n\n"):
        for line in frame.splitlines():
            if line.startswith("data: "):
                data = line[len("data: ") :]
                payloads.append(data if data == "[DONE]" else json.loads(data))
    return payloads


def png_data_url(width: int, height: int) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\x00" * width * 3 for _ in range(height))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode()


class RecordingProvider(MockProvider):
    """The mock provider, keeping a copy of every canonical request it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ChatRequest] = []

    def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        self.requests.append(copy.deepcopy(request))
        return super().stream(request)


def sse_events(body: str) -> list[tuple[str, Any]]:
    """The `(event, decoded data)` pairs of an SSE body with named events."""
    events: list[tuple[str, Any]] = []
    for frame in body.split("\n\n"):
        name, data = "message", []
        for line in frame.splitlines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events
