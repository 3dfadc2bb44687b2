"""Chat Completions through the official openai SDK against the running proxy."""

from __future__ import annotations

import base64
import json

import jsonschema
import openai
import pytest

from chatmock_lab import tokens
from tests.support import openai_client_for, png_data_url

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "where": {
                    "type": "object",
                    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                    "required": ["lat", "lon"],
                },
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            },
            "required": ["city", "unit", "days", "where", "tags"],
            "additionalProperties": False,
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
            "required": ["zone"],
        },
    },
}


def stream_text_and_usage(client: openai.OpenAI, **kwargs) -> tuple[str, object, list[str]]:
    pieces: list[str] = []
    usage = None
    finish = []
    for chunk in client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kwargs
    ):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish.append(choice.finish_reason)
    return "".join(pieces), usage, finish


def test_non_streaming_and_streaming_agree_on_text_and_usage(client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France? Answer in one word."},
    ]
    full = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    text, usage, finish = stream_text_and_usage(client, model="gpt-4o-mini", messages=messages)

    assert full.model == "gpt-4o-mini"
    assert (
        full.choices[0].message.content
        == "You said: What is the capital of France? Answer in one word."
    )
    assert text == full.choices[0].message.content
    assert finish == ["stop"] and full.choices[0].finish_reason == "stop"
    assert usage is not None and full.usage is not None
    assert usage.prompt_tokens == full.usage.prompt_tokens
    assert usage.completion_tokens == full.usage.completion_tokens == tokens.count_text(text)
    assert full.usage.total_tokens == full.usage.prompt_tokens + full.usage.completion_tokens


def test_stream_arrives_in_several_chunks(start_server) -> None:
    server = start_server(mock_chunk_chars=3)
    with openai_client_for(server) as client:
        chunks = [
            c.choices[0].delta.content
            for c in client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "abcdefghij"}], stream=True
            )
            if c.choices and c.choices[0].delta.content
        ]
    assert chunks[:3] == ["You", " sa", "id:"]
    assert "".join(chunks) == "You said: abcdefghij"


def test_usage_is_identical_with_and_without_streaming_for_a_rich_request(client) -> None:
    request = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be helpful."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look at this"},
                    {"type": "image_url", "image_url": {"url": png_data_url(40, 30)}},
                ],
            },
        ],
        "tools": [WEATHER_TOOL],
        "reasoning_effort": "low",
    }
    full = client.chat.completions.create(**request)
    _, usage, _ = stream_text_and_usage(client, **request)
    assert usage.prompt_tokens == full.usage.prompt_tokens
    assert usage.completion_tokens == full.usage.completion_tokens
    assert full.usage.completion_tokens_details.reasoning_tokens > 0


def test_images_are_acknowledged(client) -> None:
    reply = client.chat.completions.create(
        model="m",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Two pictures"},
                    {
                        "type": "image_url",
                        "image_url": {"url": png_data_url(4, 4), "detail": "low"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == "You said: Two pictures [2 images]"


@pytest.mark.parametrize(
    "tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}]
)
def test_forced_tool_call_arguments_validate_against_the_schema(client, tool_choice) -> None:
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice=tool_choice,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert call.id.startswith("call_")
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])
    assert arguments["unit"] == "celsius"


def test_named_tool_choice_picks_that_tool(client) -> None:
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "Time?"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_time"
    assert json.loads(call.function.arguments) == {"zone": "UTC"}


def test_streamed_tool_call_equals_non_streamed(client) -> None:
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
    }
    full = client.chat.completions.create(**request).choices[0].message.tool_calls[0]
    with client.chat.completions.stream(**request) as stream:
        final = stream.get_final_completion()
    streamed = final.choices[0].message.tool_calls[0]
    assert (streamed.id, streamed.function.name) == (full.id, full.function.name)
    assert json.loads(streamed.function.arguments) == json.loads(full.function.arguments)
    assert final.choices[0].finish_reason == "tool_calls"


def test_tool_choice_auto_and_none_answer_with_text(client) -> None:
    for choice in ("auto", "none"):
        reply = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            tools=[WEATHER_TOOL],
            tool_choice=choice,
        )
        assert reply.choices[0].message.content == "You said: hi"
        assert reply.choices[0].message.tool_calls is None


def test_tool_round_trip_quotes_the_result(client) -> None:
    first = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
    )
    call = first.choices[0].message.tool_calls[0]
    second = client.chat.completions.create(
        model="m",
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            first.choices[0].message.model_dump(exclude_none=True),
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": '{"temperature": 21, "sky": "clear"}',
            },
        ],
        tools=[WEATHER_TOOL],
    )
    text = second.choices[0].message.content
    assert '{"temperature": 21, "sky": "clear"}' in text
    assert "get_weather" in text
    assert second.choices[0].finish_reason == "stop"


def test_reasoning_effort_emits_reasoning_before_the_answer(client) -> None:
    request = {
        "model": "o4-mini",
        "messages": [{"role": "user", "content": "Think"}],
        "reasoning_effort": "high",
    }
    reply = client.chat.completions.create(**request)
    message = reply.choices[0].message
    assert "high reasoning effort" in message.model_extra["reasoning_content"]
    assert message.content == "You said: Think"
    assert reply.usage.completion_tokens_details.reasoning_tokens == tokens.count_text(
        message.model_extra["reasoning_content"]
    )
    order = []
    for chunk in client.chat.completions.create(stream=True, **request):
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta is not None and (delta.model_extra or {}).get("reasoning_content"):
            order.append("reasoning")
        if delta is not None and delta.content:
            order.append("text")
    assert order.index("text") > order.index("reasoning")
    assert "reasoning" not in order[order.index("text") :]


def test_reasoning_effort_none_means_no_reasoning(client) -> None:
    reply = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], reasoning_effort="none"
    )
    assert "reasoning_content" not in (reply.choices[0].message.model_extra or {})


def test_max_tokens_truncates_with_length(client) -> None:
    for limit in ({"max_tokens": 3}, {"max_completion_tokens": 3}):
        reply = client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "a long sentence to quote back"}],
            **limit,
        )
        assert reply.choices[0].finish_reason == "length"
        assert reply.usage.completion_tokens == 3
        assert "You said: a long sentence".startswith(reply.choices[0].message.content)


def test_stop_sequence_cuts_the_reply(client) -> None:
    reply = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "one two three"}], stop=["two", "zzz"]
    )
    assert reply.choices[0].message.content == "You said: one "
    assert reply.choices[0].finish_reason == "stop"


def test_json_schema_response_format_gives_valid_json(client) -> None:
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["answer", "confidence"],
        "additionalProperties": False,
    }
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "json please"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "result", "schema": schema, "strict": True},
        },
    )
    jsonschema.validate(json.loads(reply.choices[0].message.content), schema)


def test_json_object_response_format(client) -> None:
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(reply.choices[0].message.content) == {"reply": "You said: hi"}


def test_sampling_parameters_are_accepted(client) -> None:
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.2,
        top_p=0.9,
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.1,
        user="someone",
        metadata={"k": "v"},
        parallel_tool_calls=False,
        tools=[WEATHER_TOOL],
    )
    assert reply.choices[0].message.content == "You said: hi"


def test_the_same_request_gets_the_same_answer(client) -> None:
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
    }
    a = client.chat.completions.create(**request).choices[0].message
    b = client.chat.completions.create(**request).choices[0].message
    assert a.tool_calls[0].id == b.tool_calls[0].id
    assert a.tool_calls[0].function.arguments == b.tool_calls[0].function.arguments


def test_paths_without_v1_prefix(server) -> None:
    with openai.OpenAI(base_url=server.url, api_key="k", max_retries=0) as unprefixed:
        reply = unprefixed.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "no prefix"}]
        )
        assert reply.choices[0].message.content == "You said: no prefix"
        assert any(m.id == "mock" for m in unprefixed.models.list())


def test_async_client_streams(server) -> None:
    import asyncio

    async def run() -> str:
        async with openai.AsyncOpenAI(
            base_url=f"{server.url}/v1", api_key="k", max_retries=0
        ) as aclient:
            stream = await aclient.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "async"}], stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run()) == "You said: async"


def test_inline_files_are_acknowledged_and_file_ids_refused(client) -> None:
    pdf = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4 tiny").decode()
    reply = client.chat.completions.create(
        model="m",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Read this"},
                    {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}},
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == "You said: Read this [1 document]"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="m",
            messages=[
                {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}
            ],
        )
    assert caught.value.body["param"] == "messages[0].content[0].file.file_data"
