"""Three measurements of the proxy's own overhead, each against the bar its issue sets:
the dialects' stream renderers alone, 1,000 streams held open at once, and a 1,000-request
cassette replay through the pytest plugin.

Usage::

    python benchmarks/overhead_parts.py [renderers|streams|replay|all] [--json]

- `renderers`: each dialect's stream renderer (OpenAI chat, Anthropic, Gemini, Ollama,
  Responses) fed a canonical event stream with exactly the calls `render_events` makes
  (start, feed per event, a join per batch, finish), in this process, no HTTP; events
  and bytes per second of CPU time (`time.process_time`), best of 3. Bar: 50,000
  events/s per dialect. The `render_events` column drives the server's real
  `render_events` (its queue and pump task on an event loop) for comparison; the bar
  applies to the renderer alone.
- `streams`: `chatmock-lab serve --provider mock` with a slow stream, 1,000 streaming
  chat completions opened at once by a raw asyncio HTTP/1.1 client, held until each has
  its first chunk (the server RSS and its open sockets read then), then read to
  `data: [DONE]`. Bar: no error, every stream open at the reading, at most 50 KB more
  server RSS per stream than before they opened.
- `replay`: a cassette of 1,000 interactions recorded from `FakeOpenAIUpstream`, then
  replayed by a one-test pytest file through the `chatmock` fixture with the official
  `openai` SDK (half streaming), in a pytest subprocess. Bar: at most 5 s wall time. The
  floor column is the same pytest command on a test that only imports the SDK: what
  starting pytest with the installed plugins costs before any replay.

Each part is a function (`bench_renderers`, `bench_open_streams`, `bench_replay`) with a
`format_*` table; bench_overhead.py runs them all through `run_all`, and reports them with
`checks` (its own checks' fields), `as_json` and `format_all`.

Exit status: 0 if every bar is met, 1 if one is not, 2 if a server could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadgen import (
    MINIMAL_UPSTREAM_LINE,
    ServerProcess,
    child_environment,
    markdown_table,
    nan_to_none,
    positive,
    proxy_process,
)

from chatmock_lab.core import (
    Error,
    Event,
    Finish,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from chatmock_lab.dialects import anthropic, gemini, ollama, openai, responses
from chatmock_lab.redact import Redactor
from chatmock_lab.server.responses import StreamRenderer, render_events

PROG = "overhead_parts"
PARTS = ("renderers", "streams", "replay")

RENDERER_BAR_EPS = 50_000
STREAM_BAR_KB = 50.0
REPLAY_BAR_S = 5.0

MODEL = "gpt-4.1"
RUNS = 3

# ---------------------------------------------------------------------------------------------
# 1. Renderers alone

# One answer as an upstream streams it: prompt usage first (as the mock sends it), text in
# token-sized pieces, one tool call whose arguments arrive in pieces, then usage and the end.
# Many such streams make up the measured events, so each renderer's start and finish (and
# the Responses renderer's final body, which repeats the whole output) count at their
# usual weight instead of once per 200,000 events.
_EVENTS_PER_STREAM = 1000
_TOOL_DELTAS = 40
_PIECES = ("Hello", ",", " this", " is", " a", " stream", "ed", " answer", " with", " text")
_ARGUMENT_PIECES = ('{"ci', 'ty": ', '"Par', 'is", ', '"uni', 'ts": ', '"c"}')


@dataclass
class RendererResult:
    dialect: str
    events: int
    cpu_s: float
    events_per_s: float
    bytes_per_s: float
    # Through the server's own render_events, on an event loop (queue, pump task).
    pipeline_events_per_s: float
    bar_events_per_s: int = RENDERER_BAR_EPS

    @property
    def passed(self) -> bool:
        return self.events_per_s >= self.bar_events_per_s


def answer_events(total: int = _EVENTS_PER_STREAM) -> list[Event]:
    """A realistic canonical stream of `total` events (at least 46)."""
    texts = total - _TOOL_DELTAS - 5
    if texts < 1:
        raise ValueError(f"a stream needs at least {_TOOL_DELTAS + 6} events, got {total}")
    events: list[Event] = [Usage(input_tokens=42)]
    events += [TextDelta(_PIECES[i % len(_PIECES)]) for i in range(texts)]
    events.append(ToolCallStart(index=0, id="call_0123456789abcdef", name="get_weather"))
    events += [
        ToolCallDelta(index=0, arguments=_ARGUMENT_PIECES[i % len(_ARGUMENT_PIECES)])
        for i in range(_TOOL_DELTAS)
    ]
    events += [
        ToolCallEnd(index=0),
        Usage(input_tokens=42, output_tokens=texts + _TOOL_DELTAS),
        Finish(reason="tool_calls"),
    ]
    return events


def _ollama_now() -> str:
    # What ollama_routes gives its renderer as `clock`.
    return ollama.created_at(time.time_ns())


def _responses_context() -> responses.ResponseContext:
    # Echoed fields as a minimal SDK request yields them.
    _, options = responses.parse_request({"model": MODEL, "input": "Hi", "stream": True})
    return responses.ResponseContext(
        id=f"resp_{uuid.uuid4().hex}",
        model=MODEL,
        created_at=int(time.time()),
        echo=options.echo,
        include_encrypted_reasoning=options.include_encrypted_reasoning,
    )


def _ignore_completed(body: dict[str, Any], answer: object) -> None:
    # The route's `on_complete` with `store: false`: called, keeps nothing.
    return None


# Each built as its route builds it for a plain streaming request.
RENDERERS: dict[str, Callable[[], StreamRenderer]] = {
    "openai": lambda: openai.ChatStreamRenderer(
        id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
        model=MODEL,
        created=int(time.time()),
        include_usage=True,
        logprobs=False,
    ),
    "anthropic": lambda: anthropic.MessageStreamRenderer(
        id=f"msg_{uuid.uuid4().hex[:24]}", model=MODEL, include_thinking=False, input_tokens=42
    ),
    "gemini": lambda: gemini.GenerateStreamRenderer(
        id=uuid.uuid4().hex[:22], model=MODEL, include_thoughts=False, sse=True, logprobs=False
    ),
    "ollama": lambda: ollama.StreamRenderer(
        endpoint="chat",
        model=MODEL,
        clock=_ollama_now,
        durations=lambda: ollama.Durations(total=4000, load=1000, prompt_eval=1000, eval=2000),
        show_thinking=True,
        logprobs=False,
    ),
    "responses": lambda: responses.ResponseStreamRenderer(
        _responses_context(), clock=time.time, on_complete=_ignore_completed
    ),
}


def _render_stream(renderer: StreamRenderer, events: Sequence[Event], redactor: Redactor) -> int:
    """The bytes `render_events` would write for `events`, each event its own batch (one
    upstream frame per packet, the costlier case): the same calls in the same order."""
    written = 0
    start = renderer.start()
    if start:
        written += len(b"".join(start))
    for event in events:
        frames: list[bytes] = []
        if isinstance(event, Error):
            event = Error(redactor.error(event.error))
        frames += renderer.feed(event)
        if frames:
            written += len(b"".join(frames))
    closing = renderer.finish()
    if closing:
        written += len(b"".join(closing))
    return written


def _time_direct(
    make: Callable[[], StreamRenderer], streams: int, events: list[Event]
) -> tuple[float, int]:
    redactor = Redactor()
    start = time.process_time()
    written = sum(_render_stream(make(), events, redactor) for _ in range(streams))
    return time.process_time() - start, written


async def _replayed(events: Sequence[Event]) -> AsyncGenerator[Event, None]:
    for event in events:
        yield event


async def _drain_pipeline(
    make: Callable[[], StreamRenderer], streams: int, events: list[Event]
) -> None:
    redactor = Redactor()
    for _ in range(streams):
        async for _frame in render_events(_replayed(events), make(), redactor=redactor):
            pass


def _time_pipeline(make: Callable[[], StreamRenderer], streams: int, events: list[Event]) -> float:
    start = time.process_time()
    asyncio.run(_drain_pipeline(make, streams, events))
    return time.process_time() - start


def bench_renderers(events: int = 200_000) -> list[RendererResult]:
    """Each dialect's stream renderer over `events` events (whole streams of 1,000)."""
    stream = answer_events()
    streams = max(1, round(events / len(stream)))
    total = streams * len(stream)
    # The event loop costs more per event than the renderers; a quarter of the events
    # tells its rate as well and keeps the run short.
    pipeline_streams = max(1, streams // 4)
    results = []
    for dialect, make in RENDERERS.items():
        _time_direct(make, 1, stream)  # warm caches and lazy imports
        cpu, written = min(_time_direct(make, streams, stream) for _ in range(RUNS))
        pipeline_cpu = min(_time_pipeline(make, pipeline_streams, stream) for _ in range(RUNS))
        results.append(
            RendererResult(
                dialect=dialect,
                events=total,
                cpu_s=cpu,
                events_per_s=total / cpu,
                bytes_per_s=written / cpu,
                pipeline_events_per_s=pipeline_streams * len(stream) / pipeline_cpu,
            )
        )
    return results


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "**FAIL**"


def format_renderers(results: Sequence[RendererResult]) -> str:
    columns = [
        ("dialect", False),
        ("events", True),
        ("CPU s", True),
        ("events/s", True),
        ("MB/s", True),
        ("render_events events/s", True),
        (f">= {RENDERER_BAR_EPS:,} events/s", False),
    ]
    rows = [
        [
            r.dialect,
            f"{r.events:,}",
            f"{r.cpu_s:.3f}",
            f"{r.events_per_s:,.0f}",
            f"{r.bytes_per_s / 1e6:.1f}",
            f"{r.pipeline_events_per_s:,.0f}",
            _verdict(r.passed),
        ]
        for r in results
    ]
    return markdown_table(columns, rows)


# ---------------------------------------------------------------------------------------------
# 2. Many streams open at once

_STREAM_DELAY_MS = 200
# How long each measured stream runs (one character per chunk, a chunk per delay): longer
# than it takes to open them all, so all are open at once when the RSS is read.
_STREAM_SECONDS = 12.0
_MOCK_PREFIX = "You said: "
_WARMUP_STREAMS = 32
_CONNECT_TIMEOUT_S = 30.0
_HEAD_LIMIT = 64 * 1024
_DONE = b"data: [DONE]"


@dataclass
class StreamsResult:
    streams: int
    errors: int
    open_s: float
    stream_s: float
    # The server's connections at the RSS reading, beyond those it had before.
    open_at_reading: int
    rss_before_kb: int
    rss_open_kb: int
    rss_after_kb: int
    bar_kb_per_stream: float = STREAM_BAR_KB
    error_samples: list[str] = field(default_factory=list)

    @property
    def kb_per_stream(self) -> float:
        return (self.rss_open_kb - self.rss_before_kb) / self.streams

    @property
    def passed(self) -> bool:
        return (
            self.errors == 0
            and self.open_at_reading >= self.streams
            and self.kb_per_stream <= self.bar_kb_per_stream
        )


class _StreamFailed(Exception):
    pass


def socket_count(pid: int) -> int:
    """How many sockets a process has open: the server closes a stream's connection as
    the stream ends, so this tells how many streams are still open."""
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed while being looked at
            count += os.readlink(fd).startswith("socket:")
    return count


def _settled_socket_count(pid: int, timeout: float = 3.0) -> int:
    """`socket_count` once connections that were closing have gone: unchanged over a
    tenth of a second, or whatever it is at the deadline."""
    deadline = time.monotonic() + timeout
    readings = [socket_count(pid)]
    while time.monotonic() < deadline and (len(readings) < 5 or len(set(readings[-5:])) > 1):
        time.sleep(0.02)
        readings.append(socket_count(pid))
    return readings[-1]


def rss_kb(pid: int) -> int:
    """A process's resident set size (VmRSS) in kB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no VmRSS in /proc/{pid}/status")
    return int(match[1])


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _chat_request(host: str, port: int, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        # The server ends the connection with the stream: reading to EOF reads it all.
        "Connection: close\r\n\r\n"
    )
    return head.encode() + payload


def _streaming_body(chars: int) -> dict[str, Any]:
    """A streaming chat request the mock answers with `chars` characters in all."""
    prompt = ("slow stream " * chars)[: max(1, chars - len(_MOCK_PREFIX))]
    return {"model": "mock", "messages": [{"role": "user", "content": prompt}], "stream": True}


class _RawStream:
    """One streaming request over a raw connection: opened up to its first SSE chunk,
    read to the end later. Connections are cheap this way: no HTTP library, one buffer."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self._host = host
        self._port = port
        self._request = request
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tail = b""

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self._writer.write(self._request)
        await self._writer.drain()
        head = await self._reader.readuntil(b"\r\n\r\n")
        if len(head) > _HEAD_LIMIT:
            raise _StreamFailed("response head too long")
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            body = await self._reader.read(300)
            raise _StreamFailed(f"{status.decode(errors='replace')}: {body[:200]!r}")
        buffered = b""
        while b"data: " not in buffered:
            data = await self._reader.read(4096)
            if not data:
                raise _StreamFailed("stream ended before its first chunk")
            buffered += data
        self._tail = buffered[-64:]

    async def finish(self) -> None:
        assert self._reader is not None
        tail = self._tail
        while data := await self._reader.read(65536):
            tail = (tail + data)[-64:]
        if _DONE not in tail:
            raise _StreamFailed(f"stream did not end with data: [DONE] (ends {tail[-40:]!r})")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc) or repr(exc)}"[:300]


async def _run_streams(
    host: str, port: int, request: bytes, count: int, on_all_open: Callable[[], None]
) -> tuple[list[str], float, float]:
    """`count` streams opened at once, `on_all_open` called once every one has its first
    chunk (or failed), then all read to the end. Returns the failures, the seconds the
    opening took and the seconds the whole took."""
    streams = [_RawStream(host, port, request) for _ in range(count)]
    start = time.perf_counter()
    opened = await asyncio.gather(
        *(asyncio.wait_for(s.open(), _CONNECT_TIMEOUT_S) for s in streams), return_exceptions=True
    )
    open_s = time.perf_counter() - start
    on_all_open()
    failures = [_describe(r) for r in opened if isinstance(r, BaseException)]
    readable = [s for s, r in zip(streams, opened, strict=True) if not isinstance(r, BaseException)]
    limit = _STREAM_SECONDS * 4 + _CONNECT_TIMEOUT_S
    finished = await asyncio.gather(
        *(asyncio.wait_for(s.finish(), limit) for s in readable), return_exceptions=True
    )
    failures += [_describe(r) for r in finished if isinstance(r, BaseException)]
    await asyncio.gather(*(s.close() for s in streams), return_exceptions=True)
    return failures, open_s, time.perf_counter() - start


def _streams_server(streams: int) -> ServerProcess:
    args = [
        "--mock-delay-ms", str(_STREAM_DELAY_MS),
        "--mock-chunk-chars", "1",
        # Above the stream count: none waits in line for a slot.
        "--max-concurrency", str(streams + _WARMUP_STREAMS + 16),
    ]  # fmt: skip
    return proxy_process("mock", args, name="the mock proxy")


def bench_open_streams(streams: int = 1000) -> StreamsResult:
    """`streams` streaming chat completions held open at once against a mock proxy."""
    # Each stream takes a descriptor here and one in the server, which inherits the limit.
    _raise_fd_limit(streams + _WARMUP_STREAMS + 256)
    server = _streams_server(streams)
    try:
        server.start()
        assert server.pid is not None
        pid = server.pid
        match = re.match(r"https?://([^:/]+):(\d+)", server.url)
        assert match is not None
        host, port = match[1], int(match[2])
        # Warm-up: the first streams load the tokenizer and fill the allocator's pools,
        # which would otherwise count as the streams' own memory.
        short = dict(_streaming_body(20), max_tokens=1)
        warm, _, _ = asyncio.run(
            _run_streams(host, port, _chat_request(host, port, short), _WARMUP_STREAMS, _noop)
        )
        if warm:
            raise RuntimeError(f"warm-up streams failed: {warm[0]}")
        sockets = _settled_socket_count(pid)
        before = rss_kb(pid)
        chars = int(_STREAM_SECONDS * 1000 / _STREAM_DELAY_MS) + 1
        request = _chat_request(host, port, _streaming_body(chars))
        measured: list[tuple[int, int]] = []

        def reading() -> None:
            measured.append((rss_kb(pid), socket_count(pid) - sockets))

        failures, open_s, total_s = asyncio.run(_run_streams(host, port, request, streams, reading))
        after = rss_kb(pid)
    finally:
        server.stop()
    return StreamsResult(
        streams=streams,
        errors=len(failures),
        open_s=open_s,
        stream_s=total_s,
        open_at_reading=measured[0][1],
        rss_before_kb=before,
        rss_open_kb=measured[0][0],
        rss_after_kb=after,
        error_samples=sorted(set(failures))[:5],
    )


def _noop() -> None:
    return None


def format_streams(result: StreamsResult) -> str:
    columns = [
        ("streams", True),
        ("errors", True),
        ("open s", True),
        ("open at reading", True),
        ("RSS before MB", True),
        ("RSS open MB", True),
        ("RSS after MB", True),
        ("KB/stream", True),
        (f"no error, <= {STREAM_BAR_KB:g} KB/stream", False),
    ]
    row = [
        f"{result.streams:,}",
        str(result.errors),
        f"{result.open_s:.2f}",
        f"{result.open_at_reading:,}",
        f"{result.rss_before_kb / 1024:.1f}",
        f"{result.rss_open_kb / 1024:.1f}",
        f"{result.rss_after_kb / 1024:.1f}",
        f"{result.kb_per_stream:.1f}",
        _verdict(result.passed),
    ]
    table = markdown_table(columns, [row])
    if result.error_samples:
        table += "\n\nerrors: " + "; ".join(result.error_samples)
    return table


# ---------------------------------------------------------------------------------------------
# 3. A cassette replayed through the pytest plugin

_REPLAY_MODEL = "fake-model-1"
_REPLAY_KEY = "sk-fake-overhead-parts-key-0000000000"
_CASSETTE = "replay.chatmock.yaml"
_PYTEST_TIMEOUT_S = 300.0
# One process, one test replaying the whole cassette, and no plugin but chatmock-lab's
# (plugin autoloading is off: see `run_pytest`).
PYTEST_FLAGS = ("-q", "-p", "chatmock_lab.pytest_plugin", "--durations=0")
_PASSED_LINE = re.compile(r"(\d+) passed.* in ([\d.]+)s")
_DURATION_LINE = re.compile(r"^([\d.]+)s (setup|call|teardown) ", re.MULTILINE)

# The test replays exactly what was recorded: prompt i, streamed when i is odd, and
# checks each answer, so a mismatch fails the run instead of being timed. Two clients:
# the official SDK (what a user's test does) and bare httpx, which parses next to nothing,
# so that what the replay itself costs shows apart from what the SDK does with answers.
_TEST_HEAD = '''\
"""Generated by benchmarks/overhead_parts.py: {requests} requests replayed from one cassette."""

import json

import httpx
import openai
import pytest

REQUESTS = {requests}
MODEL = {model!r}


def prompt(index):
    return f"Request {{index}}: say something short."

'''
_SDK_TEST = """
@pytest.mark.chatmock({cassette!r})
def test_replay(chatmock):
    client = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL and the key come from the fixture
    for index in range(REQUESTS):
        messages = [{{"role": "user", "content": prompt(index)}}]
        if index % 2:
            chunks = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            reply = client.chat.completions.create(model=MODEL, messages=messages)
            text = reply.choices[0].message.content
        assert text == f"Upstream says: {{prompt(index)}}", (index, text)
    assert chatmock.played == REQUESTS
"""
_HTTPX_TEST = """
def _streamed_text(response):
    text = ""
    for line in response.iter_lines():
        if line.startswith("data: {{"):
            choices = json.loads(line[6:])["choices"]
            if choices:
                text += choices[0]["delta"].get("content") or ""
    return text


@pytest.mark.chatmock({cassette!r})
def test_replay(chatmock):
    with httpx.Client(base_url=chatmock.endpoints.openai) as client:
        for index in range(REQUESTS):
            body = {{"model": MODEL, "messages": [{{"role": "user", "content": prompt(index)}}]}}
            if index % 2:
                streamed = body | {{"stream": True}}
                with client.stream("POST", "/chat/completions", json=streamed) as r:
                    text = _streamed_text(r)
            else:
                text = client.post("/chat/completions", json=body).json()
                text = text["choices"][0]["message"]["content"]
            assert text == f"Upstream says: {{prompt(index)}}", (index, text)
    assert chatmock.played == REQUESTS
"""
# The same run with nothing to replay: what starting pytest (with the plugin) and
# importing the SDK cost before the first request.
_FLOOR_FILE = '''\
"""Generated by benchmarks/overhead_parts.py: the cost of a pytest run before any request."""

import httpx
import openai


def test_nothing():
    assert openai.OpenAI and httpx.Client
'''
# The runs, in order: the SDK's first run parses the cassette's YAML, later ones read
# pytest's cache of it (cassettes/parse_cache.py).
REPLAY_RUNS = (("openai SDK", "cold"), ("openai SDK", "warm"), ("httpx", "warm"))


@dataclass
class ReplayRun:
    client: str
    # "cold": the first run, with no parsed cassette in pytest's cache; "warm": a later one.
    cache: str
    test_passed: bool
    wall_s: float
    pytest_s: float | None
    setup_s: float | None
    call_s: float | None
    output_tail: str = ""


@dataclass
class ReplayResult:
    requests: int
    record_s: float
    cassette_bytes: int
    runs: list[ReplayRun]
    # The same pytest command on a test that imports the SDK and sends nothing.
    floor_s: float
    # The SDK's own cost: the same requests straight to the minimal upstream, no pytest.
    sdk_alone_s: float
    bar_s: float = REPLAY_BAR_S

    @property
    def judged(self) -> ReplayRun:
        """The run the bar is read on: the SDK's, as a user's tests run it again."""
        return next(r for r in self.runs if r.client == "openai SDK" and r.cache == "warm")

    @property
    def passed(self) -> bool:
        return self.judged.test_passed and self.judged.wall_s <= self.bar_s


def _prompt(index: int) -> str:
    return f"Request {index}: say something short."


def _sdk_requests(base_url: str, requests: int) -> None:
    """The replay test's requests, by the SDK, to `base_url`; answers not checked."""
    import openai as openai_sdk

    with openai_sdk.OpenAI(base_url=base_url, api_key=_REPLAY_KEY, max_retries=0) as client:
        for index in range(requests):
            messages: Any = [{"role": "user", "content": _prompt(index)}]
            if index % 2:
                for _ in client.chat.completions.create(
                    model=_REPLAY_MODEL, messages=messages, stream=True
                ):
                    pass
            else:
                client.chat.completions.create(model=_REPLAY_MODEL, messages=messages)


def record_cassette(path: Path, requests: int) -> None:
    """`requests` chat completions (odd ones streamed) recorded from a fake OpenAI upstream
    into `path`, through the proxy and the official SDK, as a user would record them."""
    import chatmock_lab
    from chatmock_lab.testing import FakeOpenAIUpstream

    with FakeOpenAIUpstream(api_key=_REPLAY_KEY, keep_requests=1) as fake:
        env = {"OPENAI_API_KEY": _REPLAY_KEY, "CHATMOCK_OPENAI_BASE_URL": fake.base_url}
        with chatmock_lab.cassette(path, "rewrite", provider="openai", env=env) as session:
            _sdk_requests(session.endpoints.openai, requests)
            if session.recorded != requests:
                raise RuntimeError(f"recorded {session.recorded} interactions, not {requests}")


def time_sdk_alone(requests: int) -> float:
    """Seconds the SDK takes for the replay's requests against the minimal upstream (its
    answers cost it nothing), in this process: the part of a replay that is the SDK's."""
    upstream = ServerProcess(
        [sys.executable, str(Path(__file__).with_name("minimal_upstream.py")), "--chunks", "15"],
        MINIMAL_UPSTREAM_LINE,
        name="the minimal upstream",
    )
    upstream.start()
    try:
        _sdk_requests(f"{upstream.url}/v1", 20)  # connection and imports warm
        start = time.perf_counter()
        _sdk_requests(f"{upstream.url}/v1", requests)
        return time.perf_counter() - start
    finally:
        upstream.stop()


def write_replay_suite(directory: Path, requests: int) -> tuple[dict[str, Path], Path]:
    """The replaying test file of each client and the floor's (and an empty pytest.ini,
    so that no outer configuration applies)."""
    (directory / "pytest.ini").write_text("[pytest]\n")
    head = _TEST_HEAD.format(requests=requests, model=_REPLAY_MODEL)
    tests = {}
    for client, body in (("openai SDK", _SDK_TEST), ("httpx", _HTTPX_TEST)):
        test = directory / f"test_replay_{client.split()[-1].lower()}.py"
        test.write_text(head + body.format(cassette=_CASSETTE))
        tests[client] = test
    floor = directory / "test_floor.py"
    floor.write_text(_FLOOR_FILE)
    return tests, floor


def run_pytest(test: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """pytest on `test` in a subprocess, from its directory, with the chatmock plugin and no
    other (the plugins this environment has for its own tests, hypothesis above all, take
    a second to import, which is theirs to cost); and the wall time it took."""
    command = [sys.executable, "-m", "pytest", *PYTEST_FLAGS, test.name]
    start = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=test.parent,
        env=child_environment({"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}),
        capture_output=True,
        text=True,
        timeout=_PYTEST_TIMEOUT_S,
        check=False,
    )
    return done, time.perf_counter() - start


def _replay_run(test: Path, client: str, cache: str) -> ReplayRun:
    done, wall = run_pytest(test)
    output = done.stdout + done.stderr
    summary = _PASSED_LINE.search(output)
    durations = {phase: float(s) for s, phase in _DURATION_LINE.findall(done.stdout)}
    return ReplayRun(
        client=client,
        cache=cache,
        test_passed=done.returncode == 0 and summary is not None,
        wall_s=wall,
        pytest_s=float(summary[2]) if summary else None,
        setup_s=durations.get("setup"),
        call_s=durations.get("call"),
        output_tail="" if done.returncode == 0 else output[-2000:],
    )


def bench_replay(requests: int = 1000, directory: Path | None = None) -> ReplayResult:
    """A cassette of `requests` interactions replayed by one test through the `chatmock`
    fixture, in a pytest subprocess, once per entry of `REPLAY_RUNS`; `directory` keeps
    the files (default: a temporary one)."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=PROG)))
        start = time.perf_counter()
        record_cassette(directory / _CASSETTE, requests)
        record_s = time.perf_counter() - start
        tests, floor = write_replay_suite(directory, requests)
        floor_done, floor_s = run_pytest(floor)
        if floor_done.returncode != 0:
            raise RuntimeError(f"pytest failed on {floor.name}: {floor_done.stdout[-500:]}")
        shutil.rmtree(directory / ".pytest_cache", ignore_errors=True)  # the first run is cold
        runs = [_replay_run(tests[client], client, cache) for client, cache in REPLAY_RUNS]
        return ReplayResult(
            requests=requests,
            record_s=record_s,
            cassette_bytes=(directory / _CASSETTE).stat().st_size,
            runs=runs,
            floor_s=floor_s,
            sdk_alone_s=time_sdk_alone(requests),
        )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_replay(result: ReplayResult) -> str:
    columns = [
        ("client", False),
        ("parsed cassette", False),
        ("test passed", False),
        ("wall s", True),
        ("pytest s", True),
        ("setup s", True),
        ("call s", True),
        (f"<= {result.bar_s:g} s", False),
    ]
    rows = [
        [
            run.client,
            "parsed from YAML" if run.cache == "cold" else "from pytest's cache",
            "yes" if run.test_passed else "**no**",
            f"{run.wall_s:.2f}",
            _seconds(run.pytest_s),
            _seconds(run.setup_s),
            _seconds(run.call_s),
            _verdict(run.test_passed and run.wall_s <= result.bar_s)
            + (" (the bar's)" if run is result.judged else ""),
        ]
        for run in result.runs
    ]
    table = markdown_table(columns, rows)
    table += (
        f"\n\n{result.requests:,} requests (half streamed), cassette"
        f" {result.cassette_bytes / 1e6:.2f} MB. Same run: pytest with the plugin and an empty"
        f" test, {result.floor_s:.2f} s wall; the SDK alone, the same requests straight to the"
        f" minimal upstream, {result.sdk_alone_s:.2f} s."
    )
    for run in result.runs:
        if run.output_tail:
            table += f"\n\npytest output, {run.client} (tail):\n" + textwrap.indent(
                run.output_tail, "    "
            )
    return table


# ---------------------------------------------------------------------------------------------
# All three, as bench_overhead.py reports them


@dataclass
class Check:
    """One bar: what is measured, the figure, the bar, and whether it is met (the fields of
    bench_overhead.py's own checks, so both go in one table)."""

    what: str
    measured: str
    bar: str
    passed: bool


Part = list[RendererResult] | StreamsResult | ReplayResult
_TITLES = {
    "renderers": "Stream renderers alone",
    "streams": "Streams open at once",
    "replay": "Cassette replay through the pytest plugin",
}


def run_all(
    parts: Sequence[str] = PARTS,
    *,
    events: int = 200_000,
    streams: int = 1000,
    requests: int = 1000,
) -> dict[str, Part]:
    """The named parts, by name, each with its default size unless given."""
    results: dict[str, Part] = {}
    if "renderers" in parts:
        results["renderers"] = bench_renderers(events)
    if "streams" in parts:
        results["streams"] = bench_open_streams(streams)
    if "replay" in parts:
        results["replay"] = bench_replay(requests)
    return results


def checks(parts: dict[str, Part]) -> list[Check]:
    """Each part's bars, met or not."""
    found: list[Check] = []
    for part in parts.values():
        if isinstance(part, list):
            found += [
                Check(
                    f"{r.dialect} stream renderer, one core",
                    f"{r.events_per_s:,.0f} events/s",
                    f">= {r.bar_events_per_s:,} events/s",
                    r.passed,
                )
                for r in part
            ]
        elif isinstance(part, StreamsResult):
            found.append(
                Check(
                    f"{part.streams:,} streams open at once",
                    f"{part.errors} errors, {part.open_at_reading:,} open,"
                    f" {part.kb_per_stream:.1f} KB RSS per stream",
                    f"0 errors, all open, <= {part.bar_kb_per_stream:g} KB per stream",
                    part.passed,
                )
            )
        else:
            found.append(
                Check(
                    f"{part.requests:,}-request cassette replay through the pytest plugin"
                    " (openai SDK, second run)",
                    f"{part.judged.wall_s:.2f} s"
                    + ("" if part.judged.test_passed else " (the test failed)"),
                    f"<= {part.bar_s:g} s, test passing",
                    part.passed,
                )
            )
    return found


def as_json(part: Part) -> Any:
    """A part's results as JSON-ready values, with the derived figures and verdicts."""
    if isinstance(part, list):
        return [asdict(r) | {"passed": r.passed} for r in part]
    extra: dict[str, Any] = {"passed": part.passed}
    if isinstance(part, StreamsResult):
        extra["kb_per_stream"] = part.kb_per_stream
    return nan_to_none(asdict(part) | extra)


def format_all(parts: dict[str, Part]) -> str:
    """Each part's table under a heading."""
    sections = []
    for name, part in parts.items():
        if isinstance(part, list):
            table = format_renderers(part)
        elif isinstance(part, StreamsResult):
            table = format_streams(part)
        else:
            table = format_replay(part)
        sections.append(f"### {_TITLES[name]}\n\n{table}")
    return "\n\n".join(sections)


# ---------------------------------------------------------------------------------------------
# Command line


def _header() -> str:
    return (
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs,"
        f" {platform.system()} {platform.machine()}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("part", nargs="?", choices=(*PARTS, "all"), default="all")
    parser.add_argument("--events", type=positive, default=200_000, help="renderers: events")
    parser.add_argument("--streams", type=positive, default=1000, help="streams: how many")
    parser.add_argument("--requests", type=positive, default=1000, help="replay: requests")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        parts = run_all(
            PARTS if args.part == "all" else (args.part,),
            events=args.events,
            streams=args.streams,
            requests=args.requests,
        )
    except RuntimeError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    met = all(c.passed for c in checks(parts))
    if args.json:
        payload = {name: as_json(part) for name, part in parts.items()}
        print(json.dumps(payload | {"ok": met}, indent=2))
    else:
        print(f"{_header()}\n\n{format_all(parts)}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
