"""How long a non-streamed answer takes to collect, by prompt size, and what it costs others.

Usage::

    python benchmarks/bench_collect.py [--sizes-mb 1,2,3] [--stream-mb 4] [--repeat N] [--json]

The mock echoes the prompt (`You said: ...`) in chunks of 8 characters, so a 1 MB prompt is
a 1 MB answer of about 130,000 events, which the proxy folds into one `ChatResponse`
(`core/response.py`) before writing it. That must cost time linear in the answer: the
ratio of the 3 MB time to the 1 MB time should be near 3 (a quadratic collector gives ~10).
While each big request runs, a second thread polls `/health` on its own connection and
the worst latency it saw is reported: the event loop is shared, so anything the big
request does on it without yielding shows up there. A streamed answer of `--stream-mb`
is timed too, for comparison.

The server runs as a subprocess (`python -m chatmock_lab serve --port 0 --mock-delay-ms 0`)
so client and server have their own interpreters and GILs.

Exit status: 0 if every request succeeded, 1 if any failed, 2 if the server could not be
started.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import httpx
from loadgen import proxy_process, start_servers

PROG = "bench_collect"
_MB = 1024 * 1024
# A /health poll this slow means the loop was blocked; past it the poller gives up the poll.
_HEALTH_TIMEOUT_S = 60.0


@dataclass
class Cell:
    size_mb: float
    stream: bool
    seconds: float
    answer_bytes: int
    health_polls: int
    health_worst_ms: float
    ok: bool
    error: str = ""


@dataclass
class _Poller:
    """Polls `/health` until stopped, keeping the worst latency seen."""

    url: str
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> _Poller:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_HEALTH_TIMEOUT_S + 5)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=_HEALTH_TIMEOUT_S, trust_env=False) as c:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    c.get("/health").raise_for_status()
                except httpx.HTTPError:
                    self.failures += 1
                self.latencies.append(time.perf_counter() - started)
                # A short pause, so the poller measures the server rather than hogging a core.
                self._stop.wait(0.005)


def _prompt(size_mb: float) -> str:
    # Words of two characters and a space: tokenised and chunked like ordinary text.
    return "ab " * int(size_mb * _MB / 3)


def run_cell(url: str, size_mb: float, *, stream: bool) -> Cell:
    body = {
        "model": "mock",
        "messages": [{"role": "user", "content": _prompt(size_mb)}],
        "stream": stream,
    }
    payload = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=300, trust_env=False) as client, _Poller(url) as poll:
        started = time.perf_counter()
        try:
            if stream:
                size = 0
                with client.stream(
                    "POST", "/v1/chat/completions", content=payload, headers=headers
                ) as response:
                    response.raise_for_status()
                    for chunk in response.iter_bytes():
                        size += len(chunk)
            else:
                response = client.post("/v1/chat/completions", content=payload, headers=headers)
                response.raise_for_status()
                size = len(response.content)
                text = response.json()["choices"][0]["message"]["content"]
                if len(text) < size_mb * _MB:
                    raise RuntimeError(f"the echo has {len(text)} characters, fewer than asked")
            ok, error = True, ""
        except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
            size, ok, error = 0, False, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
    worst = max(poll.latencies, default=float("nan"))
    if poll.failures:
        ok, error = False, error or f"{poll.failures} /health polls failed"
    return Cell(size_mb, stream, seconds, size, len(poll.latencies), worst * 1000, ok, error)


def _sizes(text: str) -> list[float]:
    sizes = [float(part) for part in text.split(",") if part.strip()]
    if not sizes or any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive numbers of MB")
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", type=_sizes, default=[1.0, 2.0, 3.0])
    parser.add_argument("--stream-mb", type=float, default=4.0, help="0 skips the stream")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per size; the fastest one is kept"
    )
    parser.add_argument("--json", action="store_true", help="print the cells as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    server = proxy_process("mock", ["--mock-delay-ms", "0"])
    try:
        if not start_servers(PROG, [server]):
            return 2
        # One small request first, so imports and tokenizer loading are not timed.
        run_cell(server.url, 0.001, stream=False)
        cells: list[Cell] = []
        plan = [(size, False) for size in args.sizes_mb]
        if args.stream_mb > 0:
            plan.append((args.stream_mb, True))
        for size, stream in plan:
            runs = [run_cell(server.url, size, stream=stream) for _ in range(max(1, args.repeat))]
            cells.append(min(runs, key=lambda cell: (not cell.ok, cell.seconds)))
    finally:
        server.stop()

    collected = [cell for cell in cells if not cell.stream and cell.ok]
    smallest = min(collected, key=lambda cell: cell.size_mb, default=None)
    largest = max(collected, key=lambda cell: cell.size_mb, default=None)
    ratio = (
        largest.seconds / smallest.seconds
        if smallest is not None and largest is not None and smallest is not largest
        else float("nan")
    )
    size_ratio = largest.size_mb / smallest.size_mb if smallest and largest else float("nan")
    if args.json:
        print(json.dumps({"cells": [asdict(c) for c in cells], "time_ratio": ratio}, indent=2))
    else:
        print("| answer | prompt MB | seconds | answer bytes | /health polls | /health worst ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for cell in cells:
            kind = "streamed" if cell.stream else "collected"
            status = "" if cell.ok else f" FAILED ({cell.error})"
            print(
                f"| {kind}{status} | {cell.size_mb:g} | {cell.seconds:.2f} | {cell.answer_bytes}"
                f" | {cell.health_polls} | {cell.health_worst_ms:.0f} |"
            )
        if smallest is not None and largest is not None and smallest is not largest:
            print(
                f"\ntime {largest.size_mb:g} MB / {smallest.size_mb:g} MB = {ratio:.2f}"
                f" (linear: {size_ratio:g}, quadratic: {size_ratio**2:g})"
            )
    return 0 if all(cell.ok for cell in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
