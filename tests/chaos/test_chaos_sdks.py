"""Chaos on demand (`x-chatmock-chaos`) met through the official SDKs, in every dialect.

The proxy stands in front of `FakeOpenAIUpstream` (provider grok) or answers with the
mock provider; each request carries its own rules. One adapter per dialect sends a
streamed request and reports what its client saw: the text pieces, whether the stream
finished, the error the SDK raised or the error event that arrived. Every kind of fault
is one test over the five dialects (OpenAI Chat Completions, OpenAI Responses, Anthropic
Messages, Gemini through google-genai, Ollama through httpx: it has no SDK here).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from chatmock_lab.chaos import Chaos, parse_rules
from chatmock_lab.config import Settings
from chatmock_lab.server import BackgroundServer, create_app
from chatmock_lab.testing import FakeOpenAIUpstream

CHAOS = "x-chatmock-chaos"
UPSTREAM_KEY = "xai-test-upstream-key-0123456789"
PROMPT = "hello chaos world"
# Short enough that a test never waits on it, long enough for a silence to need several.
KEEPALIVE_SECONDS = 0.1
# Statuses a client retries (google-genai's defaults leave out 529).
RETRYABLE = (408, 429, 500, 502, 503, 504, 529)
DIALECTS = ("chat", "responses", "anthropic", "gemini", "ollama")


# What a client saw


@dataclass
class Seen:
    """What one client saw of one streamed request."""

    pieces: list[str] = field(default_factory=list)
    # The stream ended with its finish (a finish reason, `message_stop`, `done`, ...).
    completed: bool = False
    # What the SDK raised, before the stream or while iterating it.
    raised: Exception | None = None
    # The HTTP status the SDK raised for (or the Ollama client got), before the stream.
    status: int | None = None
    # A mid-stream error the client is handed as an event: its name, and its message.
    event: str | None = None
    failure: str | None = None
    # Seconds from the request to the first non-empty text piece.
    first_piece_after: float | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def add(self, piece: str | None, started: float) -> None:
        if not piece:
            return
        if self.first_piece_after is None:
            self.first_piece_after = time.monotonic() - started
        self.pieces.append(piece)


@dataclass
class Target:
    """A running proxy and, when its provider is grok, the fake upstream behind it."""

    server: BackgroundServer
    model: str
    fake: FakeOpenAIUpstream | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def chaos(self) -> Chaos:
        return self.server.app.extensions["chatmock_lab"].chaos

    def chat_requests(self) -> int:
        assert self.fake is not None
        return sum(1 for r in self.fake.requests if r.path.endswith("/chat/completions"))


def chaos_headers(rules: str | None) -> dict[str, str]:
    return {} if rules is None else {CHAOS: rules}


# The adapters, one per dialect


def via_openai_chat(target: Target, rules: str | None, *, retries: int = 0) -> Seen:
    seen = Seen()
    with openai.OpenAI(
        base_url=f"{target.url}/v1", api_key="client-key", max_retries=retries
    ) as client:
        started = time.monotonic()
        try:
            stream = client.chat.completions.create(
                model=target.model,
                messages=[{"role": "user", "content": PROMPT}],
                stream=True,
                extra_headers=chaos_headers(rules),
            )
            for chunk in stream:
                for choice in chunk.choices:
                    seen.add(choice.delta.content, started)
                    seen.completed = seen.completed or choice.finish_reason is not None
        except openai.APIStatusError as error:
            seen.raised, seen.status = error, error.status_code
        except openai.APIError as error:
            seen.raised, seen.failure = error, error.message
    return seen


def via_openai_responses(target: Target, rules: str | None, *, retries: int = 0) -> Seen:
    seen = Seen()
    with openai.OpenAI(
        base_url=f"{target.url}/v1", api_key="client-key", max_retries=retries
    ) as client:
        started = time.monotonic()
        try:
            stream = client.responses.create(
                model=target.model,
                input=PROMPT,
                stream=True,
                extra_headers=chaos_headers(rules),
            )
            for event in stream:
                if event.type == "response.output_text.delta":
                    seen.add(event.delta, started)
                elif event.type == "response.completed":
                    seen.completed = True
                elif event.type == "response.failed":
                    seen.event = event.type
                    assert event.response.error is not None
                    seen.failure = event.response.error.message
        except openai.APIStatusError as error:
            seen.raised, seen.status = error, error.status_code
        except openai.APIError as error:
            seen.raised, seen.failure = error, error.message
    return seen


def via_anthropic(target: Target, rules: str | None, *, retries: int = 0) -> Seen:
    seen = Seen()
    with anthropic.Anthropic(base_url=target.url, api_key="client-key", max_retries=retries) as (
        client
    ):
        started = time.monotonic()
        try:
            stream = client.messages.create(
                model=target.model,
                max_tokens=100,
                messages=[{"role": "user", "content": PROMPT}],
                stream=True,
                extra_headers=chaos_headers(rules),
            )
            for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    seen.add(event.delta.text, started)
                elif event.type == "message_stop":
                    seen.completed = True
        except anthropic.APIStatusError as error:
            seen.raised = error
            if error.status_code == 200:
                # An `error` event inside the 200 stream: the SDK raises it as it arrives.
                body: Any = error.body
                seen.event = "error"
                seen.failure = body["error"]["message"]
            else:
                seen.status = error.status_code
    return seen


def via_gemini(target: Target, rules: str | None, *, retries: int = 0) -> Seen:
    seen = Seen()
    retry_options = None
    if retries:
        retry_options = types.HttpRetryOptions(
            attempts=1 + retries,
            initial_delay=0.01,
            max_delay=0.05,
            jitter=0,
            http_status_codes=list(RETRYABLE),
        )
    client = genai.Client(api_key="client-key", http_options=types.HttpOptions(base_url=target.url))
    config = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers=chaos_headers(rules), retry_options=retry_options)
    )
    started = time.monotonic()
    try:
        for chunk in client.models.generate_content_stream(
            model=target.model, contents=PROMPT, config=config
        ):
            for candidate in chunk.candidates or []:
                for part in (candidate.content.parts if candidate.content else None) or []:
                    seen.add(part.text, started)
                seen.completed = seen.completed or candidate.finish_reason is not None
    except genai_errors.APIError as error:
        seen.raised = error
        if seen.pieces:
            # An error object inside the 200 stream: the SDK raises it as it arrives.
            seen.event, seen.failure = "error", error.message
        else:
            seen.status = error.code
    finally:
        client.close()
    return seen


def via_ollama(target: Target, rules: str | None, *, retries: int = 0) -> Seen:
    """Ollama's `/api/chat` NDJSON stream through httpx, retried as the SDKs retry: a
    retryable status before the stream, `retry-after-ms` honoured."""
    seen = Seen()
    body = {"model": target.model, "messages": [{"role": "user", "content": PROMPT}]}
    with httpx.Client(base_url=target.url, timeout=10) as client:
        for attempt in range(retries + 1):
            started = time.monotonic()
            with client.stream("POST", "/api/chat", json=body, headers=chaos_headers(rules)) as r:
                if r.status_code != 200:
                    r.read()
                    seen.status, seen.failure = r.status_code, r.json()["error"]
                    if attempt < retries and r.status_code in RETRYABLE:
                        time.sleep(float(r.headers.get("retry-after-ms", "0")) / 1000)
                        continue
                    return seen
                for line in r.iter_lines():
                    if not line:
                        continue
                    payload = json.loads(line)
                    if "error" in payload:
                        seen.event, seen.failure = "error", payload["error"]
                        continue
                    seen.add(payload["message"]["content"], started)
                    seen.completed = seen.completed or payload["done"] is True
            return seen
    return seen


Adapter = Callable[..., Seen]
ADAPTERS: dict[str, Adapter] = {
    "chat": via_openai_chat,
    "responses": via_openai_responses,
    "anthropic": via_anthropic,
    "gemini": via_gemini,
    "ollama": via_ollama,
}


# Raw streams, for what an SDK hides (keep-alives)

STREAM_PATHS: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "chat": (
        "/v1/chat/completions",
        lambda model: {
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
        },
    ),
    "responses": (
        "/v1/responses",
        lambda model: {"model": model, "input": PROMPT, "stream": True},
    ),
    "anthropic": (
        "/v1/messages",
        lambda model: {
            "model": model,
            "max_tokens": 100,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": True,
        },
    ),
    "gemini": (
        "/v1beta/models/{model}:streamGenerateContent?alt=sse",
        lambda model: {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
    ),
    "ollama": (
        "/api/chat",
        lambda model: {"model": model, "messages": [{"role": "user", "content": PROMPT}]},
    ),
}


def raw_frames(target: Target, dialect: str, rules: str | None) -> list[str]:
    """The frames of the dialect's stream as sent: SSE frames (line ends normalized),
    or Ollama's NDJSON lines."""
    path, body = STREAM_PATHS[dialect]
    headers = {**chaos_headers(rules), "authorization": "Bearer k", "x-api-key": "k"}
    with httpx.Client(base_url=target.url, timeout=10) as client:
        response = client.post(
            path.format(model=target.model), json=body(target.model), headers=headers
        )
    assert response.status_code == 200, response.text
    text = response.text.replace("\r\n", "\n")
    if dialect == "ollama":
        return [line for line in text.split("\n") if line]
    # Gemini's keep-alive is a blank line after a frame (google-genai fails on an SSE
    # comment): shown here as a comment frame of its own.
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n:\n\n", 1)
    return [frame for frame in text.split("\n\n") if frame.strip()]


def frame_data(frame: str) -> Any:
    data = [line[len("data:") :].strip() for line in frame.split("\n") if line.startswith("data:")]
    if not data or data[0] == "[DONE]":
        return None
    return json.loads("\n".join(data))


def frame_text(dialect: str, frame: str) -> str:
    """The text a frame carries, in its dialect ("" for none)."""
    payload = json.loads(frame) if dialect == "ollama" else frame_data(frame)
    if not isinstance(payload, dict):
        return ""
    if dialect == "chat":
        return "".join((c.get("delta") or {}).get("content") or "" for c in payload["choices"])
    if dialect == "responses":
        return payload["delta"] if payload.get("type") == "response.output_text.delta" else ""
    if dialect == "anthropic":
        delta = payload.get("delta") or {}
        return delta.get("text", "") if delta.get("type") == "text_delta" else ""
    if dialect == "gemini":
        parts = [p for c in payload.get("candidates", []) for p in c["content"].get("parts", [])]
        return "".join(part.get("text", "") for part in parts)
    return (payload.get("message") or {}).get("content", "")


def is_keepalive(dialect: str, frame: str) -> bool:
    """A frame that says only "still here": an SSE comment, or Anthropic's `ping`."""
    lines = frame.split("\n")
    if all(line.startswith(":") for line in lines):
        return True
    return dialect == "anthropic" and lines[0] == "event: ping"


# What the upstream sent


def fake_chunk_texts(fake: FakeOpenAIUpstream) -> list[str]:
    """The text of each frame of the fake upstream's last streamed answer, in order (""
    for a frame without text): chunk N of a rule is element N - 1."""
    texts = []
    for _at, frame in fake.last_request().sent:
        payload = frame_data(frame.decode())
        choices = payload.get("choices", []) if isinstance(payload, dict) else []
        texts.append("".join((c.get("delta") or {}).get("content") or "" for c in choices))
    return texts


def upstream_chunk_texts(target: Target, dialect: str) -> list[str]:
    """The text of each chunk the upstream sent (for the fake, of its last answer; for
    the mock, whose chunks are its events after the opening usage, of a clean answer)."""
    if target.fake is not None:
        return fake_chunk_texts(target.fake)
    clean = ADAPTERS[dialect](target, "none")
    assert clean.completed and clean.raised is None and clean.event is None
    assert clean.text == f"You said: {PROMPT}"
    return clean.pieces


def pieces_of(chunks: list[str]) -> list[str]:
    return [text for text in chunks if text]


# Servers


def start_proxy(settings: Settings, env: dict[str, str]) -> BackgroundServer:
    # As conftest's `start_server`, once per module: never the process environment.
    return BackgroundServer(settings, create_app(settings, env=env)).start()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIUpstream]:
    with FakeOpenAIUpstream(api_key=UPSTREAM_KEY) as upstream:
        yield upstream


def grok_env(fake: FakeOpenAIUpstream) -> dict[str, str]:
    return {"XAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_GROK_BASE_URL": fake.base_url}


@pytest.fixture(scope="module")
def grok_proxy(fake: FakeOpenAIUpstream) -> Iterator[BackgroundServer]:
    settings = Settings(port=0).replace(
        provider="grok", keepalive_seconds=KEEPALIVE_SECONDS, retries=2
    )
    server = start_proxy(settings, grok_env(fake))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mock_proxy() -> Iterator[BackgroundServer]:
    server = start_proxy(Settings(port=0).replace(keepalive_seconds=KEEPALIVE_SECONDS), {})
    yield server
    server.stop()


@pytest.fixture
def grok(grok_proxy: BackgroundServer, fake: FakeOpenAIUpstream) -> Target:
    fake.reset()
    target = Target(grok_proxy, "grok-4", fake)
    target.chaos.reset_counts()
    return target


@pytest.fixture
def mock(mock_proxy: BackgroundServer) -> Target:
    target = Target(mock_proxy, "mock")
    target.chaos.reset_counts()
    return target


# Assertions


def status_for(dialect: str, upstream_status: int) -> int:
    """The status the proxy answers for an upstream's: each API's own (an overload is
    Anthropic's 529, and a 503 for OpenAI and Gemini clients; Ollama keeps the status)."""
    if dialect == "anthropic" and upstream_status in (503, 529):
        return 529
    if dialect in ("chat", "responses", "gemini") and upstream_status == 529:
        return 503
    return upstream_status


OPENAI_ERRORS: dict[int, type[openai.APIStatusError]] = {
    429: openai.RateLimitError,
    500: openai.InternalServerError,
    503: openai.InternalServerError,
}
ANTHROPIC_ERRORS: dict[int, type[anthropic.APIStatusError]] = {
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    529: anthropic.OverloadedError,
}


def assert_status_error(dialect: str, seen: Seen, status: int) -> None:
    """The client got `status` before any text, as its SDK's own error class."""
    assert seen.pieces == [] and not seen.completed and seen.event is None
    assert seen.status == status
    error = seen.raised
    if dialect in ("chat", "responses"):
        assert type(error) is OPENAI_ERRORS[status]
        assert isinstance(error, openai.APIStatusError) and error.status_code == status
    elif dialect == "anthropic":
        assert type(error) is ANTHROPIC_ERRORS[status]
        assert isinstance(error, anthropic.APIStatusError) and error.status_code == status
    elif dialect == "gemini":
        kind = genai_errors.ClientError if status < 500 else genai_errors.ServerError
        assert isinstance(error, kind) and error.code == status
    else:
        assert error is None and seen.failure is not None
        assert seen.failure.startswith("Upstream error "), seen.failure


def assert_mid_stream_error(dialect: str, seen: Seen, pieces: list[str], says: str) -> None:
    """The client got exactly `pieces` and then its dialect's mid-stream error, which
    `says` what went wrong."""
    assert seen.pieces == pieces and pieces
    assert not seen.completed
    assert seen.status is None
    assert seen.failure is not None and says in seen.failure, seen.failure
    if dialect == "chat":
        # An `error` chunk: the SDK raises a plain APIError while iterating.
        assert type(seen.raised) is openai.APIError
    elif dialect == "responses":
        # A `response.failed` event: the SDK hands it over as an event.
        assert seen.raised is None and seen.event == "response.failed"
    elif dialect == "anthropic":
        # An `error` event: the SDK raises it while iterating, with the 200's status.
        assert isinstance(seen.raised, anthropic.APIStatusError)
        assert seen.raised.body["error"]["type"] == "api_error"  # type: ignore[index]
    elif dialect == "gemini":
        # An error object in the stream: the SDK raises it as a ServerError.
        assert isinstance(seen.raised, genai_errors.ServerError)
        assert seen.raised.code == 502
    else:
        # A last NDJSON line with `error`.
        assert seen.raised is None and seen.event == "error"


def assert_completed(seen: Seen, text: str) -> None:
    assert seen.raised is None and seen.event is None and seen.status is None
    assert seen.completed
    assert seen.text == text


dialects = pytest.mark.parametrize("dialect", DIALECTS)
STATUSES = (429, 500, 503, 529)


# Errors before the first byte


@dialects
@pytest.mark.parametrize("status", STATUSES)
def test_error_before_the_stream_is_the_sdks_error_and_the_sdk_retries(
    grok: Target, dialect: str, status: int
) -> None:
    rules = f"error status={status} retry_after=0.01 retries=0"
    seen = ADAPTERS[dialect](grok, rules, retries=2)
    assert_status_error(dialect, seen, status_for(dialect, status))
    # The SDK's own two retries met the error again: three injections, none of which
    # reached the upstream.
    assert grok.chaos.counts() == {f"error {status}": 3}
    assert grok.chat_requests() == 0


@dialects
def test_error_before_the_stream_carries_retry_after_in_the_dialects_shape(
    grok: Target, dialect: str
) -> None:
    rules = "error status=429 retry_after=1.25 retries=0"
    path, body = STREAM_PATHS[dialect]
    with httpx.Client(base_url=grok.url, timeout=10) as client:
        response = client.post(
            path.format(model=grok.model), json=body(grok.model), headers={CHAOS: rules}
        )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"  # whole seconds, rounded up
    assert response.headers["retry-after-ms"] == "1250"
    error = response.json()
    if dialect in ("chat", "responses"):
        assert error["error"]["type"] == "rate_limit_error"
        assert error["error"]["code"] == "chatmock_chaos"
    elif dialect == "anthropic":
        assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
    elif dialect == "gemini":
        assert error["error"]["code"] == 429 and error["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": "1.250s",
        } in error["error"]["details"]
    else:
        assert isinstance(error["error"], str)
    assert grok.chaos.counts() == {"error 429": 1}
    assert grok.chat_requests() == 0


@dialects
def test_the_proxys_own_retries_meet_the_error_before_the_client_does(
    fake: FakeOpenAIUpstream, dialect: str, start_server: Callable[..., BackgroundServer]
) -> None:
    fake.reset()
    server = start_server(provider_name="grok", env=grok_env(fake), retries=2)
    target = Target(server, "grok-4", fake)
    seen = ADAPTERS[dialect](target, "error status=503 retry_after=0.01", retries=0)
    assert_status_error(dialect, seen, status_for(dialect, 503))
    # No `retries=` in the rule: the proxy retried twice itself, the client not at all.
    assert target.chaos.counts() == {"error 503": 3}
    assert target.chat_requests() == 0


# Faults mid-stream


@dialects
def test_drop_after_text_was_sent_is_the_dialects_mid_stream_error(
    grok: Target, dialect: str
) -> None:
    seen = ADAPTERS[dialect](grok, "drop after=3")
    sent = pieces_of(upstream_chunk_texts(grok, dialect)[:3])
    assert_mid_stream_error(dialect, seen, sent, "grok broke off the stream")
    # Text had reached the client: the proxy did not retry.
    assert grok.chaos.counts() == {"drop": 1}
    assert grok.chat_requests() == 1


@dialects
def test_drop_before_any_output_is_an_http_error(grok: Target, dialect: str) -> None:
    # The first frame carries only the role: the drop comes before anything canonical,
    # so the client gets an HTTP error instead of a stream.
    seen = ADAPTERS[dialect](grok, "drop after=1 retries=0")
    assert seen.pieces == [] and not seen.completed and seen.event is None
    assert seen.status == 502, seen
    assert grok.chaos.counts() == {"drop": 1}


@dialects
@pytest.mark.parametrize("how", ["json", "blank-line"])
def test_malformed_frame_mid_stream_is_the_dialects_mid_stream_error(
    grok: Target, dialect: str, how: str
) -> None:
    seen = ADAPTERS[dialect](grok, f"malformed at=4 how={how}")
    before = pieces_of(upstream_chunk_texts(grok, dialect)[:3])
    assert_mid_stream_error(dialect, seen, before, "grok sent a malformed stream line")
    assert grok.chaos.counts() == {"malformed": 1}


@dialects
def test_malformed_utf8_is_a_replacement_character_and_the_stream_completes(
    grok: Target, dialect: str
) -> None:
    seen = ADAPTERS[dialect](grok, "malformed at=3 how=utf8")
    chunks = upstream_chunk_texts(grok, dialect)
    assert chunks[2], "chunk 3 carries text"
    expected = "".join(chunks[:2]) + "\ufffd" + "".join(chunks[2:])
    assert_completed(seen, expected)
    assert expected.replace("\ufffd", "") == f"Upstream says: {PROMPT}"
    assert grok.chaos.counts() == {"malformed": 1}


@dialects
def test_early_end_is_the_dialects_mid_stream_error(grok: Target, dialect: str) -> None:
    seen = ADAPTERS[dialect](grok, "early-end after=3")
    sent = pieces_of(upstream_chunk_texts(grok, dialect)[:3])
    assert_mid_stream_error(dialect, seen, sent, "grok ended the stream before finishing")
    assert grok.chaos.counts() == {"early-end": 1}


@dialects
def test_duplicate_chunk_doubles_its_text(grok: Target, dialect: str) -> None:
    seen = ADAPTERS[dialect](grok, "duplicate at=3")
    chunks = upstream_chunk_texts(grok, dialect)
    assert chunks[2], "chunk 3 carries text"
    expected = "".join(chunks[:3]) + chunks[2] + "".join(chunks[3:])
    assert_completed(seen, expected)
    assert "".join(chunks) == f"Upstream says: {PROMPT}"
    assert grok.chaos.counts() == {"duplicate": 1}


# Time


@dialects
def test_slow_first_chunk_delays_the_first_text(grok: Target, dialect: str) -> None:
    seen = ADAPTERS[dialect](grok, "slow first=0.15")
    assert_completed(seen, f"Upstream says: {PROMPT}")
    assert seen.first_piece_after is not None and seen.first_piece_after >= 0.15
    assert grok.chaos.counts() == {"slow": 1}


# A whole number of keep-alive intervals: the last keep-alive comes due as the silence
# ends, with the last events (a race that once lost the stream's end: see
# tests/test_queue_keepalive.py).
SILENCE = "silence after=2 seconds=0.3"


@dialects
def test_silence_mid_stream_gets_keepalives_between_data_frames(grok: Target, dialect: str) -> None:
    frames = raw_frames(grok, dialect, SILENCE)
    assert grok.fake is not None
    # The text frames the client got before the silence (chunk 1 carries only the role).
    before = len(pieces_of(fake_chunk_texts(grok.fake)[:2]))
    texts = [i for i, frame in enumerate(frames) if frame_text(dialect, frame)]
    gap = frames[texts[before - 1] + 1 : texts[before]]
    if dialect == "ollama":
        # NDJSON has no keep-alive line: nothing comes during the silence.
        assert gap == []
        assert json.loads(frames[-1])["done"] is True
    else:
        assert len(gap) >= 1 and all(is_keepalive(dialect, frame) for frame in gap), gap
        assert not is_keepalive(dialect, frames[-1])
    assert "".join(frame_text(dialect, frame) for frame in frames) == f"Upstream says: {PROMPT}"
    assert grok.chaos.counts() == {"silence": 1}


@dialects
def test_silence_mid_stream_the_sdk_skips_the_keepalives(grok: Target, dialect: str) -> None:
    seen = ADAPTERS[dialect](grok, SILENCE)
    assert_completed(seen, f"Upstream says: {PROMPT}")
    assert grok.chaos.counts() == {"silence": 1}


# The header itself


@dialects
def test_bad_header_is_a_400_naming_the_header(grok: Target, dialect: str) -> None:
    seen = ADAPTERS[dialect](grok, "drop after=soon", retries=2)
    assert seen.status == 400 and seen.pieces == []
    error = seen.raised
    if dialect in ("chat", "responses"):
        assert isinstance(error, openai.BadRequestError)
        assert error.param == CHAOS and error.code == "invalid_chaos"
        assert error.type == "invalid_request_error"
        body: Any = error.body  # the envelope's `error` object
        assert body["message"] == (
            f"{CHAOS}: rule 1 ('drop after=soon'): after: 'soon' is not a whole number"
        )
    elif dialect == "anthropic":
        assert isinstance(error, anthropic.BadRequestError)
        assert error.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
        assert error.body["error"]["message"].startswith(f"{CHAOS}: rule 1")  # type: ignore[index]
    elif dialect == "gemini":
        assert isinstance(error, genai_errors.ClientError)
        assert error.code == 400 and error.status == "INVALID_ARGUMENT"
        assert error.message is not None and error.message.startswith(f"{CHAOS}: rule 1")
        violations = [
            v for d in error.details["error"]["details"] for v in d.get("fieldViolations", [])
        ]
        assert [v["field"] for v in violations] == [CHAOS]
    else:
        assert seen.failure is not None and seen.failure.startswith(f"{CHAOS}: rule 1")
    # A client error: no retry, no upstream call, nothing injected.
    assert grok.chat_requests() == 0
    assert grok.chaos.counts() == {}


@dialects
def test_none_header_turns_off_the_servers_chaos(grok: Target, dialect: str) -> None:
    grok.chaos.set_rules(parse_rules("error status=500 retries=0"))
    try:
        plain = ADAPTERS[dialect](grok, "none")
        failed = ADAPTERS[dialect](grok, None)
    finally:
        grok.chaos.set_rules(())
    assert_completed(plain, f"Upstream says: {PROMPT}")
    assert_status_error(dialect, failed, status_for(dialect, 500))
    assert grok.chaos.counts() == {"error 500": 1}
    assert grok.chat_requests() == 1


# The mock provider: the same rules applied to its events


@dialects
def test_mock_error_is_the_sdks_error_and_the_sdk_retries(mock: Target, dialect: str) -> None:
    seen = ADAPTERS[dialect](mock, "error status=429 retry_after=0.01 retries=0", retries=2)
    assert_status_error(dialect, seen, 429)
    assert mock.chaos.counts() == {"error 429": 3}


@dialects
@pytest.mark.parametrize(
    ("rule", "kind", "kept", "message"),
    [
        ("drop after=3", "drop", 3, "mock broke off the stream"),
        ("early-end after=3", "early-end", 3, "mock ended the stream before finishing"),
        ("malformed at=3 how=json", "malformed", 2, "mock sent a malformed stream line"),
    ],
)
def test_mock_faults_mid_stream_are_the_dialects_mid_stream_error(
    mock: Target, dialect: str, rule: str, kind: str, kept: int, message: str
) -> None:
    seen = ADAPTERS[dialect](mock, rule)
    assert mock.chaos.counts() == {kind: 1}
    sent = upstream_chunk_texts(mock, dialect)[:kept]
    assert_mid_stream_error(dialect, seen, sent, message)


@dialects
def test_mock_duplicate_doubles_the_chunks_text(mock: Target, dialect: str) -> None:
    seen = ADAPTERS[dialect](mock, "duplicate at=3")
    assert mock.chaos.counts() == {"duplicate": 1}
    chunks = upstream_chunk_texts(mock, dialect)
    expected = "".join(chunks[:3]) + chunks[2] + "".join(chunks[3:])
    assert_completed(seen, expected)


@dialects
def test_mock_malformed_utf8_is_a_replacement_character(mock: Target, dialect: str) -> None:
    seen = ADAPTERS[dialect](mock, "malformed at=2 how=utf8")
    assert mock.chaos.counts() == {"malformed": 1}
    chunks = upstream_chunk_texts(mock, dialect)
    assert_completed(seen, "".join(chunks[:1]) + "\ufffd" + "".join(chunks[1:]))
