"""The matrix's columns: one real proxy per provider, each in front of its fake upstream.

A cell's test describes what the upstream says as a `Script` (text, refusal, reasoning,
tool calls, usage, a matched stop, log probabilities, an error) and each backend turns
it into its own upstream's wire: the mock's scenario, exact Chat Completions chunks for
the OpenAI-compatible and Copilot fakes, a `CodexReply` for the ChatGPT fake. The
cassette column records an exchange through an OpenAI-compatible fake into a cassette,
then plays the same exchange again from the cassette through a proxy whose upstream is
gone, so what the client sees there is what the recording carries.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import chatmock_lab
from chatmock_lab.config import Settings
from chatmock_lab.providers.mock import MockOptions, MockProvider
from chatmock_lab.providers.scenario import parse_scenario
from chatmock_lab.server import BackgroundServer, create_app
from chatmock_lab.server.state import ServerState, app_state
from chatmock_lab.taps import TAP_HEADER, Tap
from chatmock_lab.testing import (
    CodexReply,
    FakeChatGPTAuth,
    FakeCodexBackend,
    FakeGitHub,
    FakeOpenAIUpstream,
    FakeReply,
)

PROVIDERS = ("mock", "openai-compatible", "chatgpt", "copilot", "cassette")
UPSTREAM_KEY = "sk-conformance-upstream-0123456789"
_Result = TypeVar("_Result")


@dataclass(frozen=True)
class Call:
    """One tool call the upstream makes; `id` None sends it without one."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Script:
    """What the upstream answers to one request."""

    text: str = ""
    refusal: str | None = None
    reasoning: str | None = None
    calls: tuple[Call, ...] = ()
    # (prompt, completion) tokens the upstream reports; None: it reports no usage.
    usage: tuple[int, int] | None = None
    # The stop sequence the upstream matched (vLLM's `stop_reason`); the text stops there.
    stop_sequence: str | None = None
    # Per-token log probabilities on the text (Chat Completions upstreams).
    logprobs: bool = False
    # An HTTP error instead of an answer: (status, retry-after seconds).
    error: tuple[int, float] | None = None
    chunk_chars: int = 4


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# Log probabilities the Chat Completions fakes send: every token chosen with -0.25, its
# runner-up " or" with -2.5.
CHOSEN_LOGPROB = -0.25
RUNNER_UP = " or"


def _token_logprob(token: str) -> dict[str, Any]:
    chosen = {"token": token, "logprob": CHOSEN_LOGPROB, "bytes": list(token.encode())}
    runner_up = {"token": RUNNER_UP, "logprob": -2.5, "bytes": list(RUNNER_UP.encode())}
    return {**chosen, "top_logprobs": [chosen, runner_up]}


def chat_chunks(script: Script) -> list[dict[str, Any]]:
    """The Chat Completions stream an OpenAI-compatible upstream sends for `script`:
    exactly these chunks (the fake fills in id, object, created and model)."""

    def chunk(delta: dict[str, Any], **choice: Any) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": None, **choice}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    for piece in pieces(script.reasoning or "", script.chunk_chars):
        chunks.append(chunk({"reasoning_content": piece}))
    for piece in pieces(script.text, script.chunk_chars):
        logprobs = {"content": [_token_logprob(piece)]} if script.logprobs else None
        chunks.append(chunk({"content": piece}, logprobs=logprobs))
    for piece in pieces(script.refusal or "", script.chunk_chars):
        chunks.append(chunk({"refusal": piece}))
    for index, call in enumerate(script.calls):
        opening: dict[str, Any] = {"index": index, "type": "function"}
        if call.id is not None:
            opening["id"] = call.id
        opening["function"] = {"name": call.name, "arguments": ""}
        chunks.append(chunk({"tool_calls": [opening]}))
        for piece in pieces(call.arguments_json, script.chunk_chars):
            fragment = {"index": index, "function": {"arguments": piece}}
            chunks.append(chunk({"tool_calls": [fragment]}))
    finish = "tool_calls" if script.calls else "stop"
    matched = {"stop_reason": script.stop_sequence} if script.stop_sequence else {}
    chunks.append(chunk({}, finish_reason=finish, **matched))
    if script.usage is not None:
        prompt, completion = script.usage
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        chunks.append({"choices": [], "usage": usage})
    return chunks


def codex_reply(script: Script) -> CodexReply:
    usage = None
    if script.usage is not None:
        prompt, completion = script.usage
        usage = {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion,
        }
    return CodexReply(
        text=script.text,
        refusal=script.refusal,
        reasoning=script.reasoning,
        tool_calls=[
            {"call_id": call.id, "name": call.name, "arguments": call.arguments}
            for call in script.calls
        ],
        usage=usage,
        chunk_chars=script.chunk_chars,
    )


def mock_rule(script: Script) -> dict[str, Any]:
    """A scenario rule answering every request the way `script` says; a matched stop is
    the mock's own: it says the sequence and more, and cuts its text at the sequence."""
    if script.error is not None:
        status, retry_after = script.error
        error = {"status": status, "message": "slow down", "retry_after": retry_after}
        return {"reply": {"error": error}}
    reply: dict[str, Any] = {"text": script.text, "chunk_chars": script.chunk_chars}
    if script.stop_sequence:
        reply["text"] = f"{script.text}{script.stop_sequence} and what follows"
    if script.refusal is not None:
        reply["refusal"] = script.refusal
    if script.reasoning is not None:
        reply["reasoning"] = script.reasoning
    if script.calls:
        reply["tool_calls"] = [{"name": c.name, "arguments": c.arguments} for c in script.calls]
    return {"reply": reply}


class TapHandle:
    """A tap registered on one proxy: send `headers` with a request, read `notes()`."""

    def __init__(self, tap: Tap, tap_id: str) -> None:
        self.tap = tap
        self.headers = {TAP_HEADER: tap_id}

    def notes(self) -> list[str]:
        return self.tap.notes()


@dataclass
class Proxy:
    """One proxy a cell's exchange talks to, and how to script its upstream."""

    url: str
    state: ServerState
    scripter: Callable[[Script], None]
    # The bodies that reached the upstream, oldest first; None when nothing can reach one
    # (a replay).
    bodies: Callable[[], list[Any]] | None = None
    replaying: bool = False

    def script(self, script: Script, *, times: int = 1) -> None:
        for _ in range(times):
            self.scripter(script)

    def upstream_body(self) -> Any | None:
        """The last body the upstream got, or None on a replay."""
        if self.bodies is None:
            return None
        bodies = self.bodies()
        if not bodies:
            raise AssertionError("no request reached the upstream")
        return bodies[-1]

    @contextmanager
    def tap(self) -> Iterator[TapHandle]:
        tap = Tap()
        tap_id = self.state.add_tap(tap)
        try:
            yield TapHandle(tap, tap_id)
        finally:
            self.state.remove_tap(tap_id)


def _settings(provider: str | None) -> Settings:
    # No retries: a scripted error must reach the client as the upstream sent it.
    return Settings(port=0).replace(provider=provider, retries=0)


@dataclass
class Backend:
    """A column of the matrix: a proxy (or two) and the fakes behind it."""

    name: str
    model: str
    proxy: Proxy
    resets: list[Callable[[], None]] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def exchange(self, run: Callable[[Proxy], _Result]) -> _Result:
        return run(self.proxy)

    def reset(self) -> None:
        for reset in self.resets:
            reset()

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def _started(fake: Any, closers: list[Callable[[], None]]) -> Any:
    fake.start()
    closers.append(fake.stop)
    return fake


def _server(closers: list[Callable[[], None]], provider_name: str | None, **app: Any) -> Any:
    config = _settings(provider_name)
    server = BackgroundServer(config, create_app(config, **app)).start()
    closers.append(server.stop)
    return server


def mock_backend() -> Backend:
    provider = MockProvider(MockOptions(chunk_chars=4))
    closers: list[Callable[[], None]] = []
    server = _server(closers, None, provider=provider, env={})

    def script(script: Script) -> None:
        provider.options.scenario = parse_scenario([mock_rule(script)], source="conformance")

    def reset() -> None:
        provider.options.scenario = None

    proxy = Proxy(server.url, app_state(server.app), script)
    return Backend("mock", "mock", proxy, [reset], closers)


def _chat_scripter(fake: FakeOpenAIUpstream) -> Callable[[Script], None]:
    def script(script: Script) -> None:
        if script.error is not None:
            status, retry_after = script.error
            fake.fail(status, message="slow down", retry_after=retry_after)
        else:
            fake.reply(FakeReply(chunks=list(chat_chunks(script))))

    return script


def _bodies(fake: FakeOpenAIUpstream | FakeCodexBackend) -> Callable[[], list[Any]]:
    return lambda: [r.body for r in list(fake.requests) if r.method == "POST"]


def openai_compatible_backend() -> Backend:
    closers: list[Callable[[], None]] = []
    fake = _started(FakeOpenAIUpstream(api_key=UPSTREAM_KEY), closers)
    env = {"OPENAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_OPENAI_BASE_URL": fake.base_url}
    server = _server(closers, "openai", env=env)
    proxy = Proxy(server.url, app_state(server.app), _chat_scripter(fake), _bodies(fake))
    return Backend("openai-compatible", "gpt-4.1", proxy, [fake.reset], closers)


def copilot_backend(home: Path) -> Backend:
    closers: list[Callable[[], None]] = []
    api = _started(FakeOpenAIUpstream(models=("gpt-4.1", "gpt-5")), closers)
    github = _started(FakeGitHub(copilot_api=api.base_url), closers)
    github.store_login(home)
    env = {
        "CHATMOCK_HOME": str(home),
        "HOME": str(home),
        "CHATMOCK_GITHUB_URL": github.github_url,
        "CHATMOCK_GITHUB_API_URL": github.api_url,
    }
    server = _server(closers, "copilot", env=env)
    proxy = Proxy(server.url, app_state(server.app), _chat_scripter(api), _bodies(api))
    return Backend("copilot", "gpt-4.1", proxy, [api.reset], closers)


def chatgpt_backend(home: Path) -> Backend:
    closers: list[Callable[[], None]] = []
    auth = _started(FakeChatGPTAuth(), closers)
    codex = _started(FakeCodexBackend(models=("gpt-5", "gpt-5-codex")), closers)
    auth.store_login(home)
    env = {
        "CHATMOCK_HOME": str(home),
        "HOME": str(home),
        "CHATMOCK_CHATGPT_AUTH_URL": auth.url,
        "CHATMOCK_CHATGPT_BASE_URL": codex.base_url,
    }
    server = _server(closers, "chatgpt", env=env)

    def script(script: Script) -> None:
        if script.error is not None:
            status, retry_after = script.error
            codex.fail(status, message="slow down", retry_after=retry_after)
        else:
            codex.reply(codex_reply(script))

    proxy = Proxy(server.url, app_state(server.app), script, _bodies(codex))
    return Backend("chatgpt", "gpt-5", proxy, [codex.reset], closers)


class CassetteBackend(Backend):
    """Each exchange runs twice: recorded through the live fake into a new cassette, then
    replayed from it by a proxy whose upstream is gone; the replay's result is the cell's."""

    def __init__(self, directory: Path) -> None:
        closers: list[Callable[[], None]] = []
        fake = _started(FakeOpenAIUpstream(api_key=UPSTREAM_KEY), closers)
        env = {"OPENAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_OPENAI_BASE_URL": fake.base_url}
        recorder = _server(closers, "openai", env=env)
        # A stopped fake's address: a replay that tried the network would fail there.
        gone = FakeOpenAIUpstream().start()
        gone_url = gone.base_url
        gone.stop()
        replay_env = {"OPENAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_OPENAI_BASE_URL": gone_url}
        replayer = _server(closers, "openai", env=replay_env)
        recording = Proxy(
            recorder.url, app_state(recorder.app), _chat_scripter(fake), _bodies(fake)
        )
        replay = Proxy(
            replayer.url, app_state(replayer.app), lambda script: None, None, replaying=True
        )
        super().__init__("cassette", "gpt-4.1", recording, [fake.reset], closers)
        self.recorder, self.replayer = recorder, replayer
        self.replay = replay
        self.fake = fake
        self.directory = directory
        self._names = itertools.count(1)

    def exchange(self, run: Callable[[Proxy], _Result]) -> _Result:
        path = self.directory / f"cell-{next(self._names)}.yaml"
        with chatmock_lab.cassette(path, "once", server=self.recorder) as recording:
            run(self.proxy)
        if recording.recorded == 0:
            # Nothing reached the upstream (token counting): the replay proxy answers alone.
            return run(self.replay)
        with chatmock_lab.cassette(path, "none", server=self.replayer) as replay:
            result = run(self.replay)
        if replay.played != recording.recorded:
            raise AssertionError(
                f"replay played {replay.played} of {recording.recorded} recorded interactions"
            )
        return result
