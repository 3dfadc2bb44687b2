"""Throughput and latency of the chatmock-lab proxy in front of its mock provider.

Usage::

    python benchmarks/bench_mock.py [--requests N] [--concurrency 1,32] [--warmup N]
                                    [--chunk-chars N] [--shared-client] [--json]

The server runs as a subprocess (`python -m chatmock_lab serve --port 0 --mock-delay-ms 0`)
so the load generator and the server each get their own interpreter and GIL. Each cell of
mode (non-streaming, streaming) x concurrency is warmed up, then timed over a fixed number
of requests. Note that the client is Python too: on a small machine the numbers describe
the client and the server together, not the server alone. In particular, one shared
httpx connection pool gets slower as it holds more connections (encode/httpx#3215), so by
default each concurrent worker has its own single-connection client; `--shared-client`
uses one pool for all workers instead, to show how much that costs.

Exit status: 0 if every request succeeded, 1 if any failed, 2 if the server could not be
started, 130 on Ctrl-C, 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import httpx

import chatmock_lab

MODES = ("non-streaming", "streaming")
DEFAULT_CONCURRENCY = (1, 32)
DEFAULT_WARMUP = 100
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0
MAX_ERROR_SAMPLES = 5

SYSTEM_PROMPT = "You are a concise assistant. Answer in plain English and keep replies short."
# About forty words, the size of a typical short chat turn. The mock quotes it back, so the
# reply (and, when streaming, the number of chunks) is of the same order.
USER_PROMPT = (
    "I am planning a three day trip to Lisbon in early October with two friends who love "
    "food and old architecture. Could you suggest a rough itinerary for each day, including "
    "one good neighbourhood for dinner and a museum that is worth the ticket price?"
)

_URL_LINE = re.compile(
    r"^chatmock-lab serving (?P<url>https?://\S+) \(provider: (?P<provider>\S+)\)"
)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The p-th percentile (0 <= p <= 100) of already sorted values, by linear interpolation
    between closest ranks (the method NumPy uses by default, Hyndman and Fan type 7).

    An empty sequence has no percentile and gives NaN.
    """
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within [0, 100], got {p}")
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * p / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    fraction = rank - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass
class CellResult:
    mode: str
    concurrency: int
    requests: int
    warmup: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p99_ms: float
    p50_ttfb_ms: float | None
    errors: int
    warmup_errors: int
    error_samples: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.errors > 0 or self.warmup_errors > 0


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    ttfbs: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


class RequestFailed(Exception):
    """A response that arrived but is not what the benchmark expects."""


# ---------------------------------------------------------------------------------------------
# The server subprocess


class ServerProcess:
    """`chatmock-lab serve` in a subprocess, always stopped by `stop()`."""

    def __init__(self, chunk_chars: int | None) -> None:
        self.chunk_chars = chunk_chars
        self.url = ""
        self.exit_code: int | None = None
        self.stopped_cleanly = False
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self._first_line: queue.Queue[str] = queue.Queue(maxsize=1)
        self._later_lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        command = [
            sys.executable, "-m", "chatmock_lab", "serve",
            "--port", "0", "--provider", "mock", "--mock-delay-ms", "0",
        ]  # fmt: skip
        if self.chunk_chars is not None:
            command += ["--mock-chunk-chars", str(self.chunk_chars)]
        # A file rather than a pipe: nobody reads stderr while the benchmark runs, and a full
        # pipe would block the server's logging.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (outlives this call; stop() closes it)
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            # Its own session, so a Ctrl-C in the terminal reaches only the benchmark, which
            # then stops the server itself instead of racing it.
            start_new_session=True,
        )
        # readline() cannot time out, so a daemon thread reads and the deadline is on the queue.
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        try:
            line = self._first_line.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"the server printed nothing within {timeout:g} s") from None
        match = _URL_LINE.match(line.strip())
        if match is None:
            raise RuntimeError(f"unexpected first line from the server: {line.strip()!r}")
        if match["provider"] != "mock":
            raise RuntimeError(f"the server uses provider {match['provider']!r}, not the mock")
        self.url = match["url"]
        self._wait_healthy(deadline)

    def _read_stdout(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        # An empty string (EOF) also goes through, so a server that dies at once is noticed
        # without waiting for the deadline.
        self._first_line.put(stdout.readline())
        # Keep draining so the server can never block on a full stdout pipe.
        for line in stdout:
            self._later_lines.append(line.rstrip("\n"))

    def _wait_healthy(self, deadline: float) -> None:
        # The URL is printed once the socket is bound, which is before the app can answer.
        last_problem = "no answer"
        with httpx.Client(base_url=self.url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    raise RuntimeError(f"the server exited with status {self._proc.returncode}")
                try:
                    response = client.get("/health")
                    if response.status_code == 200 and response.json().get("status") == "ok":
                        return
                    last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    last_problem = f"{type(exc).__name__}: {exc}"
                time.sleep(0.02)
        raise RuntimeError(f"{self.url}/health was not ok before the deadline ({last_problem})")

    def stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-limit:]

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                except BaseException:
                    # A second Ctrl-C while waiting must not leave the server behind.
                    proc.kill()
                    raise
            self.exit_code = proc.returncode
            if self._reader is not None:
                self._reader.join(1.0)
            self.stopped_cleanly = (
                self.exit_code == 0 and "chatmock-lab stopped" in self._later_lines
            )
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None
            self._proc = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


# ---------------------------------------------------------------------------------------------
# The load generator


def request_body(stream: bool) -> bytes:
    body: dict[str, Any] = {
        "model": "mock",
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_PROMPT},
        ],
        "stream": stream,
    }
    # Encoded once: serialising JSON per request would spend the client's CPU, which on a
    # two-core machine is shared with the server being measured.
    return json.dumps(body).encode()


async def _non_streaming(client: httpx.AsyncClient, body: bytes, tally: _Tally) -> None:
    start = time.perf_counter()
    response = await client.post("/v1/chat/completions", content=body)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RequestFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, LookupError, TypeError) as exc:
        raise RequestFailed(f"malformed completion: {type(exc).__name__}: {exc}") from None
    if not isinstance(content, str) or not content:
        raise RequestFailed("empty choices[0].message.content")
    tally.latencies.append(elapsed)


async def _streaming(client: httpx.AsyncClient, body: bytes, tally: _Tally) -> None:
    start = time.perf_counter()
    first_content: float | None = None
    last_data: str | None = None
    async with client.stream("POST", "/v1/chat/completions", content=body) as response:
        if response.status_code != 200:
            await response.aread()
            raise RequestFailed(f"HTTP {response.status_code}: {response.text[:200]}")
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if last_data == "[DONE]":
                raise RequestFailed("data after data: [DONE]")
            last_data = data
            # Decoding stops once the first content has been seen: the rest only has to arrive
            # and end properly, and parsing every chunk would mostly measure the client.
            if first_content is None and data != "[DONE]":
                try:
                    delta = json.loads(data)["choices"][0]["delta"]
                except (ValueError, LookupError, TypeError) as exc:
                    raise RequestFailed(f"malformed chunk: {type(exc).__name__}: {exc}") from None
                # The first chunk carries only the role and an empty content; it does not count.
                if delta.get("content"):
                    first_content = time.perf_counter()
    elapsed = time.perf_counter() - start
    if last_data != "[DONE]":
        raise RequestFailed(f"stream did not end with data: [DONE] (last data: {last_data!r})")
    if first_content is None:
        raise RequestFailed("stream had no content chunk")
    tally.latencies.append(elapsed)
    tally.ttfbs.append(first_content - start)


async def _drive(
    clients: Sequence[httpx.AsyncClient], mode: str, concurrency: int, total: int
) -> tuple[_Tally, float]:
    """Send `total` requests with at most `concurrency` in flight; return them and wall time.

    Worker i uses `clients[i % len(clients)]`: one shared client, or one client per worker.
    """
    body = request_body(stream=mode == "streaming")
    send = _streaming if mode == "streaming" else _non_streaming
    tally = _Tally()
    remaining = total

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        # A fixed pool of workers rather than one task per request: the number in flight stays
        # exactly `concurrency` and the client does not pay for thousands of pending tasks.
        while remaining > 0:
            remaining -= 1
            try:
                await send(client, body, tally)
            # Anything a request raises is a failed request, reported with its type, rather
            # than the end of the whole run; CancelledError is not an Exception and still stops.
            except Exception as exc:
                tally.errors[f"{type(exc).__name__}: {str(exc) or repr(exc)}"[:300]] += 1

    start = time.perf_counter()
    tasks = [
        asyncio.create_task(worker(clients[i % len(clients)]))
        for i in range(min(concurrency, total))
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        # On Ctrl-C or an unexpected exception, leave no worker running behind.
        for task in tasks:
            task.cancel()
    return tally, time.perf_counter() - start


async def run_cell(
    clients: Sequence[httpx.AsyncClient], mode: str, concurrency: int, requests: int, warmup: int
) -> CellResult:
    warm, _ = await _drive(clients, mode, concurrency, warmup) if warmup else (_Tally(), 0.0)
    tally, elapsed = await _drive(clients, mode, concurrency, requests)
    latencies = sorted(tally.latencies)
    ttfbs = sorted(tally.ttfbs)
    errors = tally.errors + Counter({f"warm-up: {k}": v for k, v in warm.errors.items()})
    return CellResult(
        mode=mode,
        concurrency=concurrency,
        requests=requests,
        warmup=warmup,
        elapsed_s=elapsed,
        # Successful requests only: failures are often instant (connection refused) and would
        # otherwise inflate the rate of a broken run.
        rps=len(latencies) / elapsed if elapsed > 0 else math.nan,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        p50_ttfb_ms=percentile(ttfbs, 50) * 1000 if mode == "streaming" else None,
        errors=sum(tally.errors.values()),
        warmup_errors=sum(warm.errors.values()),
        error_samples=[f"{n} x {msg}" for msg, n in errors.most_common(MAX_ERROR_SAMPLES)],
    )


async def run_all(
    url: str,
    concurrencies: Sequence[int],
    requests: int | None,
    warmup: int,
    client_per_worker: bool = False,
) -> list[CellResult]:
    top = max(concurrencies)
    headers = {"content-type": "application/json", "authorization": "Bearer bench"}
    results: list[CellResult] = []
    async with contextlib.AsyncExitStack() as stack:
        if client_per_worker:
            # httpx's shared connection pool costs client CPU that grows with the connections
            # it manages (encode/httpx#3215); one single-connection client per worker keeps
            # that cost flat, so the client is less of a bottleneck at high concurrency.
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            count = top
        else:
            # The pool must hold every in-flight request, or requests would queue inside httpx
            # and the measured latency would include that wait.
            limits = httpx.Limits(max_connections=top, max_keepalive_connections=top)
            count = 1
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=url, limits=limits, timeout=REQUEST_TIMEOUT_S, headers=headers
                )
            )
            for _ in range(count)
        ]
        for mode in MODES:
            for concurrency in concurrencies:
                total = requests if requests is not None else default_requests(concurrency)
                results.append(await run_cell(clients, mode, concurrency, total, warmup))
    return results


def default_requests(concurrency: int) -> int:
    # Fewer sequential requests: at concurrency 1 each one waits for the previous, and 500
    # already give a stable p99.
    return 500 if concurrency == 1 else 2000


# ---------------------------------------------------------------------------------------------
# Reporting


def environment(chunk_chars: int | None, client_per_worker: bool) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "chatmock_lab": chatmock_lab.__version__,
        "httpx": httpx.__version__,
        "mock_delay_ms": 0,
        "mock_chunk_chars": chunk_chars,
        "clients": "one per worker" if client_per_worker else "one shared pool",
    }


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def markdown(results: Sequence[CellResult], env: dict[str, Any]) -> str:
    chunk = env["mock_chunk_chars"]
    header = (
        f"Python {env['python']} ({env['implementation']}), {env['cpu_count']} CPUs, "
        f"chatmock-lab {env['chatmock_lab']}, httpx {env['httpx']}, "
        f"mock delay {env['mock_delay_ms']} ms, "
        f"chunk {'server default' if chunk is None else f'{chunk} chars'}, "
        f"httpx clients: {env['clients']}"
    )
    # (title, right-aligned): numbers line up on their last digit.
    columns_spec = [
        ("mode", False),
        ("concurrency", True),
        ("requests", True),
        ("req/s", True),
        ("p50 ms", True),
        ("p99 ms", True),
        ("p50 TTFB ms", True),
        ("errors", True),
    ]
    columns = [title for title, _ in columns_spec]
    numeric = [right for _, right in columns_spec]
    rows = []
    for r in results:
        errors = str(r.errors)
        if r.warmup_errors:
            errors += f" (+{r.warmup_errors} in warm-up)"
        if r.flagged:
            errors = f"**{errors} FAILED**"
        rows.append([
            r.mode, str(r.concurrency), str(r.requests), f"{r.rps:.1f}",
            _ms(r.p50_ms), _ms(r.p99_ms), _ms(r.p50_ttfb_ms), errors,
        ])  # fmt: skip
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (w + 1) + ":" if num else "-" * (w + 2)
            for w, num in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    out = [header, "", line(columns), rule, *(line(row) for row in rows)]
    for r in results:
        for sample in r.error_samples:
            out.append(f"- {r.mode}, concurrency {r.concurrency}: {sample}")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Command line


def _concurrency_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        message = f"not a comma-separated list of integers: {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"concurrency levels must be at least 1: {text!r}")
    return values


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark chatmock-lab's OpenAI endpoint in front of the mock provider."
    )
    parser.add_argument(
        "--requests",
        type=_positive,
        default=None,
        help="timed requests per cell; default 500 at concurrency 1, 2000 otherwise",
    )
    parser.add_argument(
        "--concurrency",
        type=_concurrency_list,
        default=list(DEFAULT_CONCURRENCY),
        help="comma-separated requests in flight; default 1,32",
    )
    parser.add_argument(
        "--warmup",
        type=_non_negative,
        default=DEFAULT_WARMUP,
        help=f"untimed requests before each cell; default {DEFAULT_WARMUP}",
    )
    parser.add_argument(
        "--chunk-chars",
        type=_positive,
        default=None,
        help="characters per streamed chunk (server --mock-chunk-chars); default server's",
    )
    parser.add_argument(
        "--shared-client",
        dest="client_per_worker",
        action="store_false",
        help="one shared httpx.AsyncClient pool instead of one client per concurrent worker",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit, not a plain exception: it unwinds through `finally` (so the server is
    # stopped) without being mistaken for a failed request by the workers.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    server = ServerProcess(args.chunk_chars)
    try:
        try:
            server.start()
        except RuntimeError as exc:
            print(f"bench_mock: cannot start the server: {exc}", file=sys.stderr)
            tail = server.stderr_tail()
            if tail:
                print(f"server stderr:\n{tail}", file=sys.stderr)
            return 2
        results = asyncio.run(
            run_all(
                server.url, args.concurrency, args.requests, args.warmup, args.client_per_worker
            )
        )
        if any(r.flagged for r in results) and not server.alive:
            print("bench_mock: the server died during the run", file=sys.stderr)
    except KeyboardInterrupt:
        print("bench_mock: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        print("bench_mock: terminated", file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)

    env = environment(args.chunk_chars, args.client_per_worker)
    failed = any(r.flagged for r in results)
    if args.json:
        payload = {
            "environment": env,
            "results": [asdict(r) | {"flagged": r.flagged} for r in results],
            "server_exit_code": server.exit_code,
            "server_stopped_cleanly": server.stopped_cleanly,
            "ok": not failed,
        }
        # NaN is not JSON; a cell with no successful request reports null instead.
        print(json.dumps(_nan_to_none(payload), indent=2))
    else:
        print(markdown(results, env))
    if not server.stopped_cleanly:
        print(
            f"bench_mock: the server did not stop cleanly (exit {server.exit_code})",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
