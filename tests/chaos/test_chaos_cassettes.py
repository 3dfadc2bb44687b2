"""Chaos and cassettes: chaos applied while recording is kept as what happened and a
replay gives the client the same thing at the same chunk; chaos asked for on replay
applies over interactions recorded without any; the mock's scenario rules carry chaos."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply
from tests.conftest import ServerFactory

UPSTREAM_KEY = "xai-test-upstream-key-0123456789"
TEXT = "Chaos makes every client honest about its errors."
CHAOS = "x-chatmock-chaos"


@pytest.fixture
def fake() -> Any:
    with FakeOpenAIUpstream(api_key=UPSTREAM_KEY) as upstream:
        yield upstream


def _env(fake: FakeOpenAIUpstream) -> dict[str, str]:
    return {"XAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_GROK_BASE_URL": fake.base_url}


def _streamed(url: str, header: str | None, *, max_retries: int = 0) -> tuple[list[str], str]:
    """What an OpenAI SDK client saw of a streamed answer: its text pieces, and the
    error it raised (its class and status), if any."""
    pieces: list[str] = []
    headers = {CHAOS: header} if header is not None else {}
    with openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=max_retries) as client:
        try:
            stream = client.chat.completions.create(
                model="grok-4",
                messages=[{"role": "user", "content": "tell me"}],
                stream=True,
                extra_headers=headers,
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
        except openai.APIError as error:
            status = getattr(error, "status_code", None)
            return pieces, f"{type(error).__name__} {status}: {error.message}"
    return pieces, ""


def _record_then_replay(
    fake: FakeOpenAIUpstream,
    start_server: ServerFactory,
    path: Path,
    header: str | None,
    *,
    send: Callable[[str, str | None], Any] = _streamed,
    **recording: Any,
) -> tuple[Any, Any, Any]:
    fake.reply(FakeReply(text=TEXT, chunk_chars=6))
    recorder = start_server(provider_name="grok", env=_env(fake), record=path, **recording)
    recorded = send(recorder.url, header)
    recorder.stop()
    player = start_server(provider_name="grok", env={}, replay=path)
    # The same header on replay: the recorded chaos is not drawn again.
    replayed = send(player.url, header)
    return recorded, replayed, player


def _responses(path: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(path.read_text())
    return [interaction["response"] for interaction in document["interactions"]]


def _state(server: Any) -> Any:
    return server.app.extensions["chatmock_lab"]


@pytest.mark.parametrize(
    ("rule", "broke_off"),
    [
        ("drop after=4", True),
        ("malformed at=4", False),
        ("malformed at=4 how=blank-line", False),
        ("early-end after=4", False),
        ("duplicate at=3", False),
        ("malformed at=3 how=utf8", False),
    ],
)
def test_chaos_recorded_replays_identically_at_the_same_chunk(
    fake: FakeOpenAIUpstream,
    start_server: ServerFactory,
    tmp_path: Path,
    rule: str,
    broke_off: bool,
) -> None:
    path = tmp_path / "chaos.yaml"
    recorded, replayed, player = _record_then_replay(fake, start_server, path, rule)
    assert replayed == recorded
    pieces, error = recorded
    if rule.startswith("duplicate"):
        assert error == "" and "".join(pieces) != TEXT and len(pieces) == len(set(pieces)) + 1
    elif "utf8" in rule:
        assert error == "" and "".join(pieces).replace("\ufffd", "") == TEXT
    else:
        assert pieces and "".join(pieces) != TEXT and TEXT.startswith("".join(pieces))
        assert error.startswith("APIError None: grok ")
    (response,) = _responses(path)
    assert response["chaos"] == rule
    assert response.get("broke_off", False) is broke_off
    # Nothing was drawn on replay: the cassette held what happened.
    assert _state(player).chaos.counts() == {}


def test_a_replayed_break_off_is_an_error_also_without_the_header(
    fake: FakeOpenAIUpstream, start_server: ServerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "drop.yaml"
    fake.reply(FakeReply(text=TEXT, chunk_chars=6))
    recorder = start_server(provider_name="grok", env=_env(fake), record=path)
    recorded = _streamed(recorder.url, "drop after=3")
    recorder.stop()
    player = start_server(provider_name="grok", env={}, replay=path)
    assert _streamed(player.url, None) == recorded
    assert "broke off the stream" in recorded[1]


def test_recorded_errors_replay_with_the_sdks_retries(
    fake: FakeOpenAIUpstream, start_server: ServerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "errors.yaml"

    def send(url: str, header: str | None) -> tuple[list[str], str]:
        return _streamed(url, header, max_retries=2)

    rule = "error status=429 retry_after=0.01 retries=0"
    recorded, replayed, player = _record_then_replay(fake, start_server, path, rule, send=send)
    said = f"Upstream error 429: chaos: the upstream answered 429 (rule {rule})"
    assert recorded == replayed == ([], f"RateLimitError 429: Error code: 429 - {said}")
    responses = _responses(path)
    # The SDK's first try and its two retries, each recorded as the 429 it got.
    assert [r["status"]["code"] for r in responses] == [429, 429, 429]
    assert {r["chaos"] for r in responses} == {rule}
    assert responses[0]["headers"]["retry-after"] == ["0.01"]
    assert not [r for r in fake.requests if r.path.endswith("/chat/completions")]
    assert _state(player).deck.cassette.played == 3


def test_a_slow_first_token_recorded_is_slow_on_a_full_speed_replay(
    fake: FakeOpenAIUpstream, start_server: ServerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "slow.yaml"

    def send(url: str, header: str | None) -> float:
        started = time.monotonic()
        with openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as client:
            stream = client.chat.completions.create(
                model="grok-4",
                messages=[{"role": "user", "content": "tell me"}],
                stream=True,
                extra_headers={CHAOS: header} if header else {},
            )
            next(iter(stream))
            first = time.monotonic() - started
            for _ in stream:
                pass
        return first

    recorded, replayed, _ = _record_then_replay(
        fake, start_server, path, "slow first=0.3", send=send
    )
    assert recorded >= 0.3 and replayed >= 0.3


def test_chaos_on_replay_applies_over_a_clean_cassette(
    fake: FakeOpenAIUpstream, start_server: ServerFactory, tmp_path: Path
) -> None:
    path = tmp_path / "clean.yaml"
    fake.reply(FakeReply(text=TEXT, chunk_chars=6))
    fake.reply(FakeReply(text=TEXT, chunk_chars=6))
    recorder = start_server(provider_name="grok", env=_env(fake), record=path)
    clean = _streamed(recorder.url, None)
    assert clean == ([TEXT[i : i + 6] for i in range(0, len(TEXT), 6)], "")
    _streamed(recorder.url, None)
    recorder.stop()
    assert all("chaos" not in response for response in _responses(path))

    player = start_server(provider_name="grok", env={}, replay=path)
    state = _state(player)
    pieces, error = _streamed(player.url, "drop after=3")
    assert "".join(pieces) == TEXT[:12] and "broke off the stream" in error
    # An error answers instead of the recording, which is left for the next call.
    assert _streamed(player.url, "error status=503 retries=0")[1].startswith(
        "InternalServerError 503:"
    )
    assert state.deck.cassette.played == 1
    assert _streamed(player.url, None) == clean
    assert state.chaos.counts() == {"drop": 1, "error 503": 1}


def test_server_rules_with_a_seed_hit_the_same_requests(start_server: ServerFactory) -> None:
    def outcomes(seed: int) -> list[bool]:
        server = start_server(chaos="error status=503 p=0.5 retries=0", chaos_seed=seed)
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
            results = []
            for index in range(24):
                try:
                    client.chat.completions.create(
                        model="mock", messages=[{"role": "user", "content": f"n{index}"}]
                    )
                    results.append(True)
                except openai.InternalServerError:
                    results.append(False)
        assert _state(server).chaos.counts() == {"error 503": results.count(False)}
        return results

    first = outcomes(11)
    assert first == outcomes(11)
    assert 0 < first.count(False) < 24


def test_a_scenario_rule_carries_chaos_for_the_mock(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "rules:\n"
        "  - match: {contains: flaky}\n"
        "    chaos: 'early-end after=2 times=1'\n"
        "    reply: {text: 'one two three four', chunk_chars: 4}\n"
    )
    server = start_server(scenario=scenario)
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:

        def ask() -> tuple[str, str]:
            text = ""
            try:
                for chunk in client.chat.completions.create(
                    model="mock",
                    messages=[{"role": "user", "content": "flaky please"}],
                    stream=True,
                ):
                    if chunk.choices and chunk.choices[0].delta.content:
                        text += chunk.choices[0].delta.content
            except openai.APIError as error:
                return text, error.message
            return text, ""

        assert ask() == ("one two ", "mock ended the stream before finishing")
        # `times=1`: the budget is the rule's, over all the requests it answers.
        assert ask() == ("one two three four", "")
    assert _state(server).chaos.counts() == {"early-end": 1}
