"""A fake ChatGPT auth server (auth.openai.com) on loopback, for the login and refresh flows.

It speaks the wire protocol Codex CLI uses:

* `GET /oauth/authorize` checks the client id, a loopback redirect URI, the scopes, an
  S256 code challenge and a state, then answers 302 to the redirect URI with a one-time
  code and the state, so a test can play the browser by following it with httpx;
* `POST /oauth/token` with `grant_type=authorization_code` checks the code, the client,
  the redirect URI and that SHA-256 of `code_verifier` matches the challenge; with
  `grant_type=refresh_token` it rotates the refresh token (a spent one is refused as
  `refresh_token_reused`). Tokens are unsigned JWTs with `exp` and the
  `https://api.openai.com/auth` claim carrying `chatgpt_account_id`;
* `POST /api/accounts/deviceauth/usercode` and `/api/accounts/deviceauth/token` run the
  device-code flow with scripted outcomes: pending N polls (403), then approved (the
  authorization code plus the PKCE pair the server made), declined or expired (400).

Every request is recorded with its secret fields masked, so no recording, repr or
assertion message can show a token, code, state or verifier.

The server runs on its own thread and event loop (`BackgroundServer`); the knobs are
called from the test's thread, so all shared state sits behind one lock.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import string
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from quart import Quart, Response, request

from chatmock_lab.auth.chatgpt import save_tokens
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens, account_id_from_id_token, expiry_of
from chatmock_lab.auth.store import TokenStore
from chatmock_lab.server.runner import BackgroundServer
from chatmock_lab.testing._lifecycle import FakeServer, fake_app

__all__ = ["DeviceOutcome", "FakeChatGPTAuth", "RecordedAuthRequest"]

DeviceOutcome = Literal["approved", "denied", "expired"]

CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
AUTH_CLAIM = "https://api.openai.com/auth"
MASK = "***"
_SECRET_FIELDS = frozenset(
    {
        "access_token",
        "authorization_code",
        "code",
        "code_verifier",
        "device_auth_id",
        "id_token",
        "refresh_token",
        "state",
        "user_code",
    }
)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_USER_CODE_LETTERS = "".join(c for c in string.ascii_uppercase if c not in "IO")


@dataclass(frozen=True)
class RecordedAuthRequest:
    """One request as it arrived: query or body fields, with every secret one masked."""

    method: str
    path: str
    content_type: str
    fields: dict[str, str]
    received_at: float


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str


@dataclass
class _DeviceAuth:
    user_code: str
    pending: int
    outcome: DeviceOutcome
    finished: bool = False


@dataclass(frozen=True)
class _RefreshFailure:
    status: int
    code: str


class FakeChatGPTAuth(FakeServer):
    """The ChatGPT OAuth endpoints on 127.0.0.1, with knobs for expiry, slowness and refusals.

    Knobs (plain attributes, read at each request): `access_token_lifetime` (seconds; 0 or
    less issues tokens that are already expired), `refresh_delay` (seconds a refresh takes,
    so concurrent callers overlap), `rotate_refresh_tokens`, `device_interval` and
    `device_login_enabled`. Counters: `refresh_calls`, `code_exchanges`, `device_polls`.
    """

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        account_id: str = "acct-fake-0001",
        email: str = "user@example.com",
        access_token_lifetime: float = 3600.0,
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.account_id = account_id
        self.email = email
        self.access_token_lifetime = access_token_lifetime
        self.refresh_delay = 0.0
        self.rotate_refresh_tokens = True
        self.device_interval = 1
        self.device_login_enabled = True
        self.port = port
        self.requests: deque[RecordedAuthRequest] = deque()
        self._lock = threading.Lock()
        self._grants: dict[str, _Grant] = {}
        self._refresh_tokens: dict[str, bool] = {}  # token -> still usable
        self._devices: dict[str, _DeviceAuth] = {}
        self._device_scripts: deque[tuple[int, DeviceOutcome]] = deque()
        self._authorize_denials: deque[tuple[str, str]] = deque()
        self._refresh_failures: deque[_RefreshFailure] = deque()
        self._refresh_calls = 0
        self._code_exchanges = 0
        self._device_polls = 0
        self._server: BackgroundServer | None = None
        self.app = self._create_app()

    def __repr__(self) -> str:
        where = self._server.url if self._server is not None else "stopped"
        return f"FakeChatGPTAuth({where})"

    # Lifecycle

    # Inspection

    @property
    def refresh_calls(self) -> int:
        with self._lock:
            return self._refresh_calls

    @property
    def code_exchanges(self) -> int:
        """Successful authorization-code exchanges."""
        with self._lock:
            return self._code_exchanges

    @property
    def device_polls(self) -> int:
        with self._lock:
            return self._device_polls

    def requests_to(self, path: str) -> list[RecordedAuthRequest]:
        with self._lock:
            return [recorded for recorded in self.requests if recorded.path == path]

    # Scripting

    def script_device(self, outcome: DeviceOutcome = "approved", *, pending: int = 0) -> None:
        """How the next device login goes: `pending` "not yet" polls, then `outcome`.
        Unscripted device logins are approved at the first poll."""
        if outcome not in ("approved", "denied", "expired"):
            raise ValueError(f"outcome must be approved, denied or expired, got {outcome!r}")
        if pending < 0:
            raise ValueError(f"pending must not be negative, got {pending}")
        with self._lock:
            self._device_scripts.append((pending, outcome))

    def deny_next_authorize(
        self, error: str = "access_denied", description: str = "The user declined the sign-in."
    ) -> None:
        """The next authorize request redirects back with `error=` instead of a code."""
        with self._lock:
            self._authorize_denials.append((error, description))

    def fail_refresh(
        self, status: int = 401, code: str = "refresh_token_invalidated", *, times: int = 1
    ) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self._lock:
            self._refresh_failures.extend([_RefreshFailure(status, code)] * times)

    def issue_tokens(self) -> dict[str, Any]:
        """A fresh token set, as a login would give, without going through one."""
        with self._lock:
            return self._mint_tokens()

    def login_tokens(self) -> ChatGPTTokens:
        """A fresh token set as the client keeps it after a login."""
        issued = self.issue_tokens()
        return ChatGPTTokens(
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            id_token=issued["id_token"],
            account_id=account_id_from_id_token(issued["id_token"]),
            expires_at=expiry_of(issued["access_token"]),
        )

    def store_login(self, home: str | os.PathLike[str]) -> ChatGPTTokens:
        """A login stored in CHATMOCK_HOME=`home`, as `chatmock-lab login chatgpt` leaves
        one; returns its tokens."""
        tokens = self.login_tokens()
        save_tokens(TokenStore.default({"CHATMOCK_HOME": str(home)}), tokens)
        return tokens

    def reset(self) -> None:
        """Forget requests, grants, scripts and counters; restore the default knobs."""
        with self._lock:
            self.requests.clear()
            self._grants.clear()
            self._refresh_tokens.clear()
            self._devices.clear()
            self._device_scripts.clear()
            self._authorize_denials.clear()
            self._refresh_failures.clear()
            self._refresh_calls = self._code_exchanges = self._device_polls = 0
        self.access_token_lifetime = 3600.0
        self.refresh_delay = 0.0
        self.rotate_refresh_tokens = True
        self.device_interval = 1
        self.device_login_enabled = True

    # The app

    def _create_app(self) -> Quart:
        app = fake_app(__name__)

        @app.get("/oauth/authorize")
        async def _authorize() -> Response:
            fields = request.args.to_dict()
            self._record("", fields)
            return self._authorize(fields)

        @app.post("/oauth/token")
        async def _token() -> Response:
            fields = await self._body_fields()
            if fields is None:
                return _oauth_error(400, "invalid_request", "the body is not a form or JSON object")
            grant_type = fields.get("grant_type")
            if grant_type == "authorization_code":
                return self._exchange_code(fields)
            if grant_type == "refresh_token":
                return await self._refresh(fields)
            return _oauth_error(400, "unsupported_grant_type", "unsupported grant_type")

        @app.post("/api/accounts/deviceauth/usercode")
        async def _usercode() -> Response:
            fields = await self._body_fields()
            if not self.device_login_enabled:
                return _oauth_error(404, "not_found", "device code login is not enabled")
            if fields is None or fields.get("client_id") != self.client_id:
                return _oauth_error(400, "invalid_client", "unknown client_id")
            return self._new_device()

        @app.post("/api/accounts/deviceauth/token")
        async def _device_token() -> Response:
            fields = await self._body_fields()
            if fields is None:
                return _oauth_error(400, "invalid_request", "the body is not a JSON object")
            return self._poll_device(fields)

        return app

    async def _body_fields(self) -> dict[str, str] | None:
        raw = await request.get_data(as_text=False)
        assert isinstance(raw, bytes)
        content_type = request.headers.get("content-type", "")
        fields: dict[str, str] | None
        if content_type.startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            if isinstance(body, dict):
                fields = {key: str(value) for key, value in body.items()}
            else:
                fields = None
        self._record(content_type, fields or {})
        return fields

    def _record(self, content_type: str, fields: dict[str, str]) -> None:
        masked = {key: MASK if key in _SECRET_FIELDS else value for key, value in fields.items()}
        recorded = RecordedAuthRequest(
            method=request.method,
            path=request.path,
            content_type=content_type.split(";")[0].strip(),
            fields=masked,
            received_at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(recorded)

    def _authorize(self, fields: dict[str, str]) -> Response:
        redirect_uri = fields.get("redirect_uri", "")
        problem = self._authorize_problem(fields)
        if problem is not None:
            return _oauth_error(400, "invalid_request", problem)
        state = fields["state"]
        with self._lock:
            denial = self._authorize_denials.popleft() if self._authorize_denials else None
            if denial is None:
                code = _token("ac_")
                self._grants[code] = _Grant(
                    client_id=fields["client_id"],
                    redirect_uri=redirect_uri,
                    challenge=fields["code_challenge"],
                )
        if denial is not None:
            query = {"error": denial[0], "error_description": denial[1], "state": state}
        else:
            query = {"code": code, "state": state}
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return Response(
            "", status=302, headers={"location": redirect_uri + separator + urlencode(query)}
        )

    def _authorize_problem(self, fields: dict[str, str]) -> str | None:
        if fields.get("response_type") != "code":
            return "response_type must be code"
        if fields.get("client_id") != self.client_id:
            return "unknown client_id"
        redirect = urlsplit(fields.get("redirect_uri", ""))
        if (
            redirect.scheme != "http"
            or redirect.hostname not in _LOOPBACK_HOSTS
            or redirect.path != "/auth/callback"
        ):
            return "redirect_uri is not registered for this client"
        scopes = set(fields.get("scope", "").split())
        if not {"openid", "offline_access"} <= scopes:
            return "scope must include openid and offline_access"
        if fields.get("code_challenge_method") != "S256":
            return "code_challenge_method must be S256"
        if not fields.get("code_challenge"):
            return "code_challenge is required"
        if not fields.get("state"):
            return "state is required"
        return None

    def _exchange_code(self, fields: dict[str, str]) -> Response:
        code = fields.get("code", "")
        verifier = fields.get("code_verifier", "")
        with self._lock:
            # One use only, successful or not, as a real authorization server does.
            grant = self._grants.pop(code, None)
        if grant is None:
            return _oauth_error(400, "invalid_grant", "the code is unknown or was already used")
        if fields.get("client_id") != grant.client_id:
            return _oauth_error(400, "invalid_grant", "the code was issued to another client")
        if fields.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "invalid_grant", "redirect_uri differs from the authorize one")
        if not verifier or not hmac.compare_digest(_challenge(verifier), grant.challenge):
            return _oauth_error(400, "invalid_grant", "code_verifier does not match the challenge")
        with self._lock:
            self._code_exchanges += 1
            tokens = self._mint_tokens()
        return _json(tokens)

    async def _refresh(self, fields: dict[str, str]) -> Response:
        with self._lock:
            self._refresh_calls += 1
            failure = self._refresh_failures.popleft() if self._refresh_failures else None
        if self.refresh_delay > 0:
            await asyncio.sleep(self.refresh_delay)
        if failure is not None:
            return _refresh_error(failure.status, failure.code)
        if fields.get("client_id") != self.client_id:
            return _oauth_error(400, "invalid_client", "unknown client_id")
        token = fields.get("refresh_token", "")
        with self._lock:
            usable = self._refresh_tokens.get(token)
            if usable is None:
                return _refresh_error(401, "refresh_token_invalidated")
            if not usable:
                return _refresh_error(401, "refresh_token_reused")
            tokens = self._mint_tokens()
            if self.rotate_refresh_tokens:
                self._refresh_tokens[token] = False
            else:
                del self._refresh_tokens[tokens["refresh_token"]]
                tokens["refresh_token"] = token
        return _json(tokens)

    def _new_device(self) -> Response:
        device_auth_id = _token("deviceauth_")
        letters = "".join(secrets.choice(_USER_CODE_LETTERS) for _ in range(4))
        user_code = f"{letters}-{secrets.randbelow(10_000):04d}"
        with self._lock:
            pending, outcome = (
                self._device_scripts.popleft() if self._device_scripts else (0, "approved")
            )
            self._devices[device_auth_id] = _DeviceAuth(user_code, pending, outcome)
        # The real server sends the interval as a string.
        return _json(
            {
                "device_auth_id": device_auth_id,
                "user_code": user_code,
                "interval": str(self.device_interval),
            }
        )

    def _poll_device(self, fields: dict[str, str]) -> Response:
        with self._lock:
            self._device_polls += 1
            device = self._devices.get(fields.get("device_auth_id", ""))
            if device is None or fields.get("user_code") != device.user_code:
                return _oauth_error(400, "invalid_request", "unknown device authorization")
            if device.finished:
                return _oauth_error(400, "invalid_grant", "this device login is already finished")
            if device.pending > 0:
                device.pending -= 1
                return _oauth_error(403, "authorization_pending", "the user has not approved yet")
            device.finished = True
            if device.outcome == "denied":
                return _oauth_error(400, "authorization_declined", "the user declined the sign-in")
            if device.outcome == "expired":
                return _oauth_error(400, "expired_token", "the device code has expired")
            verifier = _token("")
            challenge = _challenge(verifier)
            code = _token("ac_")
            self._grants[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=f"{self.url}/deviceauth/callback",
                challenge=challenge,
            )
        return _json(
            {"authorization_code": code, "code_challenge": challenge, "code_verifier": verifier}
        )

    def _mint_tokens(self) -> dict[str, Any]:
        # Called with the lock held.
        now = int(time.time())
        lifetime = self.access_token_lifetime
        expires = int(now + lifetime)
        auth_claim = {
            "chatgpt_account_id": self.account_id,
            "chatgpt_plan_type": "plus",
            "chatgpt_user_id": "user-fake-0001",
        }
        issuer = self._server.url if self._server is not None else "http://fake"
        access = _jwt(
            {
                "iss": issuer,
                "aud": ["https://api.openai.com/v1"],
                "client_id": self.client_id,
                "iat": now,
                "exp": expires,
                "jti": secrets.token_hex(8),
                AUTH_CLAIM: auth_claim,
            }
        )
        identity = _jwt(
            {
                "iss": issuer,
                "aud": [self.client_id],
                "email": self.email,
                "iat": now,
                "exp": now + 3600,
                "jti": secrets.token_hex(8),
                AUTH_CLAIM: auth_claim,
            }
        )
        refresh = _token("rt_")
        self._refresh_tokens[refresh] = True
        return {
            "id_token": identity,
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": max(int(lifetime), 0),
            "scope": "openid profile email offline_access",
        }


def _token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


def _jwt(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    return f"{header}.{payload}.{_b64(b'fake-signature')}"


def _json(body: Any, *, status: int = 200) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json",
        headers={"cache-control": "no-store"},
    )


def _oauth_error(status: int, error: str, description: str) -> Response:
    return _json({"error": error, "error_description": description}, status=status)


def _refresh_error(status: int, code: str) -> Response:
    # The shape Codex parses for refresh failures: a code inside an error object.
    message = {
        "refresh_token_expired": "Your refresh token has expired.",
        "refresh_token_reused": "Your refresh token has already been used.",
        "refresh_token_invalidated": "Your refresh token has been invalidated.",
    }.get(code, "The refresh was refused.")
    return _json(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}},
        status=status,
    )
