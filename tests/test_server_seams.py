"""The seams the redesign made explicit (issue 12): capabilities instead of provider
classes, per-request hints only for providers that read them, provider build failures
blamed on the right side, one first-byte budget, one redactor per app."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import AsyncGenerator, Iterator

import anthropic
import httpx
import openai
import pytest

from chatmock_lab.config import Settings
from chatmock_lab.core import ChatRequest, EmbeddingRequest, Event, Finish, ModelInfo, TextDelta
from chatmock_lab.providers import EmbeddingResult, RequestHint
from chatmock_lab.redact import redactor as process_redactor
from chatmock_lab.server import create_app
from chatmock_lab.server.state import app_state

USER = [{"role": "user", "content": "hi"}]


class RecordingProvider:
    """A provider that answers "ok" and keeps every request it was given."""

    name = "recording"

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    async def models(self) -> list[ModelInfo]:
        return [ModelInfo(id="m", owned_by="test")]

    async def model(self, model_id: str) -> ModelInfo | None:
        return ModelInfo(id=model_id, owned_by="test")

    def map_model(self, model: str) -> str:
        return f"upstream-{model}"

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        self.requests.append(request)
        yield TextDelta("ok")
        yield Finish()

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        return EmbeddingResult(vectors=[[0.0]], input_tokens=1)

    async def aclose(self) -> None:
        return None


class HintedProvider(RecordingProvider):
    request_hints = (RequestHint(extension="conversation", query="conv", header="x-conv"),)


def test_usage_and_token_on_a_provider_without_them_say_so_in_the_callers_dialect(
    start_server,
) -> None:
    server = start_server(api_key="seam-key-123456")
    key = {"authorization": "Bearer seam-key-123456"}
    usage = httpx.get(f"{server.url}/usage", headers=key)
    assert usage.status_code == 404
    assert "the mock provider has no usage to report" in usage.json()["error"]["message"]
    claude = httpx.get(f"{server.url}/usage", headers={**key, "anthropic-version": "2023-06-01"})
    assert claude.status_code == 404
    assert claude.json()["type"] == "error"
    assert claude.json()["error"]["type"] == "not_found_error"


def test_token_without_the_capability_is_a_404_behind_the_proxy_key(start_server) -> None:
    key = "proxy-key-for-the-token-test"
    guarded = start_server(api_key=key)
    answer = httpx.get(f"{guarded.url}/token", headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 404
    assert "has no token to hand out" in answer.json()["error"]["message"]


def test_hints_reach_only_providers_that_declare_them(start_server) -> None:
    plain, hinted = RecordingProvider(), HintedProvider()
    for provider in (plain, hinted):
        server = start_server(provider)
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
            client.chat.completions.create(
                model="m",
                messages=USER,
                extra_query={"conv": "from-query", "chat_id": "qwen-style"},
            )
            client.chat.completions.create(
                model="m", messages=USER, extra_headers={"x-conv": "from-header"}
            )
    assert [r.extensions for r in plain.requests] == [{}, {}]
    assert [r.extensions for r in hinted.requests] == [
        {"conversation": "from-query"},
        {"conversation": "from-header"},
    ]


def test_the_provider_gets_its_own_model_name_and_the_client_reads_it(start_server) -> None:
    provider = RecordingProvider()
    server = start_server(provider)
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
        reply = client.chat.completions.create(model="m", messages=USER)
    assert provider.requests[0].model == "upstream-m"
    assert reply.model == "upstream-m"


def test_an_unknown_provider_is_the_clients_fault_a_broken_one_the_servers(
    server, monkeypatch
) -> None:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError, match="unknown provider 'nope'") as unknown:
            client.chat.completions.create(
                model="m", messages=USER, extra_query={"provider": "nope"}
            )
        assert unknown.value.body["param"] == "provider"

        from chatmock_lab.providers import openai_compatible

        def broken(name: str, context: object) -> None:
            raise ValueError("a bug while building the provider")

        monkeypatch.setattr(openai_compatible, "create", broken)
        with pytest.raises(openai.InternalServerError, match="Internal error") as failed:
            client.chat.completions.create(
                model="m", messages=USER, extra_query={"provider": "grok"}
            )
        assert "a bug while building" not in str(failed.value)


def test_each_app_masks_its_own_secrets() -> None:
    first = create_app(Settings(port=0), env={"QWEN_AUTH_TOKEN": "first-app-plain-secret"})
    second = create_app(Settings(port=0), env={"QWEN_AUTH_TOKEN": "second-app-plain-secret"})
    text = "first-app-plain-secret second-app-plain-secret"
    assert app_state(first).redactor.text(text) == "*** second-app-plain-secret"
    assert app_state(second).redactor.text(text) == "first-app-plain-secret ***"
    assert process_redactor.text(text) == text
    # Credentials the process learns (a login, the token store) are masked by every app.
    process_redactor.add("process-wide-login-token")
    assert app_state(first).redactor.text("process-wide-login-token") == "***"


class _SlowStart:
    """A loopback upstream that answers a chat request with its headers after
    `headers_after` seconds and the first line of the stream `line_after` later."""

    def __init__(self, headers_after: float, line_after: float) -> None:
        self.headers_after, self.line_after = headers_after, line_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> _SlowStart:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += conn.recv(65536)
        # The delays are the scripted upstream's behaviour, not a wait for readiness.
        if self._stop.wait(self.headers_after):
            return
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        )
        if self._stop.wait(self.line_after):
            return
        chunk = {"choices": [{"index": 0, "delta": {"content": "late"}, "finish_reason": "stop"}]}
        # The proxy may have given up first, as it should.
        with contextlib.suppress(OSError):
            conn.sendall(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())


@pytest.fixture
def slow_start() -> Iterator[_SlowStart]:
    # Headers well inside the budget, the first line well after it: one budget covers
    # both, so the request times out; two budgets in series (each 0.75 s) would not.
    with _SlowStart(headers_after=0.5, line_after=0.6) as upstream:
        yield upstream


def test_one_first_byte_budget_covers_the_headers_and_the_first_line(
    slow_start, start_server
) -> None:
    env = {"XAI_API_KEY": "k", "CHATMOCK_GROK_BASE_URL": slow_start.url}
    server = start_server(provider_name="grok", env=env, first_byte_timeout=0.75, retries=0)
    with (
        anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.APIStatusError) as caught,
    ):
        client.messages.create(model="m", max_tokens=5, messages=USER)
    assert caught.value.status_code == 504
    assert "--first-byte-timeout" in caught.value.message
