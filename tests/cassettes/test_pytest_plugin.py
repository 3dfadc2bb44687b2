"""The pytest plugin, run the way users run it: test files with the `chatmock` fixture in
a pytest session of their own (pytester), with the official openai SDK."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

import chatmock_lab
from chatmock_lab.testing import FakeOpenAIUpstream

KEY = "sk-plugin-test-0123456789abcdefghij"

USER_TEST = """
import os

import openai
import pytest

PROMPT = {prompt!r}


@pytest.mark.chatmock(provider="openai")
def test_ask(chatmock):
    # The fixture points the SDKs at its proxy for this test.
    assert os.environ["OPENAI_BASE_URL"] == chatmock.endpoints.openai
    assert os.environ["ANTHROPIC_BASE_URL"] == chatmock.endpoints.anthropic
    assert os.environ["GOOGLE_GEMINI_BASE_URL"] == chatmock.endpoints.gemini
    client = openai.OpenAI(max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-4.1", messages=[{{"role": "user", "content": PROMPT}}]
    )
    assert reply.choices[0].message.content == "Upstream says: " + PROMPT


def test_after():
    # ... and only for that test.
    assert os.environ.get("OPENAI_BASE_URL") != "set by chatmock"
    assert "127.0.0.1" not in os.environ.get("OPENAI_BASE_URL", "")
"""


def record(path: Path, *prompts: str) -> None:
    """Record the fake's answers to these prompts into a cassette, as a user would."""
    with (
        chatmock_lab.cassette(path, "once", provider="openai") as session,
        openai.OpenAI(base_url=session.endpoints.openai, api_key="k") as client,
    ):
        for prompt in prompts:
            client.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": prompt}]
            )


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Only the plugins under test: whatever else is installed (hypothesis, benchmark,
    # asyncio, ...) would make each session slower and noisier, and prove nothing here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        return pytester.runpytest(
            "-p", "chatmock_lab.pytest_plugin", "-p", "pytest_recording.plugin", *args
        )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIUpstream]:
    with FakeOpenAIUpstream(api_key=KEY) as upstream:
        # Read by the proxy the fixture starts, as a user's real key would be.
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("CHATMOCK_OPENAI_BASE_URL", upstream.base_url)
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        yield upstream


def test_record_once_then_replay_offline_and_fail_clearly(
    pytester: pytest.Pytester, fake: FakeOpenAIUpstream
) -> None:
    pytester.makepyfile(test_user=USER_TEST.format(prompt="hello plugin"))
    cassette = pytester.path / "cassettes" / "test_user" / "test_ask.chatmock.yaml"

    missing = run(pytester)
    missing.assert_outcomes(passed=1, errors=1)
    missing.stdout.fnmatch_lines(
        ["*no cassette*test_ask.chatmock.yaml*--chatmock-record-mode=once*"]
    )
    assert not cassette.exists() and len(fake.requests) == 0

    recorded = run(pytester, "--chatmock-record-mode=once")
    recorded.assert_outcomes(passed=2)
    assert cassette.exists() and len(fake.requests) == 1
    assert KEY not in cassette.read_text()

    replayed = run(pytester)
    replayed.assert_outcomes(passed=2)
    assert len(fake.requests) == 1  # answered from the cassette
    # Its parsed YAML kept in pytest's cache for the next run (cassettes/parse_cache.py).
    parsed = pytester.path / ".pytest_cache" / "d" / "chatmock" / "cassettes"
    assert len(list(parsed.glob("*.json"))) == 1
    run(pytester).assert_outcomes(passed=2)

    pytester.makepyfile(test_user=USER_TEST.format(prompt="something new"))
    unmatched = run(pytester)
    unmatched.assert_outcomes(passed=1, failed=1)
    unmatched.stdout.fnmatch_lines(
        ["*NotFoundError*test_ask.chatmock.yaml: no recorded request matches*"]
    )
    assert len(fake.requests) == 1


REPEAT_TEST = """
import openai
import pytest


@pytest.mark.chatmock("cassettes/once.chatmock.yaml"{options})
def test_twice(chatmock):
    client = openai.OpenAI(max_retries=0)
    for _ in range(2):
        client.chat.completions.create(
            model="gpt-4.1", messages=[{{"role": "user", "content": "twice"}}]
        )
"""


def test_a_used_up_recording_names_the_marker_option_that_repeats_it(
    pytester: pytest.Pytester, fake: FakeOpenAIUpstream
) -> None:
    record(pytester.path / "cassettes" / "once.chatmock.yaml", "twice")
    pytester.makepyfile(test_repeat=REPEAT_TEST.format(options=""))
    used_up = run(pytester)
    used_up.assert_outcomes(failed=1)
    used_up.stdout.fnmatch_lines(
        [
            "*NotFoundError*once.chatmock.yaml: the recording that matches POST"
            " /v1/chat/completions (interaction #0) was already played*"
            "@pytest.mark.chatmock(allow_playback_repeats=True)*"
        ]
    )
    # The option the message names is the one the marker takes.
    pytester.makepyfile(test_repeat=REPEAT_TEST.format(options=", allow_playback_repeats=True"))
    run(pytester).assert_outcomes(passed=1)
    assert len(fake.requests) == 1


def test_marker_path_play_log_and_cassettes_check(
    pytester: pytest.Pytester, fake: FakeOpenAIUpstream
) -> None:
    shared = pytester.path / "llm" / "two.yaml"
    record(shared, "first", "second")
    pytester.makepyfile(
        test_shared="""
        import openai
        import pytest

        pytestmark = pytest.mark.chatmock("llm/two.yaml")

        def test_first(chatmock):
            reply = openai.OpenAI().chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "first"}]
            )
            assert reply.choices[0].message.content == "Upstream says: first"
        """
    )
    log = pytester.path / "plays.jsonl"
    result = run(pytester, f"--chatmock-play-log={log}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*chatmock*", "*two.yaml interaction 1"])

    check = subprocess.run(
        [sys.executable, "-m", "chatmock_lab", "cassettes", "check", str(shared), f"--plays={log}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "interaction 1 never played (POST /v1/chat/completions)" in check.stdout
    assert "interaction 0 never played" not in check.stdout


def test_beside_pytest_recording_with_the_network_blocked(
    pytester: pytest.Pytester, fake: FakeOpenAIUpstream
) -> None:
    record(pytester.path / "llm.yaml", "weather?")
    # A plain vcrpy cassette of some other API, as pytest-recording keeps them.
    vcr_cassette = pytester.path / "cassettes" / "test_both" / "test_both.yaml"
    vcr_cassette.parent.mkdir(parents=True)
    vcr_cassette.write_text(
        """interactions:
- request:
    body: null
    headers: {}
    method: GET
    uri: http://weather.example.invalid/today
  response:
    body: {string: '{"temp": 21}'}
    headers: {content-type: [application/json]}
    status: {code: 200, message: OK}
version: 1
"""
    )
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="module")
        def vcr_config():
            # The SDK's calls to the local proxy are not vcrpy's to record.
            return {"ignore_localhost": True}
        """
    )
    pytester.makepyfile(
        test_both="""
        import httpx
        import openai
        import pytest

        @pytest.mark.vcr
        @pytest.mark.chatmock("llm.yaml")
        def test_both(chatmock):
            assert httpx.get("http://weather.example.invalid/today").json() == {"temp": 21}
            reply = openai.OpenAI().chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "weather?"}]
            )
            assert reply.choices[0].message.content == "Upstream says: weather?"
        """
    )
    before = (vcr_cassette.read_text(), (pytester.path / "llm.yaml").read_text())
    result = run(pytester, "--record-mode=none", "--block-network", "--allowed-hosts=127.0.0.1")
    result.assert_outcomes(passed=1)
    after = (vcr_cassette.read_text(), (pytester.path / "llm.yaml").read_text())
    assert before == after


def test_unplayed_summary_merges_pytest_xdist_workers(
    pytester: pytest.Pytester, fake: FakeOpenAIUpstream
) -> None:
    record(pytester.path / "three.yaml", "one", "two", "three")
    pytester.makepyfile(
        test_split="""
        import openai
        import pytest

        pytestmark = pytest.mark.chatmock("three.yaml")

        def ask(prompt):
            return openai.OpenAI().chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": prompt}]
            ).choices[0].message.content

        def test_one(chatmock):
            assert ask("one") == "Upstream says: one"

        def test_two(chatmock):
            assert ask("two") == "Upstream says: two"
        """
    )
    result = run(pytester, "-p", "xdist.plugin", "-n", "2")
    result.assert_outcomes(passed=2)
    # Each worker played one; together they played two, and only the third is listed.
    result.stdout.fnmatch_lines(
        [
            "*1 recorded interaction(s) were not replayed by any test this session:",
            "*three.yaml interaction 2",
        ]
    )


CHAOS_TEST = """
import openai
import pytest


@pytest.mark.chatmock(provider="openai", chaos={chaos!r})
def test_drop(chatmock):
    client = openai.OpenAI(max_retries=0)
    text = ""
    with pytest.raises(openai.APIError, match="openai broke off the stream"):
        for chunk in client.chat.completions.create(
            model="gpt-4.1",
            messages=[{{"role": "user", "content": "a long answer please"}}],
            stream=True,
        ):
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert text and "Upstream says: a long answer please".startswith(text)
    assert text != "Upstream says: a long answer please"
"""


def test_the_markers_chaos_is_recorded_and_replays_without_the_upstream(
    pytester: pytest.Pytester, fake: FakeOpenAIUpstream
) -> None:
    pytester.makepyfile(test_chaos=CHAOS_TEST.format(chaos="drop after=3"))
    run(pytester, "--chatmock-record-mode=once").assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_chaos" / "test_drop.chatmock.yaml"
    text = cassette.read_text()
    assert "chaos: drop after=3" in text and "broke_off: true" in text
    assert len(fake.requests) == 1
    # Replayed: the recorded drop, at the same chunk, with no upstream.
    run(pytester).assert_outcomes(passed=1)
    assert len(fake.requests) == 1

    pytester.makepyfile(test_chaos=CHAOS_TEST.format(chaos="drop after=soon"))
    bad = run(pytester)
    bad.assert_outcomes(errors=1)
    bad.stdout.fnmatch_lines(
        ["*chatmock: marker option chaos: rule 1 ('drop after=soon'): after: 'soon' is not*"]
    )
