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
import os
import platform
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import httpx
from loadgen import (
    MODES,
    CellResult,
    add_load_arguments,
    default_requests,
    exit_on_sigterm,
    format_errors,
    format_ms,
    markdown_table,
    nan_to_none,
    open_clients,
    positive,
    proxy_process,
    run_cell,
    start_servers,
)

import chatmock_lab

PROG = "bench_mock"
_COLUMNS = [
    ("mode", False),
    ("concurrency", True),
    ("requests", True),
    ("req/s", True),
    ("p50 ms", True),
    ("p99 ms", True),
    ("p50 TTFB ms", True),
    ("errors", True),
]


async def run_all(
    url: str,
    concurrencies: Sequence[int],
    requests: int | None,
    warmup: int,
    client_per_worker: bool = False,
) -> list[CellResult]:
    headers = {"content-type": "application/json", "authorization": "Bearer bench"}
    results: list[CellResult] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = await open_clients(stack, url, max(concurrencies), client_per_worker, headers)
        for mode in MODES:
            for concurrency in concurrencies:
                total = requests if requests is not None else default_requests(concurrency)
                results.append(await run_cell(clients, mode, concurrency, total, warmup))
    return results


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


def markdown(results: Sequence[CellResult], env: dict[str, Any]) -> str:
    chunk = env["mock_chunk_chars"]
    header = (
        f"Python {env['python']} ({env['implementation']}), {env['cpu_count']} CPUs, "
        f"chatmock-lab {env['chatmock_lab']}, httpx {env['httpx']}, "
        f"mock delay {env['mock_delay_ms']} ms, "
        f"chunk {'server default' if chunk is None else f'{chunk} chars'}, "
        f"httpx clients: {env['clients']}"
    )
    out = [header, "", markdown_table(_COLUMNS, [_row(r) for r in results])]
    for r in results:
        for sample in r.error_samples:
            out.append(f"- {r.mode}, concurrency {r.concurrency}: {sample}")
    return "\n".join(out)


def _row(r: CellResult) -> list[str]:
    return [
        r.mode, str(r.concurrency), str(r.requests), f"{r.rps:.1f}",
        format_ms(r.p50_ms), format_ms(r.p99_ms), format_ms(r.p50_ttfb_ms), format_errors(r),
    ]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark chatmock-lab's OpenAI endpoint in front of the mock provider."
    )
    add_load_arguments(parser)
    parser.add_argument(
        "--chunk-chars",
        type=positive,
        default=None,
        help="characters per streamed chunk (server --mock-chunk-chars); default server's",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    server_args = ["--mock-delay-ms", "0"]
    if args.chunk_chars is not None:
        server_args += ["--mock-chunk-chars", str(args.chunk_chars)]
    server = proxy_process("mock", server_args)
    try:
        if not start_servers(PROG, [server]):
            return 2
        results = asyncio.run(
            run_all(
                server.url, args.concurrency, args.requests, args.warmup, args.client_per_worker
            )
        )
        if any(r.flagged for r in results) and not server.alive:
            print(f"{PROG}: the server died during the run", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        print(f"{PROG}: terminated", file=sys.stderr)
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
        print(json.dumps(nan_to_none(payload), indent=2))
    else:
        print(markdown(results, env))
    if not server.stopped_cleanly:
        print(
            f"{PROG}: the server did not stop cleanly (exit {server.exit_code})",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
