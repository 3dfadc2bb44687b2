"""A ChatGPT Plus/Pro account used as an API, through the Codex backend's Responses API.

Tokens come from `chatmock-lab login chatgpt` (or an existing Codex CLI login) and are
refreshed when they near expiry and once on a 401. Every request streams; the
Responses stream is translated into canonical events as it arrives.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Protocol

import httpx

from chatmock_lab.auth.chatgpt import ChatGPTCredentials, default_issuer
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens
from chatmock_lab.auth.stand_ins import ReplayChatGPTCredentials
from chatmock_lab.auth.store import TokenStore, chatmock_home, codex_auth_path
from chatmock_lab.core import (
    ChatRequest,
    EmbeddingRequest,
    Event,
    ProxyError,
    ReasoningConfig,
)
from chatmock_lab.dialects import responses
from chatmock_lab.identity import chatgpt as chatgpt_identity
from chatmock_lab.providers.base import EmbeddingResult, ModelInfo, report_dropped
from chatmock_lab.providers.context import ProviderContext
from chatmock_lab.providers.http import HttpUpstream, JSONStream

logger = logging.getLogger(__name__)


def _session_key(request: ChatRequest) -> str:
    """A stable id for one conversation (the system prompt and its first user turn), so
    the backend's prompt cache recognises later turns of it."""
    first = request.messages[0].text() if request.messages else ""
    seed = "\n".join(p.text for p in request.system) + "\x00" + first
    return str(uuid.UUID(hashlib.sha256(seed.encode()).hexdigest()[:32]))


def usage_windows(headers: Mapping[str, str]) -> list[dict[str, float]]:
    """The backend's usage windows (`x-codex-primary-*`, `x-codex-secondary-*`): how much
    is used, how long the window is, when it resets."""
    windows = []
    for which in ("primary", "secondary"):
        try:
            window = {
                "used_percent": float(headers[f"x-codex-{which}-used-percent"]),
                "window_minutes": float(headers[f"x-codex-{which}-window-minutes"]),
                "resets_in_seconds": float(headers.get(f"x-codex-{which}-reset-after-seconds", 0)),
            }
        except (KeyError, ValueError):
            continue
        windows.append(window)
    return windows


class TokenSource(Protocol):
    """Where the provider gets its access token: a login (`ChatGPTCredentials`) or, in
    a replay, a stand-in (`ReplayChatGPTCredentials`)."""

    async def current(self) -> ChatGPTTokens: ...

    async def after_unauthorized(self, stale_access_token: str) -> ChatGPTTokens: ...


class ChatGPTProvider:
    name = "chatgpt"
    upstream_dialect = "responses"

    def __init__(
        self,
        env: Mapping[str, str],
        http: HttpUpstream,
        credentials: TokenSource,
        usage_store: TokenStore | None = None,
    ) -> None:
        self.base_url = (
            env.get("CHATMOCK_CHATGPT_BASE_URL") or chatgpt_identity.DEFAULT_BASE_URL
        ).rstrip("/")
        self.http = http
        self.credentials = credentials
        self.installation_id = str(uuid.uuid4())
        self.usage_store = usage_store
        self._last_usage: list[dict[str, float]] | None = None

    def __repr__(self) -> str:
        return f"ChatGPTProvider(base_url={self.base_url!r})"

    def map_model(self, model: str) -> str:
        # Effort suffixes are read in `stream`, where the request's own effort can win.
        return model

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _headers(self, session: str) -> tuple[dict[str, str], str]:
        tokens = await self.credentials.current()
        headers = chatgpt_identity.request_headers(
            access_token=tokens.access_token,
            account_id=tokens.account_id,
            session_id=session,
            installation_id=self.installation_id,
        )
        return headers, tokens.access_token

    async def _open(
        self, url: str, body: object, session: str, serving: ChatRequest
    ) -> httpx.Response:
        headers, access_token = await self._headers(session)
        try:
            response = await self.http.open(
                "POST", url, headers=headers, json_body=body, serving=serving
            )
        except ProxyError as error:
            if error.status != 401:
                raise
            # One refresh and one retry: the token may have been revoked or rotated.
            await self.credentials.after_unauthorized(access_token)
            headers, _ = await self._headers(session)
            response = await self.http.open(
                "POST", url, headers=headers, json_body=body, serving=serving
            )
        self._note_usage(response.headers)
        return response

    def _note_usage(self, headers: Mapping[str, str]) -> None:
        """Keep the plan usage the backend reports, for `chatmock-lab info`."""
        windows = usage_windows(headers)
        if windows and windows != self._last_usage and self.usage_store is not None:
            self._last_usage = windows
            self.usage_store.save("chatgpt", {"windows": windows, "captured_at": time.time()})

    def prepare(self, request: ChatRequest) -> ChatRequest:
        """The request as the backend will get it: model name normalised, a name's effort
        suffix applied unless the request asked for an effort itself."""
        model, suffix_effort = chatgpt_identity.parse_model(request.model)
        reasoning = request.reasoning
        if suffix_effort is not None and (reasoning is None or reasoning.effort is None):
            base = reasoning or ReasoningConfig()
            reasoning = dataclasses.replace(base, effort=suffix_effort)
        return dataclasses.replace(request, model=model, reasoning=reasoning)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        upstream = self.prepare(request)
        # The client's own cache key wins: it knows its conversations better than a hash.
        session = upstream.prompt_cache_key or _session_key(upstream)
        body, dropped = responses.build_upstream_request(upstream, prompt_cache_key=session)
        report_dropped(self.name, request, dropped)
        response = await self._open(f"{self.base_url}/responses", body, session, serving=request)
        async for event in self.http.relay(response, self._events(response)):
            yield event

    def _events(self, response: httpx.Response) -> AsyncIterator[Event]:
        # The Responses parser says itself that a body ended before `response.completed`.
        parser = responses.UpstreamResponsesStream()
        return JSONStream(self.http, response).events(parser, must_finish=False)

    async def models(self) -> list[ModelInfo]:
        try:
            headers, _ = await self._headers(str(uuid.uuid4()))
            payload = await self.http.request_json(
                "GET",
                f"{self.base_url}/models?client_version={chatgpt_identity.CLIENT_VERSION}",
                headers={**headers, "accept": "application/json"},
            )
            slugs = [str(m["slug"]) for m in payload.get("models", []) if m.get("slug")]
        except (ProxyError, AttributeError, TypeError) as error:
            if isinstance(error, ProxyError) and error.kind == "authentication":
                raise
            logger.info("chatgpt: model catalog unavailable, using the built-in list")
            slugs = []
        return [
            ModelInfo(id=slug, owned_by="chatgpt")
            for slug in (slugs or chatgpt_identity.STATIC_MODELS)
        ]

    async def model(self, model_id: str) -> ModelInfo | None:
        wanted, _ = chatgpt_identity.parse_model(model_id)
        for model in await self.models():
            if model.id == wanted:
                return ModelInfo(id=model_id, owned_by="chatgpt")
        return None

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        raise ProxyError(
            "The chatgpt provider has no embeddings; use another provider for /v1/embeddings",
            kind="invalid_request",
            param="model",
        )


def create(name: str, context: ProviderContext) -> ChatGPTProvider:
    """The registry's factory: the stored login (or Codex CLI's), refreshed through
    the auth transport; a replay gets stand-in credentials and no usage store, since
    replayed quota headers are not this account's."""
    env = context.env
    # Codex's error bodies (`detail`, quota resets) read differently from OpenAI's.
    http = context.http_upstream(
        name,
        error_parser=lambda payload, status: responses.upstream_error(
            payload, status, now=time.time()
        ),
    )
    if context.replaying:
        return ChatGPTProvider(env, http, ReplayChatGPTCredentials())
    credentials = ChatGPTCredentials(
        TokenStore.default(env),
        issuer=default_issuer(env),
        transport=context.auth_transport,
        codex_auth_path=codex_auth_path(env),
    )
    usage = TokenStore(chatmock_home(env) / "usage.json")
    return ChatGPTProvider(env, http, credentials, usage_store=usage)


def secret_variables(name: str) -> list[str]:
    # The login lives in the token store, not in the environment.
    return []
