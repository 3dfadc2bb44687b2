"""`serve --verbose` logs bodies and stream chunks, and never a secret; `--manual` asks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import httpx

from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply

UPSTREAM_KEY = "xai-upstream-secret-9f8e7d6c5b4a"
CLIENT_BEARER = "sk-client-secret-0a1b2c3d4e5f"
CLIENT_API_KEY = "sk-ant-client-secret-abcdef123456"
GOOGLE_KEY = "AIzaSyClientSecretValue1234567890"
COOKIE_VALUE = "session-cookie-secret-77"


def _serve(*args: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "chatmock_lab", "serve", "--port", "0", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(20)
    match = re.search(r"http://[\d.]+:\d+", line[0] if line else "")
    assert match, "no startup line"
    return process, match.group(0)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATMOCK_")}
    return {**env, **extra}


def test_verbose_logs_never_show_a_secret() -> None:
    with FakeOpenAIUpstream(api_key=UPSTREAM_KEY) as fake:
        env = _env(XAI_API_KEY=UPSTREAM_KEY, CHATMOCK_GROK_BASE_URL=fake.base_url)
        process, url = _serve("--provider", "grok", "--verbose", "--retries", "1", env=env)
        try:
            headers = {
                "authorization": f"Bearer {CLIENT_BEARER}",
                "x-api-key": CLIENT_API_KEY,
                "x-goog-api-key": GOOGLE_KEY,
                "cookie": f"session={COOKIE_VALUE}",
            }
            body = {"model": "grok-4", "messages": [{"role": "user", "content": "log me"}]}
            fake.reply(FakeReply(text="streamed words", chunk_chars=3))
            streamed = httpx.post(
                f"{url}/v1/chat/completions",
                json={**body, "stream": True, "verbosity": "low"},
                headers=headers,
            )
            assert "streamed words" not in streamed.text  # the text arrives in pieces
            fake.fail(429, retry_after=0.01, message=f"echoing your key {UPSTREAM_KEY}")
            httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            httpx.post(
                f"{url}/v1beta/models/grok-4:generateContent?key={GOOGLE_KEY}",
                json={"contents": [{"parts": [{"text": "hi"}]}]},
            )
            fake.fail(401, message=f"bad key {UPSTREAM_KEY}")
            failed = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            assert failed.status_code == 401
        finally:
            process.terminate()
            _, logs = process.communicate(timeout=20)
    assert UPSTREAM_KEY not in failed.text  # nor in what the client is told
    # Verbose mode really logged bodies, headers and chunks...
    assert "log me" in logs
    assert "-> grok POST" in logs and "<- grok |" in logs
    assert "Bearer ***" in logs
    # What was not carried over is said, naming the field.
    assert "openai: not carried over: verbosity:" in logs
    # ...and no secret.
    for secret in (UPSTREAM_KEY, CLIENT_BEARER, CLIENT_API_KEY, GOOGLE_KEY, COOKIE_VALUE):
        assert secret not in logs, secret


def test_manual_mode_asks_on_the_terminal() -> None:
    process, url = _serve("--manual", env=_env())
    try:
        results: list[httpx.Response] = []

        def ask(text: str) -> None:
            body = {"model": "m", "messages": [{"role": "user", "content": text}]}
            results.append(httpx.post(f"{url}/v1/chat/completions", json=body, timeout=20))

        for answer, text in (("y", "approved one"), ("n", "refused one")):
            worker = threading.Thread(target=ask, args=(text,))
            worker.start()
            process.stdin.write(answer + "\n")
            process.stdin.flush()
            worker.join(20)
    finally:
        process.terminate()
        _, logs = process.communicate(timeout=20)
    assert results[0].status_code == 200
    assert results[0].json()["choices"][0]["message"]["content"] == "You said: approved one"
    assert results[1].status_code == 403
    assert "refused by the operator" in results[1].json()["error"]["message"]
    assert "send to mock (m)?" in logs
