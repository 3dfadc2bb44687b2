"""The `%chatmock` magics in a real Jupyter kernel (ipykernel over ZMQ), as a notebook
uses them: the server starts on its own thread, the next cell's synchronous SDK call is
answered, stopping frees the port, serving twice never leaves two servers, the kernel's
shutdown stops the server, and mistakes get one line, never a traceback."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

# Timing-sensitive or heavy (browsers, kernels, subprocess clients): one worker runs
# them one after another, so none is measured while another loads both cores.
pytestmark = pytest.mark.xdist_group("heavy")

DEADLINE = 30.0


@dataclass
class CellRun:
    status: str
    stdout: str = ""
    stderr: str = ""
    results: list[str] = field(default_factory=list)  # text/plain of results and displays
    tracebacks: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Kernel:
    def __init__(self, manager: KernelManager, client: BlockingKernelClient) -> None:
        self.manager = manager
        self.client = client

    def run(self, code: str) -> CellRun:
        outcome = CellRun(status="")

        def hook(message: dict[str, Any]) -> None:
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                name = "stdout" if content["name"] == "stdout" else "stderr"
                setattr(outcome, name, getattr(outcome, name) + content["text"])
            elif kind in ("execute_result", "display_data"):
                outcome.results.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                outcome.tracebacks.append("\n".join(content["traceback"]))

        started = time.monotonic()
        reply = self.client.execute_interactive(code, timeout=DEADLINE, output_hook=hook)
        outcome.seconds = time.monotonic() - started
        outcome.status = reply["content"]["status"]
        return outcome

    def value(self, expression: str) -> Any:
        """A JSON-able value computed in the kernel."""
        run = self.run(f"import json as _json; print(_json.dumps({expression}))")
        assert run.status == "ok", run
        return json.loads(run.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def started_kernel() -> Iterator[Kernel]:
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=DEADLINE)
    try:
        kernel = Kernel(manager, client)
        assert kernel.run("%load_ext chatmock_lab").status == "ok"
        yield kernel
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    with started_kernel() as running:
        yield running


def port_is_free(port: int) -> bool:
    """Whether a new server can listen on the port. Like any server (ours included), it
    sets SO_REUSEADDR: connections of the stopped one may linger in TIME_WAIT."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


def server_threads(kernel: Kernel) -> list[str]:
    return kernel.value(
        "[t.name for t in __import__('threading').enumerate()"
        " if t.name.startswith('chatmock-lab http')]"
    )


def test_serve_returns_at_once_and_a_synchronous_sdk_call_works(kernel: Kernel) -> None:
    served = kernel.run("%chatmock serve")
    assert served.status == "ok", served
    # The whole cell, as the notebook sees it: the kernel round trip included.
    assert served.seconds < 2.0, f"%chatmock serve took {served.seconds:.2f} s"
    (info,) = served.results
    assert "chatmock-lab serving http://127.0.0.1:" in info and "(provider: mock)" in info
    call = kernel.run(
        "from openai import OpenAI\n"
        "reply = OpenAI().chat.completions.create(\n"
        "    model='gpt-4.1', messages=[{'role': 'user', 'content': 'from the kernel'}])\n"
        "print(reply.choices[0].message.content)"
    )
    assert call.status == "ok", call
    assert call.stdout.strip() == "You said: from the kernel"
    status = kernel.run("%chatmock status")
    (summary,) = status.results
    assert "requests served:" in summary and "permits in use: 0 of 16" in summary


def test_serving_again_never_leaves_two_servers_and_stop_frees_the_port(kernel: Kernel) -> None:
    kernel.run("%chatmock serve")
    url = kernel.value("__import__('os').environ['OPENAI_BASE_URL']")
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    again = kernel.run("%chatmock serve")
    assert "already serving with these settings" in again.results[0]
    assert len(server_threads(kernel)) == 1

    # Other settings: the server is replaced, on the same port, so URLs stay right.
    changed = kernel.run("%chatmock serve --mock-chunk-chars 3")
    assert "reconfigured" in changed.results[0] and f":{port}" in changed.results[0]
    assert len(server_threads(kernel)) == 1
    assert kernel.value("__import__('os').environ['OPENAI_BASE_URL']") == url

    stopped = kernel.run("%chatmock stop")
    assert stopped.stdout.strip() == "chatmock-lab stopped"
    assert server_threads(kernel) == []
    assert port_is_free(port)
    # The SDK variables are put back as they were.
    assert kernel.value("__import__('os').environ.get('OPENAI_BASE_URL')") is None


def test_mistakes_get_one_line_and_no_traceback(kernel: Kernel) -> None:
    kernel.run("%chatmock stop")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        cases = {
            "%chatmock frobnicate": "unknown subcommand 'frobnicate'",
            "%chatmock serve --port eighty": "argument --port: invalid int value",
            "%chatmock serve --record-mode sometimes": "invalid choice: 'sometimes'",
            "%chatmock status": "no server is running; start one with %chatmock serve",
            "%chatmock replay missing.yaml": "no server is running",
            f"%chatmock serve --port {busy}": f"cannot listen on 127.0.0.1:{busy}",
        }
        for line, expected in cases.items():
            run = kernel.run(line)
            assert run.status == "error", (line, run)
            assert run.tracebacks == [] and "Traceback" not in run.stderr, (line, run)
            lines = run.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("UsageError: %chatmock"), (line, run)
            assert expected in lines[0], (line, lines[0])
    assert server_threads(kernel) == []


def test_help_lists_the_subcommands(kernel: Kernel) -> None:
    overview = kernel.run("%chatmock --help").stdout
    for name in ("serve", "stop", "status", "login", "compare", "inspect", "record", "replay"):
        assert f"\n  {name} " in overview
    assert "--max-concurrency" in kernel.run("%chatmock serve --help").stdout


def test_kernel_shutdown_stops_the_server() -> None:
    with started_kernel() as kernel:
        kernel.run("%chatmock serve")
        url = kernel.value("__import__('os').environ['OPENAI_BASE_URL']")
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert not port_is_free(port)
        kernel.manager.shutdown_kernel(now=False)
        deadline = time.monotonic() + DEADLINE
        while not port_is_free(port):
            assert time.monotonic() < deadline, "the port stayed taken after the kernel stopped"
            time.sleep(0.05)


def test_chaos_from_the_notebook_hits_requests_and_status_counts_it(kernel: Kernel) -> None:
    assert kernel.run("%chatmock serve").status == "ok"
    given = kernel.run("%chatmock chaos error status=503 times=1 retries=0")
    assert given.stdout.strip() == (
        "chatmock-lab chaos: error status=503 times=1 retries=0 (seed 0); injected so far: nothing"
    )
    call = kernel.run(
        "from openai import OpenAI, InternalServerError\n"
        "client = OpenAI(max_retries=0)\n"
        "ask = lambda text: client.chat.completions.create(\n"
        "    model='gpt-4.1', messages=[{'role': 'user', 'content': text}])\n"
        "try:\n"
        "    ask('first')\n"
        "except InternalServerError as error:\n"
        "    print('status', error.status_code)\n"
        "print(ask('second').choices[0].message.content)"
    )
    assert call.status == "ok", call
    assert call.stdout.splitlines() == ["status 503", "You said: second"]
    (summary,) = kernel.run("%chatmock status").results
    assert "chaos: error status=503 times=1 retries=0 (seed 0); injected so far: error 503 x1" in (
        summary
    )
    off = kernel.run("%chatmock chaos --off --reset --seed 4")
    assert off.stdout.strip() == "chatmock-lab chaos: none (seed 4); injected so far: nothing"
    bad = kernel.run("%chatmock chaos drop after=soon")
    assert bad.status == "error" and bad.tracebacks == []
    (line,) = bad.stderr.strip().splitlines()
    assert line == (
        "UsageError: %chatmock chaos: chaos: rule 1 ('drop after=soon'): after: 'soon' is not"
        " a whole number"
    )
    kernel.run("%chatmock stop")
