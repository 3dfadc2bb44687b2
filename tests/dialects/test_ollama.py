"""The Ollama dialect through the official `ollama` Python SDK over real HTTP: against the
mock provider and against the OpenAI-compatible fake upstream."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from chatmock_lab.core import ChatRequest, Message, TextPart, ToolCallPart, ToolResultPart
from chatmock_lab.dialects import DIALECTS
from chatmock_lab.dialects.ollama import parse_chat_request, parse_generate_request, render_request
from chatmock_lab.server import BackgroundServer
from chatmock_lab.stream_checks import checker_for
from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply

HI = [{"role": "user", "content": "hi"}]
DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


def get_weather(city: str) -> str:
    """Get the weather in a city.

    Args:
      city: The city's name
    """
    return f"Sunny in {city}"


def _assert_metrics(final: Any) -> None:
    for name in DURATIONS:
        value = getattr(final, name)
        assert isinstance(value, int) and value > 0, (name, value)
    assert final.total_duration >= final.load_duration
    assert final.total_duration >= final.prompt_eval_duration + final.eval_duration


def _lines(url: str, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url, timeout=10) as http:
        response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    checker = checker_for("ollama")
    infos = checker.feed(response.content)
    assert [v for info in infos for v in info.violations] == []
    assert checker.close() == []
    return [json.loads(line) for line in response.text.splitlines()]


def _scenario(tmp_path: Path, rules: list[dict[str, Any]]) -> Path:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"rules": rules}))
    return path


# --------------------------------------------------------------------------- the mock


def test_chat_whole_with_metrics(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    response = client.chat(model="mock", messages=HI, stream=False)
    assert response.message.role == "assistant"
    assert response.message.content == "You said: hi"
    assert response.done is True and response.done_reason == "stop"
    assert response.model == "mock"
    assert response.prompt_eval_count and response.prompt_eval_count > 0
    assert response.eval_count and response.eval_count > 0
    _assert_metrics(response)


def test_chat_streaming(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    chunks = list(client.chat(model="mock", messages=HI, stream=True))
    assert len(chunks) > 2
    assert all(not c.done for c in chunks[:-1])
    assert "".join(c.message.content or "" for c in chunks) == "You said: hi"
    final = chunks[-1]
    assert final.done and final.done_reason == "stop"
    whole = client.chat(model="mock", messages=HI, stream=False)
    assert (final.prompt_eval_count, final.eval_count) == (
        whole.prompt_eval_count,
        whole.eval_count,
    )
    _assert_metrics(final)


def test_stream_is_ndjson_that_the_checker_accepts(server: BackgroundServer) -> None:
    lines = _lines(server.url, "/api/chat", {"model": "mock", "messages": HI})
    assert lines[-1]["done"] is True
    assert {line["model"] for line in lines} == {"mock"}


def test_thinking(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    shown = client.chat(model="mock", messages=HI, think=True, stream=False)
    assert shown.message.thinking and "reasoning" in shown.message.thinking
    streamed = list(client.chat(model="mock", messages=HI, think="low", stream=True))
    assert "low reasoning effort" in "".join(c.message.thinking or "" for c in streamed)
    hidden = client.chat(model="mock", messages=HI, think=False, stream=False)
    assert hidden.message.thinking is None
    generated = client.generate(model="mock", prompt="hi", think=True, stream=False)
    assert generated.thinking and generated.response == "You said: hi"


def test_tools_round_trip_with_a_python_function(tmp_path: Path, start_server: Any) -> None:
    rules = [
        {
            "match": {"contains": "weather", "last_role": "user"},
            "reply": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        }
    ]
    # Small chunks: the call's arguments reach the renderer in several deltas.
    server = start_server(scenario=_scenario(tmp_path, rules), mock_chunk_chars=3)
    client = ollama.Client(host=server.url)
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Paris?"}]
    chunks = list(client.chat(model="mock", messages=messages, tools=[get_weather], stream=True))
    with_calls = [c for c in chunks if c.message.tool_calls]
    assert len(with_calls) == 1, "Ollama sends a tool call whole in one chunk"
    (call,) = with_calls[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert call.function.arguments == {"city": "Paris"}
    assert chunks[-1].done and chunks[-1].done_reason == "stop"

    messages.append(with_calls[0].message)
    tools = {"get_weather": get_weather}
    result = tools[call.function.name](**call.function.arguments)
    messages.append({"role": "tool", "content": result, "tool_name": call.function.name})
    answer = client.chat(model="mock", messages=messages, tools=[get_weather], stream=False)
    assert answer.message.content == "The tool get_weather returned: Sunny in Paris"
    assert not answer.message.tool_calls


def test_generate(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    whole = client.generate(model="mock", prompt="hello", system="Be brief.", stream=False)
    assert whole.response == "You said: hello"
    assert whole.done and whole.done_reason == "stop"
    _assert_metrics(whole)
    chunks = list(client.generate(model="mock", prompt="hello", stream=True))
    assert "".join(c.response or "" for c in chunks) == "You said: hello"
    _assert_metrics(chunks[-1])
    lines = _lines(server.url, "/api/generate", {"model": "mock", "prompt": "hello"})
    assert all("response" in line and "message" not in line for line in lines)


def test_generate_with_an_image(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    response = client.generate(model="mock", prompt="what is it", images=[PNG], stream=False)
    assert response.response == "You said: what is it [1 image]"


def test_nothing_to_answer_loads_the_model(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    response = client.chat(model="mock", messages=[])
    assert response.done and response.done_reason == "load"


def test_length_limit(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    response = client.chat(model="mock", messages=HI, options={"num_predict": 1}, stream=False)
    assert response.done_reason == "length"


def test_embed_list_show_version_ps(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    embedded = client.embed(model="mock-embedding", input=["one", "two"])
    assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) > 8
    assert embedded.prompt_eval_count and embedded.prompt_eval_count > 0
    single = client.embed(model="mock-embedding", input="one")
    assert single.embeddings == [embedded.embeddings[0]]
    legacy = client.embeddings(model="mock-embedding", prompt="one")
    assert list(legacy.embedding) == embedded.embeddings[0]

    listed = client.list()
    names = [m.model for m in listed.models]
    assert "mock" in names
    assert all(m.digest and m.modified_at is not None for m in listed.models)
    shown = client.show("mock")
    assert shown.details is not None and shown.capabilities
    assert client.ps().models
    with httpx.Client(base_url=server.url) as http:
        assert isinstance(http.get("/api/version").json()["version"], str)


def test_a_failure_before_output_keeps_its_status(tmp_path: Path, start_server: Any) -> None:
    rules = [{"reply": {"error": {"status": 529, "message": "try later"}}}]
    server = start_server(scenario=_scenario(tmp_path, rules))
    client = ollama.Client(host=server.url)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="mock", messages=HI)
    assert caught.value.status_code == 529
    assert caught.value.error == "try later"


# --------------------------------------------------------------------------- bad input


def _chat(**fields: Any) -> dict[str, Any]:
    return {"model": "mock", "messages": HI, **fields}


def _one(message: dict[str, Any]) -> dict[str, Any]:
    return {"model": "mock", "messages": [message]}


_TEXT_CALL = {"function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/chat", {"messages": HI}, "model"),
        ("/api/chat", _chat(messages="hi"), "messages"),
        ("/api/chat", _one({"role": "wizard", "content": "x"}), "messages[0].role"),
        ("/api/chat", _one({"content": "x"}), "messages[0].role"),
        ("/api/chat", _one({"role": "user", "content": ["x"]}), "messages[0].content"),
        ("/api/chat", _chat(options={"temperature": "hot"}), "options.temperature"),
        ("/api/chat", _chat(options={"num_ctx": "big"}), "options.num_ctx"),
        ("/api/chat", _chat(options={"top_k": 1.5}), "options.top_k"),
        ("/api/chat", _chat(options=[]), "options"),
        ("/api/chat", _chat(think="extreme"), "think"),
        ("/api/chat", _chat(format=42), "format"),
        ("/api/chat", _chat(stream="yes"), "stream"),
        ("/api/chat", _chat(tools=[{"type": "function"}]), "tools[0].function"),
        (
            "/api/chat",
            _one({"role": "assistant", "tool_calls": [_TEXT_CALL]}),
            "messages[0].tool_calls[0].function.arguments",
        ),
        ("/api/chat", _one({"role": "user", "images": ["not base64!"]}), "messages[0].images[0]"),
        ("/api/generate", {"model": "mock", "prompt": 7}, "prompt"),
        ("/api/embed", {"model": "mock", "input": 7}, "input"),
        ("/api/embeddings", {"prompt": "x"}, "model"),
        ("/api/show", {}, "model"),
    ],
)
def test_bad_input_gets_a_400_naming_the_field(
    server: BackgroundServer, path: str, body: dict[str, Any], field: str
) -> None:
    with httpx.Client(base_url=server.url) as http:
        response = http.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()
    assert set(error) == {"error"}
    assert field in error["error"]


@pytest.mark.parametrize("data", [b"{not json", b"", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object(server: BackgroundServer, data: bytes) -> None:
    with httpx.Client(base_url=server.url) as http:
        response = http.post("/api/chat", content=data)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_sdk_raises_the_error_message(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="mock", messages=HI, options={"temperature": "hot"})
    assert caught.value.status_code == 400
    assert "options.temperature" in caught.value.error


def test_unknown_path_under_api_answers_in_ollama_shape(server: BackgroundServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        response = http.post("/api/pull", json={"model": "x"})
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


# --------------------------------------------------------------------------- the fake upstream


def test_chat_through_an_openai_compatible_upstream(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer
) -> None:
    fake.reply(FakeReply(text="Hello there", usage={"prompt_tokens": 11, "completion_tokens": 7}))
    client = ollama.Client(host=proxy.url)
    chunks = list(client.chat(model="fake-model-1", messages=HI, stream=True))
    assert "".join(c.message.content or "" for c in chunks) == "Hello there"
    final = chunks[-1]
    assert (final.prompt_eval_count, final.eval_count) == (11, 7)
    _assert_metrics(final)
    fake.reply(FakeReply(text="Hello there", usage={"prompt_tokens": 11, "completion_tokens": 7}))
    whole = client.chat(model="fake-model-1", messages=HI, stream=False)
    assert (whole.prompt_eval_count, whole.eval_count) == (11, 7)
    assert whole.message.content == "Hello there"


def test_fields_reach_the_upstream(fake: FakeOpenAIUpstream, proxy: BackgroundServer) -> None:
    fake.reply(FakeReply(text="{}"))
    client = ollama.Client(host=proxy.url)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    client.chat(
        model="fake-model-1",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "look", "images": [PNG]},
        ],
        format=schema,
        think="high",
        options={
            "temperature": 0.5,
            "top_p": 0.9,
            "num_predict": 50,
            "stop": ["END"],
            "seed": 3,
            "num_ctx": 4096,
        },
        keep_alive="5m",
        stream=False,
    )
    body = fake.last_request().body
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    parts = body["messages"][1]["content"]
    assert {"type": "text", "text": "look"} in parts
    assert any(
        p.get("image_url", {}).get("url", "").startswith("data:image/png;base64,") for p in parts
    )
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert body["reasoning_effort"] == "high"
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9
    assert body["stop"] == ["END"] and body["seed"] == 3
    assert 50 in (body.get("max_tokens"), body.get("max_completion_tokens"))


def test_streamed_tool_call_from_the_upstream_is_whole(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer
) -> None:
    arguments = json.dumps({"city": "Paris"})
    fake.reply(
        FakeReply(
            tool_calls=[{"id": "call_abc", "name": "get_weather", "arguments": arguments}],
            chunk_chars=3,
        )
    )
    client = ollama.Client(host=proxy.url)
    messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    chunks = list(
        client.chat(model="fake-model-1", messages=messages, tools=[get_weather], stream=True)
    )
    with_calls = [c for c in chunks if c.message.tool_calls]
    assert len(with_calls) == 1
    (call,) = with_calls[0].message.tool_calls or []
    assert call.function.arguments == {"city": "Paris"}
    sent = fake.last_request().body
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert "city" in sent["tools"][0]["function"]["parameters"]["properties"]

    messages.append(with_calls[0].message)
    messages.append({"role": "tool", "content": "Sunny", "tool_name": "get_weather"})
    fake.reply(FakeReply(text="It is sunny."))
    answer = client.chat(model="fake-model-1", messages=messages, tools=[get_weather], stream=False)
    assert answer.message.content == "It is sunny."
    history = fake.last_request().body["messages"]
    assistant, result = history[1], history[2]
    call_id = assistant["tool_calls"][0]["id"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert result == {"role": "tool", "tool_call_id": call_id, "content": "Sunny"}


def test_a_mid_stream_failure_is_a_last_error_line(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer
) -> None:
    chunks: list[dict[str, Any] | str] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
        {"error": {"message": "the upstream broke", "type": "server_error"}},
    ]
    fake.reply(FakeReply(chunks=chunks))
    with httpx.Client(base_url=proxy.url, timeout=10) as http:
        response = http.post("/api/chat", json={"model": "fake-model-1", "messages": HI})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert response.status_code == 200
    assert lines[0]["message"]["content"] == "Hel"
    assert set(lines[-1]) == {"error"} and "the upstream broke" in lines[-1]["error"]
    fake.reply(FakeReply(chunks=chunks))
    client = ollama.Client(host=proxy.url)
    with pytest.raises(ollama.ResponseError, match="the upstream broke"):
        list(client.chat(model="fake-model-1", messages=HI, stream=True))


def test_models_from_the_upstream(fake: FakeOpenAIUpstream, proxy: BackgroundServer) -> None:
    client = ollama.Client(host=proxy.url)
    assert [m.model for m in client.list().models] == ["fake-model-1", "fake-model-2"]
    assert client.show("fake-model-1").details is not None
    with pytest.raises(ollama.ResponseError) as caught:
        client.show("nope")
    assert caught.value.status_code == 404
    assert caught.value.error == "model 'nope' not found"


def test_generate_and_embed_through_the_upstream(
    fake: FakeOpenAIUpstream, proxy: BackgroundServer
) -> None:
    fake.reply(FakeReply(text="Done."))
    client = ollama.Client(host=proxy.url)
    assert client.generate(model="fake-model-1", prompt="go", stream=False).response == "Done."
    assert fake.last_request().body["messages"] == [{"role": "user", "content": "go"}]
    embedded = client.embed(model="fake-model-1", input=["a", "b"])
    assert len(embedded.embeddings) == 2


# --------------------------------------------------------------------------- pure parts


def test_render_request_parses_back_to_the_same_request() -> None:
    chat = ChatRequest(
        model="m",
        system=[TextPart("Be brief.")],
        messages=[
            Message(role="user", parts=[TextPart("weather?")]),
            Message(
                role="assistant",
                parts=[ToolCallPart(id="call_1", name="get_weather", arguments={"city": "Paris"})],
            ),
            Message(
                role="tool",
                parts=[ToolResultPart("call_1", [TextPart("Sunny")], name="get_weather")],
            ),
        ],
        temperature=0.2,
        max_tokens=40,
    )
    rendered = render_request(chat, stream=False)
    assert rendered.path == "/api/chat" and rendered.dropped == []
    call = rendered.body["messages"][2]["tool_calls"][0]
    assert call["function"]["arguments"] == {"city": "Paris"}
    back, options = parse_chat_request(rendered.body)
    assert options.stream is False and options.dropped == []
    assert back == chat
    without_model = {k: v for k, v in rendered.body.items() if k != "model"}
    assert DIALECTS["ollama"].parse_body(without_model, "m") == back


def test_results_without_ids_pair_with_their_calls() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "two cities"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                    {"function": {"name": "get_time", "arguments": {}}},
                ],
            },
            {"role": "tool", "tool_name": "get_time", "content": "noon"},
            {"role": "tool", "content": "Sunny"},
        ],
    }
    first, _ = parse_chat_request(body)
    again, _ = parse_chat_request(body)
    calls = [p for p in first.messages[1].parts if isinstance(p, ToolCallPart)]
    results = [p for p in first.messages[2].parts if isinstance(p, ToolResultPart)]
    assert [r.tool_call_id for r in results] == [calls[1].id, calls[0].id]
    assert [r.name for r in results] == ["get_time", "get_weather"]
    assert first == again, "generated ids are stable"


def test_options_are_carried_or_noted() -> None:
    chat, options = parse_chat_request(
        {
            "model": "m",
            "messages": HI,
            "options": {"top_k": 20, "num_predict": -1, "num_ctx": 8192, "mystery": 1},
            "keep_alive": "5m",
        }
    )
    assert chat.top_k == 20 and chat.max_tokens is None
    notes = " | ".join(options.dropped)
    for field in ("options.num_predict", "options.num_ctx", "options.mystery", "keep_alive"):
        assert field in notes


def test_the_checker_flags_a_broken_stream() -> None:
    checker = checker_for("ollama")
    line = {"model": "m", "created_at": "t", "done": False}
    bad_call = {"function": {"name": "f", "arguments": "{}"}}
    message = {"role": "assistant", "content": "", "tool_calls": [bad_call]}
    infos = checker.feed((json.dumps(line | {"message": message}) + "\n").encode())
    assert infos[0].event_type == "tool_calls"
    assert any("not an object" in v for v in infos[0].violations)
    assert checker.close() == ["the stream ended without a line with done: true"]


def test_logprobs_ride_on_their_text(server: BackgroundServer) -> None:
    client = ollama.Client(host=server.url)
    chunks = list(
        client.chat(model="mock", messages=HI, logprobs=True, top_logprobs=2, stream=True)
    )
    texts = [c for c in chunks if c.message.content]
    assert texts and all(c.logprobs for c in texts)
    assert "".join(t.token for c in texts for t in c.logprobs or []) == "You said: hi"
    whole = client.chat(model="mock", messages=HI, logprobs=True, stream=False)
    assert "".join(t.token for t in whole.logprobs or []) == "You said: hi"


def test_generate_fields_are_noted() -> None:
    _, options = parse_generate_request(
        {"model": "m", "prompt": "p", "raw": True, "suffix": "s", "context": [1, 2]}
    )
    notes = " | ".join(options.dropped)
    for field in ("raw", "suffix", "context"):
        assert f"{field}:" in notes


def test_the_checker_reads_lines_split_anywhere(server: BackgroundServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        data = http.post("/api/chat", json={"model": "mock", "messages": HI}).content
    checker = checker_for("ollama")
    infos = [info for i in range(len(data)) for info in checker.feed(data[i : i + 1])]
    assert infos[-1].event_type == "done"
    assert [info.event_type for info in infos[:-1]] == ["content"] * (len(infos) - 1)
    assert checker.close() == []
    truncated = checker_for("ollama")
    truncated.feed(data[:-3])
    assert "ended inside a line" in truncated.close()[0]
