"""No secret reaches a recorded cassette, and `cassettes check` catches one that does.

One cassette is recorded from real loopback traffic carrying credentials of every kind
the proxy meets: API keys as a bearer token, `x-api-key`, `x-goog-api-key` and `?key=`;
Qwen's session cookies and token; a ChatGPT browser login (code and PKCE verifier
traded for access, refresh and ID tokens), its refresh and a device-code login; a
GitHub device flow and a Copilot token exchange; and, through the proxy itself, the
tokens, account id and a `set-cookie` of the ChatGPT, Copilot, Grok and Qwen providers.
The test collects every value that went over the wire and looks for each in the
written file as it is, URL-encoded, and inside base64 (a JWT's payload holds the
ChatGPT account id).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import string
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import httpx
import openai
import pytest
import yaml

from chatmock_lab.auth import github as gh
from chatmock_lab.auth.chatgpt import (
    CLIENT_ID,
    DeviceCode,
    authorize_url,
    exchange_code,
    generate_pkce,
    generate_state,
    login_with_device_code,
    refresh_tokens,
)
from chatmock_lab.cassettes import find_secrets, load_cassette
from chatmock_lab.cassettes.transport import CassetteTransport
from chatmock_lab.cli import main
from chatmock_lab.config import Settings
from chatmock_lab.server import BackgroundServer, create_app
from chatmock_lab.testing import FakeCodexBackend, FakeOpenAIUpstream
from chatmock_lab.testing.fake_chatgpt_auth import FakeChatGPTAuth
from chatmock_lab.testing.fake_github import FakeGitHub
from chatmock_lab.testing.fake_qwen import FakeQwen

MARKER = "<REDACTED>"
URL_MARKER = quote(MARKER, safe="")
REDIRECT_URI = "http://localhost:1455/auth/callback"
_ALNUM = string.ascii_letters + string.digits


def _random(length: int, alphabet: str = _ALNUM) -> str:
    # Fresh every run, so a value can only be in the file because it was recorded.
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# Keys in their vendors' formats.
OPENAI_KEY = f"sk-proj-{_random(40)}T3BlbkFJ{_random(40)}"
ANTHROPIC_KEY = f"sk-ant-api03-{_random(86, _ALNUM + '_-')}AA"
GOOGLE_HEADER_KEY = "AIza" + _random(35, _ALNUM + "_-")
GOOGLE_QUERY_KEY = "AIza" + _random(35, _ALNUM + "_-")
XAI_KEY = "xai-" + _random(80)
BROWSER_COOKIE = _random(64)
ACCOUNT_ID = str(uuid.uuid4())  # ChatGPT account ids are UUIDs
# chat.qwen.ai's web token is a JWT; the cookies come as copied from the browser.
QWEN_TOKEN = ".".join(
    [
        _b64url(b'{"alg":"HS256","typ":"JWT"}'),
        _b64url(f'{{"id":"{_random(24)}"}}'.encode()),
        _random(43),
    ]
)
QWEN_COOKIE_VALUES = (f"0qRxgDnD{_random(40)}", _random(24), _random(32))
QWEN_COOKIES = (
    f"ssxmod_itna={QWEN_COOKIE_VALUES[0]}; cna={QWEN_COOKIE_VALUES[1]}; "
    f"acw_tc={QWEN_COOKIE_VALUES[2]}; token={QWEN_TOKEN}"
)
SESSION_COOKIE = _random(43, _ALNUM + "_-.")
SET_COOKIE = (
    f"__cf_bm={SESSION_COOKIE}; path=/; expires=Wed, 01-Jan-2031 00:00:00 GMT;"
    " domain=.chatgpt.com; HttpOnly; Secure; SameSite=None"
)


class _Wiretap(httpx.AsyncBaseTransport):
    """The network, keeping a plain copy of what went over it: some secrets (a device
    login's code and verifier) reach no function's return value, only the wire. Chunks
    pass on as they arrive, so a recorded stream keeps its chunks."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[str] = []
        self.bodies: list[str] = []  # each response body, once read to the end

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += [str(request.url), str(request.headers), request.content.decode()]
        response = await self._inner.handle_async_request(request)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Tee(response, self.bodies),
            extensions=response.extensions,
            request=request,
        )

    def text(self) -> str:
        return "\n".join(self.sent + self.bodies)

    async def aclose(self) -> None:
        """Left open for the next cassette transport: `hang_up` closes the network."""

    async def hang_up(self) -> None:
        await self._inner.aclose()


class _Tee(httpx.AsyncByteStream):
    def __init__(self, response: httpx.Response, bodies: list[str]) -> None:
        self._response = response
        self._bodies = bodies

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body = bytearray()
        async for chunk in self._response.aiter_raw():
            body += chunk
            yield chunk
        self._bodies.append(body.decode())

    async def aclose(self) -> None:
        await self._response.aclose()


@dataclass
class Recording:
    path: Path
    secrets: dict[str, str]  # a name (safe for assertion messages) for each secret value
    wire: str  # the unscrubbed login and key traffic
    paths: list[str]  # the path of each interaction, in order


async def _no_wait(_seconds: float) -> None:
    return None


async def _record_logins(
    path: Path, wire: _Wiretap, auth: FakeChatGPTAuth, github: FakeGitHub, found: dict[str, str]
) -> None:
    """ChatGPT's browser login, refresh and device login; GitHub's device flow and the
    Copilot token: each with the client a login would use, recording into the cassette."""
    transport = CassetteTransport(path, mode="all", inner=wire)
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        # The browser's visit to the authorize page is not the proxy's traffic: the test
        # plays the browser with its own client and takes the code from the redirect.
        pkce, state = generate_pkce(), generate_state()
        async with httpx.AsyncClient(timeout=10) as browser:
            redirect = await browser.get(authorize_url(auth.url, pkce, state, REDIRECT_URI))
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        signed_in = await exchange_code(
            issuer=auth.url,
            http=http,
            code=code,
            code_verifier=pkce.verifier,
            redirect_uri=REDIRECT_URI,
        )
        refreshed = await refresh_tokens(
            issuer=auth.url, http=http, refresh_token=signed_in.refresh_token, previous=signed_in
        )
        auth.script_device("approved", pending=1)
        shown: list[DeviceCode] = []
        by_device = await login_with_device_code(
            issuer=auth.url, http=http, on_code=shown.append, sleep=_no_wait
        )

        github.script(["pending", "success"])
        endpoints = github.endpoints
        device = await gh.request_device_code(http, endpoints)
        github_token = await gh.poll_for_token(http, endpoints, device, sleep=_no_wait)
        copilot = await gh.fetch_copilot_token(http, endpoints, github_token)
        await gh.copilot_usage(http, endpoints, github_token)

    found |= {"authorization code": code, "PKCE verifier": pkce.verifier}
    for name, tokens in (("login", signed_in), ("refresh", refreshed), ("device", by_device)):
        assert tokens.account_id == ACCOUNT_ID
        found |= {
            f"{name} access token": tokens.access_token,
            f"{name} refresh token": tokens.refresh_token,
            f"{name} ID token": tokens.id_token,
        }
    (approval,) = [b for b in wire.bodies if '"authorization_code"' in b]
    approved = httpx.Response(200, content=approval).json()
    found |= {
        "device login id": shown[0].device_auth_id,
        "device login authorization code": approved["authorization_code"],
        "device login PKCE verifier": approved["code_verifier"],
        "GitHub device code": device.device_code,
        "GitHub token": github_token,
        "Copilot token": copilot.token,
    }


async def _record_key_headers(path: Path, wire: _Wiretap, upstream: FakeOpenAIUpstream) -> None:
    """Keys in every place a client puts one, on a streamed answer and on an error that
    echoes the key back (as OpenAI's 401 does)."""
    headers = {
        "authorization": f"Bearer {OPENAI_KEY}",
        "x-api-key": ANTHROPIC_KEY,
        "x-goog-api-key": GOOGLE_HEADER_KEY,
        "cookie": f"__Secure-next-auth.session-token={BROWSER_COOKIE}; oai-did={ACCOUNT_ID}",
    }
    body = {"model": "fake-model-1", "messages": [{"role": "user", "content": "hi"}]}
    url = f"{upstream.base_url}/chat/completions"
    transport = CassetteTransport(path, mode="all", inner=wire)
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        streamed = {**body, "stream": True}
        params = {"alt": "sse", "key": GOOGLE_QUERY_KEY}
        async with http.stream("POST", url, params=params, headers=headers, json=streamed) as sse:
            assert sse.status_code == 200
            assert "data: [DONE]" in (await sse.aread()).decode()
        upstream.fail(401, message=f"Incorrect API key provided: {OPENAI_KEY}.")
        refused = await http.post(url, headers=headers, json=body)
        assert refused.status_code == 401 and OPENAI_KEY in refused.text


def _record_through_proxy(
    path: Path,
    home: Path,
    auth: FakeChatGPTAuth,
    codex: FakeCodexBackend,
    upstream: FakeOpenAIUpstream,
    github: FakeGitHub,
    qwen: FakeQwen,
    found: dict[str, str],
) -> None:
    """The proxy recording its own upstream calls: one request to each provider that
    carries a credential (its model prefix picks the provider)."""
    tokens = auth.store_login(home)
    proxy_github_token = github.store_login(home)
    codex.require_bearer(tokens.access_token)
    codex.usage_headers = {"set-cookie": SET_COOKIE}
    env = {
        "CHATMOCK_HOME": str(home),
        "HOME": str(home),
        "CHATMOCK_CHATGPT_AUTH_URL": auth.url,
        "CHATMOCK_CHATGPT_BASE_URL": codex.base_url,
        "CHATMOCK_GITHUB_URL": github.github_url,
        "CHATMOCK_GITHUB_API_URL": github.api_url,
        "XAI_API_KEY": XAI_KEY,
        "CHATMOCK_GROK_BASE_URL": upstream.base_url,
        "QWEN_AUTH_TOKEN": QWEN_TOKEN,
        "QWEN_COOKIES": QWEN_COOKIES,
        "QWEN_CHAT_ID": str(uuid.uuid4()),
        "CHATMOCK_QWEN_BASE_URL": qwen.url,
    }
    settings = Settings(port=0, provider="qwen", record=path, record_mode="all", retries=0)
    server = BackgroundServer(settings, create_app(settings, env=env)).start()
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
            for model in ("chatgpt/gpt-5", "copilot/gpt-4.1", "grok/grok-4", "qwen/qwen3-max"):
                stream = client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "hi"}], stream=True
                )
                assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    finally:
        # Stopping waits for the last upstream stream to close, and so to be saved.
        server.stop()
    # Each credential reached its upstream.
    assert codex.last_request().headers["chatgpt-account-id"] == ACCOUNT_ID
    to_copilot, to_grok = list(upstream.requests)[-2:]
    assert to_copilot.headers["authorization"] == f"Bearer {github.issued_copilot_tokens[-1]}"
    assert to_grok.headers["authorization"] == f"Bearer {XAI_KEY}"
    assert qwen.last_request().headers["authorization"] == f"Bearer {QWEN_TOKEN}"
    assert qwen.last_request().headers["cookie"] == QWEN_COOKIES
    found |= {
        "proxy's ChatGPT access token": tokens.access_token,
        "proxy's ChatGPT refresh token": tokens.refresh_token,
        "proxy's ChatGPT ID token": tokens.id_token,
        "proxy's GitHub token": proxy_github_token,
        "proxy's Copilot token": github.issued_copilot_tokens[-1],
    }


async def _record_directly(
    path: Path,
    wire: _Wiretap,
    auth: FakeChatGPTAuth,
    github: FakeGitHub,
    upstream: FakeOpenAIUpstream,
    found: dict[str, str],
) -> None:
    # One event loop for both, since the wiretap's connections belong to it.
    try:
        await _record_logins(path, wire, auth, github, found)
        await _record_key_headers(path, wire, upstream)
    finally:
        await wire.hang_up()


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    path = tmp_path_factory.mktemp("cassettes") / "secrets.yaml"
    home = tmp_path_factory.mktemp("home")
    found = {
        "OpenAI key": OPENAI_KEY,
        "Anthropic key": ANTHROPIC_KEY,
        "Google key in x-goog-api-key": GOOGLE_HEADER_KEY,
        "Google key in ?key=": GOOGLE_QUERY_KEY,
        "xAI key": XAI_KEY,
        "browser session cookie": BROWSER_COOKIE,
        "ChatGPT account id": ACCOUNT_ID,
        "Qwen token": QWEN_TOKEN,
        "Qwen cookies": QWEN_COOKIES,
        **{f"Qwen cookie {n}": value for n, value in enumerate(QWEN_COOKIE_VALUES)},
        "set-cookie value": SESSION_COOKIE,
    }
    wire = _Wiretap()
    with (
        FakeChatGPTAuth(account_id=ACCOUNT_ID) as auth,
        FakeCodexBackend() as codex,
        FakeOpenAIUpstream() as upstream,
        FakeGitHub(copilot_api=upstream.base_url) as github,
        FakeQwen(token=QWEN_TOKEN) as qwen,
    ):
        asyncio.run(_record_directly(path, wire, auth, github, upstream, found))
        _record_through_proxy(path, home, auth, codex, upstream, github, qwen, found)
    paths = [urlsplit(i.request.uri).path for i in load_cassette(path).interactions]
    yield Recording(path=path, secrets=found, wire=wire.text(), paths=paths)


def _encodings(secret: str) -> dict[str, str]:
    return {"as is": secret, "URL-encoded": quote(secret, safe=""), "form": quote_plus(secret)}


def _base64_decoded(text: str) -> str:
    """Every run of base64 (either alphabet) in the text, decoded at each alignment."""
    decoded = []
    for run in re.findall(r"[A-Za-z0-9+/_-]{12,}", text):
        run = run.replace("+", "-").replace("/", "_")
        for start in range(4):
            piece = run[start:]
            piece = piece[: len(piece) - len(piece) % 4]
            decoded.append(base64.urlsafe_b64decode(piece).decode("latin-1"))
    return "\n".join(decoded)


def test_no_recorded_secret_is_in_the_file_in_any_encoding(recording: Recording) -> None:
    text = recording.path.read_text()
    assert len(recording.secrets) >= 35
    # A JWT's payload is base64 of JSON holding the account id, so the account id also
    # must not survive inside any base64 run (and neither must any other secret).
    decoded = _base64_decoded(text)
    leaks = []  # names only: a failure message must not print the secrets either
    for name, secret in recording.secrets.items():
        assert len(secret) >= 20, name
        leaks += [f"{name} ({how})" for how, form in _encodings(secret).items() if form in text]
        leaks += [f"{name} (base64)"] if secret in decoded else []
    assert not leaks, "secrets in the cassette: " + "; ".join(leaks)
    assert find_secrets(load_cassette(recording.path)) == []


def test_the_secrets_really_went_over_the_wire(recording: Recording) -> None:
    # Otherwise the test above would pass on a cassette of nothing.
    for name in (
        "authorization code",
        "PKCE verifier",
        "login ID token",
        "refresh refresh token",
        "device login id",
        "device login authorization code",
        "GitHub device code",
        "GitHub token",
        "Copilot token",
        "OpenAI key",
        "Anthropic key",
        "Google key in x-goog-api-key",
        "Google key in ?key=",
    ):
        assert recording.secrets[name] in recording.wire, name
    # The account id travels inside the tokens' JWT payloads.
    assert ACCOUNT_ID in _base64_decoded(recording.wire)


def test_every_interaction_is_kept_with_markers_where_the_secrets_were(
    recording: Recording,
) -> None:
    assert recording.paths == [
        # ChatGPT: code exchange, refresh; device login: user code, pending poll,
        # approved poll, code exchange.
        "/oauth/token",
        "/oauth/token",
        "/api/accounts/deviceauth/usercode",
        "/api/accounts/deviceauth/token",
        "/api/accounts/deviceauth/token",
        "/oauth/token",
        # GitHub: device code, pending poll, approved poll, Copilot token, usage.
        "/login/device/code",
        "/login/oauth/access_token",
        "/login/oauth/access_token",
        "/api/copilot_internal/v2/token",
        "/api/copilot_internal/user",
        # Keys in headers and the query, streamed; then an error echoing the key.
        "/v1/chat/completions",
        "/v1/chat/completions",
        # Through the proxy: ChatGPT (Codex), Copilot, Grok, Qwen.
        "/backend-api/codex/responses",
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/api/v2/chat/completions",
    ]
    interactions = load_cassette(recording.path).interactions
    exchange, refresh = interactions[0], interactions[1]
    assert parse_qs(exchange.request.body or "") == {
        "grant_type": ["authorization_code"],
        "code": [MARKER],
        "redirect_uri": [REDIRECT_URI],
        "client_id": [CLIENT_ID],
        "code_verifier": [MARKER],
    }
    assert json.loads(refresh.request.body or "")["refresh_token"] == MARKER
    for answer in (exchange.response.body, refresh.response.body):
        tokens = json.loads(answer)
        assert [tokens[f] for f in ("access_token", "refresh_token", "id_token")] == [MARKER] * 3
        assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    user_code, _, approval = (json.loads(i.response.body) for i in interactions[2:5])
    assert user_code["device_auth_id"] == MARKER and user_code["interval"] == "1"
    assert json.loads(interactions[3].request.body or "")["device_auth_id"] == MARKER
    assert approval["authorization_code"] == approval["code_verifier"] == MARKER
    assert approval["code_challenge"]  # not a secret: the verifier's hash, sent in the open
    github_device, _, github_token, copilot_token = (
        json.loads(i.response.body) for i in interactions[6:10]
    )
    assert github_device["device_code"] == MARKER and github_device["user_code"]
    assert json.loads(interactions[7].request.body or "")["device_code"] == MARKER
    assert github_token["access_token"] == MARKER and github_token["scope"] == "read:user"
    assert copilot_token["token"] == MARKER and copilot_token["chat_enabled"] is True
    assert interactions[9].request.headers["authorization"] == [f"token {MARKER}"]

    streamed, refused = interactions[11], interactions[12]
    assert streamed.request.headers["authorization"] == [f"Bearer {MARKER}"]
    for name in ("x-api-key", "x-goog-api-key", "cookie"):
        assert streamed.request.headers[name] == [MARKER]
    assert streamed.request.uri.endswith(f"?alt=sse&key={URL_MARKER}")
    assert streamed.response.chunks is not None and len(streamed.response.chunks) > 1
    assert streamed.response.body.rstrip().endswith("data: [DONE]")
    assert f"Incorrect API key provided: {MARKER}." in refused.response.body

    codex, copilot, grok, qwen = interactions[13:]
    assert codex.request.headers["chatgpt-account-id"] == [MARKER]
    assert codex.response.headers["set-cookie"] == [MARKER]
    # Kept as the chunks the network delivered (a fast local stream may come in one).
    assert codex.response.chunks is not None
    assert "".join(text for _, text in codex.response.chunks) == codex.response.body
    for interaction in (codex, copilot, grok, qwen):
        assert interaction.request.headers["authorization"] == [f"Bearer {MARKER}"]
        assert interaction.response.status == 200 and interaction.response.complete
    assert qwen.request.headers["cookie"] == [MARKER]
    assert "chat_id=" in qwen.request.uri


def _plant(source: Path, target: Path, interaction: int, secret: str) -> None:
    """A copy of the cassette with `secret` added to one response, edited as YAML the way
    a hand edit or another tool would leave it (chunks kept joining to the body)."""
    data = yaml.safe_load(source.read_text())
    response = data["interactions"][interaction]["response"]
    response["body"]["string"] += f'\n{{"leaked": "{secret}"}}'
    if response.get("chunks"):
        response["chunks"].append([response["chunks"][-1][0], f'\n{{"leaked": "{secret}"}}'])
    target.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("interaction", "secret"),
    [
        (1, f"sk-proj-{_random(40)}T3BlbkFJ{_random(40)}"),
        (
            15,
            ".".join(
                [_b64url(b'{"alg":"RS256"}'), _b64url(b'{"sub":"user-1234567"}'), _random(43)]
            ),
        ),
    ],
    ids=["openai-key", "jwt"],
)
def test_cassettes_check_fails_on_a_planted_secret_without_showing_it(
    recording: Recording,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    interaction: int,
    secret: str,
) -> None:
    assert main(["cassettes", "check", str(recording.path)]) == 0
    assert f"{recording.path}: ok" in capsys.readouterr().out

    planted = tmp_path / "planted.yaml"
    _plant(recording.path, planted, interaction, secret)
    assert main(["cassettes", "check", str(recording.path), str(planted)]) == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert f"{recording.path}: ok" in output
    assert f"{planted}: PROBLEMS" in output
    assert f"interaction {interaction}: " in output
    assert "response.body" in output
    assert secret not in output
    for name, value in recording.secrets.items():
        assert value not in output, name
