"""The Gemini dialect through the official google-genai SDK against the running proxy."""

from __future__ import annotations

import base64
import json

import httpx
import jsonschema
import pytest
from google import genai
from google.genai import types

from chatmock_lab import tokens
from chatmock_lab.providers.mock import SIGNATURE_PREFIX
from tests.support import RecordingProvider, png_data_url

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


def gemini_client(url: str, version: str | None = None) -> genai.Client:
    options = (
        types.HttpOptions(base_url=url, api_version=version)
        if version
        else types.HttpOptions(base_url=url)
    )
    return genai.Client(api_key="test-gemini-key-not-a-secret", http_options=options)


@pytest.fixture(params=["v1", "v1beta"])
def client(request, server) -> genai.Client:
    # google-genai defaults to /v1 (shared with OpenAI's paths); Gemini's own is /v1beta.
    return gemini_client(server.url, None if request.param == "v1" else request.param)


def weather_tool() -> types.Tool:
    return types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather", description="Weather", parameters_json_schema=WEATHER_SCHEMA
            )
        ]
    )


def test_generate_and_stream_agree_on_text_and_usage(client) -> None:
    response = client.models.generate_content(model="gemini-2.5-flash", contents="Hello Gemini")
    assert response.text == "You said: Hello Gemini"
    assert response.model_version == "gemini-2.5-flash"
    assert response.response_id
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert usage.candidates_token_count == tokens.count_text(response.text)

    chunks = list(
        client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hello Gemini")
    )
    assert len(chunks) > 2
    assert "".join(c.text or "" for c in chunks) == response.text
    assert all(c.usage_metadata is None for c in chunks[:-1])
    final = chunks[-1].usage_metadata
    assert (final.prompt_token_count, final.candidates_token_count, final.total_token_count) == (
        usage.prompt_token_count,
        usage.candidates_token_count,
        usage.total_token_count,
    )
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_thoughts_when_include_thoughts(client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=2048)
    )
    response = client.models.generate_content(
        model="gemini-2.5-pro", contents="Think", config=config
    )
    parts = response.candidates[0].content.parts
    assert parts[0].thought is True
    assert "thinking budget of 2048 tokens" in parts[0].text
    # The SDK decodes the base64 signature to bytes.
    assert parts[0].thought_signature.startswith(SIGNATURE_PREFIX)
    assert response.text == "You said: Think"  # thoughts are not part of .text
    assert response.usage_metadata.thoughts_token_count == tokens.count_text(parts[0].text)
    streamed = list(
        client.models.generate_content_stream(
            model="gemini-2.5-pro", contents="Think", config=config
        )
    )
    thought_text = "".join(
        p.text or "" for c in streamed for p in c.candidates[0].content.parts or [] if p.thought
    )
    assert thought_text == parts[0].text
    assert (
        streamed[-1].usage_metadata.thoughts_token_count
        == response.usage_metadata.thoughts_token_count
    )
    hidden = client.models.generate_content(
        model="gemini-2.5-pro",
        contents="Think",
        config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(thinking_budget=1024)
        ),
    )
    assert [p.thought for p in hidden.candidates[0].content.parts] == [None]
    assert hidden.usage_metadata.thoughts_token_count > 0


@pytest.mark.parametrize("names", [None, ["get_weather"]])
def test_any_mode_forces_a_schema_valid_call(client, names) -> None:
    config = types.GenerateContentConfig(
        tools=[
            weather_tool(),
            types.Tool(function_declarations=[types.FunctionDeclaration(name="other")]),
        ],
        automatic_function_calling=NO_AFC,
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode="ANY", allowed_function_names=names
            )
        ),
    )
    response = client.models.generate_content(
        model="g", contents="Weather in Paris?", config=config
    )
    (call,) = response.function_calls
    assert call.name == "get_weather"
    assert call.id and len(call.id) <= 40
    jsonschema.validate(call.args, WEATHER_SCHEMA)
    streamed = [
        c
        for chunk in client.models.generate_content_stream(
            model="g", contents="Weather in Paris?", config=config
        )
        for c in chunk.function_calls or []
    ]
    assert [(c.name, c.args, c.id) for c in streamed] == [(call.name, call.args, call.id)]


def test_two_calls_to_one_function_pair_correctly(start_server) -> None:
    recorder = RecordingProvider()
    server = start_server(provider=recorder)
    client = gemini_client(server.url)
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris and Tokyo?")]),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(
                        name="get_weather", args={"city": "Paris", "unit": "celsius"}
                    )
                ),
                types.Part(
                    function_call=types.FunctionCall(
                        name="get_weather", args={"city": "Tokyo", "unit": "celsius"}
                    )
                ),
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="get_weather", response={"output": "Paris: 21 C"}
                    )
                ),
                types.Part(
                    function_response=types.FunctionResponse(
                        name="get_weather", response={"output": "Tokyo: 18 C"}
                    )
                ),
            ],
        ),
    ]
    config = types.GenerateContentConfig(tools=[weather_tool()], automatic_function_calling=NO_AFC)
    response = client.models.generate_content(model="g", contents=history, config=config)
    assert (
        response.text
        == "The tool get_weather returned: Paris: 21 C\nThe tool get_weather returned: Tokyo: 18 C"
    )
    (seen,) = recorder.requests
    calls = seen.messages[1].parts
    results = seen.messages[2].parts
    assert [m.role for m in seen.messages] == ["user", "assistant", "tool"]
    assert [c.arguments["city"] for c in calls] == ["Paris", "Tokyo"]
    # Without ids, each response pairs with the oldest pending call of its name.
    assert [r.tool_call_id for r in results] == [c.id for c in calls]
    assert [r.text() for r in results] == ["Paris: 21 C", "Tokyo: 18 C"]
    assert len({c.id for c in calls}) == 2 and all(len(c.id) <= 40 for c in calls)

    # With ids, responses pair by id whatever their order.
    history[1].parts[0].function_call.id = "id-paris"
    history[1].parts[1].function_call.id = "id-tokyo"
    history[2].parts[0].function_response.id = "id-tokyo"
    history[2].parts[0].function_response.response = {"output": "Tokyo: 18 C"}
    history[2].parts[1].function_response.id = "id-paris"
    history[2].parts[1].function_response.response = {"output": "Paris: 21 C"}
    client.models.generate_content(model="g", contents=history, config=config)
    results = recorder.requests[-1].messages[2].parts
    assert [(r.tool_call_id, r.text()) for r in results] == [
        ("id-tokyo", "Tokyo: 18 C"),
        ("id-paris", "Paris: 21 C"),
    ]


def test_function_round_trip_with_the_returned_call(client) -> None:
    config = types.GenerateContentConfig(
        tools=[weather_tool()],
        automatic_function_calling=NO_AFC,
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode="ANY")
        ),
    )
    first = client.models.generate_content(model="g", contents="Weather?", config=config)
    call = first.function_calls[0]
    second = client.models.generate_content(
        model="g",
        contents=[
            types.Content(role="user", parts=[types.Part(text="Weather?")]),
            first.candidates[0].content,
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(
                        name=call.name, response={"error": "city unknown"}
                    )
                ],
            ),
        ],
        config=types.GenerateContentConfig(
            tools=[weather_tool()], automatic_function_calling=NO_AFC
        ),
    )
    assert second.text == "The tool get_weather failed with: city unknown"


def test_count_tokens_equals_the_mocks_prompt_token_count(client) -> None:
    for contents in (
        "Hello Gemini",
        [
            types.Content(
                role="user",
                parts=[
                    types.Part(text="Describe"),
                    types.Part.from_bytes(
                        data=base64.b64decode(png_data_url(300, 250).split(",", 1)[1]),
                        mime_type="image/png",
                    ),
                ],
            )
        ],
    ):
        counted = client.models.count_tokens(model="g", contents=contents)
        generated = client.models.generate_content(model="g", contents=contents)
        assert counted.total_tokens == generated.usage_metadata.prompt_token_count


def test_count_tokens_with_system_and_tools_in_the_generate_content_request_form(server) -> None:
    request = {
        "contents": [{"role": "user", "parts": [{"text": "Weather?"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "get_weather", "parametersJsonSchema": WEATHER_SCHEMA}
                ]
            }
        ],
    }
    url = f"{server.url}/v1beta/models/gemini-2.5-flash"
    counted = httpx.post(
        f"{url}:countTokens",
        json={"generateContentRequest": {"model": "models/gemini-2.5-flash", **request}},
    ).json()
    generated = httpx.post(f"{url}:generateContent", json=request).json()
    assert counted == {"totalTokens": generated["usageMetadata"]["promptTokenCount"]}
    plain = httpx.post(f"{url}:countTokens", json={"contents": request["contents"]}).json()
    assert plain["totalTokens"] < counted["totalTokens"]


def test_models_list_and_get(client) -> None:
    assert [m.name for m in client.models.list()] == [
        "models/mock",
        "models/mock-reasoning",
        "models/mock-embedding",
    ]
    model = client.models.get(model="gemini-2.5-flash")
    assert model.name == "models/gemini-2.5-flash"
    assert "generateContent" in model.supported_actions
    assert client.models.get(model="models/gemini-2.5-flash").name == "models/gemini-2.5-flash"


def test_models_pagination(server) -> None:
    first = httpx.get(f"{server.url}/v1beta/models", params={"pageSize": 2}).json()
    assert [m["name"] for m in first["models"]] == ["models/mock", "models/mock-reasoning"]
    second = httpx.get(
        f"{server.url}/v1beta/models", params={"pageSize": 2, "pageToken": first["nextPageToken"]}
    ).json()
    assert [m["name"] for m in second["models"]] == ["models/mock-embedding"]
    assert "nextPageToken" not in second


def test_the_same_paths_serve_openai_and_gemini_model_lists(server) -> None:
    openai_list = httpx.get(f"{server.url}/v1/models", headers={"authorization": "Bearer k"}).json()
    gemini_list = httpx.get(f"{server.url}/v1/models", headers={"x-goog-api-key": "k"}).json()
    keyed = httpx.get(f"{server.url}/v1/models", params={"key": "k"}).json()
    assert openai_list["object"] == "list"
    assert gemini_list["models"][0]["name"] == "models/mock" == keyed["models"][0]["name"]


def test_json_mode_and_schema(client) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    structured = client.models.generate_content(
        model="g",
        contents="json please",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_json_schema=schema
        ),
    )
    jsonschema.validate(json.loads(structured.text), schema)
    openapi = client.models.generate_content(
        model="g",
        contents="json please",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema=types.Schema(
                type="OBJECT",
                properties={"n": types.Schema(type="INTEGER", minimum=3)},
                required=["n"],
            ),
        ),
    )
    assert json.loads(openapi.text) == {"n": 3}
    plain_json = client.models.generate_content(
        model="g",
        contents="hi",
        config=types.GenerateContentConfig(response_mime_type="application/json"),
    )
    assert json.loads(plain_json.text) == {"reply": "You said: hi"}


def test_generation_config_and_system_instruction(start_server) -> None:
    recorder = RecordingProvider()
    server = start_server(provider=recorder)
    client = gemini_client(server.url)
    response = client.models.generate_content(
        model="gemini-2.5-flash",
        contents="one two three",
        config=types.GenerateContentConfig(
            system_instruction="Be brief.",
            temperature=0.4,
            top_p=0.9,
            top_k=20,
            max_output_tokens=100,
            stop_sequences=["three"],
            seed=5,
            safety_settings=[
                types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_NONE")
            ],
        ),
    )
    assert response.text == "You said: one two "
    (seen,) = recorder.requests
    assert [p.text for p in seen.system] == ["Be brief."]
    assert (seen.temperature, seen.top_p, seen.top_k, seen.max_tokens, seen.stop, seen.seed) == (
        0.4,
        0.9,
        20,
        100,
        ["three"],
        5,
    )
    capped = client.models.generate_content(
        model="g",
        contents="a longer sentence",
        config=types.GenerateContentConfig(max_output_tokens=2),
    )
    assert capped.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_openapi_parameters_are_normalised_and_json_schema_wins(start_server) -> None:
    recorder = RecordingProvider()
    server = start_server(provider=recorder)
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "a",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {
                                "q": {"type": "STRING", "nullable": True},
                                "tags": {
                                    "type": "ARRAY",
                                    "items": {"type": "STRING", "enum": ["A", "B"]},
                                },
                            },
                            "required": ["q"],
                        },
                    },
                    {
                        "name": "b",
                        "parameters": {"type": "OBJECT"},
                        "parametersJsonSchema": {
                            "type": "object",
                            "properties": {"z": {"type": "integer"}},
                        },
                    },
                    {
                        "name": "c",
                        "parameters_json_schema": {
                            "type": "object",
                            "properties": {"y": {"type": "boolean"}},
                        },
                    },
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a"]}},
    }
    response = httpx.post(f"{server.url}/v1beta/models/g:generateContent", json=body).json()
    call = response["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call["name"] == "a"
    tools = recorder.requests[0].tools
    assert tools[0].parameters == {
        "type": "object",
        "properties": {
            "q": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["A", "B"]}},
        },
        "required": ["q"],
    }
    assert tools[1].parameters == {"type": "object", "properties": {"z": {"type": "integer"}}}
    assert tools[2].parameters["properties"] == {"y": {"type": "boolean"}}
    jsonschema.validate(call["args"], tools[0].parameters)
