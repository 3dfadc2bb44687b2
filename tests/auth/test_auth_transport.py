"""Auth clients on an injected transport: ChatGPT and Copilot credentials and both logins
reach their auth servers through the `transport` they are given, leave it open for the
next call, and refuse a client and a transport at once. Also: one Copilot identity."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from chatmock_lab.auth import chatgpt, github
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens
from chatmock_lab.auth.store import TokenStore
from chatmock_lab.identity import copilot as copilot_identity

T = TypeVar("T")

ISSUER = "https://auth.example.test"
ENDPOINTS = github.GitHubEndpoints(
    github="https://github.example.test", api="https://api.github.example.test"
)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, 10.0))


class Recording(httpx.AsyncBaseTransport):
    """A mock transport that keeps every request and notices being closed."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self._mock = httpx.MockTransport(answer)
        self.requests: list[httpx.Request] = []
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self._mock.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed = True

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.host}{r.url.path}" for r in self.requests]


class MemoryStore:
    def __init__(self, github_token: str) -> None:
        self.entries: dict[str, dict[str, Any]] = {"copilot": {"github_token": github_token}}

    def load(self, provider: str) -> dict[str, Any] | None:
        return self.entries.get(provider)

    def save(self, provider: str, data: dict[str, Any]) -> None:
        self.entries[provider] = data

    def delete(self, provider: str) -> bool:
        return self.entries.pop(provider, None) is not None


async def _no_wait(_seconds: float) -> None:
    return None


_issued = itertools.count(1)


def _chatgpt_token_answer(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/oauth/token"
    serial = next(_issued)
    return httpx.Response(
        200,
        json={
            "access_token": f"transport-access-{serial}",
            "refresh_token": f"transport-refresh-{serial}",
            "expires_in": 3600,
        },
    )


def test_chatgpt_refreshes_go_through_the_transport_and_leave_it_open(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    chatgpt.save_tokens(
        store,
        ChatGPTTokens(
            access_token="transport-stale-access",
            refresh_token="transport-stale-refresh",
            id_token="",
            account_id=None,
            expires_at=time.time() + 10,
        ),
    )
    transport = Recording(_chatgpt_token_answer)
    credentials = chatgpt.ChatGPTCredentials(
        store, issuer=ISSUER, transport=transport, import_codex=False
    )

    async def scenario() -> tuple[ChatGPTTokens, ChatGPTTokens]:
        early = await credentials.current()
        # A second refresh on the same transport: the first client closed, the transport not.
        return early, await credentials.after_unauthorized(early.access_token)

    early, retried = run(scenario())
    assert early.access_token != "transport-stale-access"
    assert retried.access_token != early.access_token
    assert transport.paths() == ["POST auth.example.test/oauth/token"] * 2
    assert json.loads(transport.requests[0].content)["refresh_token"] == "transport-stale-refresh"
    assert not transport.closed
    stored = chatgpt.load_tokens(store)
    assert stored is not None and stored.access_token == retried.access_token


def _github_answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/copilot_internal/v2/token":
        return httpx.Response(
            200,
            json={
                "token": "transport-copilot-token",
                "expires_at": time.time() + 1800,
                "refresh_in": 1500,
                "endpoints": {"api": "https://copilot.example.test"},
            },
        )
    if request.url.path == "/copilot_internal/user":
        return httpx.Response(200, json={"copilot_plan": "individual"})
    return httpx.Response(404, json={"message": "Not Found"})


def test_copilot_token_and_usage_go_through_the_transport_with_one_identity() -> None:
    transport = Recording(_github_answer)
    credentials = github.CopilotCredentials(
        MemoryStore("transport-github-token"), endpoints=ENDPOINTS, transport=transport, env={}
    )

    async def scenario() -> tuple[github.CopilotToken, dict[str, Any]]:
        return await credentials.current(), await credentials.usage()

    token, usage = run(scenario())
    assert token.api_base == "https://copilot.example.test"
    assert usage == {"copilot_plan": "individual"}
    assert transport.paths() == [
        "GET api.github.example.test/copilot_internal/v2/token",
        "GET api.github.example.test/copilot_internal/user",
    ]
    assert not transport.closed
    # The token exchange and the Copilot API calls present the same editor.
    sent = transport.requests[0].headers
    api_headers = copilot_identity.request_headers(token.token)
    for name, value in copilot_identity.editor_headers().items():
        assert sent[name] == value == api_headers[name]
    assert sent["editor-version"] == github.EDITOR_VERSION == copilot_identity.EDITOR_VERSION


def test_chatgpt_device_login_goes_through_the_transport() -> None:
    verifier = "transport-device-verifier-" + "v" * 40

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/accounts/deviceauth/usercode":
            return httpx.Response(
                200, json={"device_auth_id": "transport-device-id", "user_code": "ABCD-1234"}
            )
        if request.url.path == "/api/accounts/deviceauth/token":
            return httpx.Response(
                200,
                json={
                    "authorization_code": "transport-device-code",
                    "code_challenge": chatgpt.pkce_challenge(verifier),
                    "code_verifier": verifier,
                },
            )
        return _chatgpt_token_answer(request)

    transport = Recording(answer)
    codes: list[chatgpt.DeviceCode] = []
    tokens = run(
        chatgpt.login_with_device_code(
            issuer=ISSUER, transport=transport, on_code=codes.append, sleep=_no_wait
        )
    )
    assert tokens.access_token.startswith("transport-access-")
    assert [code.user_code for code in codes] == ["ABCD-1234"]
    assert transport.paths() == [
        "POST auth.example.test/api/accounts/deviceauth/usercode",
        "POST auth.example.test/api/accounts/deviceauth/token",
        "POST auth.example.test/oauth/token",
    ]
    assert not transport.closed


def test_github_login_goes_through_the_transport() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login/device/code":
            return httpx.Response(
                200,
                json={
                    "device_code": "transport-gh-device-code",
                    "user_code": "WXYZ-9876",
                    "verification_uri": "https://github.example.test/login/device",
                    "expires_in": 900,
                    "interval": 1,
                },
            )
        return httpx.Response(200, json={"access_token": "transport-gh-token"})

    transport = Recording(answer)
    shown: list[github.DeviceCode] = []
    token = run(
        github.login(endpoints=ENDPOINTS, transport=transport, on_code=shown.append, sleep=_no_wait)
    )
    assert token == "transport-gh-token"
    assert [code.user_code for code in shown] == ["WXYZ-9876"]
    assert transport.paths() == [
        "POST github.example.test/login/device/code",
        "POST github.example.test/login/oauth/access_token",
    ]
    assert not transport.closed


def test_a_client_and_a_transport_at_once_are_refused(tmp_path: Path) -> None:
    transport = Recording(_github_answer)

    def factory() -> httpx.AsyncClient:
        return httpx.AsyncClient()

    with pytest.raises(TypeError):
        chatgpt.ChatGPTCredentials(
            TokenStore(tmp_path / "tokens.json"), http_factory=factory, transport=transport
        )
    with pytest.raises(TypeError):
        github.CopilotCredentials(
            MemoryStore("transport-github-token"),
            endpoints=ENDPOINTS,
            http_factory=factory,
            transport=transport,
        )

    async def both() -> None:
        async with httpx.AsyncClient() as http:
            await chatgpt.login_with_device_code(
                issuer=ISSUER, http=http, transport=transport, on_code=print, sleep=_no_wait
            )

    with pytest.raises(TypeError):
        run(both())
    assert transport.requests == []
