"""A soak run: a steady mixed load on the proxy for minutes, to see whether it holds up
over time: its memory, its errors, its latency.

Usage::

    python benchmarks/soak.py [--minutes 10] [--rate 25] [--warmup 15]
                              [--hang-up-share 0.1] [--seed 15] [--json]

Two subprocesses, each with its own interpreter: the fake OpenAI upstream
(`python -m chatmock_lab.testing`) and the proxy (`chatmock-lab serve`, default provider
mock, `--mock-delay-ms` so its streams take a while). Requests go out at a steady rate
(open loop: on schedule, whether or not earlier ones have finished), each drawn at random
(seeded) among the five inbound dialects (Chat Completions, Responses, Anthropic, Gemini,
Ollama), streaming or not, and answered by the mock or, with `?provider=openai`, by the
fake upstream through the proxy. Bodies are written by the dialects' own client codecs.
A share of the streamed requests hangs up after a random number of body bytes.
The mock's streams last some 0.2 s; the fake upstream's default answer streams at once,
so hang-ups in front of it land while the proxy is still writing or just after.

Reported: the proxy's RSS after the warm-up and at the end (and the change in %), its
peak, the fake upstream's RSS alike (it keeps its last 1000 requests, frames included,
so it grows until it has seen that many), the errors (any 5xx, another unexpected status, an
answer that is not complete in its dialect, a timeout, a transport error), and the p50
and p99 latency of the complete answers (the whole answer, not its first byte), overall
and by dialect and mode. RSS is read from /proc (Linux).

Exit status: 0 if no request failed, 1 if any did, 2 if a server could not be started,
130 on Ctrl-C, 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from loadgen import (
    MAX_ERROR_SAMPLES,
    REQUEST_TIMEOUT_S,
    USER_PROMPT,
    ServerProcess,
    exit_on_sigterm,
    fake_upstream_process,
    format_ms,
    markdown_table,
    nan_to_none,
    percentile,
    proxy_process,
    start_servers,
)

from chatmock_lab.core import ChatRequest, Message, TextPart
from chatmock_lab.dialects import DIALECTS
from chatmock_lab.lab.answers import read_answer

PROG = "soak"
API_KEY = "sk-soak-upstream"
DIALECT_NAMES = ("openai", "responses", "anthropic", "gemini", "ollama")
PROVIDERS = ("mock", "openai")
# The model each provider is asked for: the fake upstream answers any name.
MODELS = {"mock": "mock", "openai": "fake-model-1"}
# The mock's answer to USER_PROMPT is some 35 chunks: about 0.2 s at 5 ms apart, long
# enough for a hang-up to land mid-stream.
MOCK_DELAY_MS = 5
# Far above what the rate needs, so the proxy's Gate is never what limits the run.
PROXY_CONCURRENCY = 256
# Requests in flight beyond which the load generator is not keeping up: counted as
# errors instead of piling up without bound.
MAX_IN_FLIGHT = 512
RSS_SAMPLE_S = 5.0
# What marks a streamed answer complete, beyond a finish reason: its last frame.
_STREAM_ENDS = {
    "openai": b"data: [DONE]",
    "responses": b"event: response.completed",
    "anthropic": b"event: message_stop",
}

_COLUMNS = [
    ("dialect", False),
    ("mode", False),
    ("provider", False),
    ("complete", True),
    ("hung up", True),
    ("errors", True),
    ("p50 ms", True),
    ("p99 ms", True),
]


@dataclass(frozen=True, slots=True)
class Kind:
    dialect: str
    stream: bool
    provider: str

    @property
    def mode(self) -> str:
        return "streaming" if self.stream else "non-streaming"


@dataclass(slots=True)
class Tally:
    latencies: dict[Kind, list[float]] = field(default_factory=dict)
    hung_up: Counter[Kind] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    errors_by_kind: Counter[Kind] = field(default_factory=Counter)
    sent: int = 0
    # How far behind its schedule the generator fell at worst, in seconds.
    max_lag: float = 0.0

    def fail(self, kind: Kind, message: str) -> None:
        self.errors[f"{kind.dialect} {kind.mode} via {kind.provider}: {message}"[:300]] += 1
        self.errors_by_kind[kind] += 1

    @property
    def complete(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


@dataclass(frozen=True, slots=True)
class Prepared:
    url: str
    body: bytes


def prepare(kind: Kind) -> Prepared:
    """The request a client of `kind.dialect` sends, encoded once: serialising per request
    would spend the CPU the two servers on this machine need."""
    chat = ChatRequest(
        model=MODELS[kind.provider], messages=[Message(role="user", parts=[TextPart(USER_PROMPT)])]
    )
    rendered = DIALECTS[kind.dialect].render_request(chat, stream=kind.stream)
    path = rendered.path
    # The Responses codec gives its path relative to the API root.
    if not path.startswith(("/v1", "/api")):
        path = f"/v1{path}"
    if kind.provider != "mock":
        path += ("&" if "?" in path else "?") + f"provider={kind.provider}"
    return Prepared(path, json.dumps(rendered.body).encode())


def incomplete(kind: Kind, status: int, body: bytes) -> str | None:
    """Why an answer is not a complete one in its dialect, or None."""
    if status >= 500:
        return f"HTTP {status} (5xx)"
    if status != 200:
        return f"unexpected HTTP {status}: {body[:200]!r}"
    answer = read_answer(kind.dialect, status, body, streamed=kind.stream)
    if answer.error is not None:
        return answer.error
    if not answer.text:
        return "no text in the answer"
    if answer.finish_reason is None:
        return "no finish reason: the answer is cut short"
    end = _STREAM_ENDS.get(kind.dialect)
    if kind.stream and end is not None and end not in body:
        return f"the stream does not end with {end.decode()}"
    return None


async def one_request(
    client: httpx.AsyncClient,
    kind: Kind,
    prepared: Prepared,
    hang_up_after: int | None,
    tally: Tally,
) -> None:
    start = time.perf_counter()
    try:
        async with client.stream("POST", prepared.url, content=prepared.body) as response:
            if hang_up_after is not None and response.status_code == 200:
                received = 0
                async for chunk in response.aiter_raw():
                    received += len(chunk)
                    if received >= hang_up_after:
                        # Leaving the block unread closes the connection under the answer.
                        tally.hung_up[kind] += 1
                        return
            body = await response.aread()
    except httpx.TimeoutException as exc:
        tally.fail(kind, f"timeout ({type(exc).__name__})")
        return
    except httpx.HTTPError as exc:
        tally.fail(kind, f"{type(exc).__name__}: {exc}")
        return
    elapsed = time.perf_counter() - start
    problem = incomplete(kind, response.status_code, body)
    if problem is not None:
        tally.fail(kind, problem)
        return
    tally.latencies.setdefault(kind, []).append(elapsed)


class Load:
    """Requests at a steady rate, each kind and hang-up drawn from one seeded generator."""

    def __init__(self, url: str, rate: float, hang_up_share: float, seed: int) -> None:
        self.url = url
        self.rate = rate
        self.hang_up_share = hang_up_share
        self.rng = random.Random(seed)
        self.kinds = [
            Kind(dialect, stream, provider)
            for dialect in DIALECT_NAMES
            for stream in (False, True)
            for provider in PROVIDERS
        ]
        self.prepared = {kind: prepare(kind) for kind in self.kinds}

    def draw(self) -> tuple[Kind, int | None]:
        kind = self.rng.choice(self.kinds)
        hang_up = kind.stream and self.rng.random() < self.hang_up_share
        return kind, self.rng.randint(1, 2000) if hang_up else None

    async def run(self, client: httpx.AsyncClient, seconds: float, tally: Tally) -> None:
        loop = asyncio.get_running_loop()
        in_flight: set[asyncio.Task[None]] = set()
        start = loop.time()
        try:
            for number in range(round(seconds * self.rate)):
                due = start + number / self.rate
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    tally.max_lag = max(tally.max_lag, -wait)
                kind, hang_up_after = self.draw()
                tally.sent += 1
                if len(in_flight) >= MAX_IN_FLIGHT:
                    tally.fail(kind, f"not sent: {MAX_IN_FLIGHT} requests already in flight")
                    continue
                task = asyncio.create_task(
                    one_request(client, kind, self.prepared[kind], hang_up_after, tally)
                )
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if in_flight:
                await asyncio.gather(*in_flight)
        finally:
            for task in in_flight:
                task.cancel()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssWatch:
    """A server process's RSS: at a mark (after the warm-up), at the end, and its peak."""

    def __init__(self, name: str, server: ServerProcess) -> None:
        if server.pid is None:
            raise RuntimeError(f"{name} is not running")
        self.name = name
        self.pid = server.pid
        self.start = self.end = self.peak = rss_bytes(self.pid)

    def sample(self) -> None:
        self.end = rss_bytes(self.pid)
        self.peak = max(self.peak, self.end)

    def mark_start(self) -> None:
        self.sample()
        self.start = self.peak = self.end

    @property
    def change_percent(self) -> float:
        return (self.end - self.start) / self.start * 100

    def line(self) -> str:
        mb = 1024 * 1024
        return (
            f"{self.name} RSS: {self.start / mb:.1f} MiB after the warm-up, "
            f"{self.end / mb:.1f} MiB at the end, change {self.change_percent:+.1f} % "
            f"(peak {self.peak / mb:.1f} MiB)"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "start_bytes": self.start,
            "end_bytes": self.end,
            "peak_bytes": self.peak,
            "change_percent": self.change_percent,
        }


async def sample_rss(watches: Sequence[RssWatch]) -> None:
    while True:
        await asyncio.sleep(RSS_SAMPLE_S)
        for watch in watches:
            watch.sample()


async def soak(
    load: Load, warmup_s: float, minutes: float, watches: Sequence[RssWatch]
) -> tuple[Tally, Tally, float]:
    """The warm-up, then the measured run; their tallies and the run's wall time."""
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=load.url,
        limits=limits,
        timeout=REQUEST_TIMEOUT_S,
        headers={"content-type": "application/json"},
        # Never an HTTP proxy from the environment: the target is on 127.0.0.1.
        trust_env=False,
    ) as client:
        warm = Tally()
        await load.run(client, warmup_s, warm)
        for watch in watches:
            watch.mark_start()
        sampler = asyncio.create_task(sample_rss(watches))
        tally = Tally()
        started = time.perf_counter()
        try:
            await load.run(client, minutes * 60, tally)
        finally:
            sampler.cancel()
        elapsed = time.perf_counter() - started
        for watch in watches:
            watch.sample()
    return warm, tally, elapsed


# ---------------------------------------------------------------------------------------------
# Reporting


def _all_latencies(tally: Tally) -> list[float]:
    return sorted(x for values in tally.latencies.values() for x in values)


def _rows(load: Load, tally: Tally) -> list[list[str]]:
    rows = []
    for kind in load.kinds:
        values = sorted(tally.latencies.get(kind, []))
        rows.append(
            [
                kind.dialect,
                kind.mode,
                kind.provider,
                str(len(values)),
                str(tally.hung_up[kind]),
                str(tally.errors_by_kind[kind]),
                format_ms(percentile(values, 50) * 1000),
                format_ms(percentile(values, 99) * 1000),
            ]
        )
    return rows


def report(
    args: argparse.Namespace,
    load: Load,
    warm: Tally,
    tally: Tally,
    elapsed: float,
    watches: Sequence[RssWatch],
) -> str:
    latencies = _all_latencies(tally)
    hung_up = sum(tally.hung_up.values())
    lines = [
        f"{PROG}: {args.minutes:g} min at {args.rate:g} req/s after a {args.warmup:g} s warm-up;"
        f" dialects {', '.join(DIALECT_NAMES)}; streaming and not; providers mock"
        f" (--mock-delay-ms {MOCK_DELAY_MS}) and openai (the fake upstream, ?provider=openai);"
        f" {args.hang_up_share:.0%} of streams hang up mid-body; seed {args.seed}",
        "",
        f"requests: {tally.sent} sent in {elapsed:.1f} s ({tally.sent / elapsed:.1f} req/s),"
        f" {tally.complete} complete, {hung_up} hung up on purpose,"
        f" errors: {tally.failed}" + (" **FAILED**" if tally.failed else ""),
        f"latency of complete answers: p50 {format_ms(percentile(latencies, 50) * 1000)} ms,"
        f" p99 {format_ms(percentile(latencies, 99) * 1000)} ms;"
        f" the generator fell behind its schedule by at most {tally.max_lag * 1000:.0f} ms",
        *(watch.line() for watch in watches),
        "",
        markdown_table(_COLUMNS, _rows(load, tally)),
    ]
    if warm.failed:
        lines.append(f"\nwarm-up errors: {warm.failed}")
    samples = tally.errors + Counter({f"warm-up: {k}": v for k, v in warm.errors.items()})
    for message, count in samples.most_common(MAX_ERROR_SAMPLES):
        lines.append(f"- {count} x {message}")
    return "\n".join(lines)


def as_json(
    args: argparse.Namespace, warm: Tally, tally: Tally, elapsed: float, watches: Sequence[RssWatch]
) -> dict[str, Any]:
    latencies = _all_latencies(tally)
    return nan_to_none(
        {
            "settings": vars(args) | {"mock_delay_ms": MOCK_DELAY_MS},
            "sent": tally.sent,
            "elapsed_s": elapsed,
            "complete": tally.complete,
            "hung_up": sum(tally.hung_up.values()),
            "errors": tally.failed,
            "warmup_errors": warm.failed,
            "error_samples": dict(tally.errors.most_common(MAX_ERROR_SAMPLES)),
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "max_lag_ms": tally.max_lag * 1000,
            "rss": {watch.name: watch.as_json() for watch in watches},
            "ok": tally.failed == 0 and warm.failed == 0,
        }
    )


# ---------------------------------------------------------------------------------------------
# Command line


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="A steady mixed load on chatmock-lab for minutes: RSS, errors, latency."
    )
    parser.add_argument(
        "--minutes", type=_positive_float, default=10.0, help="measured run; default 10"
    )
    parser.add_argument(
        "--rate", type=_positive_float, default=25.0, help="requests per second; default 25"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=15.0,
        help="seconds of the same load before the RSS baseline; default 15",
    )
    parser.add_argument(
        "--hang-up-share",
        type=_share,
        default=0.1,
        help="share of streamed requests that hang up mid-body; default 0.1",
    )
    parser.add_argument("--seed", type=int, default=15, help="random seed; default 15")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    servers: list[ServerProcess] = []
    try:
        fake = fake_upstream_process(API_KEY)
        servers.append(fake)
        if not start_servers(PROG, [fake]):
            return 2
        proxy = proxy_process(
            "mock",
            [
                "--max-concurrency", str(PROXY_CONCURRENCY),
                "--mock-delay-ms", str(MOCK_DELAY_MS),
            ],
            env={"OPENAI_API_KEY": API_KEY, "CHATMOCK_OPENAI_BASE_URL": f"{fake.url}/v1"},
            name="the proxy",
        )  # fmt: skip
        servers.append(proxy)
        if not start_servers(PROG, [proxy]):
            return 2
        watches = [RssWatch("proxy", proxy), RssWatch("fake upstream", fake)]
        load = Load(proxy.url, args.rate, args.hang_up_share, args.seed)
        warm, tally, elapsed = asyncio.run(soak(load, args.warmup, args.minutes, watches))
        for server in servers:
            if not server.alive:
                print(f"{PROG}: {server.name} died during the run", file=sys.stderr)
                tally.errors[f"{server.name} died"] += 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        print(f"{PROG}: terminated", file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        # The proxy first, so it is never left talking to an upstream that is already gone.
        for server in reversed(servers):
            server.stop()
        signal.signal(signal.SIGTERM, previous)

    if args.json:
        print(json.dumps(as_json(args, warm, tally, elapsed, watches), indent=2))
    else:
        print(report(args, load, warm, tally, elapsed, watches))
    for server in servers:
        if not server.stopped_cleanly:
            print(
                f"{PROG}: {server.name} did not stop cleanly (exit {server.exit_code})",
                file=sys.stderr,
            )
    return 1 if tally.failed or warm.failed else 0


if __name__ == "__main__":
    sys.exit(main())
