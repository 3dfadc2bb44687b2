"""request_data: the canonical request as people read it, on the traffic page and in
`%chatmock translate`: one rendering for both."""

from __future__ import annotations

import json

from chatmock_lab.core import (
    ChatRequest,
    ImagePart,
    Message,
    ReasoningPart,
    RefusalPart,
    ResponseFormat,
    TextPart,
    ToolCallPart,
    ToolChoice,
    request_data,
)
from chatmock_lab.lab.translate import translate
from chatmock_lab.taps import Tap


def test_parts_name_their_kind_and_defaults_are_left_out() -> None:
    request = ChatRequest(
        model="m",
        messages=[
            Message(role="user", parts=[TextPart(text="hi"), ImagePart(data="QUJD")]),
            Message(
                role="assistant",
                parts=[
                    ReasoningPart(text="think", signature="sig"),
                    RefusalPart(text="no"),
                    ToolCallPart(id="c1", name="f", arguments={"x": 1}),
                ],
            ),
        ],
        tool_choice=ToolChoice(mode="auto"),
        temperature=0.0,
        response_format=ResponseFormat(type="json_object"),
    )
    data = request_data(request)
    assert data["messages"][0] == {
        "role": "user",
        "parts": [{"part": "text", "text": "hi"}, {"part": "image", "data": "QUJD"}],
    }
    assert [p["part"] for p in data["messages"][1]["parts"]] == [
        "reasoning",
        "refusal",
        "tool_call",
    ]
    assert data["messages"][1]["parts"][2] == {
        "part": "tool_call",
        "id": "c1",
        "name": "f",
        "arguments": {"x": 1},
    }
    # A value asked for is shown even when falsy; one at its default is not.
    assert data["temperature"] == 0.0
    assert data["tool_choice"] == {}
    assert data["response_format"] == {"type": "json_object"}
    assert "stop" not in data and "tools" not in data and "stream" not in data
    json.dumps(data)


def test_watchers_are_not_shown_and_long_text_is_cut_only_when_asked() -> None:
    request = ChatRequest(
        model="m", messages=[Message(role="user", parts=[TextPart(text="x" * 5000)])]
    )
    request.trace = Tap()
    full = request_data(request)
    assert "trace" not in full and "chaos" not in full
    assert full["messages"][0]["parts"][0]["text"] == "x" * 5000
    cut = request_data(request, max_chars=100)["messages"][0]["parts"][0]["text"]
    assert cut == "x" * 100 + "... (5000 characters)"


def test_translate_shows_the_same_rendering() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "Hello"}]}
    result = translate(json.dumps(body), source="openai", target="gemini")
    shown = repr(result).split("canonical request:\n", 1)[1].split("\ngemini request:")[0]
    assert json.loads(shown) == request_data(result.canonical)
    assert '"part": "text"' in result._repr_html_().replace("&quot;", '"')
