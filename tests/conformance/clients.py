"""The official SDKs pointed at a cell's proxy, and small readers of their answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic
import httpx
import ollama
import openai
from google import genai
from google.genai import types

from tests.conformance.upstreams import Proxy

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
OPENAI_WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": WEATHER},
}
# Ollama's tools have Chat Completions' shape.
OLLAMA_WEATHER_TOOL = OPENAI_WEATHER_TOOL
RESPONSES_WEATHER_TOOL = {"type": "function", "name": "get_weather", "parameters": WEATHER}
ANTHROPIC_WEATHER_TOOL = {"name": "get_weather", "input_schema": WEATHER}
GEMINI_WEATHER_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER)
    ]
)
# A one-page PDF, enough for every dialect's document part.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF"
)
PDF_BASE64 = base64.b64encode(PDF).decode()


def openai_sdk(proxy: Proxy) -> openai.OpenAI:
    # No retries: a cell must see the first answer, not a retried one.
    return openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="sk-client", max_retries=0)


def ollama_sdk(
    proxy: Proxy, headers: dict[str, str] | None = None, seen: list[httpx.Response] | None = None
) -> ollama.Client:
    """The `ollama` client; `seen` collects the HTTP responses it got (their headers are
    not on `ollama.ResponseError`)."""
    hooks = {"response": [seen.append]} if seen is not None else {}
    return ollama.Client(host=proxy.url, headers=headers, event_hooks=hooks)


def ollama_chat(
    proxy: Proxy, headers: dict[str, str] | None = None, **request: Any
) -> ollama.ChatResponse:
    """One `/api/chat` answer, not streamed."""
    with ollama_sdk(proxy, headers) as client:
        return client.chat(**request, stream=False)


def ollama_lines(
    proxy: Proxy, headers: dict[str, str] | None = None, **request: Any
) -> list[ollama.ChatResponse]:
    """The lines of one streamed `/api/chat` answer, to its end."""
    with ollama_sdk(proxy, headers) as client:
        return list(client.chat(**request, stream=True))


def responses_text(response: Any) -> str:
    """The text of a Responses answer's message items, as `output_text` joins it."""
    return response.output_text


def responses_items(response: Any, kind: str) -> list[Any]:
    return [item for item in response.output if item.type == kind]


def responses_parts(response: Any, kind: str) -> list[Any]:
    return [
        part
        for item in responses_items(response, "message")
        for part in item.content
        if part.type == kind
    ]


def anthropic_sdk(proxy: Proxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key="sk-client", max_retries=0)


def gemini_sdk(proxy: Proxy) -> genai.Client:
    options = types.HttpOptions(
        base_url=proxy.url, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key="client-key", http_options=options)


def gemini_config(
    headers: dict[str, str] | None = None, **fields: Any
) -> types.GenerateContentConfig:
    if headers:
        fields["http_options"] = types.HttpOptions(headers=headers)
    return types.GenerateContentConfig(**fields)


def gemini_finish(response: types.GenerateContentResponse) -> str | None:
    candidates = response.candidates or []
    reason = candidates[0].finish_reason if candidates else None
    return reason.name if reason is not None else None


def gemini_parts(response: types.GenerateContentResponse) -> list[types.Part]:
    candidates = response.candidates or []
    if not candidates or candidates[0].content is None:
        return []
    return list(candidates[0].content.parts or [])


def gemini_text(response: types.GenerateContentResponse) -> str:
    return "".join(p.text or "" for p in gemini_parts(response) if not p.thought)


def anthropic_text(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def body_mentions(body: Any, needle: str) -> bool:
    return needle in json.dumps(body)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def carries_bytes(body: Any, raw: bytes) -> bool:
    """Whether some string of `body` is `raw` in standard base64 (bare or in a data URL),
    the only encoding upstreams take."""
    for text in _strings(body):
        data = text.split(";base64,", 1)[1] if text.startswith("data:") else text
        try:
            if base64.b64decode(data, validate=True) == raw:
                return True
        except ValueError:
            continue
    return False
