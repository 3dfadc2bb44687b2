"""What the chatmock-lab proxy costs in front of a real upstream: the same load sent straight
to a fake OpenAI-compatible upstream, and through the proxy to that same fake.

Usage::

    python benchmarks/bench_upstream.py [--requests N] [--concurrency 1,32] [--warmup N]
                                        [--rounds N] [--shared-client] [--json]

Two subprocesses, each with its own interpreter and GIL: the fake upstream
(`python -m chatmock_lab.testing`) and the proxy in front of it (`chatmock-lab serve
--provider grok`, with `CHATMOCK_GROK_BASE_URL` pointing at the fake). For each mode
(non-streaming, streaming) and concurrency, both targets get the same warm-up, then
`--rounds` timed runs each of the same requests, alternating direct and proxy (D P, P D,
D P, ...) so that drift on the machine weighs on both alike; the table shows the median
of the rounds, and the proxy rows the ratios of those medians to the direct ones.

Read the ratios with care. Through the proxy, three Python processes (client, proxy, fake)
share the CPUs instead of two, so on a small machine the proxy rows also pay for the fake's
CPU, which a remote upstream would not take from them. A non-streaming request through
the proxy asks its upstream for one JSON body, as a direct one does. For the proxy's own
cost against the framework's floor, with a load generator that is not Python, see
bench_overhead.py.

Exit status: 0 if every request succeeded, 1 if any failed, 2 if a server could not be
started or did not answer as expected, 130 on Ctrl-C, 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from loadgen import (
    CHAT_PATH,
    MAX_ERROR_SAMPLES,
    MODES,
    USER_PROMPT,
    CellResult,
    ServerProcess,
    add_load_arguments,
    default_requests,
    exit_on_sigterm,
    fake_upstream_process,
    format_ms,
    markdown_table,
    nan_to_none,
    open_clients,
    positive,
    proxy_process,
    request_body,
    run_cell,
    start_servers,
    warm_up,
)

import chatmock_lab

PROG = "bench_upstream"
TARGETS = ("direct", "proxy")
DEFAULT_ROUNDS = 3
API_KEY = "sk-bench-upstream"
# Any name does: the grok provider passes it through and the fake answers every model.
MODEL = "fake-model-1"
# The proxy's Gate must never be what limits the run, or the proxy rows would measure
# its queue rather than its overhead.
MIN_PROXY_CONCURRENCY = 64
# What the fake answers when no reply is scripted (FakeReply's default, 4-character chunks).
EXPECTED_CONTENT = f"Upstream says: {USER_PROMPT}"
FAKE_CHUNK_CHARS = 4

_COLUMNS = [
    ("mode", False),
    ("concurrency", True),
    ("target", False),
    ("requests", True),
    ("req/s", True),
    ("p50 ms", True),
    ("p99 ms", True),
    ("p50 TTFB ms", True),
    ("errors", True),
    ("proxy/direct", False),
    ("req/s by round", False),
]


@dataclass
class TargetSummary:
    """One target's rounds in one cell, summarised by the median of each figure."""

    target: str
    rps: float
    p50_ms: float
    p99_ms: float
    p50_ttfb_ms: float | None
    errors: int
    warmup_errors: int
    error_samples: list[str] = field(default_factory=list)
    runs: list[CellResult] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.errors > 0 or self.warmup_errors > 0


@dataclass
class Comparison:
    mode: str
    concurrency: int
    requests: int
    warmup: int
    rounds: int
    direct: TargetSummary
    proxy: TargetSummary

    @property
    def rps_ratio(self) -> float:
        return _ratio(self.proxy.rps, self.direct.rps)

    @property
    def p50_ratio(self) -> float:
        return _ratio(self.proxy.p50_ms, self.direct.p50_ms)

    @property
    def p50_added_ms(self) -> float:
        return self.proxy.p50_ms - self.direct.p50_ms

    @property
    def flagged(self) -> bool:
        return self.direct.flagged or self.proxy.flagged


def _ratio(numerator: float, denominator: float) -> float:
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return math.nan
    return numerator / denominator


def _median(values: Sequence[float | None]) -> float:
    # A round without a single success has NaN figures; its errors already flag the row,
    # and the other rounds still say something.
    present = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(present) if present else math.nan


def summarise(target: str, runs: Sequence[CellResult], warm_errors: Counter[str]) -> TargetSummary:
    samples = [f"warm-up: {n} x {msg}" for msg, n in warm_errors.most_common()]
    for number, run in enumerate(runs, start=1):
        samples += [f"round {number}: {sample}" for sample in run.error_samples]
    return TargetSummary(
        target=target,
        rps=_median([r.rps for r in runs]),
        p50_ms=_median([r.p50_ms for r in runs]),
        p99_ms=_median([r.p99_ms for r in runs]),
        p50_ttfb_ms=None if runs[0].p50_ttfb_ms is None else _median([r.p50_ttfb_ms for r in runs]),
        errors=sum(r.errors for r in runs),
        warmup_errors=sum(warm_errors.values()),
        error_samples=samples[:MAX_ERROR_SAMPLES],
        runs=list(runs),
    )


# ---------------------------------------------------------------------------------------------
# The run


async def _check_content(client: httpx.AsyncClient, target: str) -> None:
    """One request per target before timing: a proxy that answered from somewhere else
    (the mock, a cached reply) would otherwise be benchmarked without anyone noticing."""
    try:
        response = await client.post(CHAT_PATH, content=request_body(stream=False, model=MODEL))
    except httpx.HTTPError as exc:
        raise RuntimeError(f"{target}: {type(exc).__name__}: {exc}") from None
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, LookupError, TypeError):
        content = None
    if response.status_code != 200 or content != EXPECTED_CONTENT:
        raise RuntimeError(
            f"{target}: expected the fake's reply, got HTTP {response.status_code}: "
            f"{response.text[:300]}"
        )


async def run_all(
    urls: dict[str, str],
    concurrencies: Sequence[int],
    requests: int | None,
    warmup: int,
    rounds: int,
    client_per_worker: bool,
) -> list[Comparison]:
    # The same headers both ways: the fake checks the key, the proxy ignores it.
    headers = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}"}
    comparisons: list[Comparison] = []
    async with contextlib.AsyncExitStack() as stack:
        clients = {
            target: await open_clients(
                stack, urls[target], max(concurrencies), client_per_worker, headers
            )
            for target in TARGETS
        }
        for target in TARGETS:
            await _check_content(clients[target][0], target)
        for mode in MODES:
            for concurrency in concurrencies:
                total = requests if requests is not None else default_requests(concurrency)
                warm = {
                    target: await warm_up(clients[target], mode, concurrency, warmup, MODEL)
                    for target in TARGETS
                }
                runs: dict[str, list[CellResult]] = {target: [] for target in TARGETS}
                for number in range(rounds):
                    # Alternating who goes first cancels a steady drift (a CPU warming up,
                    # a background job starting) instead of always charging it to one side.
                    order = TARGETS if number % 2 == 0 else TARGETS[::-1]
                    for target in order:
                        cell = await run_cell(
                            clients[target], mode, concurrency, total, 0, model=MODEL
                        )
                        runs[target].append(cell)
                comparisons.append(
                    Comparison(
                        mode=mode,
                        concurrency=concurrency,
                        requests=total,
                        warmup=warmup,
                        rounds=rounds,
                        direct=summarise("direct", runs["direct"], warm["direct"]),
                        proxy=summarise("proxy", runs["proxy"], warm["proxy"]),
                    )
                )
    return comparisons


# ---------------------------------------------------------------------------------------------
# Reporting


def environment(client_per_worker: bool, rounds: int, proxy_concurrency: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "chatmock_lab": chatmock_lab.__version__,
        "httpx": httpx.__version__,
        "proxy_provider": "grok",
        "proxy_max_concurrency": proxy_concurrency,
        "fake_chunk_chars": FAKE_CHUNK_CHARS,
        "clients": "one per worker" if client_per_worker else "one shared pool",
        "rounds": rounds,
        "summary": "median of rounds; direct and proxy alternate within each cell",
    }


def _errors(summary: TargetSummary) -> str:
    errors = str(summary.errors)
    if summary.warmup_errors:
        errors += f" (+{summary.warmup_errors} in warm-up)"
    return f"**{errors} FAILED**" if summary.flagged else errors


def _ratios(comparison: Comparison) -> str:
    rps, p50 = comparison.rps_ratio, comparison.p50_ratio
    if math.isnan(rps) or math.isnan(p50):
        return "n/a"
    return f"{rps:.2f}x req/s, {p50:.2f}x p50 ({comparison.p50_added_ms:+.2f} ms)"


def _row(c: Comparison, s: TargetSummary) -> list[str]:
    ratios = _ratios(c) if s is c.proxy else ""
    by_round = " / ".join(f"{run.rps:.0f}" for run in s.runs)
    return [
        c.mode, str(c.concurrency), s.target, str(c.requests), f"{s.rps:.1f}",
        format_ms(s.p50_ms), format_ms(s.p99_ms), format_ms(s.p50_ttfb_ms), _errors(s),
        ratios, by_round,
    ]  # fmt: skip


def markdown(comparisons: Sequence[Comparison], env: dict[str, Any]) -> str:
    header = (
        f"Python {env['python']} ({env['implementation']}), {env['cpu_count']} CPUs, "
        f"chatmock-lab {env['chatmock_lab']}, httpx {env['httpx']}, "
        f"proxy --provider {env['proxy_provider']} "
        f"--max-concurrency {env['proxy_max_concurrency']}, "
        f"fake upstream chunks of {env['fake_chunk_chars']} chars, "
        f"httpx clients: {env['clients']}"
    )
    warmup = comparisons[0].warmup if comparisons else 0
    note = (
        f"Each row is the median of {env['rounds']} timed rounds of `requests` requests, "
        f"after {warmup} warm-up requests per target; within a cell direct and proxy "
        "alternate (D P, P D, ...). proxy/direct compares those medians."
    )
    caveat = (
        "A non-streaming request through the proxy asks the fake for one JSON body, as a "
        f"direct one does; streamed replies come in {env['fake_chunk_chars']}-character "
        "frames."
    )
    rows = [_row(c, s) for c in comparisons for s in (c.direct, c.proxy)]
    out = [header, "", note, "", markdown_table(_COLUMNS, rows), "", caveat]
    for c in comparisons:
        for s in (c.direct, c.proxy):
            for sample in s.error_samples:
                out.append(f"- {c.mode}, concurrency {c.concurrency}, {s.target}: {sample}")
    return "\n".join(out)


def _as_json(comparison: Comparison) -> dict[str, Any]:
    def target(summary: TargetSummary) -> dict[str, Any]:
        runs = [asdict(run) | {"flagged": run.flagged} for run in summary.runs]
        return asdict(summary) | {"runs": runs, "flagged": summary.flagged}

    return {
        "mode": comparison.mode,
        "concurrency": comparison.concurrency,
        "requests": comparison.requests,
        "warmup": comparison.warmup,
        "rounds": comparison.rounds,
        "direct": target(comparison.direct),
        "proxy": target(comparison.proxy),
        "proxy_over_direct": {
            "rps": comparison.rps_ratio,
            "p50": comparison.p50_ratio,
            "p50_added_ms": comparison.p50_added_ms,
        },
        "flagged": comparison.flagged,
    }


# ---------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compare a fake OpenAI upstream reached directly and through chatmock-lab."
    )
    add_load_arguments(parser)
    parser.add_argument(
        "--rounds",
        type=positive,
        default=DEFAULT_ROUNDS,
        help=f"timed runs per target and cell, alternating targets; default {DEFAULT_ROUNDS}",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    return parser


def _stop_all(servers: Sequence[ServerProcess]) -> None:
    # The proxy first, so it is never left talking to an upstream that is already gone.
    for server in reversed(servers):
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    proxy_concurrency = max(MIN_PROXY_CONCURRENCY, *args.concurrency)
    servers: list[ServerProcess] = []
    try:
        fake = fake_upstream_process(API_KEY)
        servers.append(fake)
        if not start_servers(PROG, [fake]):
            return 2
        proxy = proxy_process(
            "grok",
            ["--max-concurrency", str(proxy_concurrency)],
            env={"XAI_API_KEY": API_KEY, "CHATMOCK_GROK_BASE_URL": f"{fake.url}/v1"},
            name="the proxy",
        )
        servers.append(proxy)
        if not start_servers(PROG, [proxy]):
            return 2
        urls = {"direct": fake.url, "proxy": proxy.url}
        try:
            comparisons = asyncio.run(
                run_all(
                    urls,
                    args.concurrency,
                    args.requests,
                    args.warmup,
                    args.rounds,
                    args.client_per_worker,
                )
            )
        except RuntimeError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2
        if any(c.flagged for c in comparisons):
            for server in servers:
                if not server.alive:
                    print(f"{PROG}: {server.name} died during the run", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        print(f"{PROG}: terminated", file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        _stop_all(servers)
        signal.signal(signal.SIGTERM, previous)

    env = environment(args.client_per_worker, args.rounds, proxy_concurrency)
    failed = any(c.flagged for c in comparisons)
    if args.json:
        payload = {
            "environment": env,
            "results": [_as_json(c) for c in comparisons],
            "servers": {
                key: {"exit_code": server.exit_code, "stopped_cleanly": server.stopped_cleanly}
                for key, server in zip(("fake_upstream", "proxy"), servers, strict=False)
            },
            "ok": not failed,
        }
        # NaN is not JSON; a figure with no successful request reports null instead.
        print(json.dumps(nan_to_none(payload), indent=2))
    else:
        print(markdown(comparisons, env))
    for server in servers:
        if not server.stopped_cleanly:
            print(
                f"{PROG}: {server.name} did not stop cleanly (exit {server.exit_code})",
                file=sys.stderr,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
