"""Regenerate the shipped cassettes from chatmock_lab.testing's fake upstreams.

    python cassettes/record_from_fakes.py

Run from anywhere, with the package installed (`pip install -e .`). Nothing leaves
loopback: each cassette is recorded through `chatmock_lab.cassette(path, "rewrite", ...)`
from a fake upstream started for the occasion, never from the real service, so no key or
login is needed, and the fakes' own keys and tokens are scrubbed like real ones.

- `openai_compatible.yaml`: provider `openai` (any OpenAI-compatible server) in front of
  `FakeOpenAIUpstream`;
- `chatgpt.yaml`: provider `chatgpt` in front of `FakeCodexBackend`, with a login from
  `FakeChatGPTAuth` stored in a temporary CHATMOCK_HOME;
- `copilot.yaml`: provider `copilot` in front of `FakeGitHub` (the Copilot token) and a
  `FakeOpenAIUpstream` serving the Copilot API at its paths (`/chat/completions`, no
  `/v1`), with a GitHub token stored in a temporary CHATMOCK_HOME.

Every cassette replays with no environment at all: replays use stand-in credentials.

Each holds four interactions, sent with the official `openai` SDK, each with its own
prompt: plain text, a stream, a `get_weather(city)` tool call, and reasoning text with an
answer. tests/cassettes/test_shipped_cassettes.py replays them offline; it repeats the prompts and
answers below, so change both together. Check the result with
`chatmock-lab cassettes check cassettes/`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import openai
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
)

import chatmock_lab
from chatmock_lab.testing import (
    CodexReply,
    FakeChatGPTAuth,
    FakeCodexBackend,
    FakeGitHub,
    FakeOpenAIUpstream,
    FakeReply,
)

HERE = Path(__file__).resolve().parent
RECORDED_WITH = "cassettes/record_from_fakes.py"
MAX_TOKENS = 50
# Streams in pieces of this many characters: a few chunks per answer, a small file.
CHUNK_CHARS = 6

TEXT_PROMPT = "Say hello in three words."
TEXT_ANSWER = "Hello, cassette world."
STREAM_PROMPT = "Count to three."
STREAM_ANSWER = "One, two, three."
TOOL_PROMPT = "What is the weather in Paris?"
TOOL_CALL_ID = "call_weather_1"
TOOL_ARGUMENTS = '{"city": "Paris"}'
REASONING_PROMPT = "What is 6 times 7?"
REASONING_TEXT = "Six sevens make forty-two."
REASONING_ANSWER = "42"

WEATHER_TOOL: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@dataclass(frozen=True)
class Recording:
    """One shipped cassette: where it goes, the provider that records it, its models."""

    file: str
    provider: str
    fake: str
    model: str
    reasoning_model: str


@dataclass(frozen=True)
class Upstream:
    """A running fake, ready for the proxy: its environment, and how to script a reply."""

    env: Mapping[str, str]
    reply_text: Callable[[str], None]
    reply_tool_call: Callable[[], None]
    reply_reasoning: Callable[[], None]


def source(fake: str) -> str:
    return (
        f"Recorded from chatmock_lab.testing's fake upstream ({fake}), not from the real service."
    )


# Upstreams


@contextmanager
def openai_compatible_upstream() -> Iterator[Upstream]:
    with FakeOpenAIUpstream(api_key="sk-fake-openai-compatible-key-000000") as fake:
        yield _openai_fake_upstream(
            fake,
            {
                "OPENAI_API_KEY": fake.api_key or "",
                "CHATMOCK_OPENAI_BASE_URL": fake.base_url,
            },
        )


@contextmanager
def chatgpt_upstream() -> Iterator[Upstream]:
    with (
        FakeChatGPTAuth() as auth,
        FakeCodexBackend(models=("gpt-5",)) as codex,
        tempfile.TemporaryDirectory(prefix="chatmock-home-") as home,
    ):
        auth.store_login(home)
        env = {
            "CHATMOCK_HOME": home,
            "HOME": home,
            "CHATMOCK_CHATGPT_AUTH_URL": auth.url,
            "CHATMOCK_CHATGPT_BASE_URL": codex.base_url,
        }
        tool_call = {"call_id": TOOL_CALL_ID, "name": "get_weather", "arguments": TOOL_ARGUMENTS}
        yield Upstream(
            env=env,
            reply_text=lambda text: codex.reply(CodexReply(text=text, chunk_chars=CHUNK_CHARS)),
            reply_tool_call=lambda: codex.reply(
                CodexReply(tool_calls=[tool_call], chunk_chars=CHUNK_CHARS)
            ),
            reply_reasoning=lambda: codex.reply(
                CodexReply(text=REASONING_ANSWER, reasoning=REASONING_TEXT, chunk_chars=CHUNK_CHARS)
            ),
        )


@contextmanager
def copilot_upstream() -> Iterator[Upstream]:
    with (
        FakeOpenAIUpstream(models=("gpt-4.1", "gpt-5"), prefix="") as api,
        FakeGitHub(copilot_api=api.base_url) as github,
        tempfile.TemporaryDirectory(prefix="chatmock-home-") as home,
    ):
        env = {
            "CHATMOCK_HOME": home,
            "HOME": home,
            "CHATMOCK_GITHUB_URL": github.github_url,
            "CHATMOCK_GITHUB_API_URL": github.api_url,
        }
        github.store_login(home)
        yield _openai_fake_upstream(api, env)


def _openai_fake_upstream(fake: FakeOpenAIUpstream, env: Mapping[str, str]) -> Upstream:
    tool_call = {"id": TOOL_CALL_ID, "name": "get_weather", "arguments": TOOL_ARGUMENTS}
    return Upstream(
        env=env,
        reply_text=lambda text: fake.reply(FakeReply(text=text, chunk_chars=CHUNK_CHARS)),
        reply_tool_call=lambda: fake.reply(
            FakeReply(tool_calls=[tool_call], chunk_chars=CHUNK_CHARS)
        ),
        reply_reasoning=lambda: fake.reply(
            FakeReply(text=REASONING_ANSWER, reasoning=REASONING_TEXT, chunk_chars=CHUNK_CHARS)
        ),
    )


RECORDINGS: list[tuple[Recording, Callable[[], AbstractContextManager[Upstream]]]] = [
    (
        Recording(
            file="openai_compatible.yaml",
            provider="openai",
            fake="FakeOpenAIUpstream",
            model="fake-model-1",
            reasoning_model="fake-model-1",
        ),
        openai_compatible_upstream,
    ),
    (
        Recording(
            file="chatgpt.yaml",
            provider="chatgpt",
            fake="FakeCodexBackend",
            model="gpt-5",
            reasoning_model="gpt-5",
        ),
        chatgpt_upstream,
    ),
    (
        Recording(
            file="copilot.yaml",
            provider="copilot",
            fake="FakeGitHub, with FakeOpenAIUpstream as the Copilot API",
            model="gpt-4.1",
            reasoning_model="gpt-5",
        ),
        copilot_upstream,
    ),
]


# Recording


def record(recording: Recording, upstream: Upstream, directory: Path = HERE) -> Path:
    path = directory / recording.file
    with chatmock_lab.cassette(
        path, "rewrite", provider=recording.provider, env=upstream.env
    ) as session:
        session.transport.cassette.metadata["source"] = source(recording.fake)
        session.transport.cassette.metadata["recorded_with"] = RECORDED_WITH
        with openai.OpenAI(
            base_url=session.endpoints.openai, api_key="chatmock-lab", max_retries=0
        ) as client:
            _converse(client, recording, upstream)
        if session.recorded != 4:
            raise RuntimeError(f"{path}: recorded {session.recorded} interactions, not 4")
    return path


def _converse(client: openai.OpenAI, recording: Recording, upstream: Upstream) -> None:
    model = recording.model

    upstream.reply_text(TEXT_ANSWER)
    reply = client.chat.completions.create(
        model=model,
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": TEXT_PROMPT}],
    )
    _expect("text", reply.choices[0].message.content, TEXT_ANSWER)

    upstream.reply_text(STREAM_ANSWER)
    chunks = client.chat.completions.create(
        model=model,
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": STREAM_PROMPT}],
        stream=True,
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    _expect("stream", streamed, STREAM_ANSWER)

    upstream.reply_tool_call()
    reply = client.chat.completions.create(
        model=model,
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": TOOL_PROMPT}],
        tools=[WEATHER_TOOL],
    )
    calls = [
        (call.function.name, json.loads(call.function.arguments))
        for call in reply.choices[0].message.tool_calls or []
        if isinstance(call, ChatCompletionMessageFunctionToolCall)
    ]
    _expect("tool call", calls, [("get_weather", {"city": "Paris"})])

    upstream.reply_reasoning()
    reply = client.chat.completions.create(
        model=recording.reasoning_model,
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": REASONING_PROMPT}],
        reasoning_effort="low",
    )
    message = reply.choices[0].message
    _expect("reasoning answer", message.content, REASONING_ANSWER)
    _expect("reasoning", (message.model_extra or {}).get("reasoning_content"), REASONING_TEXT)


def _expect(what: str, got: object, wanted: object) -> None:
    if got != wanted:
        raise RuntimeError(f"{what}: expected {wanted!r}, got {got!r}")


def main() -> int:
    for recording, start in RECORDINGS:
        with start() as upstream:
            path = record(recording, upstream)
        print(f"recorded {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
