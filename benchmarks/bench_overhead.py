"""What the proxy itself costs: the same requests straight to a near-free upstream,
through a no-op Quart app on the same server (the framework's floor), and through the
proxy in front of that upstream, in one run, with the ratios the performance issue asks
for; then the renderers alone, 1,000 open streams and a 1,000-request cassette replay.

Usage::

    python benchmarks/bench_overhead.py [--seconds N] [--rounds N] [--skip-parts] [--json]

Servers, each its own process: `benchmarks/minimal_upstream.py` (raw asyncio, one canned
answer: ~60,000 req/s here), `benchmarks/noop_app.py` (a Quart handler that reads and
decodes the body and answers a canned completion, served by the proxy's own runner:
Hypercorn, uvloop, the same configuration), `chatmock-lab serve --provider openai` in
front of the minimal upstream (one process, and `--workers 2` for the rows named
`proxy x2`), and `chatmock-lab serve` with the mock. The proxies run with
`--max-concurrency 256` so that their queue is never what is measured; the bars compare
one proxy process with the floor's one process.

The load comes from `wrk` (`apt-get install wrk`), which is not Python and so does not
take the GIL-bound server's core from it; the throughput cells alternate the targets
round by round (A B, B A, ...) and report medians. Where wrk is missing the Python load
generator of `loadgen.py` is used instead, and the ratios then also measure the client.
The time to first byte of a stream at concurrency 1 is measured by a raw-socket client
(one request at a time: it waits on the server, so it does not compete with it), as the
time from sending the request to the first byte of the first SSE event.

Exit status: 0 if every bar was met, 1 if one was not, 2 if a server did not start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import overhead_parts
from loadgen import (
    MINIMAL_UPSTREAM_LINE,
    PROXY_URL_LINE,
    ServerProcess,
    exit_on_sigterm,
    markdown_table,
    open_clients,
    percentile,
    proxy_process,
    request_body,
    run_cell,
    start_servers,
)
from overhead_parts import Check

PROG = "bench_overhead"
MODEL = "fake-model-1"
HERE = os.path.dirname(os.path.abspath(__file__))
# The proxies' Gate: far above the load, so nothing waits in line.
PROXY_CONCURRENCY = "256"
TTFB_REQUESTS = 400
TTFB_WARMUP = 50

# The bars.
MIN_RATIO_TO_FLOOR = 0.5
MIN_PROXY_RPS = 1000.0
MAX_ADDED_P50_MS = 1.0
MAX_ADDED_TTFB_MS = 1.0


@dataclass
class LoadResult:
    target: str
    mode: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rounds: list[float] = field(default_factory=list)


@dataclass
class TtfbResult:
    target: str
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int


# ---------------------------------------------------------------------------- servers


def _servers() -> dict[str, ServerProcess]:
    upstream = ServerProcess(
        [sys.executable, os.path.join(HERE, "minimal_upstream.py"), "--port", "0"],
        MINIMAL_UPSTREAM_LINE,
        name="the minimal upstream",
    )
    noop = ServerProcess(
        [sys.executable, os.path.join(HERE, "noop_app.py"), "--port", "0"],
        PROXY_URL_LINE,
        name="the no-op app",
    )
    mock = proxy_process("mock", ["--max-concurrency", PROXY_CONCURRENCY], name="the proxy (mock)")
    return {"upstream": upstream, "noop": noop, "mock": mock}


def _proxy_in_front_of(upstream_url: str, workers: int = 1) -> ServerProcess:
    return proxy_process(
        "openai",
        ["--max-concurrency", PROXY_CONCURRENCY, "--workers", str(workers)],
        env={"CHATMOCK_OPENAI_BASE_URL": f"{upstream_url}/v1", "OPENAI_API_KEY": "sk-bench"},
        name=f"the proxy (openai, {workers} worker{'s' if workers > 1 else ''})",
    )


# ---------------------------------------------------------------------------- wrk


_WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.body = {body}
"""
_LATENCY_LINE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$")
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(
    url: str, body: bytes, concurrency: int, seconds: float
) -> tuple[float, float, float, int]:
    """(req/s, p50 ms, p99 ms, failed responses) of one wrk run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT.format(body=json.dumps(body.decode())))
    try:
        threads = str(min(2, concurrency))
        out = subprocess.run(
            ["wrk", "-t", threads, "-c", str(concurrency), "-d", f"{seconds:g}s", "--latency",
             "-s", script.name, f"{url}/v1/chat/completions"],
            capture_output=True, text=True, check=True, timeout=seconds + 30,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    latencies: dict[str, float] = {}
    for line in out.splitlines():
        match = _LATENCY_LINE.match(line)
        if match:
            latencies[match[1]] = float(match[2]) * _UNITS[match[3]]
    failed = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors:.*?(\d+)"):
        found = re.search(pattern, out)
        if found:
            failed += int(found[1])
    return rps, latencies.get("50", float("nan")), latencies.get("99", float("nan")), failed


def _python_load(url: str, body: bytes, concurrency: int, seconds: float) -> tuple[float, ...]:
    """The fallback without wrk: loadgen's httpx clients, as many requests as take about
    `seconds` at the rate of a first short run."""
    stream = b'"stream": true' in body or b'"stream":true' in body
    mode = "streaming" if stream else "non-streaming"
    model = json.loads(body)["model"]

    async def run() -> tuple[float, float, float, int]:
        import contextlib

        async with contextlib.AsyncExitStack() as stack:
            # One client per worker, each its own connection, as wrk's are; wrk's key too.
            headers = {"authorization": "Bearer sk-bench"}
            clients = await open_clients(stack, url, concurrency, True, headers)
            probe = await run_cell(clients, mode, concurrency, 50, 20, model=model)
            requests = max(100, int(probe.rps * seconds))
            cell = await run_cell(clients, mode, concurrency, requests, 0, model=model)
            return cell.rps, cell.p50_ms, cell.p99_ms, cell.errors

    return asyncio.run(run())


def _load(url: str, body: bytes, concurrency: int, seconds: float) -> tuple[float, ...]:
    if shutil.which("wrk"):
        return _wrk(url, body, concurrency, seconds)
    return _python_load(url, body, concurrency, seconds)


def _alternating(
    targets: dict[str, str], body: bytes, mode: str, concurrency: int, seconds: float, rounds: int
) -> list[LoadResult]:
    """Each target `rounds` times, the order reversed every round; medians reported."""
    names = list(targets)
    runs: dict[str, list[tuple[float, ...]]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            runs[name].append(_load(targets[name], body, concurrency, seconds))
    results = []
    for name in names:
        rows = runs[name]
        results.append(
            LoadResult(
                target=name,
                mode=mode,
                concurrency=concurrency,
                rps=statistics.median(r[0] for r in rows),
                p50_ms=statistics.median(r[1] for r in rows),
                p99_ms=statistics.median(r[2] for r in rows),
                errors=int(sum(r[3] for r in rows)),
                rounds=[round(r[0]) for r in rows],
            )
        )
    return results


# ---------------------------------------------------------------------------- first byte


async def _ttfb(url: str, body: bytes, requests: int, warmup: int) -> TtfbResult:
    """Sequential streamed requests on one keep-alive connection: the time from writing
    the request to the first byte of the first SSE event."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}:{port}\r\n"
        "content-type: application/json\r\nauthorization: Bearer sk-bench\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    samples: list[float] = []
    errors = 0
    try:
        for index in range(warmup + requests):
            started = time.perf_counter()
            writer.write(head + body)
            first, ok = await _read_stream_response(reader)
            if not ok:
                errors += 1
            elif index >= warmup:
                samples.append((first - started) * 1000)
    finally:
        writer.close()
    samples.sort()
    return TtfbResult(
        target=url,
        requests=len(samples),
        p50_ms=percentile(samples, 50),
        p99_ms=percentile(samples, 99),
        errors=errors,
    )


async def _read_stream_response(reader: asyncio.StreamReader) -> tuple[float, bool]:
    """Reads one whole response; (when its first body byte came, whether it was a 200
    with SSE data)."""
    status = await reader.readline()
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        data = await reader.readexactly(1)
        first = time.perf_counter()
        data += await reader.readexactly(int(headers["content-length"]) - 1)
    else:
        first = 0.0
        pieces = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if first == 0.0:
                first = time.perf_counter()
            pieces.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        data = b"".join(pieces)
    return first, status.split()[1] == b"200" and b"data:" in data


# ---------------------------------------------------------------------------- the run


def _throughput(urls: dict[str, str], seconds: float, rounds: int) -> list[LoadResult]:
    results: list[LoadResult] = []
    plain = request_body(stream=False, model=MODEL)
    streamed = request_body(stream=True, model=MODEL)
    mock_plain = request_body(stream=False, model="mock")
    mock_streamed = request_body(stream=True, model="mock")
    # (targets, body, mode, rounds): the floor and the proxy side by side over `rounds`
    # (the ratios); the rest once, for reference.
    cells = [
        ({"noop": urls["noop"], "proxy": urls["proxy"]}, plain, "non-streaming", rounds),
        ({"direct": urls["upstream"], "proxy x2": urls["proxy x2"]}, plain, "non-streaming", 1),
        ({"mock": urls["mock"]}, mock_plain, "non-streaming", 1),
        ({"direct": urls["upstream"], "proxy": urls["proxy"]}, streamed, "streaming", 1),
        ({"mock": urls["mock"]}, mock_streamed, "streaming", 1),
    ]
    for concurrency in (32, 1):
        for targets, body, mode, times in cells:
            results += _alternating(targets, body, mode, concurrency, seconds, times)
    return results


def _find(results: Sequence[LoadResult], target: str, mode: str, concurrency: int) -> LoadResult:
    return next(
        r for r in results if (r.target, r.mode, r.concurrency) == (target, mode, concurrency)
    )


def _checks(results: list[LoadResult], ttfb: dict[str, TtfbResult]) -> list[Check]:
    floor = _find(results, "noop", "non-streaming", 32)
    proxy = _find(results, "proxy", "non-streaming", 32)
    ratio = proxy.rps / floor.rps
    direct1 = _find(results, "direct", "non-streaming", 1)
    proxy1 = _find(results, "proxy", "non-streaming", 1)
    added_p50 = proxy1.p50_ms - direct1.p50_ms
    added_ttfb = ttfb["proxy"].p50_ms - ttfb["direct"].p50_ms
    return [
        Check(
            "non-streaming c=32: proxy / no-op app",
            f"{ratio:.2f}x ({proxy.rps:,.0f} / {floor.rps:,.0f} req/s)",
            f">= {MIN_RATIO_TO_FLOOR}x",
            ratio >= MIN_RATIO_TO_FLOOR,
        ),
        Check(
            "non-streaming c=32: proxy req/s",
            f"{proxy.rps:,.0f}",
            f">= {MIN_PROXY_RPS:,.0f}",
            proxy.rps >= MIN_PROXY_RPS,
        ),
        Check(
            "non-streaming c=1: p50 added by the proxy",
            f"{added_p50:.2f} ms ({proxy1.p50_ms:.2f} - {direct1.p50_ms:.2f})",
            f"<= {MAX_ADDED_P50_MS} ms",
            added_p50 <= MAX_ADDED_P50_MS,
        ),
        Check(
            "streaming c=1: first byte added by the proxy",
            f"{added_ttfb:.2f} ms ({ttfb['proxy'].p50_ms:.2f} - {ttfb['direct'].p50_ms:.2f})",
            f"<= {MAX_ADDED_TTFB_MS} ms",
            added_ttfb <= MAX_ADDED_TTFB_MS,
        ),
        Check(
            "no failed request",
            str(sum(r.errors for r in results) + sum(t.errors for t in ttfb.values())),
            "0",
            all(r.errors == 0 for r in results) and all(t.errors == 0 for t in ttfb.values()),
        ),
    ]


def _load_table(results: list[LoadResult]) -> str:
    columns = [
        ("mode", False), ("c", True), ("target", False), ("req/s", True),
        ("p50 ms", True), ("p99 ms", True), ("errors", True), ("req/s by round", False),
    ]  # fmt: skip
    rows = [
        [r.mode, str(r.concurrency), r.target, f"{r.rps:,.0f}", f"{r.p50_ms:.2f}",
         f"{r.p99_ms:.2f}", str(r.errors), " / ".join(str(x) for x in r.rounds)]
        for r in results
    ]  # fmt: skip
    return markdown_table(columns, rows)


def _checks_table(checks: list[Check]) -> str:
    columns = [("bar", False), ("measured", False), ("wanted", False), ("", False)]
    rows = [[c.what, c.measured, c.bar, "PASS" if c.passed else "FAIL"] for c in checks]
    return markdown_table(columns, rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run; default 5")
    parser.add_argument("--rounds", type=int, default=3, help="floor/proxy rounds; default 3")
    parser.add_argument(
        "--skip-parts", action="store_true", help="only the HTTP part (no renderers, ...)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)

    servers = _servers()
    started = start_servers(PROG, [servers["upstream"]])
    if started:
        servers["proxy"] = _proxy_in_front_of(servers["upstream"].url)
        servers["proxy x2"] = _proxy_in_front_of(servers["upstream"].url, workers=2)
        started = start_servers(PROG, [servers[n] for n in ("noop", "proxy", "proxy x2", "mock")])
    try:
        if not started:
            return 2
        urls = {name: server.url for name, server in servers.items()}
        load = _throughput(urls, args.seconds, args.rounds)
        streamed = request_body(stream=True, model=MODEL)
        ttfb = {
            name: asyncio.run(_ttfb(urls[target], streamed, TTFB_REQUESTS, TTFB_WARMUP))
            for name, target in (("direct", "upstream"), ("proxy", "proxy"))
        }
    finally:
        for server in servers.values():
            server.stop()
    checks = _checks(load, ttfb)
    parts: dict[str, Any] = {}
    if not args.skip_parts:
        parts = overhead_parts.run_all()
        checks += overhead_parts.checks(parts)

    generator = "wrk" if shutil.which("wrk") else "the Python load generator (no wrk found)"
    if args.json:
        print(
            json.dumps(
                {
                    "load_generator": generator,
                    "load": [asdict(r) for r in load],
                    "ttfb": {k: asdict(v) for k, v in ttfb.items()},
                    "parts": {k: overhead_parts.as_json(v) for k, v in parts.items()}
                    if parts
                    else {},
                    "checks": [asdict(c) for c in checks],
                },
                indent=2,
            )
        )
    else:
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load from {generator}")
        print()
        print(_load_table(load))
        print()
        print(
            f"First byte of a stream, c=1 ({TTFB_REQUESTS} requests): direct p50"
            f" {ttfb['direct'].p50_ms:.2f} ms, proxy p50 {ttfb['proxy'].p50_ms:.2f} ms"
        )
        if parts:
            print()
            print(overhead_parts.format_all(parts))
        print()
        print(_checks_table(checks))
    return 0 if all(c.passed for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
