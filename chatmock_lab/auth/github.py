"""GitHub device-flow login and the short-lived Copilot token derived from it.

Two tokens are involved. The GitHub OAuth token (from the device flow, kept in the token
store under "copilot") is long-lived and only ever sent to GitHub. The Copilot token is
fetched with it from `copilot_internal/v2/token`, lives about 30 minutes, names the API
host to use (`endpoints.api`), and is what Copilot's chat API accepts.

copilot-api ignores every device-flow error (so `expired_token` polls forever), refreshes
the Copilot token on a timer that dies on the first failure, and never refreshes on a 401.
Here every RFC 8628 outcome ends or adjusts the polling, the deadline is enforced, and
`CopilotCredentials` refreshes on demand, single-flight, and once after a 401.

None of the three secrets (device code, GitHub token, Copilot token) is ever logged or put
into a repr or an exception message; each is registered with the redactor when first seen.

Who the login says it is (Copilot Chat's OAuth app, the editor's versions and headers) lives
in `chatmock_lab.identity.copilot`, shared with the Copilot provider; the names are
re-exported here. The functions that take `http` use the caller's client; `login` and
`CopilotCredentials` can build their own on an injected transport (`chatmock_lab.auth.http`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard
from urllib.parse import urlsplit

import httpx

from chatmock_lab.auth.http import ClientFactory, client_factory, client_for
from chatmock_lab.core import ProxyError
from chatmock_lab.core.errors import ChatmockError
from chatmock_lab.identity.copilot import API_VERSION as GITHUB_API_VERSION
from chatmock_lab.identity.copilot import (
    CLIENT_ID,
    COPILOT_CHAT_VERSION,
    EDITOR_VERSION,
    editor_headers,
)
from chatmock_lab.redact import redactor

__all__ = [
    "API_BASE_BY_ACCOUNT",
    "CLIENT_ID",
    "COPILOT_CHAT_VERSION",
    "DEVICE_GRANT_TYPE",
    "EDITOR_VERSION",
    "GITHUB_API_VERSION",
    "SCOPE",
    "CopilotCredentials",
    "CopilotToken",
    "DeviceCode",
    "GitHubEndpoints",
    "LoginError",
    "TokenStoreLike",
    "copilot_usage",
    "editor_headers",
    "fetch_copilot_token",
    "login",
    "poll_for_token",
    "request_device_code",
]

logger = logging.getLogger(__name__)

SCOPE = "read:user"
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"

API_BASE_BY_ACCOUNT = {
    "individual": "https://api.githubcopilot.com",
    "business": "https://api.business.githubcopilot.com",
    "enterprise": "https://api.enterprise.githubcopilot.com",
}

STORE_KEY = "copilot"
LOGIN_HINT = "run: chatmock-lab login copilot"

_DEFAULT_GITHUB_URL = "https://github.com"
_DEFAULT_API_URL = "https://api.github.com"
# RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default."
_DEFAULT_INTERVAL = 5
_DEFAULT_EXPIRES_IN = 900
_SLOW_DOWN_STEP = 5
# A zero interval with an injected clock that only moves on sleep would never reach the
# deadline; one second keeps every poll loop finite.
_MIN_INTERVAL = 1
# Refresh this long before `expires_at`, so a token never expires mid-request.
_EXPIRY_MARGIN = 60.0
# `expires_at` is GitHub's clock, not ours: with a local clock running minutes fast, every
# new token would look expired at once and each request would fetch another. A token just
# fetched is therefore kept at least this long (a truly dead one still ends in a 401).
_MIN_REUSE = 10.0
_DETAIL_LIMIT = 200

StatusCallback = Callable[[str], None]
Sleep = Callable[[float], Awaitable[Any]]
Clock = Callable[[], float]


class LoginError(ChatmockError):
    """The device-flow login did not produce a GitHub token. `code` is GitHub's OAuth error
    code (`expired_token`, `access_denied`, ...) or "expired" for the local deadline."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TokenStoreLike(Protocol):
    """What `CopilotCredentials` needs from `chatmock_lab.auth.store.TokenStore`."""

    def load(self, provider: str) -> dict[str, Any] | None: ...

    def save(self, provider: str, data: dict[str, Any]) -> None: ...

    def delete(self, provider: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class GitHubEndpoints:
    """Where the OAuth pages (`github`) and the REST API (`api`) live; GitHub Enterprise
    hosts are just other values."""

    github: str = _DEFAULT_GITHUB_URL
    api: str = _DEFAULT_API_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "github", self.github.rstrip("/"))
        object.__setattr__(self, "api", self.api.rstrip("/"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GitHubEndpoints:
        """`CHATMOCK_GITHUB_URL` and `CHATMOCK_GITHUB_API_URL`; with only the first set, the
        API URL follows GitHub's layout for that host."""
        values = os.environ if env is None else env
        github = (values.get("CHATMOCK_GITHUB_URL") or "").strip() or _DEFAULT_GITHUB_URL
        api = (values.get("CHATMOCK_GITHUB_API_URL") or "").strip() or _api_url_for(github)
        return cls(github=github, api=api)


def _api_url_for(github: str) -> str:
    parts = urlsplit(github.rstrip("/"))
    host = parts.hostname or ""
    if host in ("", "github.com"):
        return _DEFAULT_API_URL
    if host.endswith(".ghe.com"):
        # GitHub Enterprise Cloud with data residency: the API is a sibling host.
        return f"{parts.scheme}://api.{parts.netloc}"
    # GitHub Enterprise Server serves its API under the same host.
    return f"{github.rstrip('/')}/api/v3"


def _github_headers(github_token: str) -> dict[str, str]:
    return {
        "accept": "application/json",
        "authorization": f"token {github_token}",
        **editor_headers(),
    }


# Device flow


@dataclass
class DeviceCode:
    """GitHub's answer to a device-code request; only `user_code` is meant for people."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int


async def request_device_code(http: httpx.AsyncClient, endpoints: GitHubEndpoints) -> DeviceCode:
    """Start a device-flow login: the user enters `user_code` at `verification_uri`."""
    url = f"{endpoints.github}/login/device/code"
    try:
        response = await http.post(
            url,
            json={"client_id": CLIENT_ID, "scope": SCOPE},
            headers={"accept": "application/json"},
        )
    except httpx.TransportError as exc:
        raise LoginError(f"Could not reach GitHub at {endpoints.github}: {_describe(exc)}") from exc
    body = _json_or_none(response)
    if response.is_error or not isinstance(body, dict) or "error" in body:
        raise LoginError(
            f"GitHub refused to start a device login (HTTP {response.status_code}"
            f"{_oauth_detail(body)})",
            code=body.get("error") if isinstance(body, dict) else None,
        )
    code = _device_code_from(body)
    redactor.add(code.device_code)
    logger.debug(
        "GitHub device login started at %s; expires in %d s", code.verification_uri, code.expires_in
    )
    return code


def _device_code_from(body: dict[str, Any]) -> DeviceCode:
    strings: dict[str, str] = {}
    for name in ("device_code", "user_code", "verification_uri"):
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise LoginError(f"GitHub's device code answer lacks {name!r}")
        strings[name] = value
    return DeviceCode(
        **strings,
        expires_in=_int_field(body, "expires_in", _DEFAULT_EXPIRES_IN),
        interval=_int_field(body, "interval", _DEFAULT_INTERVAL),
    )


def _int_field(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LoginError(f"GitHub's device code answer has a non-numeric {name!r}") from None


async def poll_for_token(
    http: httpx.AsyncClient,
    endpoints: GitHubEndpoints,
    code: DeviceCode,
    *,
    on_status: StatusCallback | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
) -> str:
    """Wait for the user to approve the login and return the GitHub token.

    `on_status` hears "pending", "slow_down", "expired", "denied" or "done" after each
    answer. Raises `LoginError` when the code expires (by GitHub's word or by `expires_in`
    measured with `clock`), when the user denies it, and on any other OAuth error.
    """
    notify = on_status or _ignore
    redactor.add(code.device_code)
    deadline = clock() + code.expires_in
    interval = max(code.interval, _MIN_INTERVAL)
    url = f"{endpoints.github}/login/oauth/access_token"
    payload = {
        "client_id": CLIENT_ID,
        "device_code": code.device_code,
        "grant_type": DEVICE_GRANT_TYPE,
    }
    while True:
        # Waiting first: the user cannot have entered the code the instant it was shown.
        await sleep(interval)
        if clock() >= deadline:
            notify("expired")
            raise LoginError(
                f"The device code expired after {code.expires_in} s without being approved; "
                "start the login again and enter the new code",
                code="expired",
            )
        try:
            response = await http.post(url, json=payload, headers={"accept": "application/json"})
        except httpx.TransportError as exc:
            # A blip during a minutes-long wait is no reason to give up; the deadline bounds it.
            logger.warning("Polling GitHub for the login failed (%s); retrying", _describe(exc))
            continue
        if response.status_code == 429 or response.status_code >= 500:
            logger.warning("GitHub answered HTTP %d while polling; retrying", response.status_code)
            continue
        body = _json_or_none(response)
        if not isinstance(body, dict):
            raise LoginError(
                f"GitHub answered the login poll with HTTP {response.status_code} and no JSON"
            )
        token = body.get("access_token")
        if isinstance(token, str) and token:
            redactor.add(token)
            notify("done")
            logger.debug("GitHub device login approved")
            return token
        error = body.get("error")
        if error == "authorization_pending":
            notify("pending")
        elif error == "slow_down":
            interval = _slowed_interval(body, interval)
            logger.debug("GitHub asked to slow down; polling every %d s", interval)
            notify("slow_down")
        elif error == "expired_token":
            notify("expired")
            raise LoginError(
                "The device code expired before the login was approved; "
                "start the login again and enter the new code",
                code="expired_token",
            )
        elif error == "access_denied":
            notify("denied")
            raise LoginError(
                "The login was denied on GitHub (the authorization request was cancelled)",
                code="access_denied",
            )
        else:
            raise LoginError(
                f"GitHub refused the login (HTTP {response.status_code}{_oauth_detail(body)})",
                code=error if isinstance(error, str) else None,
            )


def _slowed_interval(body: dict[str, Any], interval: int) -> int:
    # GitHub's slow_down answer carries the new interval; RFC 8628 says +5 s without one.
    reported = body.get("interval")
    if _is_number(reported) and reported > 0:
        # Never faster than before: slow_down only ever lengthens the wait.
        return max(int(reported), interval)
    return interval + _SLOW_DOWN_STEP


async def login(
    http: httpx.AsyncClient | None = None,
    endpoints: GitHubEndpoints | None = None,
    *,
    on_code: Callable[[DeviceCode], None],
    on_status: StatusCallback | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """The whole device flow: `on_code` shows the user code, then polling until approval.

    Calls go through `http` (the caller's client, left open) or else a client of its own
    on `transport`; passing both is a TypeError. `endpoints` defaults to github.com."""
    where = endpoints or GitHubEndpoints()
    async with client_for(http, transport) as client:
        code = await request_device_code(client, where)
        on_code(code)
        return await poll_for_token(
            client, where, code, on_status=on_status, sleep=sleep, clock=clock
        )


# The Copilot token


@dataclass
class CopilotToken:
    """A Copilot API token: `expires_at` is a Unix time, `refresh_in` seconds after fetching."""

    token: str = field(repr=False)
    expires_at: float
    refresh_in: float
    api_base: str | None


async def fetch_copilot_token(
    http: httpx.AsyncClient, endpoints: GitHubEndpoints, github_token: str
) -> CopilotToken:
    """Exchange the GitHub token for a Copilot token."""
    body = await _github_get(http, endpoints, "/copilot_internal/v2/token", github_token)
    token = body.get("token")
    expires_at = body.get("expires_at")
    if not isinstance(token, str) or not token or not _is_number(expires_at):
        raise ProxyError(
            "GitHub's Copilot token answer lacks 'token' or 'expires_at'", kind="api_error"
        )
    redactor.add(token)
    refresh_in = body.get("refresh_in")
    endpoints_field = body.get("endpoints")
    api = endpoints_field.get("api") if isinstance(endpoints_field, dict) else None
    copilot = CopilotToken(
        token=token,
        expires_at=float(expires_at),
        # Without a hint, only `expires_at` (minus the margin) decides when to refresh.
        refresh_in=float(refresh_in) if _is_number(refresh_in) else float("inf"),
        api_base=api.rstrip("/") if isinstance(api, str) and api else None,
    )
    logger.debug(
        "Copilot token fetched; expires in %.0f s, API at %s",
        copilot.expires_at - time.time(),
        copilot.api_base or "(not given)",
    )
    return copilot


async def copilot_usage(
    http: httpx.AsyncClient, endpoints: GitHubEndpoints, github_token: str
) -> dict[str, Any]:
    """The plan and quota snapshot (`copilot_plan`, `quota_snapshots`, ...), as GitHub sends it."""
    return await _github_get(http, endpoints, "/copilot_internal/user", github_token)


async def _github_get(
    http: httpx.AsyncClient, endpoints: GitHubEndpoints, path: str, github_token: str
) -> dict[str, Any]:
    redactor.add(github_token)
    url = f"{endpoints.api}{path}"
    try:
        response = await http.get(url, headers=_github_headers(github_token))
    except httpx.RequestError as exc:
        raise ProxyError(
            f"Could not reach GitHub at {endpoints.api}: {_describe(exc)}", status=502
        ) from exc
    body = _json_or_none(response)
    status = response.status_code
    if status in (401, 403, 404):
        raise ProxyError(
            f"The GitHub login has no Copilot access or is no longer valid "
            f"(GitHub answered HTTP {status}"
            f"{_api_detail(body)}); {LOGIN_HINT}",
            kind="authentication",
        )
    if response.is_error:
        raise ProxyError(
            f"GitHub answered HTTP {status} for {path}{_api_detail(body, ': ')}",
            status=status,
            retry_after=_retry_after(response),
        )
    if not isinstance(body, dict):
        raise ProxyError(f"GitHub answered {path} with something other than a JSON object")
    return body


# Credentials for the Copilot provider


class CopilotCredentials:
    """The current Copilot token for one stored GitHub login, refreshed on demand.

    Refreshes happen when `expires_at` is within a minute or `refresh_in` has elapsed
    since the fetch (but never sooner than 10 s after it, in case the clocks disagree);
    concurrent callers share one fetch, and when that fetch fails the callers that were
    waiting for it get its error instead of each trying again.

    Each fetch (and each `usage()` call) gets a new client, closed afterwards: built on
    `transport` (httpx's own when None), or returned by `http_factory`; giving both is a
    TypeError. Refreshes are rare, and a fresh client never carries connections bound to
    another event loop.
    """

    def __init__(
        self,
        store: TokenStoreLike,
        *,
        endpoints: GitHubEndpoints,
        transport: httpx.AsyncBaseTransport | None = None,
        http_factory: ClientFactory | None = None,
        account_type: str = "individual",
        env: Mapping[str, str] = os.environ,
        clock: Clock = time.time,
    ) -> None:
        """`clock` gives Unix time, the scale of `expires_at`; tests pass a fake one."""
        if account_type not in API_BASE_BY_ACCOUNT:
            choices = ", ".join(API_BASE_BY_ACCOUNT)
            raise ValueError(f"account_type must be one of {choices}; got {account_type!r}")
        self.store = store
        self.endpoints = endpoints
        self.account_type = account_type
        self._http_factory = client_factory(http_factory, transport)
        self._env = env
        self._clock = clock
        self._token: CopilotToken | None = None
        self._refresh_at = 0.0
        self._fetches_done = 0
        self._failure: ProxyError | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (
            f"CopilotCredentials(account_type={self.account_type!r}, "
            f"github={self.endpoints.github!r}, cached={self._token is not None})"
        )

    async def github_token(self) -> str:
        entry = self.store.load(STORE_KEY)
        token = entry.get("github_token") if isinstance(entry, dict) else None
        if not isinstance(token, str) or not token:
            raise ProxyError(
                f"Not logged in to GitHub Copilot; {LOGIN_HINT}", kind="authentication"
            )
        redactor.add(token)
        return token

    async def current(self) -> CopilotToken:
        token = self._fresh_token()
        if token is not None:
            return token
        fetches_seen = self._fetches_done
        async with self._loop_lock():
            token = self._fresh_token()
            if token is not None:
                return token
            self._raise_shared_failure(fetches_seen)
            return await self._refresh()

    async def after_unauthorized(self, stale_token: str) -> CopilotToken:
        """A fresh token after Copilot rejected `stale_token`; fetched at most once per stale
        token, however many requests were rejected with it."""
        fetches_seen = self._fetches_done
        async with self._loop_lock():
            token = self._fresh_token()
            if token is not None and token.token != stale_token:
                return token
            self._raise_shared_failure(fetches_seen)
            if self._token is not None and self._token.token == stale_token:
                # Never hand the rejected token out again, even if the refetch fails.
                self._token = None
            return await self._refresh()

    async def usage(self) -> dict[str, Any]:
        """The plan and quota snapshot of the stored login, as GitHub sends it
        (`copilot_usage`), fetched with this object's transport."""
        github_token = await self.github_token()
        async with self._http_factory() as http:
            return await copilot_usage(http, self.endpoints, github_token)

    def api_base(self, token: CopilotToken | None = None) -> str:
        """Where to send Copilot API calls: `CHATMOCK_COPILOT_BASE_URL`, else the host the
        token names, else the host for the account type."""
        override = (self._env.get("CHATMOCK_COPILOT_BASE_URL") or "").strip()
        if override:
            return override.rstrip("/")
        if token is not None and token.api_base:
            return token.api_base
        return API_BASE_BY_ACCOUNT[self.account_type]

    def save_github_token(self, token: str) -> None:
        if not token:
            raise ValueError("the GitHub token is empty")
        redactor.add(token)
        entry = dict(self.store.load(STORE_KEY) or {})
        entry["github_token"] = token
        self.store.save(STORE_KEY, entry)
        self._forget()

    def logout(self) -> bool:
        """Forget the stored login; False when there was none."""
        self._forget()
        return self.store.delete(STORE_KEY)

    def _forget(self) -> None:
        self._token = None
        self._failure = None

    def _fresh_token(self) -> CopilotToken | None:
        token = self._token
        return token if token is not None and self._clock() < self._refresh_at else None

    def _raise_shared_failure(self, fetches_seen: int) -> None:
        failure = self._failure
        if failure is not None and self._fetches_done != fetches_seen:
            # A fetch failed while this caller waited for it; trying again at once would
            # only queue one more doomed request per waiting caller.
            raise ProxyError(
                failure.message,
                kind=failure.kind,
                status=failure.status,
                retry_after=failure.retry_after,
            )

    async def _refresh(self) -> CopilotToken:
        try:
            github_token = await self.github_token()
            async with self._http_factory() as http:
                token = await fetch_copilot_token(http, self.endpoints, github_token)
        except ProxyError as exc:
            self._failure = exc
            raise
        except BaseException:
            # Cancelled or broken without an answer: nothing worth replaying to the waiters.
            self._failure = None
            raise
        finally:
            self._fetches_done += 1
        fetched_at = self._clock()
        lifetime = min(token.refresh_in, token.expires_at - _EXPIRY_MARGIN - fetched_at)
        self._token = token
        self._refresh_at = fetched_at + max(lifetime, _MIN_REUSE)
        self._failure = None
        return token

    def _loop_lock(self) -> asyncio.Lock:
        # Created on first use, and again if the caller's loop changed (a notebook's loop
        # after a server thread's): an asyncio.Lock is bound to one loop.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock


# Helpers


def _ignore(_status: str) -> None:
    return None


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _describe(exc: Exception) -> str:
    text = str(exc)
    return redactor.text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _oauth_detail(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    parts = [body.get("error"), body.get("error_description")]
    text = ": ".join(p for p in parts if isinstance(p, str) and p)
    return f", {_clip(text)}" if text else ""


def _api_detail(body: Any, separator: str = ", ") -> str:
    message = body.get("message") if isinstance(body, dict) else None
    return f"{separator}{_clip(message)}" if isinstance(message, str) and message else ""


def _clip(text: str) -> str:
    # GitHub's own words are useful in an error, but pass through the redactor first: an
    # error body is the one place a server might echo a credential back.
    text = redactor.text(text)
    return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
