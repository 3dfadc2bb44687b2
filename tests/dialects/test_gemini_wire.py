"""Gemini on the wire: both stream framings, histories clients really send, and errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from google import genai
from google.genai import errors, types

from chatmock_lab.core import ChatRequest, Event, ProxyError, TextDelta, Usage
from chatmock_lab.providers.mock import MockProvider
from tests.support import RecordingProvider

USER = {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}


def url_for(server, method: str, model: str = "gemini-2.5-flash", version: str = "v1beta") -> str:
    return f"{server.url}/{version}/models/{model}:{method}"


def test_sse_framing(server) -> None:
    response = httpx.post(
        url_for(server, "streamGenerateContent"), params={"alt": "sse"}, json=USER
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    body = response.text
    frames = body.split("\r\n\r\n")
    assert frames[-1] == ""  # the body ends with a complete frame
    payloads = []
    for frame in frames[:-1]:
        assert frame.startswith("data: ") and "\n" not in frame  # one data line, no event names
        payloads.append(json.loads(frame[len("data: ") :]))
    assert "[DONE]" not in body
    text = "".join(
        p["text"] for chunk in payloads for p in chunk["candidates"][0]["content"]["parts"]
    )
    assert text == "You said: Hello"
    assert all("usageMetadata" not in c for c in payloads[:-1])
    assert payloads[-1]["candidates"][0]["finishReason"] == "STOP"
    assert payloads[-1]["usageMetadata"]["totalTokenCount"] > 0
    assert {c["responseId"] for c in payloads} == {payloads[0]["responseId"]}


def test_json_array_framing_is_valid_and_readable_incrementally(server) -> None:
    with httpx.stream("POST", url_for(server, "streamGenerateContent"), json=USER) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        pieces = list(response.iter_bytes())
    body = b"".join(pieces).decode()
    array = json.loads(body)
    assert isinstance(array, list) and len(array) > 2
    assert body.startswith("[{") and body.endswith("}]")
    # Element by element: after "[" each element is a complete JSON object, separated by ",\r\n".
    elements = body[1:-1].split(",\r\n")
    assert [json.loads(e) for e in elements] == array
    text = "".join(p["text"] for chunk in array for p in chunk["candidates"][0]["content"]["parts"])
    assert text == "You said: Hello"
    assert array[-1]["usageMetadata"]["promptTokenCount"] > 0


def test_a_stream_that_fails_midway_ends_with_an_error_object(start_server) -> None:
    class Failing(MockProvider):
        async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
            yield Usage(input_tokens=1)
            yield TextDelta("partial")
            raise ProxyError("upstream went away", status=503)

    server = start_server(provider=Failing())
    array = httpx.post(url_for(server, "streamGenerateContent"), json=USER).json()
    assert array[-1] == {
        "error": {"code": 503, "message": "upstream went away", "status": "UNAVAILABLE"}
    }
    sse = httpx.post(
        url_for(server, "streamGenerateContent"), params={"alt": "sse"}, json=USER
    ).text
    last = json.loads(sse.strip().split("\r\n\r\n")[-1][len("data: ") :])
    assert last["error"]["status"] == "UNAVAILABLE"


def test_cancelled_calls_are_removed_wherever_they_stand(start_server) -> None:
    recorder = RecordingProvider()
    server = start_server(provider=recorder)
    call = lambda name, city: {"functionCall": {"name": name, "args": {"city": city}}}  # noqa: E731
    result = lambda name, out: {"functionResponse": {"name": name, "response": {"output": out}}}  # noqa: E731
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "first"}]},
            # Cancelled: the user interrupted, no response ever came.
            {"role": "model", "parts": [call("delete_files", "-")]},
            {"role": "user", "parts": [{"text": "no, check the weather"}]},
            {
                "role": "model",
                "parts": [{"text": "ok"}, call("get_weather", "Paris"), call("delete_files", "-")],
            },
            {"role": "user", "parts": [result("get_weather", "21 C")]},
            {"role": "user", "parts": [{"text": "thanks"}]},
        ]
    }
    response = httpx.post(url_for(server, "generateContent"), json=body)
    assert response.status_code == 200, response.text
    (seen,) = recorder.requests
    assert [m.role for m in seen.messages] == ["user", "user", "assistant", "tool", "user"]
    assistant = seen.messages[2]
    assert [getattr(p, "name", None) or p.text for p in assistant.parts] == ["ok", "get_weather"]
    assert seen.messages[3].parts[0].tool_call_id == assistant.parts[1].id


def test_gemini_clis_nested_arrays_of_function_responses(start_server) -> None:
    recorder = RecordingProvider()
    server = start_server(provider=recorder)
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "read two files"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "read_file", "args": {"path": "a"}}},
                    {"functionCall": {"name": "read_file", "args": {"path": "b"}}},
                ],
            },
            # A content that is a bare list, and parts nested in a list.
            [{"functionResponse": {"name": "read_file", "response": {"output": "A"}}}],
            {
                "role": "user",
                "parts": [
                    [{"functionResponse": {"name": "read_file", "response": {"output": "B"}}}]
                ],
            },
        ]
    }
    response = httpx.post(url_for(server, "generateContent"), json=body)
    assert response.status_code == 200, response.text
    seen = recorder.requests[0]
    calls = seen.messages[1].parts
    results = [m.parts[0] for m in seen.messages[2:]]
    assert [r.tool_call_id for r in results] == [c.id for c in calls]
    assert [r.text() for r in results] == ["A", "B"]
    text = response.json()["candidates"][0]["content"]["parts"][0]["text"]
    assert text == "The tool read_file returned: B"


def test_snake_case_fields_and_key_in_query(server) -> None:
    def ask(config: dict) -> dict:
        body = {
            "contents": [{"role": "user", "parts": [{"text": "one two"}]}],
            "system_instruction": {"parts": [{"text": "Be brief."}]},
            "generation_config": config,
        }
        return httpx.post(url_for(server, "generateContent"), params={"key": "k"}, json=body).json()

    stopped = ask({"stop_sequences": ["two"]})["candidates"][0]
    assert stopped["content"]["parts"][0]["text"] == "You said: one "
    capped = ask({"max_output_tokens": 3})["candidates"][0]
    assert capped["content"]["parts"][0]["text"] == "You said:"
    assert capped["finishReason"] == "MAX_TOKENS"


def test_model_names_with_or_without_prefix(server) -> None:
    for path in ("gemini-2.5-flash", "models/gemini-2.5-flash"):
        response = httpx.post(
            f"{server.url}/v1beta/models/{path}:generateContent", json=USER
        ).json()
        assert response["modelVersion"] == "gemini-2.5-flash"
    assert (
        httpx.get(f"{server.url}/v1beta/models/models/gemini-x").json()["name"] == "models/gemini-x"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "contents"),
        ({"contents": []}, "contents"),
        ({"contents": "hi"}, "contents"),
        ({"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": [{"role": "user"}]}, "contents[0].parts"),
        ({"contents": [{"role": "user", "parts": [{"unknown": 1}]}]}, "contents[0].parts[0]"),
        (
            {"contents": [{"role": "user", "parts": [{"inlineData": {"data": "AA"}}]}]},
            "contents[0].parts[0].inlineData.mimeType",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]},
            "contents[0].parts[0].functionCall.name",
        ),
        ({**USER, "generationConfig": {"candidateCount": 2}}, "generationConfig.candidateCount"),
        ({**USER, "generationConfig": {"temperature": "hot"}}, "generationConfig.temperature"),
        ({**USER, "generationConfig": {"maxOutputTokens": 0}}, "generationConfig.maxOutputTokens"),
        (
            {
                **USER,
                "generationConfig": {
                    "thinkingConfig": {"thinkingBudget": 10, "thinkingLevel": "LOW"}
                },
            },
            "generationConfig.thinkingConfig",
        ),
        (
            {**USER, "generationConfig": {"thinkingConfig": {"thinkingLevel": "EXTREME"}}},
            "generationConfig.thinkingConfig.thinkingLevel",
        ),
        (
            {**USER, "tools": [{"functionDeclarations": [{"description": "no name"}]}]},
            "tools[0].functionDeclarations[0].name",
        ),
        (
            {
                **USER,
                "tools": [
                    {
                        "functionDeclarations": [
                            {"name": "f", "parametersJsonSchema": {"type": "string"}}
                        ]
                    }
                ],
            },
            "tools[0].functionDeclarations[0].parametersJsonSchema",
        ),
        (
            {**USER, "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}},
            "toolConfig.functionCallingConfig.mode",
        ),
        (
            {**USER, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}},
            "toolConfig.functionCallingConfig.mode",
        ),
    ],
)
def test_invalid_requests_are_400_in_googles_shape_naming_the_field(server, body, field) -> None:
    response = httpx.post(url_for(server, "generateContent"), json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith(field)
    assert error["details"][0]["fieldViolations"][0]["field"] == field


def test_errors_through_the_sdk(tmp_path, start_server) -> None:
    scenario = tmp_path / "s.json"
    rules = {
        "quota": {"status": 429, "message": "quota exhausted", "retry_after": 2},
        "busy": {"status": 503, "message": "overloaded"},
        "denied": {"status": 403, "message": "not allowed"},
        "login": {"status": 401, "message": "who are you"},
    }
    scenario.write_text(
        json.dumps(
            {"rules": [{"match": {"contains": k}, "reply": {"error": e}} for k, e in rules.items()]}
        )
    )
    server = start_server(scenario=scenario)
    client = genai.Client(
        api_key="k",
        http_options=types.HttpOptions(
            base_url=server.url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    expected = {
        "quota": (errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        "busy": (errors.ServerError, 503, "UNAVAILABLE"),
        "denied": (errors.ClientError, 403, "PERMISSION_DENIED"),
        "login": (errors.ClientError, 401, "UNAUTHENTICATED"),
    }
    for word, (exception, code, status) in expected.items():
        with pytest.raises(exception) as caught:
            client.models.generate_content(model="g", contents=word)
        assert (caught.value.code, caught.value.status, caught.value.message) == (
            code,
            status,
            rules[word]["message"],
        )
        with pytest.raises(exception) as caught:
            list(client.models.generate_content_stream(model="g", contents=word))
        assert caught.value.code == code
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model="g", contents="x", config=types.GenerateContentConfig(candidate_count=3)
        )
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert "candidateCount" in caught.value.message


def test_unknown_method_and_path_are_404_in_googles_shape(server) -> None:
    response = httpx.post(url_for(server, "embedEverything"), json=USER)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
    missing = httpx.get(f"{server.url}/v1beta/tunedModels")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    bad_token = httpx.get(f"{server.url}/v1beta/models", params={"pageToken": "%%%"})
    assert (
        bad_token.status_code == 400 and bad_token.json()["error"]["status"] == "INVALID_ARGUMENT"
    )
