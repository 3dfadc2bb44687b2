"""Signing in to ChatGPT the way Codex CLI does, and keeping the tokens fresh.

Two logins, both ending in the same OAuth token exchange at `{issuer}/oauth/token`:

* the browser flow (authorization code + PKCE S256): a loopback server on port 1455
  receives `/auth/callback?code=..&state=..` and the code is exchanged, form-encoded,
  with the PKCE verifier;
* the device-code flow for machines without a browser: `/api/accounts/deviceauth/usercode`
  gives a code for the user to type at `{issuer}/codex/device`, `/api/accounts/deviceauth/token`
  is polled until the server hands back an authorization code together with the PKCE
  pair it generated, and that code is exchanged with redirect URI
  `{issuer}/deviceauth/callback`.

Refreshing posts JSON `{client_id, grant_type: refresh_token, refresh_token}` to the same
token endpoint. Refresh tokens rotate: each one works once, so `ChatGPTCredentials` makes
concurrent callers share a single refresh and re-reads the store first, in case another
process has refreshed already.

Wire details follow openai/codex (`codex-rs/login/src/server.rs`, `pkce.rs`,
`device_code_auth.rs`, `auth/manager.rs`, `token_data.rs`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx

from chatmock_lab.auth.chatgpt_tokens import (
    ChatGPTTokens,
    account_id_from_id_token,
    expiry_of,
)
from chatmock_lab.auth.store import TokenStore, TokenStoreError, import_codex_auth
from chatmock_lab.core.errors import ProxyError
from chatmock_lab.redact import redactor

__all__ = [
    "CALLBACK_PATH",
    "CLIENT_ID",
    "DEFAULT_ISSUER",
    "DEFAULT_PORT",
    "DEFAULT_REDIRECT_URI",
    "ISSUER_ENV",
    "LOGIN_HINT",
    "PKCE",
    "PROVIDER",
    "SCOPES",
    "CallbackServer",
    "ChatGPTCredentials",
    "ChatGPTTokens",
    "DeviceCode",
    "LoginError",
    "RefreshError",
    "account_id_from_id_token",
    "authorize_url",
    "default_issuer",
    "exchange_code",
    "generate_pkce",
    "generate_state",
    "load_tokens",
    "login_with_browser",
    "login_with_device_code",
    "pkce_challenge",
    "refresh_tokens",
    "request_device_code",
    "save_tokens",
]

logger = logging.getLogger(__name__)

DEFAULT_ISSUER = "https://auth.openai.com"
ISSUER_ENV = "CHATMOCK_CHATGPT_AUTH_URL"
# Codex CLI's public OAuth client: the auth server only redirects to the loopback URIs
# registered for it (ports 1455 and 1457).
CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
SCOPES = "openid profile email offline_access"
# The auth server tailors its pages to the client named here; it knows Codex's.
ORIGINATOR = "codex_cli_rs"
DEFAULT_PORT = 1455
CALLBACK_PATH = "/auth/callback"
DEFAULT_REDIRECT_URI = f"http://localhost:{DEFAULT_PORT}{CALLBACK_PATH}"
PROVIDER = "chatgpt"
LOGIN_HINT = "run: chatmock-lab login chatgpt"
REFRESH_MARGIN = 300.0

# Device-code polling: the server's interval, within sane bounds, and RFC 8628's
# "slow_down" step when it answers 429.
_DEFAULT_INTERVAL = 5.0
_MIN_INTERVAL = 1.0
_MAX_INTERVAL = 60.0
_SLOW_DOWN_STEP = 5.0
# Loopback callback: a browser sends one short request; anything slower or bigger is not one.
_REQUEST_READ_TIMEOUT = 10.0
_MAX_REQUEST_BYTES = 16 * 1024
# How long the browser's request waits for the token exchange before it gets a page.
_OUTCOME_TIMEOUT = 60.0
_CLOSE_GRACE = 1.0
# Seconds between early refresh attempts while the auth server is failing.
_EARLY_REFRESH_RETRY = 30.0
_DETAIL_LIMIT = 200
_DENIED_CODES = frozenset({"access_denied", "authorization_declined", "denied"})
_PERMANENT_REFRESH_MESSAGES = {
    "refresh_token_expired": "the ChatGPT login has expired",
    "refresh_token_reused": "the ChatGPT refresh token was already used (by another program?)",
    "refresh_token_invalidated": "the ChatGPT login was revoked",
    # RFC 6749's code for a refresh token the server no longer accepts.
    "invalid_grant": "the ChatGPT login is no longer valid",
}


class LoginError(Exception):
    """A login or refresh that the auth server refused or that could not complete. The
    message is meant for the user and never holds a token, code or verifier."""


class RefreshError(LoginError):
    """A refused refresh. `permanent` means the refresh token is dead: only a new login helps."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def default_issuer(env: Mapping[str, str] = os.environ) -> str:
    return (env.get(ISSUER_ENV) or DEFAULT_ISSUER).rstrip("/")


# PKCE and state


@dataclass(frozen=True, repr=False)
class PKCE:
    """A PKCE pair: the secret verifier and its S256 challenge."""

    verifier: str
    challenge: str

    def __repr__(self) -> str:
        return "PKCE(method='S256')"


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate_pkce() -> PKCE:
    # 64 random bytes give an 86-character verifier, inside RFC 7636's 43..128.
    verifier = _random_token(64)
    redactor.add(verifier)
    return PKCE(verifier=verifier, challenge=pkce_challenge(verifier))


def generate_state() -> str:
    state = _random_token(32)
    redactor.add(state)
    return state


def authorize_url(
    issuer: str,
    pkce: PKCE,
    state: str,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    *,
    client_id: str = CLIENT_ID,
) -> str:
    """The page the user opens to sign in; it ends at `redirect_uri` with a code."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPES,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        # The ID token then names the user's organizations, as Codex's login asks.
        "id_token_add_organizations": "true",
        "codex_cli_simplified_flow": "true",
        "state": state,
        "originator": ORIGINATOR,
    }
    # %20 rather than "+" for spaces, as Codex encodes them.
    return f"{issuer.rstrip('/')}/oauth/authorize?{urlencode(query, quote_via=quote)}"


# The loopback callback server


class CallbackServer:
    """The loopback server the browser comes back to, bound to 127.0.0.1 only.

    A plain `asyncio.start_server` with a minimal HTTP/1.1 handler: it serves one GET on
    the login's own event loop, so the code reaches the waiting login without threads, and
    it needs no ASGI stack or shutdown plumbing the way Hypercorn and Quart would.

    A callback whose `state` is missing or wrong gets a 400 page and the server keeps
    waiting: any local program or stale browser tab can hit this port, and none of them
    should be able to abort the login. A callback with the right state ends the wait,
    with the code, or with a `LoginError` when it carries `error=` (the user declined)
    or no code. The browser's request is answered once the login reports how the token
    exchange went (`finish`), so its page tells the truth.
    """

    def __init__(
        self,
        *,
        state: str,
        port: int = DEFAULT_PORT,
        host: str = "127.0.0.1",
        path: str = CALLBACK_PATH,
    ) -> None:
        self._state = state.encode()
        self._host = host
        self._requested_port = port
        self._path = path
        self._server: asyncio.Server | None = None
        self._code: asyncio.Future[str] | None = None
        self._outcome: asyncio.Future[str | None] | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self.port = port

    def __repr__(self) -> str:
        return f"CallbackServer(host={self._host!r}, port={self.port})"

    @property
    def redirect_uri(self) -> str:
        # "localhost", not 127.0.0.1: it is the form registered for Codex's client.
        return f"http://localhost:{self.port}{self._path}"

    async def start(self) -> CallbackServer:
        loop = asyncio.get_running_loop()
        self._code = loop.create_future()
        self._outcome = loop.create_future()
        try:
            self._server = await asyncio.start_server(
                self._serve, self._host, self._requested_port, limit=_MAX_REQUEST_BYTES
            )
        except OSError as exc:
            raise LoginError(
                f"cannot listen on {self._host}:{self._requested_port} for the browser to "
                f"come back ({exc.strerror}); is another login running? The device-code "
                "login needs no port."
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def wait_for_code(self, timeout: float) -> str:
        """The authorization code the browser brought back."""
        if self._code is None:
            raise RuntimeError("the callback server is not started")
        try:
            return await asyncio.wait_for(asyncio.shield(self._code), timeout)
        except asyncio.TimeoutError:
            raise LoginError(
                f"no sign-in came back from the browser within {timeout:g} s; run the login again"
            ) from None

    def finish(self, error: str | None = None) -> None:
        """Report how the login ended, for the page the browser is waiting for."""
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(error)

    async def close(self) -> None:
        self.finish("The login was cancelled before it completed.")
        if self._code is not None and not self._code.done():
            self._code.cancel()
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._handlers:
            # Let an answered browser receive its page; connections that never sent a
            # request (browsers open spare ones) are not worth waiting for.
            _, idle = await asyncio.wait(set(self._handlers), timeout=_CLOSE_GRACE)
            for task in idle:
                task.cancel()
            if idle:
                await asyncio.wait(idle, timeout=_CLOSE_GRACE)
        await server.wait_closed()

    async def __aenter__(self) -> CallbackServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            method, status, page = await self._answer(reader)
            await _write_page(writer, status, page, head_only=method == "HEAD")
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            # A client that hung up, dawdled or sent garbage: nothing to answer.
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._handlers.discard(task)

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[str, int, str]:
        request_line = await asyncio.wait_for(reader.readline(), _REQUEST_READ_TIMEOUT)
        await asyncio.wait_for(_skip_headers(reader), _REQUEST_READ_TIMEOUT)
        parts = request_line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return "", 400, _page("Bad request", "This server only answers the ChatGPT login.")
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            return method, 405, _page("Method not allowed", "Only GET is served here.")
        url = urlsplit(target)
        if url.path != self._path:
            return method, 404, _page("Not found", "This server only answers the ChatGPT login.")
        params = {key: values[0] for key, values in parse_qs(url.query).items()}
        status, page = await self._callback(params)
        return method, status, page

    async def _callback(self, params: dict[str, str]) -> tuple[int, str]:
        code_future, outcome = self._code, self._outcome
        if code_future is None or outcome is None:
            raise RuntimeError("the callback server is not started")
        state = params.get("state", "").encode()
        if not hmac.compare_digest(state, self._state):
            logger.warning("refused a login callback with a missing or wrong state")
            return 400, _page(
                "Sign-in link mismatch",
                "This answer does not belong to the login in progress, so it was ignored. "
                "Use the link chatmock-lab printed for this login.",
            )
        if code_future.done():
            return 409, _page("Already done", "This login has already finished.")
        error = params.get("error")
        if error:
            message = _callback_error_message(error, params.get("error_description"))
            code_future.set_exception(LoginError(message))
            return 400, _page("Sign-in failed", message)
        code = params.get("code")
        if not code:
            message = "the browser came back without an authorization code"
            code_future.set_exception(LoginError(message))
            return 400, _page("Sign-in failed", message)
        redactor.add(code)
        code_future.set_result(code)
        try:
            failure = await asyncio.wait_for(asyncio.shield(outcome), _OUTCOME_TIMEOUT)
        except asyncio.TimeoutError:
            return 504, _page("Still working", "Check the terminal for the login's outcome.")
        if failure is not None:
            return 500, _page("Sign-in failed", failure)
        return 200, _page(
            "Signed in to ChatGPT", "chatmock-lab has your login. You can close this window."
        )


# The browser login


async def login_with_browser(
    *,
    issuer: str | None = None,
    http: httpx.AsyncClient,
    open_browser: Callable[[str], object] | None,
    on_url: Callable[[str], None],
    port: int = DEFAULT_PORT,
    timeout: float = 300.0,
    client_id: str = CLIENT_ID,
) -> ChatGPTTokens:
    """Sign in through the browser. `on_url` always receives the sign-in URL (to print);
    `open_browser`, when given, is asked to open it (None is `--no-browser`)."""
    issuer = _issuer(issuer)
    pkce = generate_pkce()
    state = generate_state()
    async with CallbackServer(state=state, port=port) as server:
        url = authorize_url(issuer, pkce, state, server.redirect_uri, client_id=client_id)
        on_url(url)
        if open_browser is not None:
            try:
                open_browser(url)
            except Exception as exc:
                logger.warning(
                    "could not open a browser (%s); open the URL by hand", type(exc).__name__
                )
        code = await server.wait_for_code(timeout)
        try:
            tokens = await exchange_code(
                issuer=issuer,
                http=http,
                code=code,
                code_verifier=pkce.verifier,
                redirect_uri=server.redirect_uri,
                client_id=client_id,
            )
        except LoginError as exc:
            server.finish(str(exc))
            raise
        server.finish()
    logger.info("signed in to ChatGPT (account %s)", _account_label(tokens))
    return tokens


async def exchange_code(
    *,
    issuer: str | None = None,
    http: httpx.AsyncClient,
    code: str,
    code_verifier: str,
    redirect_uri: str,
    client_id: str = CLIENT_ID,
) -> ChatGPTTokens:
    """Trade an authorization code for tokens (form-encoded, with the PKCE verifier)."""
    redactor.add(code, code_verifier)
    issuer = _issuer(issuer)
    response = await _post(
        http,
        f"{issuer}/oauth/token",
        "the token exchange",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": code_verifier,
        },
    )
    if not response.is_success:
        raise LoginError(
            f"the auth server refused the sign-in code ({_describe_failure(response)})"
        )
    return _tokens_from(response, "the token exchange", previous=None)


# The device-code login


@dataclass(frozen=True, repr=False)
class DeviceCode:
    """What the user needs to approve a device login: a URL to open and a code to type."""

    verification_url: str
    user_code: str
    device_auth_id: str
    interval: float

    def __repr__(self) -> str:
        # The user code is shown to the user on purpose, by `on_code`; logs get neither it
        # nor the device id, which together complete someone else's login.
        return f"DeviceCode(verification_url={self.verification_url!r}, interval={self.interval:g})"


async def request_device_code(
    *, issuer: str | None = None, http: httpx.AsyncClient, client_id: str = CLIENT_ID
) -> DeviceCode:
    issuer = _issuer(issuer)
    response = await _post(
        http,
        f"{issuer}/api/accounts/deviceauth/usercode",
        "the device code request",
        json={"client_id": client_id},
    )
    if response.status_code == 404:
        raise LoginError("this auth server does not offer device-code login; use the browser login")
    if not response.is_success:
        raise LoginError(f"the device code request failed ({_describe_failure(response)})")
    body = _json_object(response, "the device code request")
    device_auth_id = body.get("device_auth_id")
    # Codex accepts either spelling of the user code.
    user_code = body.get("user_code") or body.get("usercode")
    if not isinstance(device_auth_id, str) or not device_auth_id:
        raise LoginError("the device code answer has no device_auth_id")
    if not isinstance(user_code, str) or not user_code:
        raise LoginError("the device code answer has no user code")
    redactor.add(device_auth_id)
    return DeviceCode(
        verification_url=f"{issuer}/codex/device",
        user_code=user_code,
        device_auth_id=device_auth_id,
        interval=_interval(body.get("interval")),
    )


async def login_with_device_code(
    *,
    issuer: str | None = None,
    http: httpx.AsyncClient,
    on_code: Callable[[DeviceCode], None],
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    timeout: float = 900.0,
    client_id: str = CLIENT_ID,
) -> ChatGPTTokens:
    """Sign in without a browser on this machine: `on_code` shows the URL and the code,
    then the server is polled at its interval until the user approves, declines, the code
    expires, or `timeout` seconds (counted in sleeps as well as on the clock) run out."""
    issuer = _issuer(issuer)
    device = await request_device_code(issuer=issuer, http=http, client_id=client_id)
    on_code(device)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    slept = 0.0
    interval = device.interval
    while True:
        response = await _post(
            http,
            f"{issuer}/api/accounts/deviceauth/token",
            "the device login",
            json={"device_auth_id": device.device_auth_id, "user_code": device.user_code},
        )
        if response.is_success:
            break
        if response.status_code == 429:
            interval = min(interval + _SLOW_DOWN_STEP, _MAX_INTERVAL)
        # Codex treats 403 and 404 as "not approved yet"; anything else ends the login.
        elif response.status_code not in (403, 404):
            raise LoginError(_device_failure_message(response))
        remaining = min(timeout - slept, deadline - loop.time())
        if remaining <= 0:
            raise LoginError(
                f"the device code was not approved within {timeout:g} s; run the login again"
            )
        pause = min(interval, remaining)
        await sleep(pause)
        slept += pause
    body = _json_object(response, "the device login")
    code = _string_field(body, "authorization_code")
    challenge = _string_field(body, "code_challenge")
    verifier = _string_field(body, "code_verifier")
    if not (code and challenge and verifier):
        raise LoginError("the approved device login lacks its authorization code or PKCE pair")
    redactor.add(code, verifier)
    if not hmac.compare_digest(pkce_challenge(verifier), challenge):
        raise LoginError("the approved device login has a PKCE verifier that does not match")
    tokens = await exchange_code(
        issuer=issuer,
        http=http,
        code=code,
        code_verifier=verifier,
        redirect_uri=f"{issuer}/deviceauth/callback",
        client_id=client_id,
    )
    logger.info("signed in to ChatGPT with a device code (account %s)", _account_label(tokens))
    return tokens


# Refreshing


async def refresh_tokens(
    *,
    issuer: str | None = None,
    http: httpx.AsyncClient,
    refresh_token: str,
    previous: ChatGPTTokens | None = None,
    client_id: str = CLIENT_ID,
) -> ChatGPTTokens:
    """New tokens for a refresh token. Fields the server leaves out (it may not rotate the
    refresh token, or resend the ID token) are kept from `previous`."""
    redactor.add(refresh_token)
    issuer = _issuer(issuer)
    response = await _post(
        http,
        f"{issuer}/oauth/token",
        "the token refresh",
        json={
            "client_id": client_id,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
    )
    if not response.is_success:
        code = _error_code(response)
        permanent = response.status_code == 401 or code in _PERMANENT_REFRESH_MESSAGES
        message = _PERMANENT_REFRESH_MESSAGES.get(code or "") or (
            f"the auth server refused to refresh the ChatGPT login ({_describe_failure(response)})"
        )
        raise RefreshError(message, permanent=permanent)
    # A server that does not rotate refresh tokens leaves the one we sent in force.
    return _tokens_from(
        response, "the token refresh", previous=previous, refresh_fallback=refresh_token
    )


# Stored tokens


def load_tokens(store: TokenStore) -> ChatGPTTokens | None:
    entry = store.load(PROVIDER)
    if entry is None:
        return None
    try:
        return ChatGPTTokens.from_json(entry)
    except ValueError as exc:
        raise TokenStoreError(f"the ChatGPT login in {store.path} is damaged: {exc}") from None


def save_tokens(store: TokenStore, tokens: ChatGPTTokens) -> None:
    store.save(PROVIDER, tokens.to_json())


class ChatGPTCredentials:
    """The provider's source of ChatGPT tokens: from the store (or, when the store has no
    login, Codex CLI's file), refreshed when they expire within five minutes or when the
    backend answers 401.

    Concurrent callers share one refresh. One instance serves one event loop: its lock
    and its in-flight refresh are created on, and belong to, the loop that first needs
    them (the proxy's server loop); using it from another loop raises RuntimeError.

    Tokens imported from Codex's file are not copied into the store until they are
    refreshed, so until then each start picks up whatever Codex last refreshed.
    `http_factory` returns a new client for each refresh, closed after it.
    """

    def __init__(
        self,
        store: TokenStore,
        *,
        issuer: str | None = None,
        http_factory: Callable[[], httpx.AsyncClient],
        import_codex: bool = True,
        codex_auth_path: Path | None = None,
        refresh_margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.issuer = _issuer(issuer)
        self._http_factory = http_factory
        self._import_codex = import_codex
        self._codex_auth_path = codex_auth_path
        self._margin = refresh_margin
        self._clock = clock
        self._tokens: ChatGPTTokens | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: asyncio.Task[ChatGPTTokens] | None = None
        self._retry_at = 0.0

    def __repr__(self) -> str:
        return f"ChatGPTCredentials(store={self.store!r}, issuer={self.issuer!r})"

    async def current(self) -> ChatGPTTokens:
        """Tokens good for at least the refresh margin, refreshing them if need be."""
        tokens = self._tokens
        if tokens is None:
            async with self._loop_lock():
                tokens = self._tokens or await self._reload()
        if not self._expiring(tokens) or self._resting(tokens):
            return tokens
        return await self._refreshed(self._expiring, tolerate_failure=True)

    async def after_unauthorized(self, stale_access_token: str) -> ChatGPTTokens:
        """Tokens to retry with after the backend refused `stale_access_token`: refreshed
        once, unless another request or process has already replaced that token."""
        return await self._refreshed(
            lambda tokens: tokens.access_token == stale_access_token, tolerate_failure=False
        )

    # Internals

    def _expiring(self, tokens: ChatGPTTokens) -> bool:
        return tokens.expires_within(self._margin, now=self._clock())

    def _resting(self, tokens: ChatGPTTokens) -> bool:
        # After a failed early refresh, a still-valid token is used for a while without
        # retrying, rather than asking a struggling auth server again on every request.
        now = self._clock()
        return now < self._retry_at and tokens.expires_at > now

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None:
            self._lock, self._loop = asyncio.Lock(), loop
        elif self._loop is not loop:
            raise RuntimeError(
                "a ChatGPTCredentials instance serves one event loop; create one per loop"
            )
        return self._lock

    async def _refreshed(
        self, needs_refresh: Callable[[ChatGPTTokens], bool], *, tolerate_failure: bool
    ) -> ChatGPTTokens:
        async with self._loop_lock():
            # Another process may have refreshed (and so spent our refresh token) already.
            tokens = await self._reload()
            if not needs_refresh(tokens):
                return tokens
            task = self._inflight
            if task is None or task.done():
                task = asyncio.get_running_loop().create_task(self._refresh(tokens))
                task.add_done_callback(_consume_outcome)
                self._inflight = task
        try:
            # Shielded: a caller that gives up must not cancel the refresh the others await.
            return await asyncio.shield(task)
        except RefreshError as exc:
            if tolerate_failure and not exc.permanent and tokens.expires_at > self._clock():
                self._retry_at = self._clock() + _EARLY_REFRESH_RETRY
                logger.warning("could not refresh the ChatGPT login yet (%s); using it as is", exc)
                return tokens
            raise self._proxy_error(exc) from None

    async def _reload(self) -> ChatGPTTokens:
        try:
            tokens = await asyncio.to_thread(self._read_tokens)
        except TokenStoreError as exc:
            raise ProxyError(f"{exc}; {LOGIN_HINT}", kind="authentication") from None
        if tokens is None:
            raise ProxyError(f"not signed in to ChatGPT; {LOGIN_HINT}", kind="authentication")
        self._tokens = tokens
        return tokens

    def _read_tokens(self) -> ChatGPTTokens | None:
        tokens = load_tokens(self.store)
        if tokens is None and self._import_codex:
            tokens = import_codex_auth(self._codex_auth_path)
        return tokens

    async def _refresh(self, tokens: ChatGPTTokens) -> ChatGPTTokens:
        logger.info("refreshing the ChatGPT login (account %s)", _account_label(tokens))
        async with self._http_factory() as http:
            fresh = await refresh_tokens(
                issuer=self.issuer, http=http, refresh_token=tokens.refresh_token, previous=tokens
            )
        self._tokens = fresh
        try:
            await asyncio.to_thread(save_tokens, self.store, fresh)
        except (TokenStoreError, OSError) as exc:
            # The refreshed tokens still work in this process; the next start will need a login.
            logger.error("could not save the refreshed ChatGPT login: %s", exc)
        return fresh

    @staticmethod
    def _proxy_error(exc: RefreshError) -> ProxyError:
        if exc.permanent:
            return ProxyError(f"{exc}; {LOGIN_HINT}", kind="authentication")
        return ProxyError(
            f"could not refresh the ChatGPT login: {exc}", kind="api_error", status=502
        )


# Helpers


def _issuer(issuer: str | None) -> str:
    return (issuer or default_issuer()).rstrip("/")


def _random_token(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b"=").decode("ascii")


def _interval(raw: Any) -> float:
    # The real server sends the interval as a string ("5"); accept numbers too.
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return _DEFAULT_INTERVAL
    if seconds != seconds:  # NaN
        return _DEFAULT_INTERVAL
    return min(max(seconds, _MIN_INTERVAL), _MAX_INTERVAL)


async def _post(
    http: httpx.AsyncClient,
    url: str,
    what: str,
    *,
    data: dict[str, str] | None = None,
    json: dict[str, str] | None = None,
) -> httpx.Response:
    try:
        return await http.post(url, data=data, json=json, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        # `from None`: the exception's request would carry the form with the secrets.
        reason = redactor.text(str(exc)) or type(exc).__name__
        raise LoginError(f"{what} could not reach {url}: {_clip(reason)}") from None


def _string_field(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise LoginError(f"{what} got an answer that is not a JSON object")
    return body


def _tokens_from(
    response: httpx.Response,
    what: str,
    *,
    previous: ChatGPTTokens | None,
    refresh_fallback: str | None = None,
) -> ChatGPTTokens:
    body = _json_object(response, what)
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise LoginError(f"{what} answered without an access token")
    refresh_token = body.get("refresh_token") or refresh_fallback
    if not isinstance(refresh_token, str) or not refresh_token:
        raise LoginError(f"{what} answered without a refresh token")
    id_token = body.get("id_token") or (previous.id_token if previous else "")
    if not isinstance(id_token, str):
        raise LoginError(f"{what} answered with an ID token that is not a string")
    account_id = (
        account_id_from_id_token(id_token)
        or account_id_from_id_token(access_token)
        or (previous.account_id if previous else None)
    )
    return ChatGPTTokens(
        access_token=access_token,
        refresh_token=refresh_token,
        id_token=id_token,
        account_id=account_id,
        expires_at=expiry_of(access_token, body.get("expires_in")),
    )


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("code")
    if not isinstance(error, str):
        error = body.get("code")
    return error.lower() if isinstance(error, str) and error else None


def _describe_failure(response: httpx.Response) -> str:
    """HTTP status and the server's own explanation, masked and clipped. A body that is
    not JSON (an HTML error page, say) is left out rather than pasted into a terminal."""
    detail = None
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            error = body.get("error")
            candidates = [
                body.get("error_description"),
                error.get("message") if isinstance(error, dict) else None,
                error.get("code") if isinstance(error, dict) else error,
            ]
            detail = next((c for c in candidates if isinstance(c, str) and c.strip()), None)
    status = f"HTTP {response.status_code}"
    return f"{status}: {_clip(redactor.text(detail))}" if detail else status


def _device_failure_message(response: httpx.Response) -> str:
    code = _error_code(response) or ""
    if code in _DENIED_CODES:
        return "the device login was declined in the browser"
    if "expired" in code:
        return "the device code expired before it was approved; run the login again"
    return f"the device login failed ({_describe_failure(response)})"


def _callback_error_message(error: str, description: str | None) -> str:
    if error in _DENIED_CODES:
        reason = "the sign-in was declined"
    else:
        reason = f"the sign-in failed ({_clip(error)})"
    if description and description.strip():
        return f"{reason}: {_clip(redactor.text(description))}"
    return reason


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


def _clip(text: str) -> str:
    # Server and browser text ends up in a terminal: no control characters, bounded size.
    text = _UNPRINTABLE.sub(" ", text).strip()
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def _account_label(tokens: ChatGPTTokens) -> str:
    account = tokens.account_id
    if not account:
        return "unknown"
    return f"…{account[-4:]}" if len(account) > 8 else "…"


def _consume_outcome(task: asyncio.Task[Any]) -> None:
    # Every caller may have given up; mark the failure seen so asyncio does not log it.
    if not task.cancelled():
        task.exception()


async def _skip_headers(reader: asyncio.StreamReader) -> None:
    total = 0
    while True:
        line = await reader.readline()
        total += len(line)
        if total > _MAX_REQUEST_BYTES:
            raise ValueError("request headers too large")
        if line in (b"\r\n", b"\n", b""):
            return


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    504: "Gateway Timeout",
}


async def _write_page(
    writer: asyncio.StreamWriter, status: int, page: str, *, head_only: bool
) -> None:
    body = page.encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        # The page's URL carries the code; it must not travel on as a Referer.
        "Referrer-Policy: no-referrer\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    writer.write(head if head_only else head + body)
    await writer.drain()


def _page(title: str, message: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · chatmock-lab</title></head>"
        "<body style='font-family: sans-serif; max-width: 36em; margin: 4em auto'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
