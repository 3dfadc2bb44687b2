"""A GitHub Copilot subscription used as an API: Chat Completions at Copilot's endpoint.

The GitHub token from `chatmock-lab login copilot` is exchanged for short-lived
Copilot tokens (refreshed before expiry and once on a 401); requests carry an editor's
headers (`identity/copilot.py`). Claude model names are mapped to Copilot's
ids through its live model list, never to an older model.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import AsyncGenerator, Mapping

import httpx

from chatmock_lab.auth.github import CopilotCredentials, GitHubEndpoints
from chatmock_lab.auth.stand_ins import ReplayCopilotCredentials
from chatmock_lab.auth.store import TokenStore
from chatmock_lab.core import ChatRequest, Event, ProxyError
from chatmock_lab.identity import copilot as copilot_identity
from chatmock_lab.providers.base import ClientToken, ModelInfo
from chatmock_lab.providers.context import ProviderContext
from chatmock_lab.providers.http import HttpUpstream
from chatmock_lab.providers.openai_compatible import OpenAICompatibleProvider, UpstreamSpec

SPEC = UpstreamSpec(
    name="copilot",
    default_base_url="https://api.githubcopilot.com",
    base_url_variable="CHATMOCK_COPILOT_BASE_URL",
    key_variable="",
    key_required=False,
)
# Reasoning models reject `max_tokens`.
_COMPLETION_TOKENS_MODELS = re.compile(r"^(o\d|gpt-5)")
_DATE_SUFFIX = re.compile(r"-(\d{8}|latest)$")
_MODELS_TTL = 300.0


def copilot_model_id(requested: str, available: list[str]) -> str:
    """Copilot's id for a requested name: `claude-sonnet-4-5-20250929` and
    `claude-sonnet-4-5` become `claude-sonnet-4.5` when Copilot lists that; a name it does
    not list is passed on unchanged (Copilot then says what it thinks), never downgraded."""
    if requested in available:
        return requested
    base = _DATE_SUFFIX.sub("", requested)
    dotted = re.sub(r"(\d)-(\d)(?!\d)", r"\1.\2", base)
    for candidate in (base, dotted):
        if candidate in available:
            return candidate
    return requested


class CopilotProvider(OpenAICompatibleProvider):
    def __init__(
        self,
        env: Mapping[str, str],
        http: HttpUpstream,
        credentials: CopilotCredentials,
    ) -> None:
        super().__init__(SPEC, env, http)
        self.name = "copilot"
        self.credentials = credentials
        self._models: tuple[float, list[ModelInfo]] | None = None

    def __repr__(self) -> str:
        return "CopilotProvider()"

    async def _target(self, request: ChatRequest | None = None) -> tuple[str, dict[str, str]]:
        token = await self.credentials.current()
        headers = copilot_identity.request_headers(token.token, request)
        return self.credentials.api_base(token).rstrip("/"), headers

    async def _open(
        self, method: str, path: str, *, request: ChatRequest | None = None, body: object = None
    ) -> httpx.Response:
        try:
            return await super()._open(method, path, request=request, body=body)
        except ProxyError as error:
            if error.status != 401:
                raise
        # The Copilot token may have been revoked early: one new token, one retry.
        stale = await self.credentials.current()
        await self.credentials.after_unauthorized(stale.token)
        return await super()._open(method, path, request=request, body=body)

    def _max_tokens_field(self, model: str) -> str | None:
        # Copilot's models each accept one name; the client's spelling cannot know which.
        return "max_completion_tokens" if _COMPLETION_TOKENS_MODELS.match(model) else "max_tokens"

    async def models(self) -> list[ModelInfo]:
        cached = self._models
        if cached is not None and time.monotonic() - cached[0] < _MODELS_TTL:
            return cached[1]
        models = await super().models()
        self._models = (time.monotonic(), models)
        return models

    async def usage(self) -> dict[str, object]:
        """Copilot's quota for the signed-in account, as GitHub reports it."""
        # GitHub's own API, called like the login: through the auth transport.
        return await self.credentials.usage()

    async def client_token(self) -> ClientToken:
        """The current Copilot token, for tools that call Copilot themselves."""
        current = await self.credentials.current()
        return ClientToken(token=current.token, expires_at=current.expires_at)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        if request.model.startswith("claude"):
            available = [m.id for m in await self.models()]
            model = copilot_model_id(request.model, available)
            request = dataclasses.replace(request, model=model)
        async for event in super().stream(request):
            yield event


def create(name: str, context: ProviderContext) -> CopilotProvider:
    """The registry's factory: the stored GitHub login, exchanged for Copilot tokens
    through the auth transport; a replay gets a stand-in token that never expires."""
    env = context.env
    kind = ReplayCopilotCredentials if context.replaying else CopilotCredentials
    credentials = kind(
        TokenStore.default(env),
        endpoints=GitHubEndpoints.from_env(env),
        transport=context.auth_transport,
        account_type=env.get("CHATMOCK_COPILOT_ACCOUNT_TYPE") or "individual",
        env=env,
    )
    return CopilotProvider(env, context.http_upstream(name), credentials)


def secret_variables(name: str) -> list[str]:
    # The login lives in the token store, not in the environment.
    return []
