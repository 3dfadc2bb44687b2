"""Disconnect storms: hundreds of clients hang up at random points of streamed answers, in
every inbound dialect, and the proxy lets go of everything they held (issue 15).

Each storm is a few rounds of `ROUND` raw-socket clients (tests/storm_support.py), each
hanging up before the response headers (with nothing, a stray CRLF, or a pipelined
request behind its body), right after the headers, or after N bytes of the body, with
FIN or RST. The answers are slow (seconds), so every hang-up lands mid-answer. After
each round, within 1 s of the last hang-up: the Gate holds no permit and nobody waits,
a new request gets its first byte at once with `max_concurrency` equal to the round's
size, and, in front of an upstream, no upstream stream is left open. After the measured
rounds, the server's loop holds no more tasks, the process no more descriptors, and no
more memory than after a warm-up round, each within the bound stated by its constant.
"""

from __future__ import annotations

import gc
import os
import random
import time
import tracemalloc
from collections import Counter

import pytest

from chatmock_lab.server import BackgroundServer
from chatmock_lab.server.state import app_state
from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply
from chatmock_lab.testing.fake_openai import RecordedRequest
from tests.storm_support import (
    SERVER_CONNECTION_TASK,
    STORM_DIALECTS,
    StormResult,
    first_byte_within,
    open_fds,
    plan_storm,
    run_storm,
    server_tasks,
    wait_until,
)

pytestmark = pytest.mark.xdist_group("heavy")

SEED = 15
# Clients per round, all in flight at once; also the proxy's --max-concurrency, so one
# permit still held by a hung-up client makes the next request wait.
ROUND = 80
WARM_UP_ROUNDS = 1
MEASURED_ROUNDS = 3
# What the issue asks: gone within 1 s of the last hang-up; the first byte within 1 s.
RELEASE_S = 1.0
FIRST_BYTE_S = 1.0
# Connections still closing when the counts are read are given this long.
SETTLE_S = 2.0
# Hypercorn's default keep-alive timeout.
KEEP_ALIVE_S = 5.0
# Descriptors beyond those after the warm-up: none (a leak of one per hung-up client
# would be hundreds), but for the proxy's idle connections to the upstream, at most as
# many as its provider's pool keeps (providers/http.py, max_keepalive_connections).
FD_SLACK = 0
POOLED_UPSTREAM = 64
# Memory allocated during the measured rounds and still held after them (tracemalloc),
# and the growth of the process's RSS over them. One leaked answer (its tasks,
# generators, event queue, connection and buffers) is tens of kilobytes, so a leak of
# one per client would be several megabytes; without one, both stay below (some 50 kB
# traced, and 3 MB of RSS, tracemalloc's own included, on a 2-core machine).
RETAINED_BYTES = 500_000
RSS_GROWTH_BYTES = 8_000_000

# The mock quotes the prompt back in 8-character chunks, MOCK_DELAY_MS apart: about
# 260 chunks, some ten seconds, far longer than a round.
MOCK_DELAY_MS = 40
MOCK_PROMPT = "storm " * 350
# The fake's answer: 300 frames 50 ms apart (15 s), after a first byte held back long
# enough that a `before-*` hang-up is surely before the proxy's response headers.
UPSTREAM_TEXT = "wave " * 240
UPSTREAM_FIRST_BYTE_S = 0.3
# Some `before-*` clients hang up after up to this long: while the proxy waits for it.
UPSTREAM_HOLD_S = 0.2
UPSTREAM_CHUNK_DELAY_S = 0.05


def gate_state(server: BackgroundServer) -> str:
    gate = app_state(server.app).gate
    return f"in_use={gate.in_use} waiting={gate.waiting}"


def gate_is_free(server: BackgroundServer) -> bool:
    gate = app_state(server.app).gate
    return gate.in_use == 0 and gate.waiting == 0


class Storms:
    """Rounds of hang-ups against one proxy, with the checks made after each."""

    def __init__(
        self,
        server: BackgroundServer,
        model: str,
        prompt: str,
        upstream: FakeOpenAIUpstream | None = None,
    ) -> None:
        self.server = server
        self.model = model
        self.prompt = prompt
        self.upstream = upstream
        self.probe_model = model if upstream is None else "mock/mock"
        # The mock's headers go out at once; the upstream's first byte takes a while.
        self.max_hold = 0.0 if upstream is None else UPSTREAM_HOLD_S
        self.rng = random.Random(SEED)
        self.rounds = 0
        self.clients = 0

    def ports(self) -> str:
        """Which server each port is, for the failure messages."""
        named = f"proxy {self.server.port}"
        if self.upstream is not None:
            named += f", upstream {self.upstream.url.rsplit(':', 1)[1]}"
        return named

    def fds(self) -> list[str]:
        """This process's descriptors but the in-process upstream's server-side sockets
        (on Hypercorn 0.18 a connection whose peer, here the proxy letting go of an
        abandoned answer, closed it can stay in CLOSE_WAIT until the keep-alive timeout)
        and the proxy's connections to it (`pooled`, bounded apart)."""
        if self.upstream is None:
            return open_fds()
        port = self.upstream.url.rsplit(":", 1)[1]
        theirs, pooled = f"tcp {port}->", f"->{port} "
        return [fd for fd in open_fds() if not fd.startswith(theirs) and pooled not in fd]

    def pooled(self) -> int:
        """The proxy's open connections to the upstream: its provider's pool keeps up to
        `POOLED_UPSTREAM` idle ones for the next requests (in CLOSE_WAIT once the upstream
        closed them, until the pool next looks at them)."""
        if self.upstream is None:
            return 0
        pooled = f"->{self.upstream.url.rsplit(':', 1)[1]} "
        return sum(pooled in fd for fd in open_fds())

    def round(self) -> StormResult:
        plans = plan_storm(self.rng, ROUND, max_hold=self.max_hold)
        started = time.monotonic()
        if self.upstream is not None:
            # Enough for every client; those a hung-up client never used wait for the
            # next round's, which are the same.
            self.upstream.delay_first_byte(UPSTREAM_FIRST_BYTE_S, times=ROUND)
            for _ in range(ROUND):
                self.upstream.reply(
                    FakeReply(text=UPSTREAM_TEXT, chunk_delay=UPSTREAM_CHUNK_DELAY_S)
                )
        result = run_storm(self.server, plans, self.model, self.prompt)
        deadline = result.last_hang_up + RELEASE_S
        # Right after the storm: with `max_concurrency` the round's size, it waits for a
        # permit if any hung-up client's is still held. In front of the upstream the mock
        # answers it (a `mock/` model prefix; the Gate is the same), so that it takes
        # none of the slow answers queued for the storm.
        dialect = STORM_DIALECTS[self.rounds % len(STORM_DIALECTS)]
        first_byte_within(self.server, dialect, self.probe_model, FIRST_BYTE_S)
        problems = result.problems()
        reached: list[RecordedRequest] = []
        if self.upstream is not None:
            upstream = self.upstream
            reached = [r for r in list(upstream.requests) if r.received_at >= started]
            wait_until(
                lambda: upstream.in_flight == 0,
                deadline,
                lambda: (
                    f"{upstream.in_flight} upstream streams still open {RELEASE_S} s after "
                    f"the last hang-up; {gate_state(self.server)}; {still_streaming(reached)}"
                ),
            )
        wait_until(
            lambda: gate_is_free(self.server),
            deadline,
            lambda: (
                f"gate not free {RELEASE_S} s after the last hang-up: {gate_state(self.server)}"
            ),
        )
        assert not problems, problems[:10]
        # Every answer that reached the upstream was cut short: none ran to its end.
        finished = [r for r in reached if r.sent and r.sent[-1][1] == b"data: [DONE]\n\n"]
        assert not finished, f"{len(finished)} upstream answers ran to their end"
        self.rounds += 1
        self.clients += len(result.outcomes)
        return result


def still_streaming(requests: list[RecordedRequest]) -> str:
    """Which upstream answers went on after the storm, for the failure message."""
    now = time.monotonic()
    recent = [r for r in requests if r.sent and now - r.sent[-1][0] < 0.2]
    return f"{len(recent)} of {len(requests)} upstream answers sent a frame in the last 0.2 s"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(storms: Storms, *, trace_memory: bool) -> None:
    """Warm-up rounds, then measured rounds, then the growth checks. `trace_memory`:
    tracemalloc during the measured rounds, besides RSS (it makes everything in this
    process, the proxy and an in-process upstream too, several times slower)."""
    server = storms.server
    for _ in range(WARM_UP_ROUNDS):
        storms.round()
    # The counts after the warm-up, once no connection is open: the one of the server's
    # start-up health check may linger until Hypercorn's keep-alive timeout.
    wait_until(
        lambda: SERVER_CONNECTION_TASK not in server_tasks(server),
        time.monotonic() + KEEP_ALIVE_S + 1,
        lambda: f"connections still open after the warm-up: {server_tasks(server)}",
    )
    tasks, fds = server_tasks(server), storms.fds()
    gc.collect()
    rss = rss_bytes()
    if trace_memory:
        tracemalloc.start()
    try:
        for _ in range(MEASURED_ROUNDS):
            storms.round()
        assert storms.clients >= 200 + ROUND * WARM_UP_ROUNDS
        deadline = time.monotonic() + SETTLE_S
        wait_until(
            lambda: len(server_tasks(server)) <= len(tasks),
            deadline,
            lambda: (
                "tasks on the server's loop beyond those after the warm-up: "
                f"{Counter(server_tasks(server)) - Counter(tasks)}"
            ),
        )
        wait_until(
            lambda: len(storms.fds()) <= len(fds) + FD_SLACK and storms.pooled() <= POOLED_UPSTREAM,
            deadline,
            lambda: (
                f"descriptors beyond those after the warm-up ({storms.ports()}): "
                f"{Counter(storms.fds()) - Counter(fds)}; {storms.pooled()} to the upstream"
            ),
        )
        if storms.upstream is not None:
            # The fake's record of every request (frames included) is not the proxy's.
            storms.upstream.reset()
        gc.collect()
        if trace_memory:
            retained, _peak = tracemalloc.get_traced_memory()
            assert retained < RETAINED_BYTES, f"{retained} bytes still held after the storms"
        grown = rss_bytes() - rss
        assert grown < RSS_GROWTH_BYTES, f"RSS grew by {grown} bytes over the storms"
    finally:
        tracemalloc.stop()


def test_storm_against_the_mock_provider(start_server) -> None:
    server = start_server(
        max_concurrency=ROUND,
        queue_timeout=5,
        mock_delay_ms=MOCK_DELAY_MS,
        # The traffic page keeps the newest requests by design: full after the warm-up,
        # so that what the storms leave behind beyond it shows.
        ui_requests=ROUND // 2,
    )
    measure(Storms(server, "mock", MOCK_PROMPT), trace_memory=True)


def test_storm_in_front_of_an_openai_upstream(start_server) -> None:
    with FakeOpenAIUpstream(keep_requests=ROUND * 2) as fake:
        server = start_server(
            provider_name="openai",
            env={"CHATMOCK_OPENAI_BASE_URL": fake.base_url},
            max_concurrency=ROUND,
            queue_timeout=5,
            ui_requests=ROUND // 2,
        )
        measure(Storms(server, "gpt-4o", "storm", upstream=fake), trace_memory=False)
