"""Upstreams that speak OpenAI's Chat Completions: xAI Grok, OpenRouter, and any
OpenAI-compatible server (OpenAI itself, Ollama, vLLM, LM Studio).

One implementation; each named provider differs only in its default base URL, the
variable holding its key, its extra headers and its name for the token limit.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx

from chatmock_lab import json_codec
from chatmock_lab.config import ConfigError
from chatmock_lab.core import ChatRequest, EmbeddingRequest, Event, ProxyError
from chatmock_lab.dialects.openai import (
    UpstreamChatStream,
    build_upstream_request,
    events_from_completion,
)
from chatmock_lab.dialects.openai.wire import MAX_TOKENS_FIELDS
from chatmock_lab.providers.base import EmbeddingResult, ModelInfo, report_dropped
from chatmock_lab.providers.context import ProviderContext
from chatmock_lab.providers.http import HttpUpstream, JSONStream
from chatmock_lab.sse import is_event_stream


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    name: str
    default_base_url: str
    base_url_variable: str
    key_variable: str
    key_required: bool
    # Chat Completions' token limit when the client did not name it (it is sent the way
    # an OpenAI client sent it): OpenAI's reasoning models reject `max_tokens`, which
    # older servers read alone. `CHATMOCK_<NAME>_MAX_TOKENS_FIELD` forces one.
    max_tokens_field: str = "max_tokens"
    headers: Mapping[str, str] = field(default_factory=dict)


SPECS: dict[str, UpstreamSpec] = {
    "grok": UpstreamSpec(
        name="grok",
        default_base_url="https://api.x.ai/v1",
        base_url_variable="CHATMOCK_GROK_BASE_URL",
        key_variable="XAI_API_KEY",
        key_required=True,
    ),
    "openrouter": UpstreamSpec(
        name="openrouter",
        default_base_url="https://openrouter.ai/api/v1",
        base_url_variable="CHATMOCK_OPENROUTER_BASE_URL",
        key_variable="OPENROUTER_API_KEY",
        key_required=True,
        # OpenRouter's attribution headers: who is calling, shown in its rankings.
        headers={
            "HTTP-Referer": "https://github.com/chatmock-lab/chatmock-lab",
            "X-Title": "chatmock-lab",
        },
    ),
    "openai": UpstreamSpec(
        name="openai",
        default_base_url="https://api.openai.com/v1",
        base_url_variable="CHATMOCK_OPENAI_BASE_URL",
        key_variable="OPENAI_API_KEY",
        # Local servers (Ollama, vLLM, LM Studio) need no key.
        key_required=False,
        # OpenAI's current name; a server that does not know it ignores it (no limit),
        # where a reasoning model given `max_tokens` fails the request.
        max_tokens_field="max_completion_tokens",
    ),
}


class OpenAICompatibleProvider:
    # The dialect its upstream streams in, for the traffic page's checks of that side.
    upstream_dialect = "openai"

    def __init__(self, spec: UpstreamSpec, env: Mapping[str, str], http: HttpUpstream) -> None:
        self.name = spec.name
        self.spec = spec
        self.base_url = (env.get(spec.base_url_variable) or spec.default_base_url).rstrip("/")
        self.api_key = env.get(spec.key_variable) or None
        self.http = http
        variable = f"CHATMOCK_{spec.name.upper()}_MAX_TOKENS_FIELD"
        forced = env.get(variable) or None
        if forced is not None and forced not in MAX_TOKENS_FIELDS:
            raise ConfigError(
                f"{variable} must be one of {', '.join(MAX_TOKENS_FIELDS)} (got {forced!r})"
            )
        self.forced_max_tokens_field = forced

    def __repr__(self) -> str:
        # Never the key: reprs end up in logs and tracebacks.
        return f"OpenAICompatibleProvider({self.name!r}, base_url={self.base_url!r})"

    def _headers(self) -> dict[str, str]:
        if self.api_key is None and self.spec.key_required:
            raise ProxyError(
                f"The {self.name} provider needs an API key: set {self.spec.key_variable}",
                kind="authentication",
            )
        headers = {"accept": "text/event-stream", **self.spec.headers}
        if self.api_key is not None:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers

    async def _target(self, request: ChatRequest | None = None) -> tuple[str, dict[str, str]]:
        """The base URL and headers for a call (a request's, or none for /models)."""
        return self.base_url, self._headers()

    async def _open(
        self, method: str, path: str, *, request: ChatRequest | None = None, body: object = None
    ) -> httpx.Response:
        base, headers = await self._target(request)
        if request is not None and not request.stream:
            headers = {**headers, "accept": "application/json"}
        return await self.http.open(
            method, f"{base}{path}", headers=headers, json_body=body, serving=request
        )

    def _max_tokens_field(self, model: str) -> str | None:
        """The token-limit field this upstream must get for `model`, whatever the client
        said; None lets the client's spelling (or the spec's default) stand."""
        return self.forced_max_tokens_field

    def map_model(self, model: str) -> str:
        return model

    async def aclose(self) -> None:
        await self.http.aclose()

    async def models(self) -> list[ModelInfo]:
        payload = await self.http.read_json(await self._open("GET", "/models"))
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise ProxyError(f"{self.name} answered /models without a `data` list", status=502)
        return [
            ModelInfo(
                id=str(item["id"]),
                owned_by=str(item.get("owned_by") or self.name),
                created=int(item.get("created") or 0),
                context_window=item.get("context_length"),
            )
            for item in data
            if isinstance(item, dict) and item.get("id")
        ]

    async def model(self, model_id: str) -> ModelInfo | None:
        for model in await self.models():
            if model.id == model_id:
                return model
        return None

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        body: dict[str, object] = {
            "model": request.model,
            "input": request.inputs,
            "encoding_format": "float",
        }
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        payload = await self.http.read_json(await self._open("POST", "/embeddings", body=body))
        try:
            rows = sorted(payload["data"], key=lambda row: row.get("index", 0))
            vectors = [[float(v) for v in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError):
            raise ProxyError(
                f"{self.name} answered /embeddings in an unknown shape", status=502
            ) from None
        usage = payload.get("usage") or {}
        return EmbeddingResult(vectors=vectors, input_tokens=int(usage.get("prompt_tokens") or 0))

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        body, dropped = build_upstream_request(
            request,
            max_tokens_field=self._max_tokens_field(request.model),
            default_max_tokens_field=self.spec.max_tokens_field,
            # A client that waits for the whole answer gets it from one upstream body:
            # no frames to parse, and the upstream need not stream either.
            stream=request.stream,
        )
        report_dropped(self.name, request, dropped)
        response = await self._open("POST", "/chat/completions", request=request, body=body)
        async for event in self.http.relay(response, self._answer(response)):
            yield event

    async def _answer(self, response: httpx.Response) -> AsyncIterator[Event]:
        if not is_event_stream(response.headers):
            # A non-streamed answer (asked for, or an upstream that ignored `stream: true`).
            for event in events_from_completion(json_codec.loads(await response.aread())):
                yield event
            return
        async for event in self._events(response):
            yield event

    def _events(self, response: httpx.Response) -> AsyncIterator[Event]:
        return JSONStream(self.http, response).events(UpstreamChatStream())


def create(name: str, context: ProviderContext) -> OpenAICompatibleProvider:
    """The registry's factory for `grok`, `openrouter` and `openai`."""
    spec = SPECS[name]
    return OpenAICompatibleProvider(spec, context.env, context.http_upstream(name))


def secret_variables(name: str) -> list[str]:
    # Every key variable, whichever of them is asked for: a key set for one named
    # provider is still a secret when another one is running.
    return [spec.key_variable for spec in SPECS.values()]
