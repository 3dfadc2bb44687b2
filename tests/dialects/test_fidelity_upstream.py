"""Issue #13's upstream quirks, end to end: the official SDKs in front of an
OpenAI-compatible fake that sends exactly the frames real servers send."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply
from tests.support import png_data_url

# Ollama, vLLM and SGLang send calls like this: no id (or an empty one).
CALL_WITHOUT_ID = {
    "index": 0,
    "type": "function",
    "function": {"name": "get_time", "arguments": '{"tz":"UTC"}'},
}
TOOLS_OPENAI = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    }
    for name in ("get_time", "get_date")
]


def openai_client(proxy: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0)


def anthropic_client(proxy: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)


def gemini_client(proxy: Any) -> genai.Client:
    return genai.Client(api_key="k", http_options=types.HttpOptions(base_url=proxy.url))


def tool_call_chunks(*calls: dict[str, Any]) -> list[dict[str, Any] | str]:
    chunks: list[dict[str, Any] | str] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}
    ]
    chunks += [{"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]} for call in calls]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return chunks


def tool_call_completion(*calls: dict[str, Any]) -> dict[str, Any]:
    message = {"role": "assistant", "content": None, "tool_calls": list(calls)}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}


# --------------------------------------------------------------------------- 1. calls without ids


@pytest.mark.parametrize("empty_id", [False, True])
@pytest.mark.parametrize("stream", [False, True])
def test_a_call_without_an_id_reaches_every_dialect_with_a_generated_one(
    fake: FakeOpenAIUpstream, proxy: Any, stream: bool, empty_id: bool
) -> None:
    call = {**CALL_WITHOUT_ID, **({"id": ""} if empty_id else {})}
    script = (
        {"chunks": tool_call_chunks(call)} if stream else {"completion": tool_call_completion(call)}
    )

    fake.reply(FakeReply(**script, json_when_streaming=not stream))
    with openai_client(proxy) as client:
        if stream:
            chunks = list(
                client.chat.completions.create(
                    model="m",
                    messages=[{"role": "user", "content": "time?"}],
                    tools=TOOLS_OPENAI,
                    stream=True,
                )
            )
            calls = [
                c
                for chunk in chunks
                if chunk.choices
                for c in chunk.choices[0].delta.tool_calls or []
            ]
            assert calls[0].id.startswith("call_") and calls[0].function.name == "get_time"
            assert "".join(c.function.arguments or "" for c in calls) == '{"tz":"UTC"}'
            assert chunks[-1].choices[0].finish_reason == "tool_calls"
        else:
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "time?"}], tools=TOOLS_OPENAI
            )
            [made] = reply.choices[0].message.tool_calls
            assert made.id.startswith("call_") and made.function.name == "get_time"
            assert json.loads(made.function.arguments) == {"tz": "UTC"}

    fake.reply(FakeReply(**script, json_when_streaming=not stream))
    with anthropic_client(proxy) as claude:
        tools = [{"name": "get_time", "input_schema": {"type": "object"}}]
        messages = [{"role": "user", "content": "time?"}]
        if stream:
            with claude.messages.stream(
                model="m", max_tokens=50, messages=messages, tools=tools
            ) as events:
                message = events.get_final_message()
        else:
            message = claude.messages.create(
                model="m", max_tokens=50, messages=messages, tools=tools
            )
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use" and block.name == "get_time"
    assert block.id and block.input == {"tz": "UTC"}

    fake.reply(FakeReply(**script, json_when_streaming=not stream))
    client = gemini_client(proxy)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="get_time")])]
    )
    if stream:
        parts = [
            part
            for chunk in client.models.generate_content_stream(
                model="m", contents="time?", config=config
            )
            for part in (chunk.candidates[0].content.parts or [])
        ]
    else:
        response = client.models.generate_content(model="m", contents="time?", config=config)
        parts = response.candidates[0].content.parts
    calls = [p.function_call for p in parts if p.function_call]
    assert [(c.name, c.args) for c in calls] == [("get_time", {"tz": "UTC"})]


def test_a_second_parallel_call_without_an_id_is_kept(fake: FakeOpenAIUpstream, proxy: Any) -> None:
    first = {**CALL_WITHOUT_ID, "id": "call_first"}
    second = {
        "index": 1,
        "type": "function",
        "function": {"name": "get_date", "arguments": '{"tz":"CET"}'},
    }
    fake.reply(FakeReply(chunks=tool_call_chunks(first, second)))
    with anthropic_client(proxy) as claude:
        message = claude.messages.create(
            model="m",
            max_tokens=50,
            messages=[{"role": "user", "content": "time and date?"}],
            tools=[
                {"name": "get_time", "input_schema": {"type": "object"}},
                {"name": "get_date", "input_schema": {"type": "object"}},
            ],
        )
    assert [(b.id == "call_first", b.name, b.input) for b in message.content] == [
        (True, "get_time", {"tz": "UTC"}),
        (False, "get_date", {"tz": "CET"}),
    ]
    ids = {b.id for b in message.content}
    assert len(ids) == 2


def test_calls_without_ids_all_at_index_zero_are_told_apart_by_name(
    fake: FakeOpenAIUpstream, proxy: Any
) -> None:
    second = {"index": 0, "type": "function", "function": {"name": "get_date", "arguments": "{}"}}
    fake.reply(FakeReply(chunks=tool_call_chunks(CALL_WITHOUT_ID, second)))
    with openai_client(proxy) as client:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], tools=TOOLS_OPENAI
        )
    calls = reply.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_time", "get_date"]
    assert len({c.id for c in calls}) == 2


def test_generated_ids_are_the_same_for_the_same_upstream_stream(
    fake: FakeOpenAIUpstream, proxy: Any
) -> None:
    """Made from the chunk id, so a cassette replay answers the same ids."""
    chunks = [
        {"id": "chatcmpl-fixed", **c}
        for c in tool_call_chunks(CALL_WITHOUT_ID)
        if isinstance(c, dict)
    ]
    ids = []
    for _ in range(2):
        fake.reply(FakeReply(chunks=list(chunks)))
        with openai_client(proxy) as client:
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], tools=TOOLS_OPENAI
            )
        ids.append(reply.choices[0].message.tool_calls[0].id)
    assert ids[0] == ids[1]


# --------------------------------------------------------------------------- 3. OpenAI fields


def test_openai_fields_an_upstream_accepts_are_carried(
    fake: FakeOpenAIUpstream, proxy: Any
) -> None:
    with openai_client(proxy) as client:
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            logprobs=True,
            top_logprobs=2,
            logit_bias={"50256": -100},
            service_tier="flex",
            prompt_cache_key="conversation-7",
            safety_identifier="user-hash-1",
            max_completion_tokens=33,
        )
    body = fake.last_request().body
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    assert body["logit_bias"] == {"50256": -100}
    assert body["service_tier"] == "flex"
    assert body["prompt_cache_key"] == "conversation-7"
    assert body["safety_identifier"] == "user-hash-1"
    # 7. The token limit as the client named it, whatever the host.
    assert body["max_completion_tokens"] == 33 and "max_tokens" not in body


def test_the_token_limit_keeps_the_clients_spelling_or_the_configured_one(
    fake: FakeOpenAIUpstream, start_server: Any
) -> None:
    plain = start_server(provider_name="openai", env={"CHATMOCK_OPENAI_BASE_URL": fake.base_url})
    forced = start_server(
        provider_name="openai",
        env={
            "CHATMOCK_OPENAI_BASE_URL": fake.base_url,
            "CHATMOCK_OPENAI_MAX_TOKENS_FIELD": "max_tokens",
        },
    )
    sent = []
    for server in (plain, forced):
        with openai_client(server) as client:
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], max_tokens=7
            )
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], max_completion_tokens=8
            )
        with anthropic_client(server) as claude:
            claude.messages.create(
                model="m", max_tokens=9, messages=[{"role": "user", "content": "x"}]
            )
        sent += [
            {k: v for k, v in r.body.items() if k in ("max_tokens", "max_completion_tokens")}
            for r in list(fake.requests)[-3:]
        ]
    assert sent == [
        {"max_tokens": 7},
        {"max_completion_tokens": 8},
        {"max_completion_tokens": 9},  # no spelling from an Anthropic client: OpenAI's name
        {"max_tokens": 7},
        {"max_tokens": 8},
        {"max_tokens": 9},
    ]


def test_legacy_functions_become_tools(fake: FakeOpenAIUpstream, proxy: Any) -> None:
    fake.reply(FakeReply(tool_calls=[{"id": "call_1", "name": "get_time", "arguments": "{}"}]))
    with httpx.Client(base_url=proxy.url, timeout=10) as http:
        answer = http.post(
            "/v1/chat/completions",
            json={
                "model": "m",
                "messages": [{"role": "user", "content": "time?"}],
                "functions": [{"name": "get_time", "parameters": {"type": "object"}}],
                "function_call": {"name": "get_time"},
            },
        )
    assert answer.status_code == 200, answer.text
    body = fake.last_request().body
    assert body["tools"] == [
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert answer.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"


def test_a_legacy_function_conversation_pairs_results_by_name(
    fake: FakeOpenAIUpstream, proxy: Any
) -> None:
    with httpx.Client(base_url=proxy.url, timeout=10) as http:
        answer = http.post(
            "/v1/chat/completions",
            json={
                "model": "m",
                "messages": [
                    {"role": "user", "content": "time?"},
                    {
                        "role": "assistant",
                        "content": None,
                        "function_call": {"name": "get_time", "arguments": "{}"},
                    },
                    {"role": "function", "name": "get_time", "content": "12:00"},
                ],
                "functions": [{"name": "get_time", "parameters": {"type": "object"}}],
            },
        )
        orphan = http.post(
            "/v1/chat/completions",
            json={
                "model": "m",
                "messages": [{"role": "function", "name": "get_time", "content": "12:00"}],
            },
        )
    assert answer.status_code == 200, answer.text
    messages = fake.last_request().body["messages"]
    call_id = messages[1]["tool_calls"][0]["id"]
    assert messages[2] == {"role": "tool", "tool_call_id": call_id, "content": "12:00"}
    assert orphan.status_code == 400
    assert orphan.json()["error"]["param"] == "messages[0].name"


def test_functions_and_tools_together_are_refused(proxy: Any) -> None:
    with openai_client(proxy) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            tools=TOOLS_OPENAI,
            extra_body={"functions": [{"name": "f"}]},
        )
    assert caught.value.body["param"] == "functions"


# --------------------------------------------------------------------------- 5. tool results


def test_tool_result_parts_stay_apart_and_images_follow(
    fake: FakeOpenAIUpstream, proxy: Any
) -> None:
    png = png_data_url(2, 2).split(",", 1)[1]
    with anthropic_client(proxy) as claude:
        claude.messages.create(
            model="m",
            max_tokens=20,
            messages=[
                {"role": "user", "content": "look"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [
                                {"type": "text", "text": "first line"},
                                {"type": "text", "text": "second line"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": png,
                                    },
                                },
                            ],
                        }
                    ],
                },
            ],
            tools=[{"name": "shot", "input_schema": {"type": "object"}}],
        )
    messages = fake.last_request().body["messages"]
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": "toolu_1",
        "content": [
            {"type": "text", "text": "first line"},
            {"type": "text", "text": "second line"},
        ],
    }
    assert messages[3]["role"] == "user"
    assert messages[3]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{png}"},
    }


# --------------------------------------------------------------------------- 6. stop sequences


@pytest.mark.parametrize("stream", [False, True])
def test_the_matched_stop_sequence_is_reported(
    fake: FakeOpenAIUpstream, proxy: Any, stream: bool
) -> None:
    finish = {"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": "END"}
    chunks: list[dict[str, Any] | str] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "one two "}}]},
        {"choices": [finish]},
    ]
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "one two "},
                "finish_reason": "stop",
                "stop_reason": "END",
            }
        ]
    }
    fake.reply(FakeReply(chunks=chunks, completion=completion, json_when_streaming=not stream))
    with anthropic_client(proxy) as claude:
        request = dict(
            model="m",
            max_tokens=50,
            stop_sequences=["END"],
            messages=[{"role": "user", "content": "x"}],
        )
        if stream:
            with claude.messages.stream(**request) as events:
                message = events.get_final_message()
        else:
            message = claude.messages.create(**request)
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "END")


# --------------------------------------------------------------------------- 8. errors in a 200


CONTEXT_ERROR = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}


def test_an_error_chunk_in_a_200_stream_keeps_its_kind(
    fake: FakeOpenAIUpstream, proxy: Any
) -> None:
    fake.reply(FakeReply(chunks=[CONTEXT_ERROR]))
    with openai_client(proxy) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 400
    assert "maximum context length" in caught.value.message
    fake.reply(FakeReply(chunks=[CONTEXT_ERROR]))
    with anthropic_client(proxy) as claude, pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    fake.reply(FakeReply(chunks=[CONTEXT_ERROR]))
    gemini = gemini_client(proxy)
    with pytest.raises(genai.errors.ClientError) as gemini_error:
        gemini.models.generate_content(model="m", contents="x")
    assert gemini_error.value.code == 400


def test_an_error_chunk_after_text_is_the_dialects_error_event(
    fake: FakeOpenAIUpstream, proxy: Any
) -> None:
    fake.reply(
        FakeReply(
            chunks=[{"choices": [{"index": 0, "delta": {"content": "partial"}}]}, CONTEXT_ERROR]
        )
    )
    with httpx.Client(base_url=proxy.url, timeout=10) as http:
        body = http.post(
            "/v1/messages",
            json={
                "model": "m",
                "max_tokens": 5,
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
        ).text
    error = [
        json.loads(line[6:])
        for line in body.splitlines()
        if line.startswith("data: ") and '"error"' in line
    ]
    assert error[-1]["error"]["type"] == "invalid_request_error"


# --------------------------------------------------------------------------- 9. usage


def test_usage_is_counted_when_the_upstream_sends_none(
    fake: FakeOpenAIUpstream, proxy: Any
) -> None:
    chunks: list[dict[str, Any] | str] = [
        {"choices": [{"index": 0, "delta": {"content": "a few words of answer"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    fake.reply(FakeReply(chunks=chunks))
    with openai_client(proxy) as client:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "count me please"}]
        )
    assert reply.usage.prompt_tokens > 3 and reply.usage.completion_tokens == 5

    fake.reply(FakeReply(chunks=chunks))
    with (
        anthropic_client(proxy) as claude,
        claude.messages.stream(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "count me please"}]
        ) as events,
    ):
        first = next(iter(events))
        message = events.get_final_message()
    # message_start comes before any usage from the upstream: the proxy's count, not 0.
    assert first.type == "message_start" and first.message.usage.input_tokens > 3
    assert message.usage.input_tokens == first.message.usage.input_tokens
    assert message.usage.output_tokens == 5
