"""render_request: a canonical request as each dialect's client would send it.

The property under test: for every dialect D, `D.parse_request(D.render_request(x).body)`
gives back `x`, modulo the documented normalisations (each render_request's docstring)
and the fields listed in `dropped`. For a request D can fully express, nothing is dropped
and the round trip is exact.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from collections.abc import Callable
from types import ModuleType

import httpx
import pytest

from chatmock_lab.core import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    ReasoningConfig,
    ReasoningPart,
    RenderedRequest,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolDefinition,
    ToolResultPart,
)
from chatmock_lab.dialects import anthropic, gemini, openai
from tests.support import png_data_url

# test_cross_dialect's schema (not imported: that module loads every SDK, seconds of startup).
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
DIALECTS: dict[str, ModuleType] = {"openai": openai, "anthropic": anthropic, "gemini": gemini}
PNG_B64 = png_data_url(4, 4).split(",", 1)[1]
PDF_B64 = base64.b64encode(b"%PDF-1.4\n% a tiny test document\n").decode()
TIME_SCHEMA = {"type": "object", "properties": {"tz": {"type": "string"}}}
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}},
    "required": ["summary"],
}
EPHEMERAL = {"type": "ephemeral"}


def parse(dialect: str, rendered: RenderedRequest) -> ChatRequest:
    """What our own parser makes of a rendered body (Gemini's model is in the path)."""
    if dialect == "openai":
        return openai.parse_request(rendered.body)[0]
    if dialect == "anthropic":
        return anthropic.parse_request(rendered.body)[0]
    model = rendered.path.split("/models/", 1)[1].split(":", 1)[0]
    return gemini.parse_request(rendered.body, model=model)[0]


def weather(*, strict: bool | None = None) -> ToolDefinition:
    return ToolDefinition("get_weather", "Weather", copy.deepcopy(WEATHER_SCHEMA), strict=strict)


def time_tool() -> ToolDefinition:
    return ToolDefinition("get_time", "Time in a zone", copy.deepcopy(TIME_SCHEMA))


# --------------------------------------------------------------------------- fixtures


def shared_conversation() -> ChatRequest:
    """The conversation of test_cross_dialect, as the canonical request all three parse to."""
    return ChatRequest(
        model="any-model",
        system=[TextPart("Be brief.")],
        messages=[
            Message(
                "user",
                [TextPart("Weather in Paris?"), ImagePart(data=PNG_B64, media_type="image/png")],
            ),
            Message(
                "assistant",
                [
                    TextPart("Checking."),
                    ToolCallPart("call_1", "get_weather", {"city": "Paris", "unit": "celsius"}),
                ],
            ),
            Message("tool", [ToolResultPart("call_1", [TextPart("21 C")], name="get_weather")]),
            Message("user", [TextPart("Thanks, and tomorrow?")]),
        ],
        tools=[weather()],
        tool_choice=ToolChoice("auto"),
        max_tokens=300,
        temperature=0.3,
        stop=["END"],
    )


def openai_rich() -> ChatRequest:
    """Everything Chat Completions can say."""
    return ChatRequest(
        model="gpt-test",
        system=[TextPart("Be brief.")],
        messages=[
            Message(
                "user",
                [
                    TextPart("Look at these"),
                    ImagePart(url="https://example.com/cat.png", detail="low"),
                    ImagePart(data=PNG_B64, media_type="image/png", detail="high"),
                    DocumentPart(media_type="application/pdf", data=PDF_B64, title="report.pdf"),
                ],
                name="ada",
            ),
            Message(
                "assistant",
                [
                    TextPart("Checking."),
                    ToolCallPart("call_1", "get_weather", {"city": "Paris", "unit": "celsius"}),
                    ToolCallPart("call_2", "get_time", {"tz": "CET"}),
                ],
            ),
            Message(
                "tool",
                [
                    ToolResultPart("call_1", [TextPart("21 C")], name="get_weather"),
                    ToolResultPart("call_2", [TextPart("12:00")], name="get_time"),
                ],
            ),
            Message("system", [TextPart("Answer in French.")]),
            Message("user", [TextPart("Thanks, and tomorrow?")]),
        ],
        tools=[weather(strict=True), time_tool()],
        tool_choice=ToolChoice("required", ["get_weather"]),
        parallel_tool_calls=False,
        max_tokens=300,
        temperature=1.2,
        top_p=0.9,
        stop=["END", "STOP"],
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        response_format=ResponseFormat("json_schema", ANSWER_SCHEMA, name="answer", strict=True),
        reasoning=ReasoningConfig(effort="high"),
        user="user-1",
    )


def anthropic_rich() -> ChatRequest:
    """Everything the Messages API can say (that the parser reads)."""
    return ChatRequest(
        model="claude-test",
        system=[TextPart("Be brief."), TextPart("Use metric units.", cache_control=EPHEMERAL)],
        messages=[
            Message(
                "user",
                [
                    TextPart("Look"),
                    ImagePart(data=PNG_B64, media_type="image/png"),
                    ImagePart(url="https://example.com/cat.png"),
                    DocumentPart(media_type="application/pdf", data=PDF_B64, title="report"),
                    DocumentPart(media_type="text/plain", text="notes", title="notes.txt"),
                    DocumentPart(url="https://example.com/a.pdf"),
                ],
            ),
            Message(
                "assistant",
                [
                    ReasoningPart("Let me think.", signature="sig-1"),
                    ReasoningPart(redacted="opaque-data"),
                    TextPart("Checking."),
                    ToolCallPart("toolu_1", "get_weather", {"city": "Paris", "unit": "celsius"}),
                ],
            ),
            Message(
                "tool",
                [
                    ToolResultPart(
                        "toolu_1",
                        [TextPart("21 C"), ImagePart(data=PNG_B64, media_type="image/png")],
                        name="get_weather",
                    )
                ],
            ),
            Message("user", [TextPart("And Oslo?", cache_control=EPHEMERAL)]),
            Message(
                "assistant",
                [ToolCallPart("toolu_2", "get_weather", {"city": "Oslo", "unit": "celsius"})],
            ),
            Message(
                "tool",
                [
                    ToolResultPart(
                        "toolu_2", [TextPart("no data")], is_error=True, name="get_weather"
                    )
                ],
            ),
        ],
        tools=[weather(strict=True)],
        # What Anthropic accepts beside extended thinking: no forced tool, the default
        # temperature, top_p of at least 0.95 and no top_k (see test_thinking_gives_way).
        tool_choice=ToolChoice("auto"),
        parallel_tool_calls=False,
        max_tokens=4096,
        temperature=1.0,
        top_p=0.95,
        stop=["END"],
        response_format=ResponseFormat("json_schema", ANSWER_SCHEMA),
        reasoning=ReasoningConfig(effort="high", budget_tokens=2048, include=False),
        user="user-1",
        metadata={"user_id": "user-1"},
    )


def gemini_rich() -> ChatRequest:
    """Everything generateContent can say (that the parser reads)."""
    return ChatRequest(
        model="gemini-test",
        system=[TextPart("Be brief."), TextPart("Use metric units.")],
        messages=[
            Message(
                "user",
                [
                    TextPart("Look"),
                    ImagePart(data=PNG_B64, media_type="image/png"),
                    ImagePart(url="https://example.com/files/cat", media_type="image/jpeg"),
                    DocumentPart(media_type="application/pdf", data=PDF_B64),
                    DocumentPart(url="https://example.com/a.pdf", media_type="application/pdf"),
                ],
            ),
            Message(
                "assistant",
                [
                    ReasoningPart("Weather needs a tool.", signature="c2lnMQ=="),
                    # A signature of hidden thoughts, which Gemini puts on the next text part.
                    ReasoningPart(signature="c2lnMg=="),
                    TextPart("Checking."),
                    ToolCallPart(
                        "call_1",
                        "get_weather",
                        {"city": "Paris", "unit": "celsius"},
                        signature="c2lnMw==",
                    ),
                ],
            ),
            Message("tool", [ToolResultPart("call_1", [TextPart("21 C")], name="get_weather")]),
            Message("user", [TextPart("And Oslo?")]),
            Message(
                "assistant",
                [ToolCallPart("call_2", "get_weather", {"city": "Oslo", "unit": "celsius"})],
            ),
            Message(
                "tool",
                [
                    ToolResultPart(
                        "call_2", [TextPart("no data")], is_error=True, name="get_weather"
                    )
                ],
            ),
        ],
        tools=[weather(), time_tool()],
        tool_choice=ToolChoice("auto", ["get_weather"]),
        max_tokens=300,
        temperature=1.5,
        top_p=0.9,
        top_k=40,
        stop=["END"],
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        response_format=ResponseFormat("json_schema", ANSWER_SCHEMA),
        reasoning=ReasoningConfig(budget_tokens=2048, include=True),
    )


RICH: dict[str, Callable[[], ChatRequest]] = {
    "openai": openai_rich,
    "anthropic": anthropic_rich,
    "gemini": gemini_rich,
}


# --------------------------------------------------------------------------- comparison


def normalised(request: ChatRequest, target: str) -> tuple[ChatRequest, list[int]]:
    """`request` after the normalisations rendering into `target` documents (see its
    render_request docstring), and for each message left the index it had before."""
    x = copy.deepcopy(request)
    origin = list(range(len(x.messages)))
    if target == "openai":
        x = spelled_for_openai(x)
        x.messages, origin = images_after_tool_results(x.messages, origin)
        if len(x.system) > 1:
            x.system = [TextPart("\n\n".join(p.text for p in x.system))]
        for message in x.messages:
            if message.role == "assistant":
                texts = [p.text for p in message.parts if isinstance(p, TextPart)]
                rest = [p for p in message.parts if not isinstance(p, TextPart)]
                message.parts = ([TextPart("".join(texts))] if texts else []) + rest
        if x.response_format is not None and x.response_format.type == "json_schema":
            x.response_format.name = x.response_format.name or "response"
    elif target == "anthropic":
        if x.user is not None:
            x.metadata = {"user_id": x.user}
    else:
        kept = [(i, m) for i, m in zip(origin, x.messages, strict=True) if m.role != "system"]
        x.system += [
            p for m in x.messages if m.role == "system" for p in m.parts if isinstance(p, TextPart)
        ]
        origin, x.messages = [i for i, _ in kept], [m for _, m in kept]
        for message in x.messages:
            for j, part in enumerate(message.parts):
                if isinstance(part, DocumentPart) and part.text is not None:
                    data = base64.b64encode(part.text.encode()).decode()
                    message.parts[j] = DocumentPart(media_type="text/plain", data=data)
                elif isinstance(part, ImagePart) and part.url and part.url.endswith(".png"):
                    part.media_type = part.media_type or "image/png"
    return x, origin


def spelled_for_openai(request: ChatRequest) -> ChatRequest:
    """An OpenAI client's request keeps how it spelled the token limit."""
    if request.max_tokens is None:
        return request
    extensions = {**request.extensions, "openai.max_tokens_field": "max_tokens"}
    return dataclasses.replace(request, extensions=extensions)


def images_after_tool_results(
    messages: list[Message], origin: list[int]
) -> tuple[list[Message], list[int]]:
    """Tool messages cannot hold images: they follow the results in a user message."""
    out: list[Message] = []
    out_origin: list[int] = []
    for i, message in zip(origin, messages, strict=True):
        out.append(message)
        out_origin.append(i)
        if message.role != "tool":
            continue
        moved: list[Part] = []
        for part in message.parts:
            if not isinstance(part, ToolResultPart):
                continue
            images = [p for p in part.content if isinstance(p, ImagePart)]
            if images:
                moved += [TextPart(f"Images returned by tool call {part.tool_call_id}:"), *images]
                part.content = [p for p in part.content if not isinstance(p, ImagePart)]
        if moved:
            out.append(Message(role="user", parts=moved))
            out_origin.append(i)
    return out, out_origin


def differences(expected: ChatRequest, actual: ChatRequest, origin: list[int]) -> list[str]:
    """Canonical paths (as `dropped` spells them) where the two requests differ."""
    found: list[str] = []
    for field in dataclasses.fields(ChatRequest):
        a, b = getattr(expected, field.name), getattr(actual, field.name)
        if a == b:
            continue
        if field.name != "messages" or len(a) != len(b):
            found.append(field.name)
            continue
        for k, (m, n) in enumerate(zip(a, b, strict=True)):
            where = f"messages[{origin[k]}]"
            if m == n:
                continue
            if m.role != n.role or len(m.parts) != len(n.parts):
                found.append(where)
                continue
            if m.name != n.name:
                found.append(f"{where}.name")
            found += [
                f"{where}.parts[{j}]"
                for j, (p, q) in enumerate(zip(m.parts, n.parts, strict=True))
                if p != q
            ]
    return found


def covered(name: str, dropped: list[str]) -> bool:
    return any(note.startswith((f"{name}:", f"{name}.", f"{name}[")) for note in dropped)


def fields_of(dropped: list[str]) -> set[str]:
    return {note.split(":", 1)[0] for note in dropped}


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_dialect_round_trips_its_own_rich_request_exactly(dialect: str) -> None:
    request = RICH[dialect]()
    for stream in (False, True):
        rendered = DIALECTS[dialect].render_request(request, stream=stream)
        assert rendered.dropped == []
        assert parse(dialect, rendered) == (
            spelled_for_openai(request) if dialect == "openai" else request
        )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_cross_dialect_conversation_round_trips_in_every_dialect(dialect: str) -> None:
    request = shared_conversation()
    rendered = DIALECTS[dialect].render_request(request)
    assert rendered.dropped == []
    assert parse(dialect, rendered) == (
        spelled_for_openai(request) if dialect == "openai" else request
    )


@pytest.mark.parametrize("target", DIALECTS)
@pytest.mark.parametrize("source", RICH)
def test_translation_keeps_everything_not_listed_as_dropped(source: str, target: str) -> None:
    request = RICH[source]()
    rendered = DIALECTS[target].render_request(request)
    expected, origin = normalised(request, target)
    back = parse(target, rendered)
    missing = [d for d in differences(expected, back, origin) if not covered(d, rendered.dropped)]
    assert missing == [], (missing, rendered.dropped)
    # And what was carried over reads the same again in the target's own words.
    again = DIALECTS[target].render_request(back)
    assert parse(target, again) == back


def test_rendering_does_not_touch_the_request_and_the_body_is_its_own() -> None:
    for dialect, module in DIALECTS.items():
        request = RICH[dialect]()
        rendered = module.render_request(request)
        assert request == RICH[dialect]()
        body = json.dumps(rendered.body)
        # Editing every dict in the body must not reach the canonical request.
        stack: list[object] = [rendered.body]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack += list(item.values())
                item["_edited"] = True
            elif isinstance(item, list):
                stack += item
        assert request == RICH[dialect]()
        assert json.loads(body) != rendered.body


@pytest.mark.parametrize("dialect", DIALECTS)
def test_outputs_are_plain_json(dialect: str) -> None:
    for source in RICH.values():
        for stream in (False, True):
            rendered = DIALECTS[dialect].render_request(source(), stream=stream)
            assert isinstance(rendered, RenderedRequest)
            assert json.loads(json.dumps(rendered.body)) == rendered.body
            assert all(isinstance(note, str) and ": " in note for note in rendered.dropped)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rendered.path = "/elsewhere"  # type: ignore[misc]


# --------------------------------------------------------------------------- wire shapes


def test_the_cross_dialect_conversation_renders_as_each_sdk_sends_it() -> None:
    request = shared_conversation()
    png = f"data:image/png;base64,{PNG_B64}"
    tool = {"name": "get_weather", "description": "Weather"}
    assert openai.render_request(request).body == {
        "model": "any-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Paris?"},
                    {"type": "image_url", "image_url": {"url": png}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": '{"city":"Paris","unit":"celsius"}',
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
            {"role": "user", "content": "Thanks, and tomorrow?"},
        ],
        "tools": [{"type": "function", "function": {**tool, "parameters": WEATHER_SCHEMA}}],
        "tool_choice": "auto",
        "max_tokens": 300,
        "temperature": 0.3,
        "stop": ["END"],
    }
    image = {"type": "base64", "media_type": "image/png", "data": PNG_B64}
    assert anthropic.render_request(request).body == {
        "model": "any-model",
        "max_tokens": 300,
        "system": "Be brief.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Paris?"},
                    {"type": "image", "source": image},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "call_1",
                        "name": "get_weather",
                        "input": {"city": "Paris", "unit": "celsius"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "21 C"},
                    {"type": "text", "text": "Thanks, and tomorrow?"},
                ],
            },
        ],
        "tools": [{**tool, "input_schema": WEATHER_SCHEMA}],
        "tool_choice": {"type": "auto"},
        "temperature": 0.3,
        "stop_sequences": ["END"],
    }
    rendered = gemini.render_request(request)
    assert rendered.path == "/v1beta/models/any-model:generateContent"
    assert rendered.body == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Weather in Paris?"},
                    {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"text": "Checking."},
                    {
                        "functionCall": {
                            "id": "call_1",
                            "name": "get_weather",
                            "args": {"city": "Paris", "unit": "celsius"},
                        }
                    },
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": "call_1",
                            "name": "get_weather",
                            "response": {"output": "21 C"},
                        }
                    },
                    {"text": "Thanks, and tomorrow?"},
                ],
            },
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "tools": [{"functionDeclarations": [{**tool, "parametersJsonSchema": WEATHER_SCHEMA}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"maxOutputTokens": 300, "temperature": 0.3, "stopSequences": ["END"]},
    }


def test_paths_and_streaming_flags() -> None:
    request = shared_conversation()
    request.model = "models/gemini-2.5-flash"
    plain = {name: m.render_request(request) for name, m in DIALECTS.items()}
    streamed = {name: m.render_request(request, stream=True) for name, m in DIALECTS.items()}
    assert plain["openai"].path == streamed["openai"].path == "/v1/chat/completions"
    assert plain["anthropic"].path == streamed["anthropic"].path == "/v1/messages"
    assert plain["gemini"].path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert streamed["gemini"].path == (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    # What the SDKs send: no stream keys unless streaming; usage asked for when streaming.
    assert "stream" not in plain["openai"].body and "stream_options" not in plain["openai"].body
    assert streamed["openai"].body["stream"] is True
    assert streamed["openai"].body["stream_options"] == {"include_usage": True}
    assert "stream" not in plain["anthropic"].body
    assert streamed["anthropic"].body["stream"] is True
    assert plain["gemini"].body == streamed["gemini"].body
    assert "stream" not in streamed["gemini"].body


def test_openai_render_is_the_upstream_renderer_with_a_clients_choices() -> None:
    for source in RICH.values():
        request = source()
        upstream, notes = openai.build_upstream_request(request, max_tokens_field="max_tokens")
        rendered = openai.render_request(request, stream=True)
        assert rendered.body == upstream and rendered.dropped == notes
    plain = openai.render_request(openai_rich()).body
    assert plain["max_tokens"] == 300 and "max_completion_tokens" not in plain


def test_schemas_go_to_gemini_as_plain_json_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"when": {"type": ["string", "null"], "format": "date"}},
        "additionalProperties": False,
        "$defs": {"unused": {"type": "integer"}},
    }
    request = ChatRequest(
        model="m",
        messages=[Message("user", [TextPart("hi")])],
        tools=[ToolDefinition("plan", None, schema)],
        response_format=ResponseFormat("json_schema", schema),
    )
    body = gemini.render_request(request).body
    assert body["tools"] == [
        {"functionDeclarations": [{"name": "plan", "parametersJsonSchema": schema}]}
    ]
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


def test_tool_choices_in_each_dialect() -> None:
    def rendered(choice: ToolChoice) -> tuple[object, object, object]:
        request = ChatRequest(
            model="m",
            messages=[Message("user", [TextPart("hi")])],
            tools=[weather(), time_tool()],
            tool_choice=choice,
        )
        return (
            openai.render_request(request).body["tool_choice"],
            anthropic.render_request(request).body["tool_choice"],
            gemini.render_request(request).body["toolConfig"]["functionCallingConfig"],
        )

    assert rendered(ToolChoice("auto")) == ("auto", {"type": "auto"}, {"mode": "AUTO"})
    assert rendered(ToolChoice("none")) == ("none", {"type": "none"}, {"mode": "NONE"})
    assert rendered(ToolChoice("required")) == ("required", {"type": "any"}, {"mode": "ANY"})
    assert rendered(ToolChoice("required", ["get_time"])) == (
        {"type": "function", "function": {"name": "get_time"}},
        {"type": "tool", "name": "get_time"},
        {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
    )
    # Auto narrowed to some functions: Gemini says it with VALIDATED (ANY would force a call).
    _, _, config = rendered(ToolChoice("auto", ["get_time"]))
    assert config == {"mode": "VALIDATED", "allowedFunctionNames": ["get_time"]}


def test_reasoning_config_in_each_dialect() -> None:
    def rendered(reasoning: ReasoningConfig, max_tokens: int | None = 8000) -> tuple:
        request = ChatRequest(
            model="m",
            messages=[Message("user", [TextPart("hi")])],
            max_tokens=max_tokens,
            reasoning=reasoning,
        )
        a = anthropic.render_request(request).body
        return (
            openai.render_request(request).body["reasoning_effort"],
            (a.get("thinking"), a.get("output_config"), a["max_tokens"]),
            gemini.render_request(request).body["generationConfig"]["thinkingConfig"],
        )

    assert rendered(ReasoningConfig(budget_tokens=4096)) == (
        "medium",
        ({"type": "enabled", "budget_tokens": 4096}, None, 8000),
        {"includeThoughts": True, "thinkingBudget": 4096},
    )
    assert rendered(ReasoningConfig(effort="low", include=False)) == (
        "low",
        ({"type": "adaptive", "display": "omitted"}, {"effort": "low"}, 8000),
        {"thinkingLevel": "LOW"},
    )
    # Anthropic needs max_tokens above the budget; without one, room is made for both.
    assert rendered(ReasoningConfig(budget_tokens=2048), max_tokens=None)[1] == (
        {"type": "enabled", "budget_tokens": 2048},
        None,
        2048 + 4096,
    )


# --------------------------------------------------------------------------- dropped


def test_openai_lists_what_an_anthropic_conversation_loses() -> None:
    dropped = openai.render_request(anthropic_rich()).dropped
    assert fields_of(dropped) == {
        "system[1].cache_control",
        "messages[0].parts[4]",  # a text document becomes plain text
        "messages[0].parts[5]",  # a document by URL
        "messages[1].parts[0]",  # thinking
        "messages[1].parts[1]",  # redacted thinking
        "messages[3].parts[0].cache_control",
        "messages[5].parts[0].is_error",
        "reasoning.budget_tokens",
        "reasoning.include",
        "metadata",
    }
    with_top_k = dataclasses.replace(anthropic_rich(), top_k=40)
    assert "top_k: Chat Completions has no top_k" in openai.render_request(with_top_k).dropped


def test_anthropic_lists_what_openai_and_gemini_conversations_lose() -> None:
    assert fields_of(anthropic.render_request(openai_rich()).dropped) == {
        "messages[0].name",
        "messages[0].parts[1].detail",
        "messages[0].parts[2].detail",
        "temperature",  # 1.2 is beyond Anthropic's 0-1
        "reasoning",  # Anthropic cannot think before the forced tool call
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format.name",
        "response_format.strict",
    }
    assert fields_of(anthropic.render_request(gemini_rich()).dropped) == {
        "messages[0].parts[2].media_type",
        "messages[0].parts[4].media_type",
        "messages[1].parts[3].signature",
        "tool_choice.allowed",
        "temperature",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "reasoning.budget_tokens",  # 2048 does not fit under max_tokens 300
    }


def test_gemini_lists_what_openai_and_anthropic_conversations_lose() -> None:
    assert fields_of(gemini.render_request(openai_rich()).dropped) == {
        "messages[0].name",
        "messages[0].parts[1].detail",
        "messages[0].parts[2].detail",
        "messages[0].parts[3].title",
        "messages[3]",  # a system turn, moved to systemInstruction
        "tools[0].strict",
        "parallel_tool_calls",
        "response_format.name",
        "response_format.strict",
        "user",
    }
    assert fields_of(gemini.render_request(anthropic_rich()).dropped) == {
        "system[1].cache_control",
        "messages[0].parts[3].title",
        "messages[0].parts[4].title",
        "messages[1].parts[1]",  # redacted thinking
        "messages[2].parts[0]",  # an image in a function response
        "messages[3].parts[0].cache_control",
        "tools[0].strict",
        "parallel_tool_calls",
        "reasoning.effort",  # a budget or a level, not both
        "user",
        "metadata.user_id",
    }


def test_what_no_dialect_can_say_is_dropped_not_sent() -> None:
    request = ChatRequest(
        model="m",
        messages=[Message("user", [TextPart("hi")])],
        tools=[ToolDefinition("ns.lookup", None), ToolDefinition("9lives", None)],
        tool_choice=ToolChoice("required", ["ns.lookup"]),
        stop=["a", "b", "c", "d", "e", "f"],
        response_format=ResponseFormat("json_object"),
        metadata={"trace": "t1"},
        extensions={"anthropic-beta": ["interleaved-thinking-2025-05-14"]},
    )
    chat = openai.render_request(request)
    assert chat.body["stop"] == ["a", "b", "c", "d"]
    assert [t["function"]["name"] for t in chat.body["tools"]] == ["9lives"]
    # The one tool it had to call is gone: forcing the others would change the request.
    assert chat.body["tool_choice"] == "auto"
    assert fields_of(chat.dropped) == {
        "tools[0]",
        "tool_choice.allowed",
        "stop",
        "metadata",
        "extensions.anthropic-beta",
    }
    messages = anthropic.render_request(request)
    assert "metadata" not in messages.body and "output_config" not in messages.body
    assert messages.body["tool_choice"] == {"type": "auto"}
    assert fields_of(messages.dropped) == {
        "tools[0]",
        "tool_choice.allowed",
        "response_format",
        "metadata.trace",
        "extensions.anthropic-beta",
    }
    assert any("anthropic-beta header" in note for note in messages.dropped)
    generate = gemini.render_request(request)
    assert generate.body["generationConfig"]["stopSequences"] == ["a", "b", "c", "d", "e"]
    assert [d["name"] for d in generate.body["tools"][0]["functionDeclarations"]] == ["ns.lookup"]
    assert generate.body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["ns.lookup"]}
    }
    assert fields_of(generate.dropped) == {
        "tools[1]",
        "stop",
        "metadata.trace",
        "extensions.anthropic-beta",
    }
    for rendered, dialect in ((chat, "openai"), (messages, "anthropic"), (generate, "gemini")):
        parse(dialect, rendered)  # what was kept is still a valid request


# --------------------------------------------------------------------------- over HTTP


@pytest.mark.parametrize("dialect", DIALECTS)
def test_rendered_requests_are_accepted_by_the_proxy(server, dialect: str) -> None:
    module = DIALECTS[dialect]
    with httpx.Client(base_url=server.url, timeout=10) as http:
        # Each dialect's own rich request and the others translated into it.
        for source in RICH.values():
            rendered = module.render_request(source())
            response = http.post(rendered.path, json=rendered.body)
            assert response.status_code == 200, response.text
        rendered = module.render_request(shared_conversation(), stream=True)
        response = http.post(rendered.path, json=rendered.body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    ends = {"openai": "data: [DONE]", "anthropic": '"type":"message_stop"', "gemini": "STOP"}
    assert ends[dialect] in response.text.strip().splitlines()[-1]


def test_thinking_gives_way_where_anthropic_refuses_the_combination() -> None:
    # Anthropic's extended thinking refuses a temperature other than 1, top_k, a top_p
    # below 0.95, and forced tool use; the other dialects take them together.
    thinking = ReasoningConfig(budget_tokens=2048)
    sampled = ChatRequest(
        model="m",
        messages=[Message("user", [TextPart("Hi")])],
        max_tokens=4096,
        temperature=0.3,
        top_p=0.5,
        top_k=20,
        reasoning=thinking,
    )
    rendered = anthropic.render_request(sampled)
    assert rendered.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "temperature" not in rendered.body and "top_k" not in rendered.body
    assert rendered.body["top_p"] == 0.95
    assert fields_of(rendered.dropped) == {"temperature", "top_k", "top_p"}

    forced = dataclasses.replace(
        sampled,
        temperature=None,
        top_p=None,
        top_k=None,
        tools=[weather()],
        tool_choice=ToolChoice("required", ["get_weather"]),
    )
    rendered = anthropic.render_request(forced)
    assert "thinking" not in rendered.body
    assert rendered.body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert rendered.dropped == [
        "reasoning: Anthropic cannot think before a forced tool call; not sent"
    ]
