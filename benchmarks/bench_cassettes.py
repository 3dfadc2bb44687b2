"""What recording and replaying cost: the same load through the proxy in front of a fake
upstream (live), through a proxy that records that traffic into a cassette, and through a
proxy that replays the cassette with no upstream at all.

Usage::

    python benchmarks/bench_cassettes.py [--requests N] [--warmup N] [--json]

Each proxy is `chatmock-lab serve --provider grok` in a subprocess, in front of the fake
upstream (`python -m chatmock_lab.testing`): plain (live), with `--record PATH
--record-mode all` (every request recorded), then with `--replay PATH` (the fake is
stopped first, so nothing can reach it). The recorder gets exactly the requests the
replayer will send, in the same order, so every replayed request has its recording.
Concurrency is 1: a cassette replays identical requests in recorded order, and one
request at a time keeps that order what the table measures. The table gives each
target's rate and latency and its ratio to the live proxy, measured in one run.

Exit status: 0 if every request succeeded, 1 if any failed, 2 if a server could not be
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
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from loadgen import (
    MODES,
    CellResult,
    ServerProcess,
    exit_on_sigterm,
    fake_upstream_process,
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

PROG = "bench_cassettes"
API_KEY = "bench-cassettes-key"
MODEL = "grok-4"
TARGETS = ("live", "recording", "replay")


async def _measure(url: str, requests: int, warmup: int) -> list[CellResult]:
    headers = {"content-type": "application/json"}
    async with contextlib.AsyncExitStack() as stack:
        clients = await open_clients(stack, url, 1, False, headers)
        return [await run_cell(clients, mode, 1, requests, warmup, model=MODEL) for mode in MODES]


def _proxy(fake: ServerProcess, args: Sequence[str], name: str) -> ServerProcess:
    return proxy_process(
        "grok",
        args,
        env={"XAI_API_KEY": API_KEY, "CHATMOCK_GROK_BASE_URL": f"{fake.url}/v1"},
        name=name,
    )


def _run(
    servers: list[ServerProcess], server: ServerProcess, requests: int, warmup: int
) -> list[CellResult]:
    servers.append(server)
    if not start_servers(PROG, [server]):
        raise SystemExit(2)
    try:
        return asyncio.run(_measure(server.url, requests, warmup))
    finally:
        server.stop()


def markdown(results: dict[str, list[CellResult]], cassette_bytes: int) -> str:
    rows = []
    for index, mode in enumerate(MODES):
        live = results["live"][index]
        for target in TARGETS:
            cell = results[target][index]
            ratio = cell.rps / live.rps if live.rps else float("nan")
            rows.append(
                [
                    mode,
                    target,
                    f"{cell.rps:.0f}",
                    f"{ratio:.2f}x",
                    format_ms(cell.p50_ms),
                    format_ms(cell.p99_ms),
                    format_ms(cell.p50_ttfb_ms),
                    str(cell.errors),
                ]
            )
    columns = [
        ("mode", False),
        ("target", False),
        ("req/s", True),
        ("vs live", True),
        ("p50", True),
        ("p99", True),
        ("p50 first byte", True),
        ("errors", True),
    ]
    requests = results["live"][0].requests
    note = (
        f"\n{requests} timed requests per cell at concurrency 1, after warm-up; cassette"
        f" {cassette_bytes / 1e6:.1f} MB with every request recorded. Python"
        f" {platform.python_version()}, {os.cpu_count()} CPUs, chatmock-lab"
        f" {chatmock_lab.__version__}."
    )
    return markdown_table(columns, rows) + note


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=positive, default=300, help="timed requests per cell")
    parser.add_argument("--warmup", type=positive, default=20, help="untimed requests first")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    servers: list[ServerProcess] = []
    results: dict[str, list[CellResult]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cassettes-") as folder:
        cassette = Path(folder) / "bench.yaml"
        try:
            fake = fake_upstream_process(API_KEY)
            servers.append(fake)
            if not start_servers(PROG, [fake]):
                return 2
            results["live"] = _run(servers, _proxy(fake, [], "the live proxy"), **_load(args))
            recorder = _proxy(
                fake, ["--record", str(cassette), "--record-mode", "all"], "the recording proxy"
            )
            results["recording"] = _run(servers, recorder, **_load(args))
            fake.stop()  # the replay must not be able to reach it
            replayer = _proxy(fake, ["--replay", str(cassette)], "the replaying proxy")
            results["replay"] = _run(servers, replayer, **_load(args))
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
        finally:
            for server in servers:
                server.stop()
            signal.signal(signal.SIGTERM, previous)
        size = cassette.stat().st_size
    failed = any(cell.flagged for cells in results.values() for cell in cells)
    if args.json:
        payload = {
            "results": {t: [asdict(c) for c in cells] for t, cells in results.items()},
            "cassette_bytes": size,
            "ok": not failed,
        }
        print(json.dumps(nan_to_none(payload), indent=2))
    else:
        print(markdown(results, size))
    return 1 if failed else 0


def _load(args: argparse.Namespace) -> dict[str, int]:
    return {"requests": args.requests, "warmup": args.warmup}


if __name__ == "__main__":
    sys.exit(main())
