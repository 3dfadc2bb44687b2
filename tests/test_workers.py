"""`serve --workers N`: N real processes on one loopback port, told apart through /proc
(which worker holds which accepted connection), stopped by a signal to the parent."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chatmock_lab.config import ConfigError, Settings
from chatmock_lab.server.workers import check_workers, serve_workers

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="tells workers apart through /proc"
)

DEADLINE = 10.0
CONNECTIONS = 40
_ESTABLISHED = "01"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CHATMOCK_")}


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    stderr: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def workers(self, count: int) -> list[int]:
        """The pids of the parent's `count` children, once they all exist."""
        pids: list[int] = []
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            pids = _children(self.process.pid)
            if len(pids) == count:
                return pids
            time.sleep(0.01)
        raise AssertionError(f"expected {count} workers, found {pids}")

    def wait(self) -> int:
        try:
            return self.process.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the parent did not exit; stderr: {self.errors()}") from None

    def errors(self) -> str:
        return self.stderr.read_text()


def _serve_command(workers: int, *extra: str) -> list[str]:
    """`chatmock-lab serve` on a free port with `workers` processes."""
    serve = [sys.executable, "-m", "chatmock_lab", "serve", "--port", "0"]
    return [*serve, "--workers", str(workers), *extra]


@contextmanager
def serving(workers: int, tmp_path: Path) -> Iterator[Served]:
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as sink:
        process = subprocess.Popen(
            _serve_command(workers),
            stdout=subprocess.PIPE,
            # A file, not a pipe nobody reads: the workers' logs must never block them.
            stderr=sink,
            text=True,
            env=_env(),
        )
    served = Served(process, "", stderr)
    try:
        first = _first_line(process)
        match = re.fullmatch(
            r"chatmock-lab serving (http://\S+) \(provider: mock, workers: (\d+)\)", first
        )
        assert match, f"{first!r}; stderr: {served.errors()}"
        assert int(match[2]) == workers
        served.url = match[1]
        _wait_healthy(served)
        yield served
    finally:
        for pid in [*_children(process.pid), process.pid]:
            _kill(pid)
        process.wait(DEADLINE)
        assert process.stdout is not None
        process.stdout.close()


def _first_line(process: subprocess.Popen[str]) -> str:
    # readline() cannot time out, so a thread reads and the deadline is on the join.
    lines: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(DEADLINE)
    assert lines, "the parent printed nothing"
    return lines[0].strip()


def _wait_healthy(served: Served) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        assert served.process.poll() is None, f"the parent exited: {served.errors()}"
        try:
            if httpx.get(f"{served.url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"{served.url}/health never answered; stderr: {served.errors()}")


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def _alive(pid: int) -> bool:
    # A zombie has stopped serving; only its parent's wait is missing.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.01)
    assert not [pid for pid in pids if _alive(pid)], "workers outlived the parent"


def _accepted_sockets(port: int) -> set[str]:
    """Inodes of the server side of every open connection to `port` on loopback."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == _ESTABLISHED:
            inodes.add(fields[9])
    return inodes


def _sockets_of(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


async def _open_connections(url: str) -> httpx.AsyncClient:
    """A client holding CONNECTIONS fresh connections, each having had one reply."""
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    client = httpx.AsyncClient(base_url=url, limits=limits, timeout=5, trust_env=False)

    async def ask(number: int) -> None:
        reply = await client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": f"n{number}"}]},
        )
        assert reply.json()["choices"][0]["message"]["content"] == f"You said: n{number}"

    await asyncio.gather(*(ask(n) for n in range(CONNECTIONS)))
    return client


def _connections_per_worker(served: Served, workers: list[int]) -> dict[int, int]:
    """How many of CONNECTIONS fresh connections each worker accepted and answered."""

    async def count() -> dict[int, int]:
        client = await _open_connections(served.url)
        try:
            accepted = _accepted_sockets(served.port)
            return {pid: len(_sockets_of(pid) & accepted) for pid in workers}
        finally:
            await client.aclose()

    return asyncio.run(count())


def test_two_workers_share_one_port_both_answer_and_stop_on_sigterm(tmp_path: Path) -> None:
    with serving(2, tmp_path) as served:
        workers = served.workers(2)
        seen = {pid: 0 for pid in workers}
        deadline = time.monotonic() + DEADLINE
        # The kernel hands connections to whichever worker accepts first: rounds until
        # both have had some (the second may still be starting during the first round).
        while time.monotonic() < deadline and not all(seen.values()):
            per_worker = _connections_per_worker(served, workers)
            assert sum(per_worker.values()) == CONNECTIONS, per_worker
            seen = {pid: seen[pid] + per_worker[pid] for pid in workers}
        assert all(seen.values()), f"one worker answered everything: {seen}"

        served.process.send_signal(signal.SIGTERM)
        assert served.wait() == 0, served.errors()
        assert served.process.stdout is not None
        assert "chatmock-lab stopped" in served.process.stdout.read()
        _wait_gone(workers)
        with socket.socket() as probe:  # nobody holds the port any more
            probe.bind(("127.0.0.1", served.port))


def test_a_worker_that_dies_is_reported_and_the_others_stopped(tmp_path: Path) -> None:
    with serving(2, tmp_path) as served:
        doomed, other = served.workers(2)
        os.kill(doomed, signal.SIGKILL)
        assert served.wait() == 1
        assert f"(pid {doomed}) was killed by SIGKILL; stopping the others" in served.errors()
        _wait_gone([other])


def test_workers_stop_when_the_parent_is_killed(tmp_path: Path) -> None:
    with serving(2, tmp_path) as served:
        workers = served.workers(2)
        served.process.kill()
        served.wait()
        _wait_gone(workers)


@pytest.mark.parametrize(
    ("settings", "workers", "message"),
    [
        (Settings(port=0), 0, "workers: must be at least 1, got 0"),
        (Settings(port=0, manual=True), 2, "--manual approves each request on this terminal"),
        (Settings(port=0, record=Path("c.yaml")), 2, "--record writes one cassette"),
    ],
)
def test_settings_workers_cannot_share_are_refused_before_binding(
    settings: Settings, workers: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_workers(settings, workers)
    # serve_workers checks first: nothing is bound or started.
    with pytest.raises(ConfigError, match=re.escape(message)):
        serve_workers(settings, workers)


def test_replay_and_a_single_manual_worker_are_allowed() -> None:
    check_workers(Settings(port=0, replay=Path("c.yaml")), 4)
    check_workers(Settings(port=0, manual=True), 1)


def test_the_cli_refuses_workers_with_manual() -> None:
    result = subprocess.run(
        _serve_command(2, "--manual"),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env=_env(),
    )
    assert result.returncode == 2
    assert "--manual approves each request on this terminal" in result.stderr
    assert "Traceback" not in result.stderr
