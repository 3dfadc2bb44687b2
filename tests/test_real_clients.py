"""Real command-line clients, installed from the npm registry, against the proxy.

`.ci/run` installs them when npm is available and points at them with
`CHATMOCK_CLAUDE_BIN`, `CHATMOCK_GEMINI_BIN` and `CHATMOCK_CODEX_BIN`; elsewhere the
tests look on PATH and skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from chatmock_lab.core import ToolCallPart, ToolResultPart
from chatmock_lab.providers.scenario import load_scenario
from tests.support import RecordingProvider

CODEX_SHELL_SCENARIO = Path(__file__).parent / "scenarios" / "codex_shell.yaml"

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


def _codex_home(home: Path, base_url: str) -> None:
    """Codex's config in a fresh HOME: the proxy as a Responses provider, nothing else.

    Commands run in Codex's read-only sandbox without asking (`approval_policy =
    "never"`); analytics, feedback and the update check are off, so the only traffic is
    to the proxy on loopback."""
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    (codex_home / "config.toml").write_text(
        f"""model = "gpt-5"
model_provider = "local"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[model_providers.local]
name = "local"
base_url = "{base_url}/v1"
env_key = "LOCAL_KEY"
wire_api = "responses"
# A failed request fails the run at once, instead of after five reconnections.
request_max_retries = 0
stream_max_retries = 0
"""
    )


def _codex_exec(
    codex: str, prompt: str, *, home: Path, server_url: str
) -> subprocess.CompletedProcess[str]:
    """`codex exec` once in a fresh HOME and workspace; it must succeed."""
    _codex_home(home, server_url)
    workspace = home.parent / "work"
    workspace.mkdir()
    env = _offline_env(home, CODEX_HOME=str(home / ".codex"), LOCAL_KEY="codex-test-not-a-secret")
    try:
        result = subprocess.run(
            [codex, "exec", "--skip-git-repo-check", "--ephemeral", "--color", "never", prompt],
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            # A run takes about a second; Codex waits for the network without end when
            # it cannot connect ("Reconnecting... waiting for network").
            timeout=30,
        )
    except subprocess.TimeoutExpired as stopped:
        pytest.fail(f"codex exec did not finish in 30 s; it printed:\n{stopped.stderr!r}")
    assert result.returncode == 0, result.stderr
    return result


def test_codex_exec_gets_an_answer_from_the_mock(tmp_path, start_server) -> None:
    codex = _client_binary("CHATMOCK_CODEX_BIN", "codex")
    recorder = RecordingProvider()
    server = start_server(provider=recorder)
    result = _codex_exec(
        codex, "Reply with the word papaya", home=tmp_path / "home", server_url=server.url
    )
    # The last line Codex prints on stdout is the agent's final message: the mock's quote.
    assert "You said: Reply with the word papaya" in result.stdout, result.stderr
    main_turn = [r for r in recorder.requests if "papaya" in r.messages[-1].text()]
    assert main_turn, [r.model for r in recorder.requests]
    assert main_turn[-1].model == "gpt-5"
    # Codex's shell tool reached the provider as a function tool.
    assert "exec_command" in [tool.name for tool in main_turn[-1].tools]


def test_codex_exec_runs_a_shell_call_from_the_mock(tmp_path, start_server) -> None:
    """The scenario makes the mock call `exec_command`; Codex runs it in its sandbox,
    sends the output back as a `function_call_output`, and the mock's answer quotes it.
    The command prints `chatmock-codex-42` from `$((6*7))`, so the words can only appear
    if a shell really ran it."""
    codex = _client_binary("CHATMOCK_CODEX_BIN", "codex")
    recorder = RecordingProvider()
    recorder.options.scenario = load_scenario(CODEX_SHELL_SCENARIO)
    server = start_server(provider=recorder)
    result = _codex_exec(
        codex,
        "Run the chatmock-shell-probe command",
        home=tmp_path / "home",
        server_url=server.url,
    )
    # Two turns: the call, then the answer to its result.
    probe_turns = [
        r
        for r in recorder.requests
        if "chatmock-shell-probe" in (r.last_user_message() or r.messages[-1]).text()
    ]
    assert len(probe_turns) == 2, [r.messages[-1].role for r in probe_turns]
    answered = probe_turns[-1].messages
    calls = [
        p for m in answered if m.role == "assistant" for p in m.parts if isinstance(p, ToolCallPart)
    ]
    assert [(c.name, c.arguments) for c in calls] == [
        ("exec_command", {"cmd": "echo chatmock-codex-$((6*7))"})
    ]
    results = [p for p in answered[-1].parts if isinstance(p, ToolResultPart)]
    assert answered[-1].role == "tool" and len(results) == 1, answered[-1]
    assert results[0].tool_call_id == calls[0].id
    assert "chatmock-codex-42" in results[0].text()
    # The final answer is the mock quoting the tool's result, output included.
    final = result.stdout.strip()
    assert final.startswith("The tool "), result.stdout
    assert "chatmock-codex-42" in final
