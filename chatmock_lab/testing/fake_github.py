"""A fake GitHub on loopback: the device-flow login and the Copilot token and usage endpoints.

It answers the way github.com and api.github.com do for a Copilot client: device codes,
a scripted sequence of poll outcomes (`authorization_pending`, `slow_down` with its new
interval, `expired_token`, `access_denied`, success), Copilot tokens with a chosen
lifetime, `refresh_in` and `endpoints.api`, and the plan and quota snapshot. The OAuth
pages sit at the root and the REST API under `/api`, like GitHub Enterprise Server.

The server runs on its own thread and event loop (`BackgroundServer`); the knobs are
called from the test's thread, so all shared state sits behind one lock. Recorded
requests never hold a secret: credentials and device codes are masked as they arrive.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from quart import Quart, Response, request

from chatmock_lab.auth.github import DEVICE_GRANT_TYPE, STORE_KEY, GitHubEndpoints
from chatmock_lab.auth.store import TokenStore
from chatmock_lab.identity.copilot import CLIENT_ID
from chatmock_lab.server.runner import BackgroundServer
from chatmock_lab.testing._lifecycle import FakeServer, fake_app

__all__ = ["FakeGitHub", "GitHubRequest"]

OUTCOMES = frozenset({"pending", "slow_down", "success", "expired", "denied", "unavailable"})
_CUSTOM_ERROR_PREFIX = "error:"
_MASK = "***"
_SECRET_FIELDS = frozenset({"device_code", "access_token", "token", "client_secret"})
_DOCS = (
    "https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps"
    "#error-codes-for-the-device-flow"
)
_DESCRIPTIONS = {
    "authorization_pending": "The authorization request is still pending.",
    "slow_down": "Too many requests have been made in the same timeframe.",
    "expired_token": "The device_code has expired.",
    "access_denied": "The authorization request was denied.",
    "incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
    "incorrect_device_code": "The device_code provided is not valid.",
    "unsupported_grant_type": "The grant type is not supported.",
}
_ALPHANUMERIC = string.ascii_letters + string.digits


@dataclass
class GitHubRequest:
    """One request as it arrived, with credentials and device codes already masked."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float


@dataclass
class _Device:
    user_code: str
    interval: int
    # Once expired, denied or used, a device code only ever gets this error again.
    final_error: str | None = None


class FakeGitHub(FakeServer):
    """GitHub's device flow and Copilot token endpoints on 127.0.0.1."""

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        interval: int = 5,
        expires_in: int = 900,
        copilot_lifetime: float = 1800.0,
        refresh_in: float = 1500.0,
        copilot_api: str | None = "https://api.individual.githubcopilot.com",
        port: int = 0,
    ) -> None:
        """`copilot_api` is the `endpoints.api` put in Copilot tokens; None leaves the
        `endpoints` object out, as some older token answers did."""
        self.client_id = client_id
        self.interval = interval
        self.expires_in = expires_in
        self.copilot_lifetime = copilot_lifetime
        self.refresh_in = refresh_in
        self.copilot_api = copilot_api
        self.port = port
        self._initial_knobs: dict[str, Any] = {
            "client_id": client_id,
            "interval": interval,
            "expires_in": expires_in,
            "copilot_lifetime": copilot_lifetime,
            "refresh_in": refresh_in,
            "copilot_api": copilot_api,
        }
        # GitHub's slow_down answer names the new interval; these let a test check the
        # client honours that number, or falls back to +5 s when it is missing.
        self.slow_down_step = 5
        self.slow_down_reports_interval = True
        self.token_delay = 0.0
        self.copilot_denied_status: int | None = None
        self.usage: dict[str, Any] = _default_usage()
        self.requests: list[GitHubRequest] = []
        self._lock = threading.Lock()
        self._script: deque[str] = deque()
        self._devices: dict[str, _Device] = {}
        self._github_tokens: set[str] = set()
        self._copilot_tokens: list[str] = []
        self._token_calls = 0
        self._server: BackgroundServer | None = None
        self.app = self._create_app()

    def __repr__(self) -> str:
        state = f"url={self._server.url!r}" if self._server is not None else "stopped"
        return f"FakeGitHub({state})"

    # Lifecycle

    @property
    def github_url(self) -> str:
        return self.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def endpoints(self) -> GitHubEndpoints:
        return GitHubEndpoints(github=self.github_url, api=self.api_url)

    # Scripting

    def script(self, outcomes: Sequence[str]) -> None:
        """Queue the answers to the next access-token polls: "pending", "slow_down",
        "success", "expired", "denied", "unavailable" (HTTP 503) or "error:<code>" for any
        other OAuth error. Once the queue is empty, polls stay pending."""
        for outcome in outcomes:
            custom = outcome.startswith(_CUSTOM_ERROR_PREFIX) and len(outcome) > 6
            if outcome not in OUTCOMES and not custom:
                choices = ", ".join(sorted(OUTCOMES))
                raise ValueError(f"unknown outcome {outcome!r}; use {choices} or error:<code>")
        with self._lock:
            self._script.extend(outcomes)

    def issue_github_token(self, token: str | None = None) -> str:
        """A GitHub token the API accepts, as if a login had already happened."""
        token = token or _github_token()
        with self._lock:
            self._github_tokens.add(token)
        return token

    def store_login(self, home: str | os.PathLike[str]) -> str:
        """A GitHub login stored in CHATMOCK_HOME=`home`, as `chatmock-lab login copilot`
        leaves one; returns its token."""
        token = self.issue_github_token()
        TokenStore.default({"CHATMOCK_HOME": str(home)}).save(STORE_KEY, {"github_token": token})
        return token

    def revoke_github_tokens(self) -> None:
        with self._lock:
            self._github_tokens.clear()

    def deny_copilot(self, status: int = 404) -> None:
        """Answer Copilot calls with `status`, as GitHub does for a login without Copilot."""
        if status not in (401, 403, 404):
            raise ValueError(f"status must be 401, 403 or 404, got {status}")
        self.copilot_denied_status = status

    def allow_copilot(self) -> None:
        self.copilot_denied_status = None

    def reset(self) -> None:
        """Forget requests, scripts, issued codes and tokens, and restore every knob to its
        value at construction."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._devices.clear()
            self._github_tokens.clear()
            self._copilot_tokens.clear()
            self._token_calls = 0
        self.slow_down_step = 5
        self.slow_down_reports_interval = True
        self.token_delay = 0.0
        self.copilot_denied_status = None
        self.usage = _default_usage()
        for name, value in self._initial_knobs.items():
            setattr(self, name, value)

    # Inspection

    @property
    def token_calls(self) -> int:
        """How many Copilot token requests arrived (answered or refused)."""
        with self._lock:
            return self._token_calls

    @property
    def poll_calls(self) -> int:
        return len(self.requests_to("/login/oauth/access_token"))

    @property
    def issued_github_tokens(self) -> list[str]:
        with self._lock:
            return sorted(self._github_tokens)

    @property
    def issued_copilot_tokens(self) -> list[str]:
        with self._lock:
            return list(self._copilot_tokens)

    def requests_to(self, path: str) -> list[GitHubRequest]:
        with self._lock:
            return [recorded for recorded in self.requests if recorded.path == path]

    # The app

    def _create_app(self) -> Quart:
        app = fake_app(__name__)

        @app.post("/login/device/code")
        async def _device_code() -> Response:
            body = await self._record()
            if body.get("client_id") != self.client_id:
                return _oauth_error("incorrect_client_credentials", status=400)
            device_code = secrets.token_hex(20)
            user_code = _user_code()
            with self._lock:
                self._devices[device_code] = _Device(user_code=user_code, interval=self.interval)
            return _json(
                {
                    "device_code": device_code,
                    "user_code": user_code,
                    "verification_uri": f"{self.github_url}/login/device",
                    "expires_in": self.expires_in,
                    "interval": self.interval,
                }
            )

        @app.post("/login/oauth/access_token")
        async def _access_token() -> Response:
            body = await self._record()
            return self._poll(body)

        @app.get("/api/copilot_internal/v2/token")
        async def _copilot_token() -> Response:
            await self._record()
            with self._lock:
                self._token_calls += 1
            if self.token_delay:
                # Lets concurrent refreshes overlap, to show they share one request.
                await asyncio.sleep(self.token_delay)
            refused = self._refusal()
            return refused if refused is not None else _json(self._new_copilot_token())

        @app.get("/api/copilot_internal/user")
        async def _usage() -> Response:
            await self._record()
            refused = self._refusal()
            return refused if refused is not None else _json(copy.deepcopy(self.usage))

        @app.errorhandler(404)
        async def _not_found(_exc: Exception) -> Response:
            return _json(
                {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
                status=404,
            )

        return app

    async def _record(self) -> dict[str, Any]:
        raw = await request.get_data()
        body: dict[str, Any] = {}
        if request.mimetype == "application/json":
            try:
                parsed = json.loads(raw) if raw else {}
            except (UnicodeDecodeError, json.JSONDecodeError):
                parsed = {}
            body = parsed if isinstance(parsed, dict) else {}
        elif raw:
            body = (await request.form).to_dict()
        recorded = GitHubRequest(
            method=request.method,
            path=request.path,
            headers=_masked_headers(request.headers.items()),
            body={k: _MASK if k in _SECRET_FIELDS else v for k, v in body.items()},
            received_at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(recorded)
        return body

    def _poll(self, body: dict[str, Any]) -> Response:
        if body.get("client_id") != self.client_id:
            return _oauth_error("incorrect_client_credentials")
        if body.get("grant_type") != DEVICE_GRANT_TYPE:
            return _oauth_error("unsupported_grant_type")
        with self._lock:
            device = self._devices.get(str(body.get("device_code")))
            if device is None:
                return _oauth_error("incorrect_device_code")
            if device.final_error is not None:
                return _oauth_error(device.final_error)
            outcome = self._script.popleft() if self._script else "pending"
            if outcome == "unavailable":
                return _json({"message": "Service Unavailable"}, status=503)
            if outcome == "success":
                token = _github_token()
                self._github_tokens.add(token)
                device.final_error = "incorrect_device_code"
                return _json({"access_token": token, "token_type": "bearer", "scope": "read:user"})
            if outcome == "slow_down":
                device.interval += self.slow_down_step
                extra = {"interval": device.interval} if self.slow_down_reports_interval else {}
                return _oauth_error("slow_down", **extra)
            if outcome == "expired":
                device.final_error = "expired_token"
                return _oauth_error("expired_token")
            if outcome == "denied":
                device.final_error = "access_denied"
                return _oauth_error("access_denied")
            if outcome.startswith(_CUSTOM_ERROR_PREFIX):
                return _oauth_error(outcome.removeprefix(_CUSTOM_ERROR_PREFIX))
            return _oauth_error("authorization_pending")

    def _refusal(self) -> Response | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            known = credential in self._github_tokens
        if scheme.lower() != "token" or not known:
            return _json(
                {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                status=401,
            )
        status = self.copilot_denied_status
        if status is None:
            return None
        message = "Resource not accessible by integration" if status == 403 else "Not Found"
        if status == 401:
            message = "Bad credentials"
        return _json(
            {"message": message, "documentation_url": "https://docs.github.com/rest"},
            status=status,
        )

    def _new_copilot_token(self) -> dict[str, Any]:
        expires_at = int(time.time() + self.copilot_lifetime)
        # The real token is a semicolon-separated claim list with a MAC after the colon.
        token = (
            f"tid={secrets.token_hex(16)};exp={expires_at};sku=copilot_for_individual;"
            f"proxy-ep=proxy.individual.githubcopilot.com;chat=1:{secrets.token_hex(32)}"
        )
        with self._lock:
            self._copilot_tokens.append(token)
        answer: dict[str, Any] = {
            "token": token,
            "expires_at": expires_at,
            "refresh_in": self.refresh_in,
            "sku": "copilot_for_individual",
            "chat_enabled": True,
            "individual": True,
        }
        if self.copilot_api is not None:
            answer["endpoints"] = {
                "api": self.copilot_api,
                "origin-tracker": "https://origin-tracker.individual.githubcopilot.com",
                "proxy": "https://proxy.individual.githubcopilot.com",
                "telemetry": "https://telemetry.individual.githubcopilot.com",
            }
        return answer


def _default_usage() -> dict[str, Any]:
    return {
        "access_type_sku": "free_limited_copilot",
        "analytics_tracking_id": "0123456789abcdef0123456789abcdef",
        "assigned_date": None,
        "can_signup_for_limited": False,
        "chat_enabled": True,
        "copilot_plan": "individual",
        "organization_login_list": [],
        "organization_list": [],
        # Fixed, so answers are byte-identical between runs.
        "quota_reset_date": "2030-01-01",
        "quota_snapshots": {
            "chat": _quota("chat", entitlement=0, remaining=0, unlimited=True),
            "completions": _quota("completions", entitlement=0, remaining=0, unlimited=True),
            "premium_interactions": _quota(
                "premium_interactions", entitlement=300, remaining=253, unlimited=False
            ),
        },
    }


def _quota(quota_id: str, *, entitlement: int, remaining: int, unlimited: bool) -> dict[str, Any]:
    percent = 100.0 if unlimited or not entitlement else round(100 * remaining / entitlement, 1)
    return {
        "entitlement": entitlement,
        "overage_count": 0,
        "overage_permitted": False,
        "percent_remaining": percent,
        "quota_id": quota_id,
        "quota_remaining": float(remaining),
        "remaining": remaining,
        "unlimited": unlimited,
    }


def _github_token() -> str:
    return "gho_" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(36))


def _user_code() -> str:
    letters = string.ascii_uppercase + string.digits
    halves = ("".join(secrets.choice(letters) for _ in range(4)) for _ in range(2))
    return "-".join(halves)


def _masked_headers(items: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        if key in ("authorization", "cookie"):
            scheme, _, credential = value.partition(" ")
            value = f"{scheme} {_MASK}" if credential else _MASK
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _oauth_error(error: str, *, status: int = 200, **extra: Any) -> Response:
    # GitHub answers device-flow errors with HTTP 200 and the error in the JSON body.
    body = {
        "error": error,
        "error_description": _DESCRIPTIONS.get(error, error.replace("_", " ")),
        "error_uri": _DOCS,
        **extra,
    }
    return _json(body, status=status)


def _json(body: Any, *, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
