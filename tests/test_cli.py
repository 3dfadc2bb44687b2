"""`chatmock-lab serve` as a user runs it: a real process, a real port, a clean stop."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from chatmock_lab.providers import available_providers

DEADLINE = 20.0


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATMOCK_")}
    env.update(extra)
    return env


@contextmanager
def running(
    *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "chatmock_lab", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or _env(),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(DEADLINE)
    try:
        stderr = process.stderr.read() if process.poll() is not None else ""
        assert lines and lines[0], f"no startup line; stderr: {stderr}"
        match = re.search(r"http://[\d.]+:\d+", lines[0])
        assert match, lines[0]
        yield process, match.group(0)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(DEADLINE)


def test_console_script_is_installed() -> None:
    executable = shutil.which("chatmock-lab")
    assert executable, "pip install -e . should put chatmock-lab on PATH"
    result = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, timeout=DEADLINE
    )
    assert result.returncode == 0
    assert result.stdout.startswith("chatmock-lab ")


def test_serve_on_a_free_port_answers_and_stops_cleanly_on_sigterm() -> None:
    with running("--port", "0") as (process, url):
        assert not url.endswith(":0")
        assert httpx.get(f"{url}/health", timeout=5).json() == {"status": "ok"}
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "cli"}]},
            timeout=5,
        ).json()
        assert reply["choices"][0]["message"]["content"] == "You said: cli"
        process.send_signal(signal.SIGTERM)
        assert process.wait(DEADLINE) == 0
        assert "chatmock-lab stopped" in process.stdout.read()
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as probe:  # the port is free again
        probe.bind(("127.0.0.1", port))


def test_ctrl_c_stops_cleanly() -> None:
    with running("--port", "0") as (process, _url):
        process.send_signal(signal.SIGINT)
        assert process.wait(DEADLINE) == 0


def test_startup_line_names_url_and_provider() -> None:
    with running("--port", "0", "--provider", "mock") as (process, url):
        assert url.startswith("http://127.0.0.1:")
        process.send_signal(signal.SIGTERM)
        process.wait(DEADLINE)


def test_environment_configures_and_flags_win() -> None:
    env = _env(CHATMOCK_PROVIDER="nonexistent", CHATMOCK_MOCK_CHUNK_CHARS="2")
    with running("--port", "0", "--provider", "mock", env=env) as (process, url):
        body = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "abcd"}]},
            timeout=5,
        ).text
        assert '"content":"Yo"' in body
        process.send_signal(signal.SIGTERM)
        process.wait(DEADLINE)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--provider", "nope"],
            {},
            f"unknown provider 'nope' (available: {', '.join(available_providers())})",
        ),
        ([], {"CHATMOCK_PORT": "eighty"}, "CHATMOCK_PORT='eighty': expected an integer"),
        ([], {"CHATMOCK_VERBOSE": "maybe"}, "CHATMOCK_VERBOSE='maybe'"),
        (["--port", "70000"], {}, "port: must be between 0 and 65535"),
        (["--mock-chunk-chars", "0"], {}, "mock_chunk_chars: must be at least 1"),
        (["--chaos", "drop; explode"], {}, "chaos: rule 2 ('explode'): unknown kind 'explode'"),
        ([], {"CHATMOCK_CHAOS_SEED": "x"}, "CHATMOCK_CHAOS_SEED='x': expected an integer"),
    ],
)
def test_bad_configuration_exits_2_with_a_clear_message(args, env, message) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chatmock_lab", "serve", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env=_env(**env),
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "chatmock_lab", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            env=_env(),
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_binding_beyond_loopback_without_a_key_warns() -> None:
    with running("--port", "0", "--host", "0.0.0.0") as (process, _url):
        process.send_signal(signal.SIGTERM)
        process.wait(DEADLINE)
        warning = process.stderr.read()
    assert "WARNING: listening on 0.0.0.0" in warning and "--api-key" in warning
    with running("--port", "0", "--host", "0.0.0.0", "--api-key", "k-123456789") as (process, _):
        process.send_signal(signal.SIGTERM)
        process.wait(DEADLINE)
        assert "WARNING" not in process.stderr.read()
    with running("--port", "0") as (process, _):
        process.send_signal(signal.SIGTERM)
        process.wait(DEADLINE)
        assert "WARNING" not in process.stderr.read()
