"""Rows: tools, parallel tools, streamed tool arguments, tool calls without ids."""

from __future__ import annotations

import json
from typing import Any

from google.genai import types

from tests.conformance.cells import Cell, matrix
from tests.conformance.clients import (
    ANTHROPIC_WEATHER_TOOL,
    GEMINI_WEATHER_TOOL,
    OLLAMA_WEATHER_TOOL,
    OPENAI_WEATHER_TOOL,
    RESPONSES_WEATHER_TOOL,
    anthropic_sdk,
    anthropic_text,
    gemini_config,
    gemini_finish,
    gemini_parts,
    gemini_sdk,
    gemini_text,
    ollama_chat,
    ollama_lines,
    openai_sdk,
    responses_items,
)
from tests.conformance.upstreams import Backend, Call, Proxy, Script

QUESTION = "What is the weather in Paris and Tokyo?"
# (id, name, arguments) of each call as the client got it; Gemini's ids may be None,
# Ollama's always are (its tool calls have no id).
Received = list[tuple[str | None, str, dict[str, Any]]]


def calls_of(
    dialect: str, proxy: Proxy, model: str, *, stream: bool
) -> tuple[Received, str | None]:
    """The tool calls of one answer, streamed or not, and its finish."""
    if dialect == "openai":
        with openai_sdk(proxy) as client:
            create = client.chat.completions.create
            messages = [{"role": "user", "content": QUESTION}]
            if not stream:
                reply = create(model=model, messages=messages, tools=[OPENAI_WEATHER_TOOL])
                choice = reply.choices[0]
                calls = choice.message.tool_calls or []
                return [
                    (c.id, c.function.name, json.loads(c.function.arguments)) for c in calls
                ], choice.finish_reason
            built: dict[int, dict[str, str]] = {}
            finish = None
            for chunk in create(
                model=model, messages=messages, tools=[OPENAI_WEATHER_TOOL], stream=True
            ):
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    for delta in choice.delta.tool_calls or []:
                        entry = built.setdefault(delta.index, {"id": "", "name": "", "args": ""})
                        entry["id"] += delta.id or ""
                        if delta.function is not None:
                            entry["name"] += delta.function.name or ""
                            entry["args"] += delta.function.arguments or ""
            return [
                (e["id"], e["name"], json.loads(e["args"])) for _, e in sorted(built.items())
            ], finish
    if dialect == "anthropic":
        with anthropic_sdk(proxy) as client:
            options: dict[str, Any] = {
                "model": model,
                "max_tokens": 256,
                "tools": [ANTHROPIC_WEATHER_TOOL],
                "messages": [{"role": "user", "content": QUESTION}],
            }
            if stream:
                with client.messages.stream(**options) as streamed:
                    message = streamed.get_final_message()
            else:
                message = client.messages.create(**options)
        uses = [b for b in message.content if b.type == "tool_use"]
        return [(b.id, b.name, dict(b.input)) for b in uses], message.stop_reason
    if dialect == "ollama":
        request = {
            "model": model,
            "messages": [{"role": "user", "content": QUESTION}],
            "tools": [OLLAMA_WEATHER_TOOL],
        }
        replies = ollama_lines(proxy, **request) if stream else [ollama_chat(proxy, **request)]
        received = []
        for reply in replies:
            for tool_call in reply.message.tool_calls or []:
                arguments = tool_call.function.arguments
                assert isinstance(arguments, dict), f"arguments are not an object: {arguments!r}"
                received.append((None, tool_call.function.name, dict(arguments)))
        return received, replies[-1].done_reason
    if dialect == "responses":
        with openai_sdk(proxy) as client:
            options = {"model": model, "input": QUESTION, "tools": [RESPONSES_WEATHER_TOOL]}
            if stream:
                with client.responses.stream(**options) as streamed:
                    response = streamed.get_final_response()
            else:
                response = client.responses.create(**options)
        items = responses_items(response, "function_call")
        return [(i.call_id, i.name, json.loads(i.arguments)) for i in items], response.status
    client = gemini_sdk(proxy)
    config = gemini_config(tools=[GEMINI_WEATHER_TOOL])
    if stream:
        chunks = list(
            client.models.generate_content_stream(model=model, contents=QUESTION, config=config)
        )
    else:
        chunks = [client.models.generate_content(model=model, contents=QUESTION, config=config)]
    received: Received = []
    finish = None
    for chunk in chunks:
        finish = gemini_finish(chunk) or finish
        for part in gemini_parts(chunk):
            if part.function_call is not None:
                call = part.function_call
                received.append((call.id, call.name or "", dict(call.args or {})))
    return received, finish


TOOL_STOP = {
    "openai": "tool_calls",
    "anthropic": "tool_use",
    "gemini": "STOP",
    "ollama": "stop",
    "responses": "completed",
}


def answer_tool_result(dialect: str, proxy: Proxy, model: str, call_id: str | None) -> str:
    """The next turn, with the tool's result: the answer's text."""
    result = "21 C and sunny"
    if dialect == "openai":
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
        with openai_sdk(proxy) as client:
            reply = client.chat.completions.create(
                model=model,
                tools=[OPENAI_WEATHER_TOOL],
                messages=[
                    {"role": "user", "content": QUESTION},
                    {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": call_id, "content": result},
                ],
            )
        return reply.choices[0].message.content or ""
    if dialect == "anthropic":
        use = {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}}
        with anthropic_sdk(proxy) as client:
            message = client.messages.create(
                model=model,
                max_tokens=256,
                tools=[ANTHROPIC_WEATHER_TOOL],
                messages=[
                    {"role": "user", "content": QUESTION},
                    {"role": "assistant", "content": [use]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": call_id, "content": result}
                        ],
                    },
                ],
            )
        return anthropic_text(message)
    if dialect == "ollama":
        # Ollama's history has no call ids: the result names its tool.
        reply = ollama_chat(
            proxy,
            model=model,
            tools=[OLLAMA_WEATHER_TOOL],
            messages=[
                {"role": "user", "content": QUESTION},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
                    ],
                },
                {"role": "tool", "tool_name": "get_weather", "content": result},
            ],
        )
        return reply.message.content or ""
    if dialect == "responses":
        with openai_sdk(proxy) as client:
            response = client.responses.create(
                model=model,
                tools=[RESPONSES_WEATHER_TOOL],
                input=[
                    {"role": "user", "content": QUESTION},
                    {
                        "type": "function_call",
                        "call_id": call_id,
                        "name": "get_weather",
                        "arguments": '{"city": "Paris"}',
                    },
                    {"type": "function_call_output", "call_id": call_id, "output": result},
                ],
            )
        return response.output_text
    client = gemini_sdk(proxy)
    contents = [
        types.Content(role="user", parts=[types.Part(text=QUESTION)]),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(
                        id=call_id, name="get_weather", args={"city": "Paris"}
                    )
                )
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        id=call_id, name="get_weather", response={"result": result}
                    )
                )
            ],
        ),
    ]
    response = client.models.generate_content(
        model=model, contents=contents, config=gemini_config(tools=[GEMINI_WEATHER_TOOL])
    )
    return gemini_text(response)


def _result_pairs_with_call(body: dict[str, Any]) -> bool:
    """Whether the upstream's history has the result under the id of the call it answers
    (Chat Completions' `tool_call_id`, the Responses API's `call_id`)."""
    if "messages" in body:
        calls = [
            c["id"]
            for m in body["messages"]
            if m.get("role") == "assistant"
            for c in m.get("tool_calls") or []
        ]
        results = [m.get("tool_call_id") for m in body["messages"] if m.get("role") == "tool"]
    else:
        items = [i for i in body.get("input", []) if isinstance(i, dict)]
        calls = [i["call_id"] for i in items if i.get("type") == "function_call"]
        results = [i.get("call_id") for i in items if i.get("type") == "function_call_output"]
    return len(calls) == 1 and results == calls


@matrix("tools")
def test_tools(cell: Cell, dialect: str, backend: Backend) -> None:
    """A call arrives with its name, arguments and id; its result gets the next answer."""
    call = Call("get_weather", {"city": "Paris"}, id="call_up_1")

    def run(proxy: Proxy) -> tuple[Received, str | None, str]:
        proxy.script(Script(calls=(call,)))
        received, finish = calls_of(dialect, proxy, backend.model, stream=False)
        call_id = received[0][0] if received else None
        proxy.script(Script(text="It is 21 C in Paris."))
        answer = answer_tool_result(dialect, proxy, backend.model, call_id)
        body = proxy.upstream_body()
        if body is not None:
            assert _result_pairs_with_call(body), "the tool result is not paired with its call"
        return received, finish, answer

    received, finish, answer = backend.exchange(run)
    assert [(name, args) for _, name, args in received] == [("get_weather", {"city": "Paris"})]
    if dialect not in ("gemini", "ollama"):
        # The mock names its own calls; every other upstream's id must reach the client.
        assert received[0][0] == ("call_up_1" if backend.name != "mock" else received[0][0])
        assert received[0][0], "the call has no id"
    assert finish == TOOL_STOP[dialect]
    assert answer == "It is 21 C in Paris."


@matrix("parallel-tools")
def test_parallel_tools(cell: Cell, dialect: str, backend: Backend) -> None:
    calls = (
        Call("get_weather", {"city": "Paris"}, id="call_a"),
        Call("get_weather", {"city": "Tokyo"}, id="call_b"),
    )

    def run(proxy: Proxy) -> tuple[Received, Received]:
        proxy.script(Script(calls=calls), times=2)
        whole, _ = calls_of(dialect, proxy, backend.model, stream=False)
        streamed, _ = calls_of(dialect, proxy, backend.model, stream=True)
        return whole, streamed

    for received in backend.exchange(run):
        assert [args for _, _, args in received] == [{"city": "Paris"}, {"city": "Tokyo"}]
        if dialect not in ("gemini", "ollama") and backend.name != "mock":
            assert [i for i, _, _ in received] == ["call_a", "call_b"]


@matrix("streamed-tool-arguments")
def test_streamed_tool_arguments(cell: Cell, dialect: str, backend: Backend) -> None:
    """Arguments streamed in pieces reach a streaming client in pieces, and whole."""
    arguments = {"city": "Paris", "unit": "celsius"}
    script = Script(calls=(Call("get_weather", arguments, id="call_s1"),), chunk_chars=4)
    options: dict[str, Any] = {"model": backend.model}

    def run(proxy: Proxy) -> tuple[list[str], dict[str, Any]]:
        proxy.script(script)
        if dialect == "openai":
            fragments: list[str] = []
            with openai_sdk(proxy) as client:
                for chunk in client.chat.completions.create(
                    **options,
                    messages=[{"role": "user", "content": QUESTION}],
                    tools=[OPENAI_WEATHER_TOOL],
                    stream=True,
                ):
                    for choice in chunk.choices:
                        for delta in choice.delta.tool_calls or []:
                            if delta.function is not None and delta.function.arguments:
                                fragments.append(delta.function.arguments)
            return fragments, json.loads("".join(fragments))
        if dialect == "anthropic":
            with (
                anthropic_sdk(proxy) as client,
                client.messages.stream(
                    **options,
                    max_tokens=256,
                    tools=[ANTHROPIC_WEATHER_TOOL],
                    messages=[{"role": "user", "content": QUESTION}],
                ) as streamed,
            ):
                fragments = [
                    event.delta.partial_json
                    for event in streamed
                    if event.type == "content_block_delta"
                    and event.delta.type == "input_json_delta"
                ]
                message = streamed.get_final_message()
            uses = [b for b in message.content if b.type == "tool_use"]
            assert len(uses) == 1
            return [f for f in fragments if f], dict(uses[0].input)
        if dialect == "ollama":
            lines = ollama_lines(
                proxy,
                **options,
                messages=[{"role": "user", "content": QUESTION}],
                tools=[OLLAMA_WEATHER_TOOL],
            )
            carrying = [line for line in lines if line.message.tool_calls]
            assert len(carrying) == 1, f"{len(carrying)} lines carry the one call"
            calls = carrying[0].message.tool_calls or []
            assert len(calls) == 1 and isinstance(calls[0].function.arguments, dict)
            return ["whole"], dict(calls[0].function.arguments)
        if dialect == "responses":
            with (
                openai_sdk(proxy) as client,
                client.responses.stream(
                    **options, input=QUESTION, tools=[RESPONSES_WEATHER_TOOL]
                ) as streamed,
            ):
                fragments = [
                    event.delta
                    for event in streamed
                    if event.type == "response.function_call_arguments.delta"
                ]
                response = streamed.get_final_response()
            items = responses_items(response, "function_call")
            assert len(items) == 1
            assert "".join(fragments) == items[0].arguments
            return [f for f in fragments if f], json.loads(items[0].arguments)
        client = gemini_sdk(proxy)
        whole = []
        for chunk in client.models.generate_content_stream(
            **options, contents=QUESTION, config=gemini_config(tools=[GEMINI_WEATHER_TOOL])
        ):
            whole += [p.function_call for p in gemini_parts(chunk) if p.function_call is not None]
        assert len(whole) == 1, f"{len(whole)} function_call parts for one call"
        return ["whole"], dict(whole[0].args or {})

    fragments, received = backend.exchange(run)
    assert received == arguments
    if dialect == "gemini":
        cell.not_applicable("Gemini streams each function call whole, in one chunk")
    elif dialect == "ollama":
        cell.not_applicable("Ollama streams each tool call whole, in one line")
    else:
        assert len(fragments) > 1, f"the arguments came in {len(fragments)} piece(s)"


@matrix("tool-calls-without-ids")
def test_tool_calls_without_ids(cell: Cell, dialect: str, backend: Backend) -> None:
    """An upstream call without an id (the second of two here) still reaches the client,
    with a generated id, streamed and not (Ollama, some vLLM and SGLang versions)."""
    calls = (
        Call("get_weather", {"city": "Paris"}, id="call_a"),
        Call("get_weather", {"city": "Tokyo"}, id=None),
    )
    if backend.name == "mock":
        cell.not_applicable("the mock names every call it makes")
    elif backend.name == "chatgpt":
        cell.not_applicable("the Responses API always sends call_id")
    elif dialect == "ollama":
        cell.not_applicable("Ollama's tool calls have no ids; both calls arrive")

    def run(proxy: Proxy) -> tuple[Received, Received]:
        proxy.script(Script(calls=calls), times=2)
        whole, _ = calls_of(dialect, proxy, backend.model, stream=False)
        streamed, _ = calls_of(dialect, proxy, backend.model, stream=True)
        return whole, streamed

    for received in backend.exchange(run):
        assert [args for _, _, args in received] == [{"city": "Paris"}, {"city": "Tokyo"}], (
            f"calls received: {[name for _, name, _ in received]}"
        )
        if dialect not in ("gemini", "ollama"):
            ids = [call_id for call_id, _, _ in received]
            assert all(ids) and len(set(ids)) == 2, f"call ids: {ids}"
