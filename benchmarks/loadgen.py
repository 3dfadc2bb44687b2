"""What the benchmark scripts share: server subprocesses, the httpx load generator, and
the statistics and table they report.

Servers run as subprocesses so the load generator and each server get their own
interpreter and GIL. The load generator is Python too: on a small machine the numbers
describe the client and the servers together, not a server alone. In particular, one
shared httpx connection pool gets slower as it holds more connections (encode/httpx#3215),
so by default each concurrent worker has its own single-connection client.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import httpx

MODES = ("non-streaming", "streaming")
DEFAULT_CONCURRENCY = (1, 32)
DEFAULT_WARMUP = 100
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 30.0
MAX_ERROR_SAMPLES = 5
CHAT_PATH = "/v1/chat/completions"

SYSTEM_PROMPT = "You are a concise assistant. Answer in plain English and keep replies short."
# About forty words, the size of a typical short chat turn. The mock and the fake upstream
# both quote it back, so the reply (and, when streaming, the number of chunks) is of the
# same order.
USER_PROMPT = (
    "I am planning a three day trip to Lisbon in early October with two friends who love "
    "food and old architecture. Could you suggest a rough itinerary for each day, including "
    "one good neighbourhood for dinner and a museum that is worth the ticket price?"
)

PROXY_URL_LINE = re.compile(
    r"^chatmock-lab serving (?P<url>https?://\S+)"
    r" \(provider: (?P<provider>[^\s,)]+)(?:, workers: \d+)?\)"
)
PROXY_STOPPED_LINE = "chatmock-lab stopped"
FAKE_URL_LINE = re.compile(r"^fake OpenAI upstream serving (?P<url>https?://\S+)/v1$")
FAKE_STOPPED_LINE = "fake OpenAI upstream stopped"
MINIMAL_UPSTREAM_LINE = re.compile(r"^listening on (?P<url>http://\S+)$")

# Inherited settings that would change what is measured (a rate limit, verbose logging) or
# where requests go (an HTTP proxy): the benchmarks only ever talk to 127.0.0.1.
_SCRUBBED_PREFIXES = ("CHATMOCK_",)
_SCRUBBED_NAMES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


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
# Server subprocesses


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the variables that would skew a run, plus `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_SCRUBBED_PREFIXES) and name.lower() not in _SCRUBBED_NAMES
    }
    env.update(extra or {})
    return env


class ServerProcess:
    """A server in a subprocess that prints its URL as its first stdout line; always
    stopped by `stop()`."""

    def __init__(
        self,
        command: Sequence[str],
        url_line: re.Pattern[str],
        *,
        name: str = "the server",
        env: Mapping[str, str] | None = None,
        expect: Mapping[str, str] | None = None,
        stopped_line: str | None = None,
    ) -> None:
        """`url_line` must have a `url` group; `expect` maps its other groups to the values
        they must have; `stopped_line` is what the server prints last on a clean stop."""
        self.command = list(command)
        self.url_line = url_line
        self.name = name
        self.env = child_environment(env)
        self.expect = dict(expect or {})
        self.stopped_line = stopped_line
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
        # A file rather than a pipe: nobody reads stderr while the benchmark runs, and a full
        # pipe would block the server's logging.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (outlives this call; stop() closes it)
        self._proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=self.env,
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
            raise RuntimeError(f"{self.name} printed nothing within {timeout:g} s") from None
        match = self.url_line.match(line.strip())
        if match is None:
            raise RuntimeError(f"unexpected first line from {self.name}: {line.strip()!r}")
        for group, wanted in self.expect.items():
            if match[group] != wanted:
                raise RuntimeError(f"{self.name} reports {group} {match[group]!r}, not {wanted!r}")
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
        with httpx.Client(base_url=self.url, timeout=1.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with status {self._proc.returncode}")
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
            self.stopped_cleanly = self.exit_code == 0 and (
                self.stopped_line is None or self.stopped_line in self._later_lines
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

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the server itself: no shell between)."""
        return self._proc.pid if self._proc is not None else None


def proxy_process(
    provider: str,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    name: str = "the server",
) -> ServerProcess:
    """`chatmock-lab serve` on a free port with `provider`, checked in its first line."""
    command = [
        sys.executable, "-m", "chatmock_lab", "serve",
        "--port", "0", "--provider", provider, *args,
    ]  # fmt: skip
    return ServerProcess(
        command,
        PROXY_URL_LINE,
        name=name,
        env=env,
        expect={"provider": provider},
        stopped_line=PROXY_STOPPED_LINE,
    )


def fake_upstream_process(api_key: str) -> ServerProcess:
    """`python -m chatmock_lab.testing` on a free port; its `url` lacks the `/v1` suffix."""
    command = [sys.executable, "-m", "chatmock_lab.testing", "--port", "0", "--api-key", api_key]
    return ServerProcess(
        command, FAKE_URL_LINE, name="the fake upstream", stopped_line=FAKE_STOPPED_LINE
    )


def start_servers(prog: str, servers: Sequence[ServerProcess]) -> bool:
    """Start each server in turn; on failure say why (with its stderr) and return False.

    The caller stops every server, started or not, whatever this returns."""
    for server in servers:
        try:
            server.start()
        except RuntimeError as exc:
            print(f"{prog}: cannot start {server.name}: {exc}", file=sys.stderr)
            tail = server.stderr_tail()
            if tail:
                print(f"{server.name} stderr:\n{tail}", file=sys.stderr)
            return False
    return True


def exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit, not a plain exception: it unwinds through `finally` (so the servers are
    # stopped) without being mistaken for a failed request by the workers.
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------------------------
# The load generator


def request_body(stream: bool, model: str = "mock") -> bytes:
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_PROMPT},
        ],
        "stream": stream,
    }
    # Encoded once: serialising JSON per request would spend the client's CPU, which on a
    # two-core machine is shared with the servers being measured.
    return json.dumps(body).encode()


async def _non_streaming(client: httpx.AsyncClient, body: bytes, tally: _Tally) -> None:
    start = time.perf_counter()
    response = await client.post(CHAT_PATH, content=body)
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
    async with client.stream("POST", CHAT_PATH, content=body) as response:
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
    clients: Sequence[httpx.AsyncClient], mode: str, concurrency: int, total: int, body: bytes
) -> tuple[_Tally, float]:
    """Send `total` requests with at most `concurrency` in flight; return them and wall time.

    Worker i uses `clients[i % len(clients)]`: one shared client, or one client per worker.
    """
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


async def warm_up(
    clients: Sequence[httpx.AsyncClient],
    mode: str,
    concurrency: int,
    requests: int,
    model: str = "mock",
) -> Counter[str]:
    """Send `requests` untimed requests as `run_cell` would; return the failures by message."""
    if not requests:
        return Counter()
    body = request_body(stream=mode == "streaming", model=model)
    tally, _ = await _drive(clients, mode, concurrency, requests, body)
    return tally.errors


async def run_cell(
    clients: Sequence[httpx.AsyncClient],
    mode: str,
    concurrency: int,
    requests: int,
    warmup: int,
    model: str = "mock",
) -> CellResult:
    """`warmup` untimed requests, then `requests` timed ones, all with the same body."""
    warm_errors = await warm_up(clients, mode, concurrency, warmup, model)
    body = request_body(stream=mode == "streaming", model=model)
    tally, elapsed = await _drive(clients, mode, concurrency, requests, body)
    latencies = sorted(tally.latencies)
    ttfbs = sorted(tally.ttfbs)
    errors = tally.errors + Counter({f"warm-up: {k}": v for k, v in warm_errors.items()})
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
        warmup_errors=sum(warm_errors.values()),
        error_samples=[f"{n} x {msg}" for msg, n in errors.most_common(MAX_ERROR_SAMPLES)],
    )


async def open_clients(
    stack: contextlib.AsyncExitStack,
    url: str,
    max_concurrency: int,
    client_per_worker: bool,
    headers: Mapping[str, str],
) -> list[httpx.AsyncClient]:
    """The clients for `_drive`, closed with `stack`: one per worker up to `max_concurrency`,
    or one pool that holds `max_concurrency` connections."""
    if client_per_worker:
        # httpx's shared connection pool costs client CPU that grows with the connections
        # it manages (encode/httpx#3215); one single-connection client per worker keeps
        # that cost flat, so the client is less of a bottleneck at high concurrency.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        count = max_concurrency
    else:
        # The pool must hold every in-flight request, or requests would queue inside httpx
        # and the measured latency would include that wait.
        limits = httpx.Limits(
            max_connections=max_concurrency, max_keepalive_connections=max_concurrency
        )
        count = 1
    return [
        await stack.enter_async_context(
            httpx.AsyncClient(
                base_url=url,
                limits=limits,
                timeout=REQUEST_TIMEOUT_S,
                headers=dict(headers),
                # Never an HTTP proxy from the environment: the target is on 127.0.0.1.
                trust_env=False,
            )
        )
        for _ in range(count)
    ]


def default_requests(concurrency: int) -> int:
    # Fewer sequential requests: at concurrency 1 each one waits for the previous, and 500
    # already give a stable p99.
    return 500 if concurrency == 1 else 2000


# ---------------------------------------------------------------------------------------------
# Reporting


def format_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def format_errors(result: CellResult) -> str:
    errors = str(result.errors)
    if result.warmup_errors:
        errors += f" (+{result.warmup_errors} in warm-up)"
    return f"**{errors} FAILED**" if result.flagged else errors


def markdown_table(columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; `columns` are (title, right-aligned) so numbers line up on their
    last digit, in the source as in the rendering."""
    titles = [title for title, _ in columns]
    numeric = [right for _, right in columns]
    widths = [max(len(t), *(len(row[i]) for row in rows)) for i, t in enumerate(titles)]

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
    return "\n".join([line(titles), rule, *(line(row) for row in rows)])


def nan_to_none(value: Any) -> Any:
    """`value` with NaN replaced by None, recursively: NaN is not JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_to_none(v) for v in value]
    return value


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


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """--requests, --concurrency, --warmup and --shared-client, the same in every script."""
    parser.add_argument(
        "--requests",
        type=positive,
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
        "--shared-client",
        dest="client_per_worker",
        action="store_false",
        help="one shared httpx.AsyncClient pool instead of one client per concurrent worker",
    )
