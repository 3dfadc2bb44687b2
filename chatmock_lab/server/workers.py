"""`chatmock-lab serve --workers N`: N processes answering on one listening port, so the
proxy can use more than one core.

The parent binds and listens once (so `port=0` gives one free port that every worker
shares, and a client that connects before the workers are up waits in the backlog
instead of being refused), then starts N `python -m chatmock_lab.server.workers`
processes that inherit the socket's descriptor. Each builds its own app and serves it
exactly as a single process does (`runner.serve_until` on uvloop); the kernel hands each
new connection to whichever worker accepts it first.

Each worker gets its settings pickled on its stdin, never on its command line (where
`ps` would show the `--api-key`), and keeps that pipe open: when the parent goes away,
even by SIGKILL, the pipe reaches end of file and the worker stops rather than serving
on as an orphan.

Everything a worker holds is its own: the Gate (`--max-concurrency` is per worker), the
rate limit, stored Responses API responses, taps, `/usage` counters, the mock's state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pickle
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from chatmock_lab.config import ConfigError, Settings
from chatmock_lab.redact import RedactingFilter
from chatmock_lab.server.app import create_app
from chatmock_lab.server.runner import (
    bind_socket,
    configure_logging,
    run_fast,
    serve_until,
    url_of,
)
from chatmock_lab.server.state import app_state

# Hypercorn finishes open requests for up to 2 s (runner's graceful_timeout); a worker
# still running after this long is killed.
_STOP_GRACE_SECONDS = 5.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What each worker runs (`python -m`); this module's own name, spelt out because the
# worker process sees `__main__` there.
_WORKER_MODULE = "chatmock_lab.server.workers"


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse a number of workers these settings cannot run with (a ConfigError)."""
    if workers < 1:
        raise ConfigError(f"workers: must be at least 1, got {workers}")
    if workers == 1:
        return
    if os.name != "posix":
        raise ConfigError("workers: more than one needs a POSIX system (descriptor passing)")
    if settings.manual:
        raise ConfigError(
            "workers: --manual approves each request on this terminal, which"
            f" {workers} worker processes cannot share; use --manual with --workers 1"
        )
    if settings.record is not None:
        raise ConfigError(
            f"workers: --record writes one cassette, which {workers} worker processes"
            " would overwrite in turn; record with --workers 1 (--replay works with any number)"
        )


def serve_workers(settings: Settings, workers: int, *, announce: bool = True) -> int:
    """Serve with `workers` processes on one port until SIGINT or SIGTERM; the exit status.

    0 after a clean stop; 1 when a worker could not start, died on its own (the others
    are then stopped) or had to be killed. An OSError means the port cannot be bound."""
    check_workers(settings, workers)
    sock = bind_socket(settings.host, settings.port)
    try:
        if announce:
            print(
                f"chatmock-lab serving {url_of(sock)}"
                f" (provider: {settings.provider}, workers: {workers})",
                flush=True,
            )
        status = asyncio.run(_supervise(sock, settings, workers))
    finally:
        sock.close()
    if announce and status == 0:
        print("chatmock-lab stopped", flush=True)
    return status


@dataclass(frozen=True)
class _Worker:
    number: int
    process: asyncio.subprocess.Process

    def __str__(self) -> str:
        return f"worker {self.number} (pid {self.process.pid})"


async def _supervise(sock: socket.socket, settings: Settings, workers: int) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    started: list[_Worker] = []
    try:
        for number in range(1, workers + 1):
            started.append(await _spawn(sock, settings, number))
    except OSError as exc:
        _complain(f"cannot start worker {len(started) + 1}: {exc}")
        await _stop_all(started)
        return 1
    died = await _first_death(started, stop)
    if died is not None:
        _complain(f"{died} {_exit_description(died.process.returncode)}; stopping the others")
    clean = await _stop_all(started)
    return 0 if clean and died is None else 1


async def _spawn(sock: socket.socket, settings: Settings, number: int) -> _Worker:
    fd = sock.fileno()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        _WORKER_MODULE,
        "--fd",
        str(fd),
        "--worker",
        str(number),
        stdin=asyncio.subprocess.PIPE,
        pass_fds=(fd,),
        # Its own session: a Ctrl-C in the terminal reaches only the parent, which stops
        # the workers itself, so it never mistakes their exit for a crash.
        start_new_session=True,
    )
    assert process.stdin is not None
    process.stdin.write(pickle.dumps(settings))
    await process.stdin.drain()
    return _Worker(number, process)


async def _first_death(started: Sequence[_Worker], stop: asyncio.Event) -> _Worker | None:
    """The first worker to exit before `stop` is set, or None once it is set."""
    exits = {asyncio.ensure_future(worker.process.wait()): worker for worker in started}
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([*exits, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [*exits, stopping]:
            task.cancel()
    if stop.is_set():
        return None
    return next(worker for task, worker in exits.items() if task in done)


async def _stop_all(started: Sequence[_Worker]) -> bool:
    """SIGTERM to every worker, then a bounded wait; True if all stopped cleanly."""
    for worker in started:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGTERM)
    clean = True
    for worker in started:
        try:
            status = await asyncio.wait_for(worker.process.wait(), _STOP_GRACE_SECONDS)
        except TimeoutError:
            _complain(f"{worker} did not stop within {_STOP_GRACE_SECONDS:g} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                worker.process.kill()
            await worker.process.wait()
            clean = False
            continue
        # A worker told to stop before it had installed its own handler dies of the
        # SIGTERM itself: stopped as asked, all the same.
        if status not in (0, -signal.SIGTERM):
            _complain(f"{worker} {_exit_description(status)} while stopping")
            clean = False
    for worker in started:
        if worker.process.stdin is not None:
            worker.process.stdin.close()
    return clean


def _exit_description(status: int | None) -> str:
    if status is not None and status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"


def _complain(message: str) -> None:
    print(f"chatmock-lab: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The worker process


def _worker_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatmock_lab.server.workers")
    parser.add_argument("--fd", type=int, required=True, help="the inherited listening socket")
    parser.add_argument("--worker", type=int, required=True, help="this worker's number")
    args = parser.parse_args(argv)
    settings = pickle.load(sys.stdin.buffer)  # the parent, over its own pipe
    if not isinstance(settings, Settings):
        raise TypeError(f"expected Settings on stdin, got {type(settings).__name__}")
    sock = socket.socket(fileno=args.fd)
    app = create_app(settings)
    configure_logging(
        settings, RedactingFilter(app_state(app).redactor), who=f"worker {args.worker}"
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, stop.set)
        _stop_when_parent_goes(loop, stop)
        await serve_until(app, sock, settings, stop)

    run_fast(main())
    return 0


def _stop_when_parent_goes(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set `stop` when stdin, the parent's pipe, reaches end of file."""
    fd = sys.stdin.fileno()

    def watch() -> None:
        # The descriptor, not sys.stdin: a daemon thread blocked inside a buffered reader
        # holds its lock, and the interpreter aborts on that lock when it exits.
        with contextlib.suppress(OSError):
            while os.read(fd, 4096):
                pass
        with contextlib.suppress(RuntimeError):  # the loop has already closed
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch, name="parent watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
