"""The inbound Responses dialect (`/v1/responses`), over real HTTP with the openai SDK's
`responses.create`, `responses.stream` and `responses.parse`: against the mock, the
OpenAI-compatible fake upstream, and (for reasoning passthrough) the fake ChatGPT Codex
backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from chatmock_lab.core import Message, ToolCallPart, ToolResultPart
from chatmock_lab.dialects import responses
from chatmock_lab.server import BackgroundServer
from chatmock_lab.server.response_store import ResponseStore, StoredResponse
from chatmock_lab.stream_checks import checker_for
from chatmock_lab.testing import CodexReply, FakeCodexBackend, FakeOpenAIUpstream, FakeReply
from chatmock_lab.testing.fake_chatgpt_auth import FakeChatGPTAuth
from tests.support import png_data_url

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def sdk(server: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0)


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[openai.OpenAI]:
    with sdk(server) as responses_client:
        yield responses_client


def stream_events(client: openai.OpenAI, **request: Any) -> tuple[list[Any], Any]:
    with client.responses.stream(**request) as stream:
        events = list(stream)
        return events, stream.get_final_response()


def raw_stream(
    server: BackgroundServer, body: dict[str, Any]
) -> tuple[bytes, list[dict[str, Any]]]:
    response = httpx.post(f"{server.url}/v1/responses", json={**body, "stream": True}, timeout=10)
    assert response.status_code == 200, response.text
    payloads = [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    return response.content, payloads


def assert_clean_stream(data: bytes) -> None:
    checker = checker_for("responses")
    chunks = checker.feed(data)
    problems = [v for chunk in chunks for v in chunk.violations] + checker.close()
    assert problems == []


# ---------------------------------------------------------------- the mock


def test_text_answer_is_a_whole_response_object(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="mock", input="Hello there", instructions="Be brief.", metadata={"k": "v"}
    )
    assert response.output_text == "You said: Hello there"
    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_")
    [message] = response.output
    assert message.type == "message" and message.id.startswith("msg_")
    assert message.role == "assistant" and message.status == "completed"
    assert response.instructions == "Be brief." and response.metadata == {"k": "v"}
    usage = response.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert response.completed_at is not None and response.incomplete_details is None


def test_input_items_with_roles_and_images(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="mock",
        input=[
            {"role": "developer", "content": "You are terse."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hello."}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": png_data_url(2, 2), "detail": "low"},
                    {
                        "type": "input_file",
                        "filename": "a.pdf",
                        "file_data": "data:application/pdf;base64,JVBERi0xLjQK",
                    },
                ],
            },
        ],
    )
    assert response.output_text.startswith("You said: What is this?")
    # The mock names what else the message held.
    assert "image" in response.output_text and "document" in response.output_text


def test_stream_event_sequence_and_sequence_numbers(
    client: openai.OpenAI, server: BackgroundServer
) -> None:
    events, final = stream_events(client, model="mock", input="Stream me")
    types = [e.type for e in events]
    deltas = types.count("response.output_text.delta")
    assert deltas >= 2
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == "You said: Stream me"
    assert final.usage.total_tokens > 0
    data, payloads = raw_stream(server, {"model": "mock", "input": "Stream me"})
    assert_clean_stream(data)
    assert payloads[-1]["response"]["usage"]["output_tokens"] > 0


def test_forced_function_call_and_its_output_turn(client: openai.OpenAI) -> None:
    first = client.responses.create(
        model="mock",
        input="Weather in Paris?",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
    )
    [call] = first.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.id.startswith("fc_") and call.call_id
    assert json.loads(call.arguments).keys() == {"city"}
    assert first.tools[0].name == "get_weather" and first.tool_choice.name == "get_weather"
    second = client.responses.create(
        model="mock",
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "22C and sunny"},
        ],
        tools=[WEATHER],
    )
    assert "22C and sunny" in second.output_text


def test_streamed_function_call(client: openai.OpenAI, server: BackgroundServer) -> None:
    events, final = stream_events(
        client, model="mock", input="Weather?", tools=[WEATHER], tool_choice="required"
    )
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types
    assert types[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    [call] = final.output
    assert call.type == "function_call" and json.loads(call.arguments)["city"]
    body = {"model": "mock", "input": "Weather?", "tools": [WEATHER], "tool_choice": "required"}
    assert_clean_stream(raw_stream(server, body)[0])


def test_previous_response_id_get_and_delete(client: openai.OpenAI) -> None:
    first = client.responses.create(model="mock", input="My name is Ada.")
    second = client.responses.create(
        model="mock",
        input="What is my name?",
        previous_response_id=first.id,
        reasoning={"effort": "low"},
    )
    # The mock's reasoning counts the messages it got: the stored turn, its answer, the new one.
    assert "3 message(s)" in second.output[0].summary[0].text
    assert second.previous_response_id == first.id
    fetched = client.responses.retrieve(second.id)
    assert fetched.id == second.id and fetched.output_text == second.output_text
    deleted = client.responses.delete(first.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="mock", input="x", previous_response_id=first.id)
    error = missing.value.body
    assert error["param"] == "previous_response_id" and first.id in error["message"]
    assert missing.value.status_code == 404


def test_delete_answers_the_deleted_object(server: BackgroundServer) -> None:
    created = httpx.post(f"{server.url}/v1/responses", json={"model": "mock", "input": "x"}).json()
    deleted = httpx.delete(f"{server.url}/v1/responses/{created['id']}")
    assert deleted.json() == {"id": created["id"], "object": "response", "deleted": True}
    again = httpx.delete(f"{server.url}/v1/responses/{created['id']}")
    assert again.status_code == 404 and again.json()["error"]["type"] == "invalid_request_error"


def test_store_false_responses_are_not_kept(client: openai.OpenAI) -> None:
    unstored = client.responses.create(model="mock", input="Forget me", store=False)
    assert unstored.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="mock", input="x", previous_response_id=unstored.id)
    _events, final = stream_events(client, model="mock", input="Keep me")
    continued = client.responses.create(
        model="mock", input="And now?", previous_response_id=final.id
    )
    assert continued.output_text == "You said: And now?"


def test_reasoning_summary_and_encrypted_content(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="mock",
        input="Think first",
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert "low reasoning effort" in reasoning.summary[0].text
    assert reasoning.encrypted_content
    assert response.usage.output_tokens_details.reasoning_tokens > 0
    assert message.type == "message" and response.output_text == "You said: Think first"
    without = client.responses.create(model="mock", input="x", reasoning={"effort": "low"})
    assert without.output[0].encrypted_content is None
    events, final = stream_events(client, model="mock", input="x", reasoning={"effort": "low"})
    types = [e.type for e in events]
    assert types[2:4] == ["response.output_item.added", "response.reasoning_summary_part.added"]
    assert "response.reasoning_summary_text.delta" in types
    assert types.index("response.reasoning_summary_part.done") < types.index(
        "response.content_part.added"
    )
    assert final.output[0].summary[0].text == without.output[0].summary[0].text


class Answer(BaseModel):
    summary: str
    score: int


def test_structured_output_with_text_format(client: openai.OpenAI) -> None:
    parsed = client.responses.parse(model="mock", input="Rate this", text_format=Answer)
    assert isinstance(parsed.output_parsed, Answer)
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model="mock",
        input="A number",
        text={"format": {"type": "json_schema", "name": "num", "schema": schema, "strict": True}},
    )
    assert isinstance(json.loads(response.output_text)["n"], int)
    assert response.text.format.type == "json_schema"
    as_json = client.responses.create(
        model="mock", input="hi", text={"format": {"type": "json_object"}}
    )
    assert json.loads(as_json.output_text) == {"reply": "You said: hi"}


def test_length_stop_is_incomplete(client: openai.OpenAI, server: BackgroundServer) -> None:
    response = client.responses.create(
        model="mock", input="A long sentence to be cut short here", max_output_tokens=2
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    data, payloads = raw_stream(
        server, {"model": "mock", "input": "A long sentence to be cut", "max_output_tokens": 2}
    )
    assert payloads[-1]["type"] == "response.incomplete"
    assert payloads[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert_clean_stream(data)


CODEX_TOOLS = [
    {
        "type": "function",
        "name": name,
        "description": f"The {name} tool",
        "strict": False,
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
    }
    for name in (
        "exec_command",
        "write_stdin",
        "list_mcp_resources",
        "list_mcp_resource_templates",
        "read_mcp_resource",
        "update_plan",
        "view_image",
        "apply_patch",
    )
] + [{"type": "web_search", "external_web_access": False}]


def test_a_codex_cli_request_is_accepted(server: BackgroundServer) -> None:
    body = {
        "model": "gpt-5",
        "instructions": "You are Codex.",
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "<permissions>...</permissions>"}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Say hello"}],
            },
        ],
        "tools": CODEX_TOOLS,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199-session",
        "client_metadata": {"x-codex-installation-id": "abc"},
    }
    data, payloads = raw_stream(server, body)
    assert_clean_stream(data)
    done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    assert done[-1]["content"][0]["text"] == "You said: Say hello"
    final = payloads[-1]["response"]
    assert final["store"] is False and final["tools"][0]["name"] == "exec_command"


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [{"type": "input_text", "text": "a"}, {"type": "x"}],
                    }
                ]
            },
            "input[0].content[1].type",
        ),
        ({}, "input"),
        ({"input": []}, "input"),
        ({"input": [{"type": "telepathy"}]}, "input[0].type"),
        ({"input": [{"role": "robot", "content": "hi"}]}, "input[0].role"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": "x", "tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name"),
        ({"input": "x", "tools": [{"name": "f"}]}, "tools[0].type"),
        ({"input": "x", "tool_choice": "sometimes"}, "tool_choice"),
        ({"input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
        (
            {"input": "x", "text": {"format": {"type": "json_schema", "name": "a"}}},
            "text.format.schema",
        ),
        ({"input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": "x", "include": "reasoning.encrypted_content"}, "include"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            "input[0].content[0].file_id",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    server: BackgroundServer, body: dict[str, Any], param: str
) -> None:
    response = httpx.post(f"{server.url}/v1/responses", json={"model": "mock", **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and param in error["message"]
    assert error["type"] == "invalid_request_error"


def test_bad_input_through_the_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(
            model="mock",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "a"},
                        {"type": "output_text", "text": "b"},
                    ],
                }
            ],
        )
    assert bad.value.body["param"] == "input[0].content[1].type"
    not_json = httpx.post(
        f"{client.base_url}responses", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400 and "JSON" in not_json.json()["error"]["message"]


# ---------------------------------------------------------------- the OpenAI-compatible fake


def test_through_an_openai_compatible_upstream(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer
) -> None:
    with sdk(proxy) as client:
        first = client.responses.create(
            model="gpt-4o",
            instructions="Be brief.",
            input="Hello upstream",
            max_output_tokens=50,
            temperature=0.5,
        )
        assert first.output_text == "Upstream says: Hello upstream"
        sent = fake.last_request().body
        assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
        assert sent["temperature"] == 0.5
        events, final = stream_events(
            client, model="gpt-4o", input="And again", previous_response_id=first.id
        )
        assert final.output_text == "Upstream says: And again"
        assert [e.sequence_number for e in events] == list(range(len(events)))
    # The stored turn came first; the instructions of the first response did not.
    messages = fake.last_request().body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "Upstream says: Hello upstream"


def test_tool_round_trip_through_an_openai_compatible_upstream(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer
) -> None:
    fake.reply(
        FakeReply(
            tool_calls=[{"id": "call_9", "name": "get_weather", "arguments": '{"city":"Oslo"}'}]
        )
    )
    with sdk(proxy) as client:
        _events, first = stream_events(
            client,
            model="gpt-4o",
            input="Weather in Oslo?",
            tools=[WEATHER],
            tool_choice={"type": "function", "name": "get_weather"},
        )
        [call] = first.output
        assert (call.call_id, call.arguments) == ("call_9", '{"city":"Oslo"}')
        sent = fake.last_request().body
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
        assert sent["tools"][0]["function"]["strict"] is True
        second = client.responses.create(
            model="gpt-4o",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": "call_9", "output": "-3C"}],
            tools=[WEATHER],
        )
    assert second.output_text.startswith("Upstream says:")
    messages = fake.last_request().body["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_9"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_9", "content": "-3C"}


# ---------------------------------------------------------------- ChatGPT passthrough


@pytest.fixture
def chatgpt(
    tmp_path: Any, start_server: Any
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


def test_encrypted_reasoning_survives_a_round_trip_to_chatgpt(
    chatgpt: tuple[FakeCodexBackend, BackgroundServer],
) -> None:
    codex, proxy = chatgpt
    codex.reply(CodexReply(text="Done.", reasoning="Weighing it up."))
    with sdk(proxy) as client:
        _events, first = stream_events(
            client,
            model="gpt-5",
            input="Think",
            reasoning={"effort": "low", "summary": "auto"},
            include=["reasoning.encrypted_content"],
        )
        reasoning = first.output[0]
        assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Weighing it up."
        encrypted = reasoning.encrypted_content
        assert encrypted and encrypted.startswith("gAAAAA")
        client.responses.create(
            model="gpt-5",
            input=[
                {"role": "user", "content": "Think"},
                *[item.model_dump(exclude_none=True) for item in first.output],
                {"role": "user", "content": "Go on"},
            ],
            store=False,
            include=["reasoning.encrypted_content"],
        )
        replayed = codex.last_request().body["input"]
        assert {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Weighing it up."}],
            "encrypted_content": encrypted,
        } in replayed
        # And by previous_response_id, from the proxy's own store.
        client.responses.create(model="gpt-5", input="Again", previous_response_id=first.id)
    kinds = [item["type"] for item in codex.last_request().body["input"]]
    assert kinds == ["message", "reasoning", "message", "message"]
    assert codex.last_request().body["input"][1]["encrypted_content"] == encrypted


def test_refusal_and_a_failure_mid_stream_from_chatgpt(
    chatgpt: tuple[FakeCodexBackend, BackgroundServer],
) -> None:
    codex, proxy = chatgpt
    codex.reply(CodexReply(refusal="I can't help with that."))
    with sdk(proxy) as client:
        events, refused = stream_events(client, model="gpt-5", input="Something bad")
    types = [e.type for e in events]
    assert "response.refusal.delta" in types and "response.refusal.done" in types
    assert refused.output[0].content[0].refusal == "I can't help with that."
    codex.reply(CodexReply(text="A reply long enough to be cut off midway", chunk_chars=2))
    codex.drop_connection_after(8)
    data, payloads = raw_stream(proxy, {"model": "gpt-5", "input": "Go"})
    assert payloads[-1]["type"] == "response.failed"
    failed = payloads[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["message"]
    assert_clean_stream(data)


def test_logprobs_and_streamed_structured_output(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="mock", input="Hi", include=["message.output_text.logprobs"], top_logprobs=2
    )
    logprobs = response.output[0].content[0].logprobs
    assert "".join(t.token for t in logprobs) == response.output_text
    assert all(t.logprob == 0.0 for t in logprobs)
    with client.responses.stream(model="mock", input="Rate", text_format=Answer) as stream:
        for _event in stream:
            pass
        final = stream.get_final_response()
    assert isinstance(final.output_parsed, Answer)


def test_the_store_keeps_the_most_recently_used() -> None:
    store = ResponseStore(capacity=2)
    for name in ("a", "b"):
        store.put(name, StoredResponse(body={"id": name}, conversation=[]))
    assert store.get("a") is not None
    store.put("c", StoredResponse(body={"id": "c"}, conversation=[]))
    assert store.get("b") is None and store.get("a") is not None and len(store) == 2
    assert store.delete("a") and not store.delete("a")


def test_a_codex_request_reaches_chatgpt_item_for_item(
    chatgpt: tuple[FakeCodexBackend, BackgroundServer],
) -> None:
    codex, proxy = chatgpt
    developer = {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": "<permissions>...</permissions>"}],
    }
    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    body = {
        "model": "gpt-5",
        "instructions": "You are Codex.",
        "input": [developer, user],
        "tools": CODEX_TOOLS,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "0199-session",
        "client_metadata": {"x-codex-installation-id": "abc"},
    }
    data, _payloads = raw_stream(proxy, body)
    assert_clean_stream(data)
    sent = codex.last_request().body
    assert sent["instructions"] == "You are Codex."
    assert sent["input"] == [developer, user]
    assert [t["name"] for t in sent["tools"]] == [t["name"] for t in CODEX_TOOLS[:-1]]
    assert sent["prompt_cache_key"] == "0199-session"
    assert sent["reasoning"] == {"effort": "medium", "summary": "auto"}


def test_the_stream_checker_flags_what_the_sdk_would_trip_on() -> None:
    def event(payload: dict[str, Any]) -> bytes:
        return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()

    checker = checker_for("responses")
    response = {"id": "resp_1", "status": "in_progress", "output": []}
    item = {"id": "msg_1", "type": "message", "content": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    frames = [
        {"type": "response.created", "response": response, "sequence_number": 0},
        {"type": "response.output_item.added", "output_index": 0, "item": item,
         "sequence_number": 1},
        # A delta before its content part, then a sequence number that goes back.
        {"type": "response.output_text.delta", **where, "delta": "a", "sequence_number": 2},
        {"type": "response.output_text.delta", **where, "delta": "b", "sequence_number": 2},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_9", "output_index": 3,
         "delta": "{", "sequence_number": 3},
        {"type": "response.completed", "response": {**response, "status": "completed"},
         "sequence_number": 4},
    ]  # fmt: skip
    violations = [v for f in frames for chunk in checker.feed(event(f)) for v in chunk.violations]
    assert any("no open output_text part" in v for v in violations)
    assert any("does not follow 2" in v for v in violations)
    assert any("output index 3, which was never added" in v for v in violations)
    assert any("output item 0 was never done" in v for v in violations)
    assert any("has no usage" in v for v in violations)
    unfinished = checker_for("responses")
    unfinished.feed(event(frames[0]))
    assert unfinished.close() == [
        "the stream ended without response.completed, response.incomplete or response.failed"
    ]


def test_reasoning_and_structured_output_through_an_openai_compatible_upstream(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer
) -> None:
    fake.reply(FakeReply(text='{"summary":"ok","score":3}', reasoning="Looking closely."))
    with sdk(proxy) as client:
        _events, final = stream_events(
            client,
            model="o4-mini",
            input="Rate it",
            reasoning={"effort": "high"},
            text_format=Answer,
        )
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Looking closely."
    assert message.type == "message"
    assert final.output_parsed == Answer(summary="ok", score=3)
    sent = fake.last_request().body
    assert sent["reasoning_effort"] == "high"
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "Answer"


def test_a_result_to_a_stored_call_knows_the_calls_name() -> None:
    history = [
        Message(role="user", parts=[]),
        Message(role="assistant", parts=[ToolCallPart(id="call_1", name="get_weather")]),
    ]
    chat, options = responses.parse_request(
        {
            "model": "m",
            "previous_response_id": "resp_1",
            "input": [{"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
        }
    )
    continued = responses.with_history(chat, options, history)
    [result] = continued.messages[-1].parts
    assert isinstance(result, ToolResultPart) and result.name == "get_weather"
    assert [m.role for m in continued.messages] == ["user", "assistant", "tool"]
