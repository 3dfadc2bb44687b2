"""Disconnect storms: many raw-socket clients that send a streamed request in one of the
proxy's dialects and hang up at a chosen point of its answer.

Raw sockets rather than an SDK, so the exact bytes sent after the request (a stray CRLF,
a pipelined request) and the way the connection ends (FIN, or RST with SO_LINGER 0)
are the test's choice. The clients run on their own event loop in the calling thread;
the proxy runs on its own loop (`BackgroundServer`), so it can be inspected meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from chatmock_lab.core import ChatRequest, Message, TextPart
from chatmock_lab.dialects import DIALECTS
from chatmock_lab.server import BackgroundServer

# Every inbound dialect the proxy speaks, by its name in the dialect registry.
STORM_DIALECTS: tuple[str, ...] = ("openai", "responses", "anthropic", "gemini", "ollama")

# Where a client hangs up. The three `before-*` ones close right after sending the request,
# before any answer can have been read; `before-crlf` and `before-pipelined` send more
# bytes behind the complete request first, which Hypercorn stops reading at (issue 18).
HANG_UPS: tuple[str, ...] = (
    "before",
    "before-crlf",
    "before-pipelined",
    "after-headers",
    "mid-body",
)
_TRAILERS = {
    "before-crlf": b"\r\n",
    "before-pipelined": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
}
# Generous: a client that waits this long for its answer means the proxy is stuck.
_READ_TIMEOUT_S = 10.0
_LINGER_RESET = struct.pack("ii", 1, 0)
_LAST_CHUNK = b"0\r\n\r\n"


def dialect_request(dialect: str, model: str, text: str) -> tuple[str, bytes]:
    """The path and JSON body a client of `dialect` sends for a streamed `text` prompt,
    as the dialect's own client codec writes it."""
    chat = ChatRequest(model=model, messages=[Message(role="user", parts=[TextPart(text)])])
    rendered = DIALECTS[dialect].render_request(chat, stream=True)
    path = rendered.path
    # The Responses codec gives its path relative to the API root; the proxy serves both.
    if not path.startswith(("/v1", "/api")):
        path = f"/v1{path}"
    return path, json.dumps(rendered.body).encode()


def raw_post(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nAccept: */*\r\n\r\n"
    ).encode() + body


@dataclass(frozen=True, slots=True)
class ClientPlan:
    dialect: str
    hang_up: str
    # Response body bytes (chunked framing included) read before a `mid-body` hang-up.
    body_bytes: int
    # SO_LINGER 0: the close sends RST instead of FIN.
    reset: bool
    # Seconds after the storm starts that this client connects, so that a whole storm
    # does not hit the listen backlog in one instant.
    start_after: float
    # Seconds a `before-*` client waits, reading nothing, between sending and hanging up.
    hold: float = 0.0


def plan_storm(
    rng: random.Random, size: int, *, max_body_bytes: int = 1500, max_hold: float = 0.0
) -> list[ClientPlan]:
    """`size` clients covering every dialect and hang-up point (when `size` allows),
    the rest of each plan drawn from `rng`. Half the `before-*` clients hang up at once,
    the others after up to `max_hold` seconds (while the proxy waits for a slow
    upstream's first byte, when that is shorter)."""
    combos = list(itertools.product(STORM_DIALECTS, HANG_UPS))
    picked = [combos[i % len(combos)] for i in range(size)]
    rng.shuffle(picked)
    return [
        ClientPlan(
            dialect=dialect,
            hang_up=hang_up,
            body_bytes=rng.randint(1, max_body_bytes),
            reset=rng.random() < 0.35,
            start_after=rng.uniform(0.0, 0.2),
            hold=rng.choice((0.0, rng.uniform(0.0, max_hold))),
        )
        for dialect, hang_up in picked
    ]


@dataclass(slots=True)
class ClientOutcome:
    plan: ClientPlan
    status: int | None = None
    received: int = 0
    # The answer ended before the planned hang-up point: the hang-up did not happen
    # where planned (the stream was too short), which would make the storm prove nothing.
    ended_early: bool = False
    error: str | None = None


@dataclass(slots=True)
class StormResult:
    outcomes: list[ClientOutcome]
    # time.monotonic() once every client's socket is closed.
    last_hang_up: float

    def problems(self) -> list[str]:
        """Clients whose hang-up was not what the plan said, with why."""
        found = []
        for o in self.outcomes:
            p = o.plan
            where = f"{p.dialect}/{p.hang_up}"
            if o.error is not None:
                found.append(f"{where}: {o.error}")
            elif p.hang_up in ("after-headers", "mid-body") and o.status != 200:
                found.append(f"{where}: HTTP {o.status}")
            elif o.ended_early:
                found.append(f"{where}: the answer ended after {o.received} bytes")
        return found


async def _client(
    port: int, plan: ClientPlan, requests: dict[str, bytes], started: float
) -> ClientOutcome:
    outcome = ClientOutcome(plan)
    await asyncio.sleep(max(0.0, started + plan.start_after - time.monotonic()))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        outcome.error = f"cannot connect: {exc}"
        return outcome
    try:
        if plan.reset:
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET
            )
        writer.write(requests[plan.dialect] + _TRAILERS.get(plan.hang_up, b""))
        await writer.drain()
        if plan.hang_up.startswith("before") and plan.hold:
            await asyncio.sleep(plan.hold)
        elif plan.hang_up in ("after-headers", "mid-body"):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_S)
            outcome.status = int(head.split(b" ", 2)[1])
            tail = b""
            while plan.hang_up == "mid-body" and outcome.received < plan.body_bytes:
                chunk = await asyncio.wait_for(
                    reader.read(plan.body_bytes - outcome.received), _READ_TIMEOUT_S
                )
                tail = (tail + chunk)[-len(_LAST_CHUNK) :]
                # A kept-alive connection is not closed at the end of an answer: its
                # chunked body's last chunk tells.
                if not chunk or tail == _LAST_CHUNK:
                    outcome.ended_early = True
                    break
                outcome.received += len(chunk)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    finally:
        # abort(), not close(): nothing is flushed or waited for, as when a process dies;
        # with SO_LINGER 0 the kernel answers with RST.
        writer.transport.abort()
    return outcome


async def _storm(port: int, plans: Sequence[ClientPlan], requests: dict[str, bytes]) -> StormResult:
    started = time.monotonic()
    outcomes = await asyncio.gather(*(_client(port, p, requests, started) for p in plans))
    # abort() closes each socket on the loop's next turn: one more turn, and all are shut.
    await asyncio.sleep(0)
    return StormResult(list(outcomes), time.monotonic())


def run_storm(
    server: BackgroundServer, plans: Sequence[ClientPlan], model: str, text: str
) -> StormResult:
    requests = {d: raw_post(*dialect_request(d, model, text)) for d in STORM_DIALECTS}
    return asyncio.run(_storm(server.port, plans, requests))


def wait_until(condition: Callable[[], bool], deadline: float, what: Callable[[], str]) -> None:
    """Poll `condition` until it holds; fail with `what()` once `deadline` (monotonic) passed."""
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what())
        time.sleep(0.005)


def first_byte_within(server: BackgroundServer, dialect: str, model: str, seconds: float) -> bytes:
    """A streamed request in `dialect`: its whole answer, after checking that the status
    and the first body bytes came within `seconds` of sending it."""
    path, body = dialect_request(dialect, model, "hi")
    timeout = httpx.Timeout(10.0, read=seconds)
    # `connection: close`: Hypercorn 0.18 keeps a kept-alive connection that its client
    # closed while idle until the keep-alive timeout (5 s; its task group waits for the
    # idle timer before closing), which would read as a leak in the counts taken after.
    headers = {"content-type": "application/json", "connection": "close"}
    with httpx.Client(base_url=server.url, timeout=timeout, trust_env=False) as client:
        sent = time.monotonic()
        with client.stream("POST", path, content=body, headers=headers) as response:
            chunks = response.iter_raw()
            first = next(chunks, b"")
            waited = time.monotonic() - sent
            assert response.status_code == 200, (response.status_code, first[:300])
            assert first and waited <= seconds, f"first byte after {waited:.2f} s"
            return first + b"".join(chunks)


SERVER_CONNECTION_TASK = "worker_serve.<locals>._server_callback"


def server_tasks(server: BackgroundServer) -> list[str]:
    """What each asyncio task on the server's loop runs (this probe's own task left out)."""
    loop = server._loop
    assert loop is not None

    async def tasks() -> list[str]:
        me = asyncio.current_task()
        coros = [t.get_coro() for t in asyncio.all_tasks() if t is not me]
        return sorted(getattr(c, "__qualname__", repr(c)) for c in coros)

    return asyncio.run_coroutine_threadsafe(tasks(), loop).result(5)


_TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}


def open_fds() -> list[str]:
    """This process's open descriptors, each as what it is (a TCP socket as its ports
    and state, from /proc/net/tcp), for counting and for telling what grew."""
    sockets: dict[str, str] = {}
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
                state = _TCP_STATES.get(fields[3], fields[3])
                sockets[fields[9]] = f"tcp {local}->{remote} {state}"
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                target = sockets.get(target[8:-1], target)
            found.append(target)
    return found
