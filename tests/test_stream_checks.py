"""Stream checks: the proxy's real streams are clean, broken streams are named, and the
result does not depend on how the bytes were chunked."""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest

from chatmock_lab.stream_checks import (
    AnthropicStreamChecker,
    ChunkInfo,
    GeminiStreamChecker,
    OpenAIStreamChecker,
    StreamChecker,
    checker_for,
)

USER_TEXT = "Grüße ☃ from the checker"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city", "unit"],
}
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "k"}


def run(checker: StreamChecker, pieces: list[bytes]) -> tuple[list[ChunkInfo], list[str]]:
    infos: list[ChunkInfo] = []
    for piece in pieces:
        infos += checker.feed(piece)
    return infos, checker.close()


def all_violations(infos: list[ChunkInfo], end: list[str]) -> list[str]:
    return [v for info in infos for v in info.violations] + end


def runs(infos: list[ChunkInfo]) -> list[str]:
    """Event types with consecutive repeats collapsed (delta counts depend on chunking)."""
    return [kind for kind, _ in itertools.groupby(i.event_type for i in infos)]


def stream_pieces(server: Any, path: str, body: dict[str, Any], **kwargs: Any) -> list[bytes]:
    """The response body exactly as the chunks arrived."""
    with httpx.stream("POST", f"{server.url}{path}", json=body, timeout=10, **kwargs) as response:
        assert response.status_code == 200
        return list(response.iter_raw())


def check_live(dialect: str, pieces: list[bytes]) -> list[ChunkInfo]:
    """The checker's view of a real stream, asserting it is clean and chunking-independent."""
    infos, end = run(checker_for(dialect, include_usage=True), pieces)
    assert all_violations(infos, end) == []
    body = b"".join(pieces)
    one_byte_each = [body[i : i + 1] for i in range(len(body))]
    assert run(checker_for(dialect, include_usage=True), one_byte_each) == (infos, end)
    return infos


# --------------------------------------------------------------------------- the real proxy


def openai_stream(server: Any, **extra: Any) -> list[ChunkInfo]:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": USER_TEXT}],
        "stream": True,
        "stream_options": {"include_usage": True},
        **extra,
    }
    pieces = stream_pieces(server, "/v1/chat/completions", body)
    return check_live("openai", pieces)


def test_openai_text_stream_is_clean(server) -> None:
    infos = openai_stream(server)
    assert runs(infos) == ["chunk/role", "chunk/content", "chunk/finish", "usage", "[DONE]"]
    text = "".join(json.loads(i.summary) for i in infos if i.event_type == "chunk/content")
    assert text == f"You said: {USER_TEXT}"
    assert {i.block_index for i in infos if i.event_type.startswith("chunk")} == {0}
    assert infos[-3].summary == "finish_reason=stop"


def test_openai_forced_tool_call_stream_is_clean(server) -> None:
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    infos = openai_stream(
        server,
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert runs(infos) == ["chunk/role", "chunk/tool_calls", "chunk/finish", "usage", "[DONE]"]
    calls = [i for i in infos if i.event_type == "chunk/tool_calls"]
    assert len(calls) > 1
    assert {i.block_index for i in calls} == {0}
    assert calls[0].summary.startswith("get_weather id=call_")
    assert infos[-3].summary == "finish_reason=tool_calls"


def test_openai_reasoning_stream_is_clean(server) -> None:
    infos = openai_stream(server, reasoning_effort="low")
    assert runs(infos) == [
        "chunk/role",
        "chunk/reasoning",
        "chunk/content",
        "chunk/finish",
        "usage",
        "[DONE]",
    ]


def anthropic_stream(server: Any, **extra: Any) -> list[ChunkInfo]:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": USER_TEXT}],
        "stream": True,
        **extra,
    }
    pieces = stream_pieces(server, "/v1/messages", body, headers=ANTHROPIC_HEADERS)
    return check_live("anthropic", pieces)


def block_runs(infos: list[ChunkInfo]) -> list[tuple[str, int | None]]:
    pairs = ((i.event_type, i.block_index) for i in infos)
    return [pair for pair, _ in itertools.groupby(pairs)]


def test_anthropic_text_stream_is_clean(server) -> None:
    infos = anthropic_stream(server)
    assert block_runs(infos) == [
        ("message_start", None),
        ("ping", None),
        ("content_block_start/text", 0),
        ("content_block_delta/text_delta", 0),
        ("content_block_stop", 0),
        ("message_delta", None),
        ("message_stop", None),
    ]
    assert infos[-2].summary.startswith("stop_reason=end_turn")


def test_anthropic_forced_tool_use_stream_is_clean(server) -> None:
    infos = anthropic_stream(
        server,
        tools=[{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert block_runs(infos)[2:-2] == [
        ("content_block_start/tool_use", 0),
        ("content_block_delta/input_json_delta", 0),
        ("content_block_stop", 0),
    ]
    assert infos[2].summary.startswith("get_weather id=")
    assert infos[-2].summary.startswith("stop_reason=tool_use")


def test_anthropic_thinking_stream_is_clean(server) -> None:
    infos = anthropic_stream(server, thinking={"type": "enabled", "budget_tokens": 1024})
    assert block_runs(infos)[2:-2] == [
        ("content_block_start/thinking", 0),
        ("content_block_delta/thinking_delta", 0),
        ("content_block_delta/signature_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start/text", 1),
        ("content_block_delta/text_delta", 1),
        ("content_block_stop", 1),
    ]


def gemini_stream(server: Any, body: dict[str, Any], *, sse: bool = True) -> list[ChunkInfo]:
    body = {"contents": [{"role": "user", "parts": [{"text": USER_TEXT}]}], **body}
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    params = {"alt": "sse"} if sse else {}
    pieces = stream_pieces(server, path, body, params=params)
    return check_live("gemini", pieces)


@pytest.mark.parametrize("sse", [True, False], ids=["alt=sse", "json-array"])
def test_gemini_text_stream_is_clean(server, sse) -> None:
    infos = gemini_stream(server, {}, sse=sse)
    assert runs(infos) == ["candidate/text", "finish"]
    assert {i.block_index for i in infos} == {0, None}
    text = "".join(json.loads(i.summary) for i in infos if i.event_type == "candidate/text")
    assert text == f"You said: {USER_TEXT}"
    assert infos[-1].summary.startswith("STOP, usage prompt ")


def test_gemini_forced_function_call_stream_is_clean(server) -> None:
    body = {
        "tools": [
            {"functionDeclarations": [{"name": "get_weather", "parameters": WEATHER_SCHEMA}]}
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    }
    infos = gemini_stream(server, body)
    assert [(i.event_type, i.block_index) for i in infos] == [
        ("candidate/functionCall", 0),
        ("finish", None),
    ]
    assert infos[0].summary.startswith("get_weather({")


def test_gemini_thought_stream_is_clean(server) -> None:
    config = {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}}
    infos = gemini_stream(server, {"generationConfig": config})
    assert runs(infos) == ["candidate/thought", "candidate/text", "finish"]
    thoughts = [i for i in infos if i.event_type == "candidate/thought"]
    assert thoughts[-1].summary.startswith("signature (")


# --------------------------------------------------------------------------- broken streams


def anthropic(kind: str, **fields: Any) -> bytes:
    data = json.dumps({"type": kind, **fields})
    return f"event: {kind}\ndata: {data}\n\n".encode()


START = anthropic("message_start", message={"id": "msg_1", "usage": {"input_tokens": 3}})
TEXT = anthropic("content_block_start", index=0, content_block={"type": "text", "text": ""})
TOOL = anthropic(
    "content_block_start",
    index=0,
    content_block={"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
)
THINK = anthropic("content_block_start", index=0, content_block={"type": "thinking"})


def delta(index: int, kind: str, **fields: Any) -> bytes:
    return anthropic("content_block_delta", index=index, delta={"type": kind, **fields})


def stop_block(index: int) -> bytes:
    return anthropic("content_block_stop", index=index)


FINISH = anthropic("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 2})
STOP = anthropic("message_stop")
GOOD_ANTHROPIC = [START, TEXT, delta(0, "text_delta", text="hi"), stop_block(0), FINISH, STOP]


def openai(payload: dict[str, Any] | None = None, **fields: Any) -> bytes:
    chunk = payload or {"id": "c1", "object": "chat.completion.chunk", "choices": [], **fields}
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()


def choice(delta: dict[str, Any], finish: str | None = None, chunk_id: str = "c1") -> bytes:
    entry = {"index": 0, "delta": delta, "finish_reason": finish}
    return openai({"id": chunk_id, "object": "chat.completion.chunk", "choices": [entry]})


def call(index: int, **fields: Any) -> dict[str, Any]:
    return {"tool_calls": [{"index": index, **fields}]}


USAGE = openai(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})
DONE = b"data: [DONE]\n\n"
GOOD_OPENAI = [
    choice({"role": "assistant", "content": ""}),
    choice({"content": "hi"}),
    choice({}, "stop"),
    USAGE,
    DONE,
]


def gemini(parts: list[Any] | None = None, finish: str | None = None, **fields: Any) -> bytes:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts or []}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    payload = {"candidates": [candidate], "responseId": "r1", **fields}
    return f"data: {json.dumps(payload, ensure_ascii=False)}\r\n\r\n".encode()


GEMINI_USAGE = {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}
GOOD_GEMINI = [gemini([{"text": "hi"}]), gemini([], "STOP", usageMetadata=GEMINI_USAGE)]


def logprob_choice(delta: dict[str, Any], logprobs: Any) -> bytes:
    entry = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": None}
    return openai({"id": "c1", "object": "chat.completion.chunk", "choices": [entry]})


TOKEN = {"token": "No", "logprob": -0.5, "bytes": [78, 111], "top_logprobs": []}
GEMINI_LOGPROBS = {
    "chosenCandidates": [{"token": "No", "logProbability": -0.5}],
    "topCandidates": [{"candidates": [{"token": "No", "logProbability": -0.5}]}],
}

# Streams with the fidelity features (refusals, log probabilities, signed thinking, a
# matched stop sequence, Gemini's SAFETY stop after text): valid, so never flagged.
GOOD_FIDELITY: dict[str, list[bytes]] = {
    "anthropic": [
        START,
        anthropic(
            "content_block_start",
            index=0,
            content_block={"type": "thinking", "thinking": "", "signature": ""},
        ),
        delta(0, "thinking_delta", thinking="hm"),
        delta(0, "signature_delta", signature=""),
        stop_block(0),
        TEXT.replace(b'"index": 0', b'"index": 1'),
        delta(1, "text_delta", text="one"),
        stop_block(1),
        anthropic(
            "message_delta",
            delta={"stop_reason": "stop_sequence", "stop_sequence": "END"},
            usage={"output_tokens": 2},
        ),
        STOP,
    ],
    "openai": [
        choice({"role": "assistant", "content": ""}),
        logprob_choice({"refusal": "No"}, {"content": None, "refusal": [TOKEN]}),
        logprob_choice(
            {},
            {
                "content": [
                    {**TOKEN, "top_logprobs": [{"token": "x", "logprob": -1, "bytes": None}]}
                ],
                "refusal": None,
            },
        ),
        choice({}, "stop"),
        USAGE,
        DONE,
    ],
    "gemini": [
        gemini([{"text": "No"}], avgLogprobs=-0.5),
        gemini([], "SAFETY", usageMetadata=GEMINI_USAGE),
    ],
}


def gemini_logprobs(result: Any, **fields: Any) -> bytes:
    candidate = {
        "content": {"parts": [{"text": "No"}]},
        "index": 0,
        "logprobsResult": result,
        **fields,
    }
    payload = {"candidates": [candidate], "responseId": "r1"}
    return f"data: {json.dumps(payload)}\r\n\r\n".encode()


# (dialect, frames, words the violation must contain)
BROKEN: dict[str, tuple[str, list[bytes], str]] = {
    "anthropic thinking block without signature_delta": (
        "anthropic",
        [START, THINK, delta(0, "thinking_delta", thinking="hm"), stop_block(0), FINISH, STOP],
        "thinking block 0 closed without a signature_delta",
    ),
    "anthropic stop_sequence stop without the sequence": (
        "anthropic",
        [
            *GOOD_ANTHROPIC[:4],
            anthropic(
                "message_delta",
                delta={"stop_reason": "stop_sequence", "stop_sequence": None},
                usage={"output_tokens": 2},
            ),
            STOP,
        ],
        "stop_reason 'stop_sequence' without the stop_sequence that matched",
    ),
    "anthropic stop_sequence with another stop_reason": (
        "anthropic",
        [
            *GOOD_ANTHROPIC[:4],
            anthropic(
                "message_delta",
                delta={"stop_reason": "end_turn", "stop_sequence": "END"},
                usage={"output_tokens": 2},
            ),
            STOP,
        ],
        "stop_sequence 'END' with stop_reason 'end_turn'",
    ),
    "openai logprobs content not a list": (
        "openai",
        [logprob_choice({"content": "x"}, {"content": "x", "refusal": None}), *GOOD_OPENAI[2:]],
        "choice 0: logprobs.content is neither null nor a list",
    ),
    "openai logprob without a token": (
        "openai",
        [logprob_choice({"content": "x"}, {"content": [{"logprob": -1.0}]}), *GOOD_OPENAI[2:]],
        "choice 0: logprobs.content[0] has no string token",
    ),
    "openai logprob without top_logprobs": (
        "openai",
        [
            logprob_choice({"content": "x"}, {"content": [{"token": "x", "logprob": -1.0}]}),
            *GOOD_OPENAI[2:],
        ],
        "logprobs.content[0] has no top_logprobs list",
    ),
    "openai positive logprob": (
        "openai",
        [
            logprob_choice({"refusal": "x"}, {"refusal": [{**TOKEN, "logprob": 0.5}]}),
            *GOOD_OPENAI[2:],
        ],
        "logprobs.refusal[0] has no logprob (a number <= 0)",
    ),
    "gemini logprobsResult without chosenCandidates": (
        "gemini",
        [gemini_logprobs({"topCandidates": []}), GOOD_GEMINI[1]],
        "candidate 0: logprobsResult has no chosenCandidates list",
    ),
    "gemini topCandidates not one per token": (
        "gemini",
        [gemini_logprobs({**GEMINI_LOGPROBS, "topCandidates": []}), GOOD_GEMINI[1]],
        "topCandidates must have one entry per chosen token (1)",
    ),
    "gemini avgLogprobs not a number": (
        "gemini",
        [gemini_logprobs(GEMINI_LOGPROBS, avgLogprobs="low"), GOOD_GEMINI[1]],
        "candidate 0: avgLogprobs is not a number",
    ),
    "anthropic event before message_start": (
        "anthropic",
        GOOD_ANTHROPIC[1:],
        "before message_start",
    ),
    "anthropic duplicated message_start": (
        "anthropic",
        [START, *GOOD_ANTHROPIC],
        "a second message_start",
    ),
    "anthropic text_delta in tool_use": (
        "anthropic",
        [START, TOOL, delta(0, "text_delta", text="x"), stop_block(0), FINISH, STOP],
        "text_delta in block 0, a tool_use block",
    ),
    "anthropic input_json_delta in text": (
        "anthropic",
        [START, TEXT, delta(0, "input_json_delta", partial_json="{"), stop_block(0), FINISH, STOP],
        "input_json_delta in block 0, a text block",
    ),
    "anthropic thinking_delta outside thinking": (
        "anthropic",
        [START, TEXT, delta(0, "thinking_delta", thinking="hm"), stop_block(0), FINISH, STOP],
        "thinking_delta in block 0, a text block (thinking_delta belongs in a thinking block)",
    ),
    "anthropic signature_delta outside thinking": (
        "anthropic",
        [START, TOOL, delta(0, "signature_delta", signature="s"), stop_block(0), FINISH, STOP],
        "signature_delta in block 0, a tool_use block",
    ),
    "anthropic delta for a block not open": (
        "anthropic",
        [START, TEXT, delta(1, "text_delta", text="x"), stop_block(0), FINISH, STOP],
        "content_block_delta for block 1, which is not open (open: 0)",
    ),
    "anthropic stop for a block not open": (
        "anthropic",
        [*GOOD_ANTHROPIC[:4], stop_block(0), FINISH, STOP],
        "content_block_stop for block 0, which is not open (no block is open)",
    ),
    "anthropic start while a block is open": (
        "anthropic",
        [START, THINK, TEXT.replace(b'"index": 0', b'"index": 1'), stop_block(1), FINISH, STOP],
        "content_block_start for block 1 while block 0 is still open",
    ),
    "anthropic block indexes skip": (
        "anthropic",
        [START, TEXT.replace(b'"index": 0', b'"index": 1'), stop_block(1), FINISH, STOP],
        "block index 1 out of order: expected 0",
    ),
    "anthropic message_delta without usage": (
        "anthropic",
        [*GOOD_ANTHROPIC[:4], anthropic("message_delta", delta={"stop_reason": "end_turn"}), STOP],
        "message_delta without usage",
    ),
    "anthropic second finish": (
        "anthropic",
        [*GOOD_ANTHROPIC[:5], FINISH, STOP],
        "a second message_delta with a stop_reason",
    ),
    "anthropic event after message_stop": (
        "anthropic",
        [*GOOD_ANTHROPIC, anthropic("ping")],
        "ping after message_stop",
    ),
    "anthropic malformed JSON": (
        "anthropic",
        [START, b"event: ping\ndata: {not json\n\n", *GOOD_ANTHROPIC[1:]],
        "malformed JSON",
    ),
    "anthropic event name mismatch": (
        "anthropic",
        [START, b'event: message_stop\ndata: {"type": "ping"}\n\n', *GOOD_ANTHROPIC[1:]],
        "SSE event name 'message_stop' does not match the type 'ping'",
    ),
    "anthropic message_stop without stop_reason": (
        "anthropic",
        [*GOOD_ANTHROPIC[:4], STOP],
        "message_stop without a stop_reason",
    ),
    "anthropic no message_stop": ("anthropic", GOOD_ANTHROPIC[:-1], "without message_stop"),
    "anthropic block never closed": ("anthropic", GOOD_ANTHROPIC[:3], "block 0 was never closed"),
    "openai second finish_reason": (
        "openai",
        [*GOOD_OPENAI[:3], choice({}, "length"), *GOOD_OPENAI[3:]],
        "choice 0: a second finish_reason 'length' (it already finished with 'stop')",
    ),
    "openai content after finish": (
        "openai",
        [*GOOD_OPENAI[:3], choice({"content": "more"}), *GOOD_OPENAI[3:]],
        "choice 0: content after its finish_reason 'stop'",
    ),
    "openai tool call without id": (
        "openai",
        [choice(call(0, type="function", function={"name": "f", "arguments": ""})), DONE],
        "tool call 0: its first fragment lacks id",
    ),
    "openai tool call without name": (
        "openai",
        [choice(call(0, id="call_1", function={"arguments": "{}"})), DONE],
        "tool call 0: its first fragment lacks function.name",
    ),
    "openai new id at a used tool index": (
        "openai",
        [
            choice(call(0, id="call_1", type="function", function={"name": "f"})),
            choice(call(0, id="call_2", type="function", function={"name": "g"})),
            choice({}, "tool_calls"),
            USAGE,
            DONE,
        ],
        "tool call 0: a new id 'call_2' at an index already used by 'call_1'",
    ),
    "openai usage missing": ("openai", [*GOOD_OPENAI[:3], DONE], "no usage chunk"),
    "openai chunk after usage": (
        "openai",
        [*GOOD_OPENAI[:3], USAGE, choice({}), DONE],
        "choice 0 after the usage chunk",
    ),
    "openai chunk after [DONE]": (
        "openai",
        [*GOOD_OPENAI, choice({"content": "late"})],
        "an event after data: [DONE]",
    ),
    "openai malformed JSON": (
        "openai",
        [GOOD_OPENAI[0], b'data: {"id": "c1", "choices": [\n\n', *GOOD_OPENAI[1:]],
        "malformed JSON",
    ),
    "openai inconsistent id": (
        "openai",
        [GOOD_OPENAI[0], choice({"content": "x"}, chunk_id="c2"), *GOOD_OPENAI[2:]],
        "chunk id 'c2' differs from the stream's id 'c1'",
    ),
    "openai no [DONE]": ("openai", GOOD_OPENAI[:-1], "without data: [DONE]"),
    "openai no finish_reason": (
        "openai",
        [*GOOD_OPENAI[:2], *GOOD_OPENAI[3:]],
        "choice 0 ended without a finish_reason",
    ),
    "openai unterminated frame": (
        "openai",
        [*GOOD_OPENAI[:-1], b"data: [DONE]"],
        "the stream ended inside an SSE frame",
    ),
    "gemini second finishReason": (
        "gemini",
        [*GOOD_GEMINI, gemini([], "MAX_TOKENS", usageMetadata=GEMINI_USAGE)],
        "candidate 0: a second finishReason 'MAX_TOKENS' (it already finished with 'STOP')",
    ),
    "gemini parts after finish": (
        "gemini",
        [*GOOD_GEMINI, gemini([{"text": "late"}], usageMetadata=GEMINI_USAGE)],
        "candidate 0: parts after its finishReason 'STOP'",
    ),
    "gemini usage missing at the end": (
        "gemini",
        [GOOD_GEMINI[0], gemini([], "STOP")],
        "the last chunk carries no usageMetadata",
    ),
    "gemini malformed JSON": (
        "gemini",
        [b"data: {oops\r\n\r\n", *GOOD_GEMINI],
        "malformed JSON",
    ),
    "gemini no finishReason": (
        "gemini",
        [gemini([{"text": "hi"}], usageMetadata=GEMINI_USAGE)],
        "the stream ended without a finishReason",
    ),
    "gemini inconsistent responseId": (
        "gemini",
        [GOOD_GEMINI[0].replace(b"r1", b"r0"), GOOD_GEMINI[1]],
        "responseId 'r1' differs from the stream's 'r0'",
    ),
    "gemini array without closing bracket": (
        "gemini",
        [
            b'[{"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}],'
            b' "usageMetadata": {}}'
        ],
        "ended without its closing ']'",
    ),
    "gemini array malformed element": (
        "gemini",
        [
            b'[{"candidates": [}],\r\n{"candidates": [{"finishReason": "STOP"}],'
            b' "usageMetadata": {}}]'
        ],
        "malformed JSON",
    ),
    "gemini array missing comma": (
        "gemini",
        [
            b'[{"usageMetadata": {}} {"candidates": [{"finishReason": "STOP"}],'
            b' "usageMetadata": {}}]'
        ],
        "expected ',' or ']' after an array element",
    ),
}


def check_broken(dialect: str, frames: list[bytes]) -> tuple[list[ChunkInfo], list[str]]:
    return run(checker_for(dialect, include_usage=True), frames)


def test_good_handwritten_streams_are_clean() -> None:
    for dialect, frames in (
        ("anthropic", GOOD_ANTHROPIC),
        ("openai", GOOD_OPENAI),
        ("gemini", GOOD_GEMINI),
    ):
        infos, end = check_broken(dialect, frames)
        assert all_violations(infos, end) == [], dialect


@pytest.mark.parametrize("dialect", list(GOOD_FIDELITY))
def test_refusals_logprobs_signatures_and_stop_sequences_are_clean(dialect: str) -> None:
    infos, end = check_broken(dialect, GOOD_FIDELITY[dialect])
    assert all_violations(infos, end) == []
    if dialect == "openai":
        assert [i.event_type for i in infos[1:3]] == ["chunk/refusal", "chunk/logprobs"]
        assert infos[2].summary == '1 token logprobs "No"'


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_stream_is_flagged(case: str) -> None:
    dialect, frames, words = BROKEN[case]
    infos, end = check_broken(dialect, frames)
    found = all_violations(infos, end)
    assert any(words in v for v in found), found


@pytest.mark.parametrize("case", list(BROKEN))
def test_byte_at_a_time_equals_whole(case: str) -> None:
    dialect, frames, _ = BROKEN[case]
    body = b"".join(frames)
    whole = check_broken(dialect, [body])
    assert check_broken(dialect, [body[i : i + 1] for i in range(len(body))]) == whole
    assert check_broken(dialect, frames) == whole


def test_violations_land_on_the_offending_chunk() -> None:
    infos, end = check_broken("anthropic", [*GOOD_ANTHROPIC[:3], STOP])
    assert [i.violations for i in infos[:3]] == [[], [], []]
    assert infos[3].event_type == "message_stop"
    assert infos[3].violations == [
        "message_stop while block 0 is still open",
        "message_stop without a stop_reason (no message_delta carried one)",
    ]
    assert end == []


def test_keep_alive_comments_and_split_utf8() -> None:
    checker = OpenAIStreamChecker()
    frame = choice({"content": "☃"})
    cut = frame.index("☃".encode()) + 1  # inside the snowman's three bytes
    infos = checker.feed(b": keep-alive\n\n" + frame[:cut])
    infos += checker.feed(frame[cut:] + choice({}, "stop") + DONE)
    assert [(i.event_type, i.summary) for i in infos[:2]] == [
        ("keep-alive", "keep-alive"),
        ("chunk/content", '"☃"'),
    ]
    assert checker.close() == []


def test_in_band_errors_end_streams_without_end_violations() -> None:
    error = {"error": {"message": "gone", "type": "server_error"}}
    infos, end = run(OpenAIStreamChecker(include_usage=True), [choice({}), openai(error)])
    assert (infos[-1].event_type, infos[-1].summary, end) == ("error", "server_error: gone", [])
    frames = [START, anthropic("error", error={"type": "overloaded_error", "message": "busy"})]
    infos, end = run(AnthropicStreamChecker(), frames)
    assert (infos[-1].event_type, end) == ("error", [])
    gemini_error = b'data: {"error": {"code": 503, "status": "UNAVAILABLE", "message": "x"}}\n\n'
    infos, end = run(GeminiStreamChecker(), [gemini_error])
    assert (infos[-1].event_type, infos[-1].summary, end) == ("error", "UNAVAILABLE: x", [])


def test_gemini_framing_can_be_forced() -> None:
    infos, _ = run(GeminiStreamChecker(framing="json-array"), GOOD_GEMINI)
    assert infos[0].violations == ["a JSON-array stream must start with '['"]


def test_checker_for_rejects_unknown_dialects_and_close_is_final() -> None:
    with pytest.raises(ValueError, match="unknown dialect 'cohere'"):
        checker_for("cohere")
    checker = checker_for("anthropic")
    assert (
        checker.close()
        == checker.close()
        == [
            "the stream ended without message_start",
            "the stream ended without message_stop",
        ]
    )
    with pytest.raises(RuntimeError):
        checker.feed(b"")
