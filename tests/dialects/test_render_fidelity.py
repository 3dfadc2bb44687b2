"""What an upstream says reaches every dialect's client, streamed and whole (issue #13,
points 2, 4, 6 and 9): refusals, log probabilities, thinking signatures, the matched
stop sequence and `message_start`'s input tokens.

First the renderers fed canonical events directly, then the official SDKs through the
proxy in front of the OpenAI-compatible fake (scripted with exact chunks) and the fake
ChatGPT backend.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from chatmock_lab.core import (
    Event,
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    ReasoningPart,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    collect,
)
from chatmock_lab.dialects import anthropic as anthropic_dialect
from chatmock_lab.dialects import gemini as gemini_dialect
from chatmock_lab.dialects import openai as openai_dialect
from chatmock_lab.dialects.responses.upstream import UpstreamResponsesStream
from chatmock_lab.server import BackgroundServer
from chatmock_lab.stream_checks import checker_for
from chatmock_lab.testing import CodexReply, FakeCodexBackend
from chatmock_lab.testing.fake_chatgpt_auth import FakeChatGPTAuth
from tests.support import sse_events, sse_payloads

HI = TokenLogprob("Hi", -0.25, (72, 105), (TokenLogprob("Hi", -0.25, (72, 105)),))
THERE = TokenLogprob(" there", -1.5, None, (TokenLogprob(" you", -0.5, (32, 121, 111, 117)),))
SORRY = TokenLogprob("Sorry", -0.125, (83, 111, 114, 114, 121))
REFUSAL = "I can't help with that."


def openai_stream(events: Sequence[Event], *, logprobs: bool = False) -> list[Any]:
    renderer = openai_dialect.ChatStreamRenderer(
        id="c1", model="m", created=1, include_usage=False, logprobs=logprobs
    )
    frames = renderer.start()
    for event in events:
        frames += renderer.feed(event)
    frames += renderer.finish()
    return sse_payloads(b"".join(frames).decode())


def openai_whole(events: Sequence[Event]) -> dict[str, Any]:
    return openai_dialect.render_response(collect(events), id="c1", model="m", created=1)


def anthropic_stream(events: Sequence[Event], **options: Any) -> list[tuple[str, Any]]:
    renderer = anthropic_dialect.MessageStreamRenderer(
        id="msg_1", model="m", include_thinking=True, **options
    )
    frames = renderer.start()
    for event in events:
        frames += renderer.feed(event)
    frames += renderer.finish()
    return sse_events(b"".join(frames).decode())


def anthropic_whole(events: Sequence[Event]) -> dict[str, Any]:
    return anthropic_dialect.render_response(
        collect(events), id="msg_1", model="m", include_thinking=True
    )


def gemini_stream(
    events: Sequence[Event], *, include_thoughts: bool = True, logprobs: bool = False
) -> list[Any]:
    renderer = gemini_dialect.GenerateStreamRenderer(
        id="r1", model="m", include_thoughts=include_thoughts, sse=True, logprobs=logprobs
    )
    frames = renderer.start()
    for event in events:
        frames += renderer.feed(event)
    frames += renderer.finish()
    return sse_payloads(b"".join(frames).decode().replace("\r\n", "\n"))


def gemini_whole(events: Sequence[Event], *, include_thoughts: bool = True) -> dict[str, Any]:
    return gemini_dialect.render_response(
        collect(events), id="r1", model="m", include_thoughts=include_thoughts
    )


def choices(payloads: list[Any]) -> list[dict[str, Any]]:
    return [p["choices"][0] for p in payloads if isinstance(p, dict) and p.get("choices")]


def candidates(payloads: list[Any]) -> list[dict[str, Any]]:
    return [p["candidates"][0] for p in payloads]


# --------------------------------------------------------------------------- refusals

REFUSED: list[Event] = [
    RefusalDelta("I can't "),
    RefusalDelta("help with that."),
    Finish("refusal"),
]


def test_openai_streams_a_refusal_in_refusal_deltas_and_stops() -> None:
    streamed = choices(openai_stream(REFUSED))
    assert [c["delta"].get("refusal") for c in streamed[1:3]] == ["I can't ", "help with that."]
    assert "content" not in streamed[1]["delta"]
    assert streamed[-1]["finish_reason"] == "stop"


def test_openai_answers_a_refusal_in_message_refusal_with_null_content() -> None:
    choice = openai_whole(REFUSED)["choices"][0]
    assert choice["message"]["content"] is None
    assert choice["message"]["refusal"] == REFUSAL
    assert (choice["finish_reason"], choice["logprobs"]) == ("stop", None)
    # Text and a refusal: both fields, each with its own text.
    mixed = openai_whole([TextDelta("Well. "), *REFUSED])["choices"][0]["message"]
    assert (mixed["content"], mixed["refusal"]) == ("Well. ", REFUSAL)
    assert openai_whole([TextDelta("ok")])["choices"][0]["message"]["refusal"] is None


def test_anthropic_says_a_refusal_as_text_with_stop_reason_refusal() -> None:
    events = anthropic_stream([TextDelta("Well. "), *REFUSED])
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    # A block of its own, as in the whole message, where the refusal is its own part.
    assert starts == [{"type": "text", "text": ""}, {"type": "text", "text": ""}]
    texts = [data["delta"]["text"] for name, data in events if name == "content_block_delta"]
    assert texts == ["Well. ", "I can't ", "help with that."]
    delta = next(data for name, data in events if name == "message_delta")
    assert delta["delta"] == {"stop_reason": "refusal", "stop_sequence": None}
    whole = anthropic_whole([TextDelta("Well. "), *REFUSED])
    assert whole["content"] == [
        {"type": "text", "text": "Well. "},
        {"type": "text", "text": REFUSAL},
    ]
    assert whole["stop_reason"] == "refusal"


def test_gemini_says_a_refusal_as_text_with_finish_reason_safety() -> None:
    streamed = candidates(gemini_stream(REFUSED))
    assert [c["content"]["parts"] for c in streamed[:2]] == [
        [{"text": "I can't "}],
        [{"text": "help with that."}],
    ]
    assert streamed[-1]["finishReason"] == "SAFETY"
    whole = gemini_whole(REFUSED)["candidates"][0]
    assert whole["content"]["parts"] == [{"text": REFUSAL}]
    assert whole["finishReason"] == "SAFETY"


# --------------------------------------------------------------------------- log probabilities

WITH_LOGPROBS: list[Event] = [
    TextDelta("Hi"),
    LogprobsDelta((HI,)),
    TextDelta(" there"),
    LogprobsDelta((THERE,)),
    Finish("stop"),
]
HI_JSON = {
    "token": "Hi",
    "logprob": -0.25,
    "bytes": [72, 105],
    "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105]}],
}
THERE_JSON = {
    "token": " there",
    "logprob": -1.5,
    "bytes": None,
    "top_logprobs": [{"token": " you", "logprob": -0.5, "bytes": [32, 121, 111, 117]}],
}


def test_openai_chunks_carry_the_logprobs_of_their_own_tokens() -> None:
    streamed = choices(openai_stream(WITH_LOGPROBS, logprobs=True))
    assert [(c["delta"], c["logprobs"]) for c in streamed[1:3]] == [
        ({"content": "Hi"}, {"content": [HI_JSON], "refusal": None}),
        ({"content": " there"}, {"content": [THERE_JSON], "refusal": None}),
    ]
    assert (streamed[0]["logprobs"], streamed[-1]["logprobs"]) == (None, None)


def test_openai_stream_that_did_not_expect_logprobs_still_delivers_them_all() -> None:
    # The first text went out before its log probabilities were known to come: they
    # follow with an empty delta; from then on each text waits for its own.
    streamed = choices(openai_stream(WITH_LOGPROBS))
    assert [(c["delta"], c["logprobs"]) for c in streamed[1:4]] == [
        ({"content": "Hi"}, None),
        ({}, {"content": [HI_JSON], "refusal": None}),
        ({"content": " there"}, {"content": [THERE_JSON], "refusal": None}),
    ]


def test_openai_stream_without_logprobs_has_null_everywhere_and_nothing_waits() -> None:
    renderer = openai_dialect.ChatStreamRenderer(id="c1", model="m", created=1, include_usage=False)
    renderer.start()
    assert renderer.feed(TextDelta("Hi")) != []
    streamed = choices(openai_stream([TextDelta("Hi"), RefusalDelta("no"), Finish()]))
    assert [c["logprobs"] for c in streamed] == [None, None, None, None]


def test_openai_refusal_logprobs_ride_on_refusal_chunks_and_answers() -> None:
    events: list[Event] = [
        RefusalDelta("Sorry"),
        LogprobsDelta((SORRY,), refusal=True),
        Finish("refusal"),
    ]
    streamed = choices(openai_stream(events, logprobs=True))
    sorry = {"token": "Sorry", "logprob": -0.125, "bytes": list(b"Sorry"), "top_logprobs": []}
    assert streamed[1]["delta"] == {"refusal": "Sorry"}
    assert streamed[1]["logprobs"] == {"content": None, "refusal": [sorry]}
    # Answer tokens never ride on a refusal chunk.
    mixed = choices(
        openai_stream([RefusalDelta("Sorry"), LogprobsDelta((HI,)), Finish()], logprobs=True)
    )
    assert [(c["delta"], c["logprobs"]) for c in mixed[1:3]] == [
        ({"refusal": "Sorry"}, None),
        ({}, {"content": [HI_JSON], "refusal": None}),
    ]
    whole = openai_whole(events)["choices"][0]
    assert whole["logprobs"] == {"content": None, "refusal": [sorry]}


def test_openai_whole_answer_has_every_token_logprob() -> None:
    choice = openai_whole(WITH_LOGPROBS)["choices"][0]
    assert choice["logprobs"] == {"content": [HI_JSON, THERE_JSON], "refusal": None}


def test_anthropic_renders_no_logprobs() -> None:
    events = anthropic_stream(WITH_LOGPROBS)
    assert "logprob" not in str(events)
    assert [d["delta"]["text"] for n, d in events if n == "content_block_delta"] == ["Hi", " there"]
    assert "logprob" not in str(anthropic_whole(WITH_LOGPROBS))


def test_gemini_candidates_carry_logprobs_result_and_average() -> None:
    whole = gemini_whole(WITH_LOGPROBS)["candidates"][0]
    assert whole["logprobsResult"] == {
        "topCandidates": [
            {"candidates": [{"token": "Hi", "logProbability": -0.25}]},
            {"candidates": [{"token": " you", "logProbability": -0.5}]},
        ],
        "chosenCandidates": [
            {"token": "Hi", "logProbability": -0.25},
            {"token": " there", "logProbability": -1.5},
        ],
        "logProbabilitySum": -1.75,
    }
    assert whole["avgLogprobs"] == -0.875
    streamed = candidates(gemini_stream(WITH_LOGPROBS, logprobs=True))
    assert [c["content"]["parts"] for c in streamed[:2]] == [[{"text": "Hi"}], [{"text": " there"}]]
    assert [c["logprobsResult"]["chosenCandidates"] for c in streamed[:2]] == [
        [{"token": "Hi", "logProbability": -0.25}],
        [{"token": " there", "logProbability": -1.5}],
    ]
    assert [c["avgLogprobs"] for c in streamed[:2]] == [-0.25, -1.5]
    assert "logprobsResult" not in streamed[-1]
    plain = gemini_whole([TextDelta("Hi"), Finish()])["candidates"][0]
    assert "logprobsResult" not in plain and "avgLogprobs" not in plain


# --------------------------------------------------------------------------- thinking signatures


def test_anthropic_thinking_blocks_start_unsigned_and_are_signed_before_closing() -> None:
    events = anthropic_stream(
        [ReasoningDelta("hmm"), TextDelta("ok"), ReasoningDelta("more", signature="sig"), Finish()]
    )
    block_events = [
        (name, data.get("content_block") or data.get("delta"))
        for name, data in events
        if name.startswith("content_block")
    ]
    assert block_events == [
        ("content_block_start", {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", {"type": "thinking_delta", "thinking": "hmm"}),
        ("content_block_delta", {"type": "signature_delta", "signature": ""}),
        ("content_block_stop", None),
        ("content_block_start", {"type": "text", "text": ""}),
        ("content_block_delta", {"type": "text_delta", "text": "ok"}),
        ("content_block_stop", None),
        ("content_block_start", {"type": "thinking", "thinking": "", "signature": ""}),
        ("content_block_delta", {"type": "thinking_delta", "thinking": "more"}),
        ("content_block_delta", {"type": "signature_delta", "signature": "sig"}),
        ("content_block_stop", None),
    ]


def test_anthropic_unsigned_thinking_is_signed_when_the_stream_ends_or_fails() -> None:
    for last in ([], [Finish("length")]):
        events = anthropic_stream([ReasoningDelta("hmm"), *last])
        names = [
            data["delta"]["type"] if name == "content_block_delta" else name
            for name, data in events
        ]
        assert names[-5:] == [
            "thinking_delta",
            "signature_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]


def test_gemini_keeps_reasoning_text_that_comes_with_its_signature() -> None:
    events: list[Event] = [
        ReasoningDelta("thinking it over", signature="c2lnbmF0dXJl"),
        TextDelta("ok"),
        Finish(),
    ]
    streamed = candidates(gemini_stream(events))
    assert streamed[0]["content"]["parts"] == [
        {"text": "thinking it over", "thought": True, "thoughtSignature": "c2lnbmF0dXJl"}
    ]
    assert (
        gemini_whole(events)["candidates"][0]["content"]["parts"][0]
        == streamed[0]["content"]["parts"][0]
    )
    # Hidden thoughts: the signature rides on the next text, the text stays hidden.
    hidden = candidates(gemini_stream(events, include_thoughts=False))
    assert hidden[0]["content"]["parts"] == [{"text": "ok", "thoughtSignature": "c2lnbmF0dXJl"}]


def test_gemini_wraps_a_signature_that_is_not_base64_and_reads_it_back() -> None:
    """A ChatGPT `encrypted_content` (a Fernet token, URL-safe) as Gemini's bytes field:
    google-genai must be able to decode it, and the client's replay must give it back."""
    foreign = "gAAAAABo-x_Yz0123456789abcdef=="
    events: list[Event] = [ReasoningDelta("hm", signature=foreign), TextDelta("ok"), Finish()]
    [part] = candidates(gemini_stream(events))[0]["content"]["parts"]
    wire = part["thoughtSignature"]
    assert wire != foreign and base64.b64decode(wire, validate=True)
    request, _ = gemini_dialect.parse_request(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "q"}]},
                {"role": "model", "parts": [part, {"text": "ok"}]},
                {"role": "user", "parts": [{"text": "again"}]},
            ]
        },
        model="m",
    )
    reasoning = request.messages[1].parts[0]
    assert isinstance(reasoning, ReasoningPart) and reasoning.signature == foreign


# --------------------------------------------------------------------------- usage and stops


def test_anthropic_message_start_reports_the_counted_prompt_and_message_delta_the_real_usage() -> (
    None
):
    events = anthropic_stream(
        [TextDelta("hi"), Usage(input_tokens=40, output_tokens=3), Finish()], input_tokens=37
    )
    start = next(data for name, data in events if name == "message_start")
    assert start["message"]["usage"]["input_tokens"] == 37
    delta = next(data for name, data in events if name == "message_delta")
    assert (delta["usage"]["input_tokens"], delta["usage"]["output_tokens"]) == (40, 3)
    # Usage known before the first output wins over the estimate; without either, 0.
    known = anthropic_stream([Usage(input_tokens=40), TextDelta("hi")], input_tokens=37)
    assert known[0][1]["message"]["usage"]["input_tokens"] == 40
    assert anthropic_stream([TextDelta("hi")])[0][1]["message"]["usage"]["input_tokens"] == 0


def test_anthropic_reports_the_matched_stop_sequence() -> None:
    events: list[Event] = [TextDelta("one two"), Finish("stop", stop_sequence="END")]
    delta = next(data for name, data in anthropic_stream(events) if name == "message_delta")
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}
    whole = anthropic_whole(events)
    assert (whole["stop_reason"], whole["stop_sequence"]) == ("stop_sequence", "END")


def test_anthropic_refusal_waits_for_tool_calls_like_text() -> None:
    events: list[Event] = [
        ToolCallStart(0, "call_1", "f"),
        RefusalDelta("no"),
        ToolCallDelta(0, "{}"),
        ToolCallEnd(0),
        Finish("refusal"),
    ]
    kinds = [
        d["content_block"]["type"]
        for n, d in anthropic_stream(events)
        if n == "content_block_start"
    ]
    assert kinds == ["tool_use", "text"]


# --------------------------------------------------------------------------- the Responses upstream


def responses_events(frames: list[dict[str, Any]]) -> list[Event]:
    stream = UpstreamResponsesStream()
    events: list[Event] = []
    for frame in frames:
        events += stream.feed(frame["type"], frame)
    return events


COMPLETED = {"type": "response.completed", "response": {"output": [{"type": "message"}]}}


def test_responses_refusal_deltas_are_refusals_and_the_done_event_adds_nothing() -> None:
    at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events = responses_events(
        [
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {"id": "msg_1", "type": "message"},
            },
            {"type": "response.refusal.delta", **at, "delta": "I can't"},
            {"type": "response.refusal.delta", **at, "delta": " help."},
            {"type": "response.refusal.done", **at, "refusal": "I can't help."},
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": {
                    "id": "msg_1",
                    "type": "message",
                    "content": [{"type": "refusal", "refusal": "I can't help."}],
                },
            },
            COMPLETED,
        ]
    )
    assert events == [RefusalDelta("I can't"), RefusalDelta(" help."), Finish("refusal")]


def test_responses_refusal_that_did_not_stream_comes_from_done_or_the_item() -> None:
    at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    from_done = responses_events(
        [{"type": "response.refusal.done", **at, "refusal": "No."}, COMPLETED]
    )
    assert from_done == [RefusalDelta("No."), Finish("refusal")]
    item = {
        "id": "msg_1",
        "type": "message",
        "content": [
            {"type": "output_text", "text": "Well."},
            {"type": "refusal", "refusal": "No."},
        ],
    }
    only_final = responses_events([{"type": "response.completed", "response": {"output": [item]}}])
    assert only_final == [TextDelta("Well."), RefusalDelta("No."), Finish("refusal")]


# --------------------------------------------------------------------------- through the SDKs


def chunk(delta: dict[str, Any], finish: str | None = None, **choice: Any) -> dict[str, Any]:
    return {
        "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish, **choice}
        ]
    }


def token_json(token: str, logprob: float, top: Sequence[tuple[str, float]] = ()) -> dict[str, Any]:
    alternatives = [{"token": t, "logprob": p, "bytes": list(t.encode())} for t, p in top]
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": alternatives,
    }


REFUSAL_CHUNKS = [
    chunk({"role": "assistant", "content": None, "refusal": ""}),
    chunk({"refusal": "I can't "}),
    chunk({"refusal": "help with that."}),
    chunk({}, "stop"),
]
LOGPROB_CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    {
        "choices": [
            {
                "index": 0,
                "delta": {"content": "Hi"},
                "logprobs": {
                    "content": [token_json("Hi", -0.25, [("Hi", -0.25), ("Hey", -2.0)])],
                    "refusal": None,
                },
                "finish_reason": None,
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {"content": " there"},
                "logprobs": {
                    "content": [token_json(" there", -1.5, [(" there", -1.5), (" you", -0.5)])],
                    "refusal": None,
                },
                "finish_reason": None,
            }
        ]
    },
    chunk({}, "stop"),
]
MESSAGES = [{"role": "user", "content": "hi"}]


def openai_client(server: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0)


def anthropic_client(server: BackgroundServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)


def gemini_client(server: BackgroundServer) -> genai.Client:
    options = types.HttpOptions(
        base_url=server.url, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key="k", http_options=options)


def checked_raw_stream(
    server: BackgroundServer, dialect: str, path: str, body: dict[str, Any], **kwargs: Any
) -> bytes:
    """The raw stream, asserted clean by the lab's protocol checker for `dialect`."""
    with httpx.stream("POST", f"{server.url}{path}", json=body, timeout=10, **kwargs) as response:
        assert response.status_code == 200
        raw = response.read()
    checker = checker_for(dialect)
    infos = checker.feed(raw)
    assert [v for info in infos for v in info.violations] + checker.close() == []
    return raw


def test_openai_sdk_reads_an_upstream_refusal_streamed_and_whole(fake, proxy) -> None:
    fake.reply(chunks=REFUSAL_CHUNKS)
    fake.reply(chunks=REFUSAL_CHUNKS)
    with openai_client(proxy) as client:
        whole = client.chat.completions.create(model="m", messages=MESSAGES)
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        streamed = [c.choices[0] for c in stream if c.choices]
    message = whole.choices[0].message
    assert (message.content, message.refusal, whole.choices[0].finish_reason) == (
        None,
        REFUSAL,
        "stop",
    )
    assert "".join(c.delta.refusal or "" for c in streamed) == REFUSAL
    assert "".join(c.delta.content or "" for c in streamed) == ""
    assert streamed[-1].finish_reason == "stop"


def test_openai_sdk_reads_a_non_streamed_upstream_message_refusal(fake, proxy) -> None:
    body = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": REFUSAL},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ]
    }
    fake.reply(completion=body, json_when_streaming=True)
    with openai_client(proxy) as client:
        whole = client.chat.completions.create(model="m", messages=MESSAGES)
    assert (whole.choices[0].message.refusal, whole.choices[0].message.content) == (REFUSAL, None)


def test_anthropic_and_gemini_sdks_read_a_refusal(fake, proxy) -> None:
    for _ in range(4):
        fake.reply(chunks=REFUSAL_CHUNKS)
    with anthropic_client(proxy) as client:
        whole = client.messages.create(model="m", max_tokens=50, messages=MESSAGES)
        with client.messages.stream(model="m", max_tokens=50, messages=MESSAGES) as stream:
            streamed = stream.get_final_message()
    for message in (whole, streamed):
        assert message.stop_reason == "refusal"
        assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", REFUSAL)]
    client_g = gemini_client(proxy)
    answer = client_g.models.generate_content(model="m", contents="hi")
    chunks = list(client_g.models.generate_content_stream(model="m", contents="hi"))
    assert answer.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert answer.text == REFUSAL
    assert "".join(c.text or "" for c in chunks) == REFUSAL
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.SAFETY


def test_refusal_streams_pass_the_protocol_checkers(fake, proxy) -> None:
    for _ in range(3):
        fake.reply(chunks=REFUSAL_CHUNKS)
    raw = checked_raw_stream(
        proxy,
        "openai",
        "/v1/chat/completions",
        {"model": "m", "messages": MESSAGES, "stream": True},
    )
    assert b'"refusal":"I can' in raw
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
    body = {"model": "m", "max_tokens": 50, "messages": MESSAGES, "stream": True}
    assert b'"stop_reason":"refusal"' in checked_raw_stream(
        proxy, "anthropic", "/v1/messages", body, headers=headers
    )
    gemini_body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    path = "/v1beta/models/m:streamGenerateContent"
    assert b"SAFETY" in checked_raw_stream(
        proxy, "gemini", path, gemini_body, params={"alt": "sse"}
    )


def test_openai_sdk_reads_logprobs_streamed_and_whole_alike(fake, proxy) -> None:
    fake.reply(chunks=LOGPROB_CHUNKS)
    fake.reply(chunks=LOGPROB_CHUNKS)
    fake.reply(chunks=LOGPROB_CHUNKS)
    options: dict[str, Any] = {"logprobs": True, "top_logprobs": 2}
    with openai_client(proxy) as client:
        whole = client.chat.completions.create(model="m", messages=MESSAGES, **options)
        with client.chat.completions.stream(model="m", messages=MESSAGES, **options) as stream:
            streamed = stream.get_final_completion()
    content = whole.choices[0].logprobs.content
    assert [(t.token, t.logprob, t.bytes) for t in content] == [
        ("Hi", -0.25, [72, 105]),
        (" there", -1.5, list(b" there")),
    ]
    assert [a.token for a in content[1].top_logprobs] == [" there", " you"]
    assert streamed.choices[0].logprobs.model_dump() == whole.choices[0].logprobs.model_dump()
    raw = checked_raw_stream(
        proxy,
        "openai",
        "/v1/chat/completions",
        {"model": "m", "messages": MESSAGES, "stream": True, **options},
    )
    assert raw.count(b'"logprobs":{"content":[') == 2


def test_openai_sdk_sees_null_logprobs_when_the_upstream_sent_none(fake, proxy) -> None:
    fake.reply(text="plain")
    with openai_client(proxy) as client:
        whole = client.chat.completions.create(model="m", messages=MESSAGES)
    assert whole.choices[0].logprobs is None


def test_gemini_sdk_reads_logprobs(fake, proxy) -> None:
    fake.reply(chunks=LOGPROB_CHUNKS)
    fake.reply(chunks=LOGPROB_CHUNKS)
    client = gemini_client(proxy)
    config = types.GenerateContentConfig(response_logprobs=True, logprobs=2)
    answer = client.models.generate_content(model="m", contents="hi", config=config)
    candidate = answer.candidates[0]
    assert [(c.token, c.log_probability) for c in candidate.logprobs_result.chosen_candidates] == [
        ("Hi", -0.25),
        (" there", -1.5),
    ]
    assert [
        [c.token for c in top.candidates] for top in candidate.logprobs_result.top_candidates
    ] == [
        ["Hi", "Hey"],
        [" there", " you"],
    ]
    assert candidate.avg_logprobs == -0.875
    chunks = list(client.models.generate_content_stream(model="m", contents="hi", config=config))
    chosen = [
        c.token
        for part in chunks
        if part.candidates[0].logprobs_result
        for c in part.candidates[0].logprobs_result.chosen_candidates
    ]
    assert chosen == ["Hi", " there"]


THINKING_CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "Let me "}),
    chunk({"reasoning_content": "think."}),
    chunk({"content": "Done."}),
    chunk({}, "stop"),
    {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}},
]


def test_anthropic_sdk_accumulates_streamed_thinking_into_the_whole_message(fake, proxy) -> None:
    fake.reply(chunks=THINKING_CHUNKS)
    fake.reply(chunks=THINKING_CHUNKS)
    fake.reply(chunks=THINKING_CHUNKS)
    request: dict[str, Any] = {
        "model": "m",
        "max_tokens": 2048,
        "messages": MESSAGES,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    with anthropic_client(proxy) as client:
        whole = client.messages.create(**request)
        with client.messages.stream(**request) as stream:
            streamed = stream.get_final_message()
    assert whole.content[0].type == "thinking"
    assert (whole.content[0].thinking, whole.content[0].signature) == ("Let me think.", "")
    assert streamed.model_dump(exclude={"id"}) == whole.model_dump(exclude={"id"})
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
    raw = checked_raw_stream(
        proxy, "anthropic", "/v1/messages", {**request, "stream": True}, headers=headers
    )
    assert b'"type":"signature_delta","signature":""' in raw


STOP_SEQUENCE_CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "one two "}),
    chunk({}, "stop", stop_reason="END"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_anthropic_sdk_reads_the_stop_sequence_vllm_named(fake, proxy, stream: bool) -> None:
    fake.reply(chunks=STOP_SEQUENCE_CHUNKS)
    request: dict[str, Any] = {
        "model": "m",
        "max_tokens": 50,
        "messages": MESSAGES,
        "stop_sequences": ["END"],
    }
    with anthropic_client(proxy) as client:
        if stream:
            with client.messages.stream(**request) as events:
                message = events.get_final_message()
        else:
            message = client.messages.create(**request)
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "END")


# --------------------------------------------------------------------------- ChatGPT (Responses)


@pytest.fixture
def chatgpt_proxy(
    tmp_path, start_server: Any
) -> Iterator[tuple[FakeCodexBackend, BackgroundServer]]:
    with FakeChatGPTAuth() as auth, FakeCodexBackend(models=("gpt-5",)) as codex:
        env = {
            "CHATMOCK_HOME": str(tmp_path),
            "HOME": str(tmp_path),
            "CHATMOCK_CHATGPT_AUTH_URL": auth.url,
            "CHATMOCK_CHATGPT_BASE_URL": codex.base_url,
        }
        auth.store_login(tmp_path)
        yield codex, start_server(provider_name="chatgpt", env=env)


def test_a_chatgpt_refusal_reaches_openai_and_anthropic_clients(chatgpt_proxy) -> None:
    codex, proxy = chatgpt_proxy
    for _ in range(3):
        codex.reply(CodexReply(refusal=REFUSAL))
    with openai_client(proxy) as client:
        whole = client.chat.completions.create(model="gpt-5", messages=MESSAGES)
        stream = client.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True)
        streamed = "".join(c.choices[0].delta.refusal or "" for c in stream if c.choices)
    assert (whole.choices[0].message.refusal, whole.choices[0].message.content) == (REFUSAL, None)
    assert streamed == REFUSAL
    with anthropic_client(proxy) as client:
        message = client.messages.create(model="gpt-5", max_tokens=50, messages=MESSAGES)
    assert message.stop_reason == "refusal"
    assert [getattr(b, "text", None) for b in message.content] == [REFUSAL]


def test_the_fake_chatgpt_backend_scripts_a_refusal_after_text(chatgpt_proxy) -> None:
    codex, proxy = chatgpt_proxy
    codex.reply(CodexReply(text="Well. ", refusal=REFUSAL))
    with openai_client(proxy) as client:
        whole = client.chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert (whole.choices[0].message.content, whole.choices[0].message.refusal) == (
        "Well. ",
        REFUSAL,
    )
