"""`chatmock-lab login`, `logout` and `info`, run as a user runs them, against local fakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from chatmock_lab.auth.store import TokenStore
from chatmock_lab.testing import FakeChatGPTAuth, FakeGitHub


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chatmock_lab", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_login_info_logout_and_no_secret_anywhere(tmp_path) -> None:
    with FakeGitHub(interval=1) as github, FakeChatGPTAuth() as auth:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CHATMOCK_", "QWEN_"))},
            "CHATMOCK_HOME": str(tmp_path / "home"),
            "HOME": str(tmp_path),
            "CHATMOCK_GITHUB_URL": github.github_url,
            "CHATMOCK_GITHUB_API_URL": github.api_url,
            "CHATMOCK_CHATGPT_AUTH_URL": auth.url,
        }
        auth.device_interval = 1
        auth.script_device("approved", pending=0)
        github.script(["success"])

        chatgpt = run("login", "chatgpt", "--headless", env=env)
        assert chatgpt.returncode == 0, chatgpt.stderr
        assert "/codex/device" in chatgpt.stdout and "Signed in to ChatGPT" in chatgpt.stdout
        copilot = run("login", "copilot", env=env)
        assert copilot.returncode == 0, copilot.stderr
        assert (
            "enter the code" in copilot.stdout and "Signed in to GitHub Copilot" in copilot.stdout
        )

        store_file = tmp_path / "home" / "tokens.json"
        assert store_file.stat().st_mode & 0o777 == 0o600
        stored = TokenStore(store_file)
        secrets = [
            *(v for v in stored.load("chatgpt").values() if isinstance(v, str) and len(v) > 20),
            stored.load("copilot")["github_token"],
        ]
        assert len(secrets) >= 4

        info = run("info", "--json", env=env)
        text = run("info", env=env)
        assert info.returncode == 0 and text.returncode == 0
        report = json.loads(info.stdout)
        assert report["providers"]["chatgpt"]["logged_in"] is True
        assert report["providers"]["chatgpt"]["plan"] == "plus"
        assert report["providers"]["chatgpt"]["account"].startswith("...")
        copilot_info = report["providers"]["copilot"]
        assert copilot_info["logged_in"] is True and copilot_info["plan"] == "individual"
        premium = next(
            row for row in copilot_info["usage"] if row["quota"] == "premium interactions"
        )
        assert (premium["remaining"], premium["entitlement"]) == (253, 300)
        assert "premium interactions: 253/300 left" in text.stdout
        everything = "".join(p.stdout + p.stderr for p in (chatgpt, copilot, info, text))
        for secret in secrets:
            assert secret not in everything

        out = run("logout", "copilot", env=env)
        assert out.stdout.strip() == "copilot: signed out"
        after = json.loads(run("info", "--json", env=env).stdout)
        assert after["providers"]["copilot"] == {
            "logged_in": False,
            "login": "chatmock-lab login copilot",
        }


def test_failed_logins_end_with_a_clear_message(tmp_path) -> None:
    with FakeGitHub(interval=1) as github:
        env = {
            **os.environ,
            "CHATMOCK_HOME": str(tmp_path),
            "CHATMOCK_GITHUB_URL": github.github_url,
            "CHATMOCK_GITHUB_API_URL": github.api_url,
        }
        github.script(["denied"])
        result = run("login", "copilot", env=env)
    assert result.returncode == 1
    assert "login failed" in result.stderr and "Traceback" not in result.stderr


def test_qwen_login_keeps_the_session_hidden(tmp_path) -> None:
    env = {**os.environ, "CHATMOCK_HOME": str(tmp_path)}
    result = run("login", "qwen", env=env, stdin="qwen-secret-token-123\nsid=qwen-cookie-456\n")
    assert result.returncode == 0, result.stderr
    assert "qwen-secret-token-123" not in result.stdout + result.stderr
    assert TokenStore(tmp_path / "tokens.json").load("qwen") == {
        "auth_token": "qwen-secret-token-123",
        "cookies": "sid=qwen-cookie-456",
    }
