"""Every inbound route the fuzz suite drives, with valid request bodies to mutate.

The seeds follow the dialects' documented request shapes (and the examples in
`tests/dialects/`); each route's strategy starts from one of them, so that most fuzzed
bodies get past the first checks and reach the deeper parsing, the token counter, the
provider and the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tests.support import png_data_url

Dialect = Literal["openai", "responses", "anthropic", "gemini", "ollama"]
DIALECT_NAMES: tuple[Dialect, ...] = ("openai", "responses", "anthropic", "gemini", "ollama")
# How a route is asked to stream: a boolean `stream` field, Ollama's `stream` field that
# defaults to true, a path that always streams (Gemini), or never.
StreamStyle = Literal["field", "field_default_on", "always", "never"]

PNG_URL = png_data_url(2, 2)
PNG_B64 = PNG_URL.split(",", 1)[1]
WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}
# Where a model name goes in the path; the strategies put odd names there too.
MODEL = "{model}"


@dataclass(frozen=True)
class Route:
    """One way in: `path` may hold `{model}` (Gemini) or `{id}` (a stored response)."""

    name: str
    dialect: Dialect
    method: str
    path: str
    seeds: tuple[Any, ...] = ()
    stream: StreamStyle = "never"
    # The share of a dialect's examples this route gets: aliases of a route (the same
    # handler under another prefix) get a few, to prove they are wired alike.
    weight: float = 1.0
    # Reaches the provider's chat stream, so the run against an OpenAI-compatible
    # upstream drives it too.
    chat: bool = False
    query: dict[str, str] = field(default_factory=dict)
    # False for a method the proxy does not serve: every answer is a 404, so the long
    # run's bodies per dialect are counted without it.
    served: bool = True

    def __repr__(self) -> str:
        return f"Route({self.name})"


_USER = [{"role": "user", "content": "Hello there"}]

CHAT_SEEDS: tuple[Any, ...] = (
    {"model": "mock", "messages": _USER},
    {
        "model": "mock",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Really brief."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "low"}},
                ],
            },
            {"role": "assistant", "content": "A picture.", "name": "bot"},
            {"role": "user", "content": "Thanks", "name": "ann"},
        ],
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 64,
        "stop": ["\n\n", "END"],
        "n": 1,
        "seed": 7,
        "user": "fuzz",
        "presence_penalty": 0.1,
        "frequency_penalty": 0.1,
        "logit_bias": {"50256": -100},
    },
    {
        "model": "mock",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": WEATHER,
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "max_completion_tokens": 100,
    },
    {
        "model": "mock-reasoning",
        "messages": _USER,
        "reasoning_effort": "low",
        "logprobs": True,
        "top_logprobs": 2,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": WEATHER, "strict": True},
        },
        "stream_options": {"include_usage": True},
        "metadata": {"k": "v"},
        "store": False,
    },
    {"model": "mock", "messages": _USER, "response_format": {"type": "json_object"}},
)

COMPLETION_SEEDS: tuple[Any, ...] = (
    {"model": "mock", "prompt": "Say hello"},
    {"model": "mock", "prompt": ["One", "Two"], "max_tokens": 16, "stop": "\n", "n": 1},
    {"model": "mock", "prompt": [15339, 1917], "echo": True, "logprobs": 2},
    {"model": "mock", "prompt": [[15339], [1917, 0]], "suffix": "!", "temperature": 0},
)

EMBEDDING_SEEDS: tuple[Any, ...] = (
    {"model": "mock-embedding", "input": "Hello"},
    {"model": "mock-embedding", "input": ["a", "b"], "dimensions": 8},
    {"model": "mock-embedding", "input": [15339, 1917], "encoding_format": "base64"},
    {
        "model": "mock-embedding",
        "input": [[15339], [1917]],
        "encoding_format": "float",
        "user": "u",
    },
)

RESPONSES_SEEDS: tuple[Any, ...] = (
    {"model": "mock", "input": "Hello there"},
    {
        "model": "mock",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": "Hi"},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": PNG_URL, "detail": "auto"},
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "A picture."}],
            },
        ],
        "temperature": 0.3,
        "top_p": 1,
        "max_output_tokens": 64,
        "store": False,
        "metadata": {"k": "v"},
        "truncation": "disabled",
    },
    {
        "model": "mock",
        "input": [
            {"role": "user", "content": "Weather?"},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ],
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "description": "Weather",
                "parameters": WEATHER,
                "strict": True,
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": True,
    },
    {
        "model": "mock-reasoning",
        "input": "Think",
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "a", "schema": WEATHER}},
        "include": ["reasoning.encrypted_content"],
    },
    {"model": "mock", "input": "Again", "previous_response_id": "resp_0000000000000000"},
)

ANTHROPIC_SEEDS: tuple[Any, ...] = (
    {"model": "mock", "max_tokens": 64, "messages": _USER},
    {
        "model": "mock",
        "max_tokens": 128,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    },
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "A picture."}]},
            {"role": "user", "content": "Thanks"},
        ],
        "temperature": 0.5,
        "top_k": 5,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"},
    },
    {
        "model": "mock",
        "max_tokens": 64,
        "system": "Use tools.",
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "sunny"}],
                        "is_error": False,
                    }
                ],
            },
        ],
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    },
    {
        "model": "mock-reasoning",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": _USER,
        "tool_choice": {"type": "auto"},
    },
)

_GEMINI_USER = [{"role": "user", "parts": [{"text": "Hello there"}]}]
GEMINI_SEEDS: tuple[Any, ...] = (
    {"contents": _GEMINI_USER},
    {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "What is this?"},
                    {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
                ],
            },
            {"role": "model", "parts": [{"text": "A picture."}]},
            {"role": "user", "parts": [{"text": "Thanks"}]},
        ],
        "generationConfig": {
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 5,
            "maxOutputTokens": 64,
            "stopSequences": ["END"],
            "candidateCount": 1,
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    },
    {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather?"}]},
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "response": {"result": "sunny"},
                        }
                    }
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "get_weather", "description": "Weather", "parameters": WEATHER}
                ]
            }
        ],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
        },
    },
    {
        "contents": _GEMINI_USER,
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"}},
                "required": ["city"],
            },
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 128},
            "responseLogprobs": True,
            "logprobs": 2,
        },
    },
)

GEMINI_COUNT_SEEDS: tuple[Any, ...] = (
    *GEMINI_SEEDS[:3],
    {"generateContentRequest": {"model": "models/mock", "contents": _GEMINI_USER}},
)

GEMINI_EMBED_SEEDS: tuple[Any, ...] = (
    {"model": "models/mock-embedding", "content": {"parts": [{"text": "Hello"}]}},
    {
        "requests": [
            {"model": "models/mock-embedding", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/mock-embedding", "content": {"parts": [{"text": "b"}]}},
        ]
    },
)

OLLAMA_CHAT_SEEDS: tuple[Any, ...] = (
    {"model": "mock", "messages": _USER},
    {
        "model": "mock",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is this?", "images": [PNG_B64]},
            {"role": "assistant", "content": "A picture."},
            {"role": "user", "content": "Thanks"},
        ],
        "options": {"temperature": 0.5, "top_p": 0.9, "num_predict": 64, "stop": ["END"]},
        "keep_alive": "5m",
    },
    {
        "model": "mock",
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
                ],
            },
            {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": WEATHER,
                },
            }
        ],
    },
    {"model": "mock-reasoning", "messages": _USER, "think": True, "format": WEATHER},
    {"model": "mock", "messages": _USER, "format": "json"},
)

OLLAMA_GENERATE_SEEDS: tuple[Any, ...] = (
    {"model": "mock", "prompt": "Say hello"},
    {
        "model": "mock",
        "prompt": "What is this?",
        "system": "Be brief.",
        "images": [PNG_B64],
        "options": {"temperature": 0, "num_predict": 16, "seed": 3},
        "suffix": "!",
    },
    {"model": "mock", "prompt": "[INST] hi [/INST]", "raw": True, "format": "json"},
    {"model": "mock-reasoning", "prompt": "Think", "think": True, "format": WEATHER},
)

OLLAMA_EMBED_SEEDS: tuple[Any, ...] = (
    {"model": "mock-embedding", "input": "Hello"},
    {"model": "mock-embedding", "input": ["a", "b"], "truncate": True, "dimensions": 8},
)
OLLAMA_EMBEDDINGS_SEEDS: tuple[Any, ...] = (
    {"model": "mock-embedding", "prompt": "Hello"},
    {"model": "mock-embedding", "prompt": "Hello", "options": {"temperature": 0}},
)
OLLAMA_SHOW_SEEDS: tuple[Any, ...] = ({"model": "mock"}, {"name": "mock", "verbose": True})

# GET and DELETE of one stored response take no body; fuzzed ids and stray bodies.
NO_BODY: tuple[Any, ...] = (None, {})


def _openai(prefix: str, weight: float) -> list[Route]:
    return [
        Route(f"openai-chat{prefix}", "openai", "POST", f"{prefix}/chat/completions",
              CHAT_SEEDS, "field", weight, chat=True),
        Route(f"openai-completions{prefix}", "openai", "POST", f"{prefix}/completions",
              COMPLETION_SEEDS, "field", weight, chat=True),
        Route(f"openai-embeddings{prefix}", "openai", "POST", f"{prefix}/embeddings",
              EMBEDDING_SEEDS, "never", weight),
    ]  # fmt: skip


def _responses(prefix: str, weight: float) -> list[Route]:
    return [
        Route(f"responses-create{prefix}", "responses", "POST", f"{prefix}/responses",
              RESPONSES_SEEDS, "field", weight, chat=True),
        Route(f"responses-get{prefix}", "responses", "GET", f"{prefix}/responses/{{id}}",
              NO_BODY, "never", weight / 4),
        Route(f"responses-delete{prefix}", "responses", "DELETE", f"{prefix}/responses/{{id}}",
              NO_BODY, "never", weight / 4),
    ]  # fmt: skip


def _anthropic(prefix: str, weight: float) -> list[Route]:
    return [
        Route(f"anthropic-messages{prefix}", "anthropic", "POST", f"{prefix}/messages",
              ANTHROPIC_SEEDS, "field", weight, chat=True),
        Route(f"anthropic-count{prefix}", "anthropic", "POST", f"{prefix}/messages/count_tokens",
              ANTHROPIC_SEEDS, "never", weight / 2),
    ]  # fmt: skip


def _gemini(prefix: str, weight: float) -> list[Route]:
    base = f"{prefix}/models/{MODEL}"
    return [
        Route(f"gemini-generate{prefix}", "gemini", "POST", f"{base}:generateContent",
              GEMINI_SEEDS, "never", weight, chat=True),
        Route(f"gemini-stream{prefix}", "gemini", "POST", f"{base}:streamGenerateContent",
              GEMINI_SEEDS, "always", weight, chat=True),
        Route(f"gemini-stream-sse{prefix}", "gemini", "POST", f"{base}:streamGenerateContent",
              GEMINI_SEEDS, "always", weight, chat=True, query={"alt": "sse"}),
        Route(f"gemini-count{prefix}", "gemini", "POST", f"{base}:countTokens",
              GEMINI_COUNT_SEEDS, "never", weight / 2),
        # Not served (yet): they must still answer a clean 404 in Gemini's shape.
        Route(f"gemini-embed{prefix}", "gemini", "POST", f"{base}:embedContent",
              GEMINI_EMBED_SEEDS, "never", weight / 4, served=False),
        Route(f"gemini-batch-embed{prefix}", "gemini", "POST", f"{base}:batchEmbedContents",
              GEMINI_EMBED_SEEDS, "never", weight / 4, served=False),
    ]  # fmt: skip


_OLLAMA: list[Route] = [
    Route("ollama-chat", "ollama", "POST", "/api/chat", OLLAMA_CHAT_SEEDS, "field_default_on",
          chat=True),
    Route("ollama-generate", "ollama", "POST", "/api/generate", OLLAMA_GENERATE_SEEDS,
          "field_default_on", chat=True),
    Route("ollama-embed", "ollama", "POST", "/api/embed", OLLAMA_EMBED_SEEDS, weight=0.5),
    Route("ollama-embeddings", "ollama", "POST", "/api/embeddings", OLLAMA_EMBEDDINGS_SEEDS,
          weight=0.5),
    Route("ollama-show", "ollama", "POST", "/api/show", OLLAMA_SHOW_SEEDS, weight=0.5),
]  # fmt: skip

# Aliases run the same handlers: a few examples each prove they are wired alike.
_ALIAS = 0.1
ROUTES: tuple[Route, ...] = (
    *_openai("/v1", 1.0),
    *_openai("", _ALIAS),
    *_responses("/v1", 1.0),
    *_responses("", _ALIAS),
    *_anthropic("/v1", 1.0),
    *_anthropic("", _ALIAS),
    *_gemini("/v1beta", 1.0),
    *_gemini("/v1", _ALIAS),
    *_gemini("", _ALIAS),
    *_OLLAMA,
)
ROUTES_BY_NAME = {route.name: route for route in ROUTES}


def routes_of(dialect: Dialect) -> list[Route]:
    return [route for route in ROUTES if route.dialect == dialect]
