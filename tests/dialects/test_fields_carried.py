"""Nothing a client sends vanishes silently (issue #13, "What it must show" 3).

For each inbound dialect, one request holds every documented request field (and one
field no API documents), sent through the official SDK to a proxy in front of the
OpenAI-compatible fake. Each field must either reach the upstream body or be named by
a "field: why" note on the request's tap, which holds the inbound dialect's notes and
the upstream codec's. A field a parser drops without a note fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from chatmock_lab.taps import TAP_HEADER, Tap
from chatmock_lab.testing import FakeOpenAIUpstream
from tests.support import png_data_url

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
PNG_URL = png_data_url(2, 2)
PNG_DATA = PNG_URL.partition(";base64,")[2]


@dataclass(frozen=True)
class Field:
    """One request field, spelled as the client spelled it (and as an inbound note names
    it); `reached` says whether it is in the upstream body; `upstream_name` is how the
    upstream codec's notes name it, when the inbound parser carried it canonically."""

    path: str
    reached: Callable[[dict[str, Any]], bool] | None = None
    upstream_name: str | None = None


def noted_fields(notes: list[str]) -> set[str]:
    """The field each note names: notes read "who: field: why"."""
    fields = set()
    for note in notes:
        _, _, rest = note.partition(": ")
        fields.add(rest.partition(": ")[0])
    return fields


def unaccounted(fields: list[Field], body: dict[str, Any], notes: list[str]) -> list[str]:
    """The fields neither carried to the upstream nor named in a note."""
    named = noted_fields(notes)
    missing = []
    for item in fields:
        if item.reached is not None and item.reached(body):
            continue
        if item.path in named or (item.upstream_name is not None and item.upstream_name in named):
            continue
        missing.append(item.path)
    return missing


def has(text: str) -> Callable[[dict[str, Any]], bool]:
    """The upstream body holds `text` somewhere (a prompt, a schema, a name)."""
    return lambda body: text in json.dumps(body)


def equals(key: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda body: body.get(key) == value


def format_schema(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format") or {}
    return fmt.get("type") == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA


@pytest.fixture
def tap(proxy: Any) -> tuple[Tap, str]:
    tap = Tap()
    return tap, proxy.app.extensions["chatmock_lab"].add_tap(tap)


# --------------------------------------------------------------------------- Anthropic

ANTHROPIC_FIELDS = [
    Field("model", equals("model", "gpt-4o")),
    Field("max_tokens", equals("max_completion_tokens", 4096)),
    Field("messages", has("Describe the picture")),
    Field("system", has("You are terse.")),
    Field("system[0].cache_control", upstream_name="system[0].cache_control"),
    Field(
        "messages[0].content[0].cache_control", upstream_name="messages[0].parts[0].cache_control"
    ),
    Field(
        "messages[0].content[1].cache_control", upstream_name="messages[0].parts[1].cache_control"
    ),
    Field("messages[0].content[1].transformations"),
    Field(
        "messages[0].content[2].cache_control", upstream_name="messages[0].parts[2].cache_control"
    ),
    Field("messages[0].content[2].citations"),
    Field("messages[0].content[2].context"),
    Field("messages[0].content[2].title", has("Report")),
    Field("messages[1].content[1].citations"),
    Field("messages[1].content[2].cache_control"),
    Field("messages[1].content[2].caller"),
    Field("messages[2].content[0].cache_control"),
    Field("messages[2].content[0].is_error", has("Error")),
    Field("tools", has("get_weather")),
    Field("tools[0].strict", lambda body: body["tools"][0]["function"].get("strict") is True),
    Field("tools[0].cache_control", upstream_name="tools[0].cache_control"),
    Field("tools[0].defer_loading"),
    Field("tools[0].allowed_callers"),
    Field("tools[0].eager_input_streaming"),
    Field("tools[0].input_examples"),
    Field("tools[1]"),  # a server tool
    Field("tool_choice", equals("tool_choice", "auto")),
    Field("tool_choice.disable_parallel_tool_use", equals("parallel_tool_calls", False)),
    Field("thinking", lambda body: "reasoning_effort" in body),
    Field("output_config.effort", equals("reasoning_effort", "high")),
    Field("output_config.format", format_schema),
    Field("output_format", format_schema),
    Field("metadata", equals("user", "user-1")),
    Field("temperature", equals("temperature", 0.5)),
    Field("top_p", equals("top_p", 0.9)),
    Field("top_k", upstream_name="top_k"),
    Field("stop_sequences", equals("stop", ["END"])),
    Field("stream", equals("stream", True)),
    Field("service_tier", equals("service_tier", "auto")),
    Field("cache_control", upstream_name="cache_control"),
    Field("container"),
    Field("mcp_servers"),
    Field("context_management"),
    Field("compaction"),
    Field("inference_geo"),
    Field("speed"),
    Field("diagnostics"),
    Field("billing_policy"),
    Field("fallback_credit_token"),
    Field("fallbacks"),
    Field("thread"),
    Field("frobnicate"),  # in no documentation
]


def anthropic_request() -> dict[str, Any]:
    ephemeral = {"type": "ephemeral"}
    return {
        "model": "gpt-4o",
        "max_tokens": 4096,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": ephemeral}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe the picture", "cache_control": ephemeral},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_DATA},
                        "cache_control": ephemeral,
                        "transformations": {"oversized_image": "downsize"},
                    },
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "Q3 is up."},
                        "title": "Report",
                        "context": "The quarterly report",
                        "citations": {"enabled": True},
                        "cache_control": ephemeral,
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Look it up.", "signature": "sig-1"},
                    {
                        "type": "text",
                        "text": "Let me check.",
                        "citations": [
                            {
                                "type": "char_location",
                                "cited_text": "Q3",
                                "document_index": 0,
                                "document_title": "Report",
                                "start_char_index": 0,
                                "end_char_index": 2,
                            }
                        ],
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                        "cache_control": ephemeral,
                        "caller": {"type": "direct"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "no data"}],
                        "is_error": True,
                        "cache_control": ephemeral,
                    },
                    {"type": "text", "text": "Go on."},
                ],
            },
        ],
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather for a city",
                "input_schema": WEATHER,
                "strict": True,
                "cache_control": ephemeral,
                "defer_loading": False,
                "allowed_callers": ["direct"],
                "eager_input_streaming": True,
                "input_examples": [{"city": "Rome"}],
            },
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 2048, "display": "summarized"},
        "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": SCHEMA}},
        "metadata": {"user_id": "user-1"},
        "stop_sequences": ["END"],
        "service_tier": "auto",
        "cache_control": ephemeral,
        "container": "container_123",
        "inference_geo": "us",
        "speed": "fast",
        "diagnostics": {"previous_message_id": "msg_1"},
    }


# Fields this SDK version's `messages.create` has no argument for: the beta's, the
# structured-outputs beta spelling, sampling parameters it no longer lists, and one
# field no version documents.
ANTHROPIC_EXTRA = {
    "output_format": {"type": "json_schema", "schema": SCHEMA},
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 40,
    "mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "example"}],
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    "compaction": {"type": "summarize"},
    "billing_policy": {"type": "billing_policy", "bill_to": "self"},
    "fallback_credit_token": "credit-1",
    "fallbacks": "default",
    "thread": {"type": "create"},
    "frobnicate": 1,
}


def send_anthropic(proxy: Any, tap_id: str) -> None:
    with anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0) as client:
        stream = client.messages.create(
            **anthropic_request(),
            stream=True,
            extra_body=ANTHROPIC_EXTRA,
            extra_headers={TAP_HEADER: tap_id, "anthropic-beta": "structured-outputs-2025-11-13"},
        )
        assert [event.type for event in stream][-1] == "message_stop"


def test_every_anthropic_field_is_carried_or_noted(
    fake: FakeOpenAIUpstream, proxy: Any, tap: tuple[Tap, str]
) -> None:
    sent = {**anthropic_request(), **ANTHROPIC_EXTRA, "stream": True}
    listed = {item.path.split(".")[0].split("[")[0] for item in ANTHROPIC_FIELDS}
    assert set(sent) <= listed, "a field sent is not checked"
    send_anthropic(proxy, tap[1])
    assert unaccounted(ANTHROPIC_FIELDS, fake.last_request().body, tap[0].notes()) == []


def test_a_silently_dropped_field_is_caught(
    fake: FakeOpenAIUpstream, proxy: Any, tap: tuple[Tap, str]
) -> None:
    # The check itself: a note taken away leaves its field unaccounted for.
    send_anthropic(proxy, tap[1])
    notes = [n for n in tap[0].notes() if ": container: " not in n]
    assert unaccounted(ANTHROPIC_FIELDS, fake.last_request().body, notes) == ["container"]


def test_anthropic_structured_outputs_beta_spelling(fake: FakeOpenAIUpstream, proxy: Any) -> None:
    beta = {"anthropic-beta": "structured-outputs-2025-11-13"}
    with anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0) as client:
        client.messages.create(
            model="gpt-4o",
            max_tokens=64,
            messages=[{"role": "user", "content": "Answer in JSON"}],
            extra_body={"output_format": {"type": "json_schema", "schema": SCHEMA}},
            extra_headers=beta,
        )
        assert format_schema(fake.last_request().body)
        with pytest.raises(anthropic.BadRequestError) as caught:
            client.messages.create(
                model="gpt-4o",
                max_tokens=64,
                messages=[{"role": "user", "content": "Answer in JSON"}],
                output_config={"format": {"type": "json_schema", "schema": SCHEMA}},
                extra_body={"output_format": {"type": "json_schema", "schema": WEATHER}},
                extra_headers=beta,
            )
    assert "output_format" in caught.value.message
    assert len(fake.requests) == 1


# --------------------------------------------------------------------------- Gemini

GEMINI_FIELDS = [
    Field("contents", has("What is the weather?")),
    Field("systemInstruction", has("You are terse.")),
    Field("tools", has("get_weather")),
    Field("tools[0].googleSearch"),
    Field("tools[1].functionDeclarations[0].response"),
    Field("toolConfig", equals("tool_choice", "auto")),
    Field("toolConfig.retrievalConfig"),
    Field("toolConfig.functionCallingConfig.mode"),  # VALIDATED, sent as AUTO
    Field("safetySettings"),
    Field("cachedContent"),
    Field("labels"),
    Field("serviceTier", equals("service_tier", "flex")),
    Field("generationConfig.temperature", equals("temperature", 0.5)),
    Field("generationConfig.topP", equals("top_p", 0.9)),
    Field("generationConfig.topK", upstream_name="top_k"),
    Field("generationConfig.candidateCount", equals("model", "gpt-4o")),  # 1: the only answer
    Field("generationConfig.maxOutputTokens", equals("max_completion_tokens", 512)),
    Field("generationConfig.stopSequences", equals("stop", ["END"])),
    Field("generationConfig.responseLogprobs", equals("logprobs", True)),
    Field("generationConfig.logprobs", equals("top_logprobs", 3)),
    Field("generationConfig.presencePenalty", equals("presence_penalty", 0.1)),
    Field("generationConfig.frequencyPenalty", equals("frequency_penalty", 0.2)),
    Field("generationConfig.seed", equals("seed", 7)),
    Field("generationConfig.responseMimeType", format_schema),
    Field("generationConfig.responseJsonSchema", format_schema),
    Field("generationConfig.responseModalities"),
    Field("generationConfig.mediaResolution"),
    Field("generationConfig.speechConfig"),
    Field("generationConfig.imageConfig"),
    Field("generationConfig.thinkingConfig", lambda body: "reasoning_effort" in body),
    Field("generationConfig.enableEnhancedCivicAnswers"),
    Field("generationConfig.routingConfig"),
    Field("generationConfig.modelSelectionConfig"),
    Field("generationConfig.audioTimestamp"),
    Field("generationConfig.enableAffectiveDialog"),
    Field("frobnicate"),  # in no documentation
]


def send_gemini(proxy: Any, tap_id: str) -> None:
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="Weather for a city",
        parameters_json_schema=WEATHER,
        response=types.Schema(type=types.Type.STRING),
    )
    config = types.GenerateContentConfig(
        system_instruction="You are terse.",
        temperature=0.5,
        top_p=0.9,
        top_k=40,
        candidate_count=1,
        max_output_tokens=512,
        stop_sequences=["END"],
        response_logprobs=True,
        logprobs=3,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        seed=7,
        response_mime_type="application/json",
        response_json_schema=SCHEMA,
        response_modalities=["TEXT", "IMAGE"],
        media_resolution=types.MediaResolution.MEDIA_RESOLUTION_LOW,
        speech_config=types.SpeechConfig(language_code="en-US"),
        image_config=types.ImageConfig(aspect_ratio="1:1"),
        thinking_config=types.ThinkingConfig(thinking_budget=1024),
        enable_enhanced_civic_answers=True,
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                threshold=types.HarmBlockThreshold.BLOCK_ONLY_HIGH,
            )
        ],
        tools=[
            types.Tool(google_search=types.GoogleSearch()),
            types.Tool(function_declarations=[weather]),
        ],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.VALIDATED
            ),
            retrieval_config=types.RetrievalConfig(language_code="en"),
        ),
        labels={"team": "lab"},
        cached_content="cachedContents/abc",
        service_tier=types.ServiceTier.FLEX,
        http_options=types.HttpOptions(
            headers={TAP_HEADER: tap_id},
            # Vertex AI's fields, which the Developer API client refuses to send, and
            # one that no API documents.
            extra_body={
                "generationConfig": {
                    "routingConfig": {"autoMode": {"modelRoutingPreference": "BALANCED"}},
                    "modelSelectionConfig": {"featureSelectionPreference": "BALANCED"},
                    "audioTimestamp": True,
                    "enableAffectiveDialog": True,
                },
                "frobnicate": 1,
            },
        ),
    )
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=proxy.url))
    chunks = list(
        client.models.generate_content_stream(
            model="gpt-4o", contents="What is the weather?", config=config
        )
    )
    assert chunks


def test_every_gemini_field_is_carried_or_noted(
    fake: FakeOpenAIUpstream, proxy: Any, tap: tuple[Tap, str]
) -> None:
    send_gemini(proxy, tap[1])
    assert unaccounted(GEMINI_FIELDS, fake.last_request().body, tap[0].notes()) == []


def test_gemini_text_only_modalities_and_empty_settings_lose_nothing(
    fake: FakeOpenAIUpstream, proxy: Any, tap: tuple[Tap, str]
) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "generationConfig": {"responseModalities": ["TEXT"]},
        "safetySettings": [],
    }
    reply = httpx.post(
        f"{proxy.url}/v1beta/models/gpt-4o:generateContent",
        json=body,
        headers={TAP_HEADER: tap[1], "x-goog-api-key": "k"},
    )
    assert reply.status_code == 200
    assert not [n for n in tap[0].notes() if n.startswith("gemini: ")]


def test_gemini_logprobs_need_response_logprobs(proxy: Any) -> None:
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=proxy.url))
    with pytest.raises(genai.errors.ClientError) as caught:
        client.models.generate_content(
            model="gpt-4o", contents="Hi", config=types.GenerateContentConfig(logprobs=2)
        )
    assert caught.value.code == 400
    assert "generationConfig.logprobs" in str(caught.value)


# --------------------------------------------------------------------------- OpenAI

OPENAI_FIELDS = [
    Field("model", equals("model", "gpt-4o")),
    Field("messages", has("Describe the weather")),
    Field("audio"),
    Field("frequency_penalty", equals("frequency_penalty", 0.2)),
    Field("logit_bias", equals("logit_bias", {"50256": -100})),
    Field("logprobs", equals("logprobs", True)),
    Field("top_logprobs", equals("top_logprobs", 2)),
    Field("max_completion_tokens", equals("max_completion_tokens", 256)),
    Field("max_tokens", equals("max_completion_tokens", 256)),  # the newer field wins
    Field("metadata", upstream_name="metadata"),
    Field("modalities"),
    Field("n", equals("model", "gpt-4o")),  # 1: the only answer
    Field("parallel_tool_calls", equals("parallel_tool_calls", False)),
    Field("prediction"),
    Field("presence_penalty", equals("presence_penalty", 0.1)),
    Field("prompt_cache_key", equals("prompt_cache_key", "key-1")),
    Field("prompt_cache_retention"),
    Field("reasoning_effort", equals("reasoning_effort", "low")),
    Field("response_format", format_schema),
    Field("safety_identifier", equals("safety_identifier", "safe-1")),
    Field("seed", equals("seed", 7)),
    Field("service_tier", equals("service_tier", "flex")),
    Field("stop", equals("stop", ["END"])),
    Field("store"),
    Field("stream", equals("stream", True)),
    Field("stream_options", lambda body: body.get("stream_options") == {"include_usage": True}),
    Field("temperature", equals("temperature", 0.5)),
    Field("tool_choice", equals("tool_choice", "auto")),
    Field("tools", has("get_weather")),
    Field("top_p", equals("top_p", 0.9)),
    Field("user", equals("user", "user-1")),
    Field("verbosity"),
    Field("web_search_options"),
    Field("frobnicate"),  # in no documentation
]
OPENAI_LEGACY_FIELDS = [
    Field("functions", has("get_weather")),
    Field("function_call", lambda body: body.get("tool_choice") not in (None, "auto")),
]


def test_every_openai_field_is_carried_or_noted(
    fake: FakeOpenAIUpstream, proxy: Any, tap: tuple[Tap, str]
) -> None:
    headers = {TAP_HEADER: tap[1]}
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="k", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Describe the weather"}],
            audio={"voice": "alloy", "format": "wav"},
            frequency_penalty=0.2,
            logit_bias={"50256": -100},
            logprobs=True,
            top_logprobs=2,
            max_completion_tokens=256,
            max_tokens=256,
            metadata={"team": "lab"},
            modalities=["text", "audio"],
            n=1,
            parallel_tool_calls=False,
            prediction={"type": "content", "content": "It is sunny."},
            presence_penalty=0.1,
            prompt_cache_key="key-1",
            prompt_cache_retention="24h",
            reasoning_effort="low",
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": SCHEMA},
            },
            safety_identifier="safe-1",
            seed=7,
            service_tier="flex",
            stop=["END"],
            store=True,
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.5,
            tool_choice="auto",
            tools=[
                {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}
            ],
            top_p=0.9,
            user="user-1",
            verbosity="low",
            web_search_options={"search_context_size": "low"},
            extra_body={"frobnicate": 1},
            extra_headers=headers,
        )
        assert list(stream)
        main = fake.last_request().body
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            functions=[{"name": "get_weather", "parameters": WEATHER}],
            function_call={"name": "get_weather"},
            extra_headers=headers,
        )
        legacy = fake.last_request().body
    notes = tap[0].notes()
    assert (
        unaccounted(OPENAI_FIELDS, main, notes) + unaccounted(OPENAI_LEGACY_FIELDS, legacy, notes)
        == []
    )
