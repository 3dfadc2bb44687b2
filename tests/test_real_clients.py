"""Real command-line clients, installed from the npm registry, against the proxy.

`.ci/run` installs them when npm is available and points at them with
`CHATMOCK_CLAUDE_BIN` and `CHATMOCK_GEMINI_BIN`; elsewhere the tests look on PATH
and skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import RecordingProvider

# Timing-sensitive or heavy (browsers, kernels, subprocess clients): one worker runs
# them one after another, so none is measured while another loads both cores.
pytestmark = pytest.mark.xdist_group("heavy")


def _client_binary(variable: str, name: str) -> str:
    candidate = os.environ.get(variable) or shutil.which(name)
    if not candidate or not Path(candidate).exists():
        pytest.skip(
            f"{name} is not installed: run .ci/run, or `npm install --prefix DIR` the package"
            f" and set {variable}=DIR/node_modules/.bin/{name}"
        )
    return candidate


def _offline_env(home: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(HOME=str(home), **extra)
    return env


def _ask(binary: str, prompt: str, *, cwd: Path, env: dict[str, str]) -> str:
    """Run a CLI non-interactively; it must succeed and show the mock's quote of the prompt."""
    result = subprocess.run(
        [binary, "-p", prompt],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "You said:" in result.stdout
    assert prompt in result.stdout
    return result.stdout


def test_claude_code_gets_an_answer_from_the_mock(tmp_path, start_server) -> None:
    claude = _client_binary("CHATMOCK_CLAUDE_BIN", "claude")
    recorder = RecordingProvider()
    server = start_server(provider=recorder)
    env = _offline_env(
        tmp_path,
        ANTHROPIC_BASE_URL=server.url,
        ANTHROPIC_API_KEY="sk-ant-test-not-a-secret",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
    )
    _ask(claude, "Reply with the word pineapple", cwd=tmp_path, env=env)
    # What Claude Code sent reached the mock as a canonical request.
    main_turn = [
        r
        for r in recorder.requests
        if "pineapple" in (r.last_user_message() or r.messages[-1]).text()
    ]
    assert main_turn, [r.model for r in recorder.requests]
    assert main_turn[-1].model.startswith("claude")
    assert main_turn[-1].system, "Claude Code sends a system prompt"


def test_gemini_cli_gets_an_answer_from_the_mock(tmp_path, start_server) -> None:
    gemini = _client_binary("CHATMOCK_GEMINI_BIN", "gemini")
    recorder = RecordingProvider()
    server = start_server(provider=recorder)
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    # API-key auth chosen up front; without it the CLI stops at "Invalid auth method selected".
    settings = {
        "selectedAuthType": "gemini-api-key",
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "telemetry": {"enabled": False},
        "usageStatisticsEnabled": False,
    }
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    workspace = tmp_path / "work"
    workspace.mkdir()
    env = _offline_env(
        home,
        GOOGLE_GEMINI_BASE_URL=server.url,
        GEMINI_API_KEY="test-gemini-key-not-a-secret",
        GEMINI_CLI_TRUST_WORKSPACE="true",
    )
    _ask(gemini, "Reply with the word mango", cwd=workspace, env=env)
    main_turn = [r for r in recorder.requests if "mango" in r.messages[-1].text()]
    assert main_turn, [r.model for r in recorder.requests]
    assert main_turn[-1].model.startswith("gemini")
