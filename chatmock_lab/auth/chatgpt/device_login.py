"""The device-code login, for machines without a browser.

`/api/accounts/deviceauth/usercode` gives a code for the user to type at
`{issuer}/codex/device`; `/api/accounts/deviceauth/token` is polled until the server
hands back an authorization code together with the PKCE pair it generated, and that code
is exchanged with redirect URI `{issuer}/deviceauth/callback`. Follows openai/codex
(`codex-rs/login/src/device_code_auth.rs`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from chatmock_lab.auth.chatgpt._wire import (
    DENIED_CODES,
    account_label,
    describe_failure,
    error_code,
    json_object,
    post,
    string_field,
)
from chatmock_lab.auth.chatgpt.endpoints import (
    DEVICE_REDIRECT_PATH,
    DEVICE_TOKEN_PATH,
    DEVICE_USERCODE_PATH,
    DEVICE_VERIFICATION_PATH,
    resolve_issuer,
)
from chatmock_lab.auth.chatgpt.errors import LoginError
from chatmock_lab.auth.chatgpt.pkce import pkce_challenge
from chatmock_lab.auth.chatgpt.token_endpoint import exchange_code
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens
from chatmock_lab.auth.http import client_for
from chatmock_lab.identity.chatgpt import OAUTH_CLIENT_ID
from chatmock_lab.redact import redactor

__all__ = ["DeviceCode", "login_with_device_code", "request_device_code"]

logger = logging.getLogger(__name__)

# Polling: the server's interval, within sane bounds, and RFC 8628's "slow_down" step
# when it answers 429.
_DEFAULT_INTERVAL = 5.0
_MIN_INTERVAL = 1.0
_MAX_INTERVAL = 60.0
_SLOW_DOWN_STEP = 5.0


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
    *, issuer: str | None = None, http: httpx.AsyncClient, client_id: str = OAUTH_CLIENT_ID
) -> DeviceCode:
    """Start a device login: the code the user types and where, and the polling interval."""
    issuer = resolve_issuer(issuer)
    response = await post(
        http,
        f"{issuer}{DEVICE_USERCODE_PATH}",
        "the device code request",
        json={"client_id": client_id},
    )
    if response.status_code == 404:
        raise LoginError("this auth server does not offer device-code login; use the browser login")
    if not response.is_success:
        raise LoginError(f"the device code request failed ({describe_failure(response)})")
    body = json_object(response, "the device code request")
    device_auth_id = body.get("device_auth_id")
    # Codex accepts either spelling of the user code.
    user_code = body.get("user_code") or body.get("usercode")
    if not isinstance(device_auth_id, str) or not device_auth_id:
        raise LoginError("the device code answer has no device_auth_id")
    if not isinstance(user_code, str) or not user_code:
        raise LoginError("the device code answer has no user code")
    redactor.add(device_auth_id)
    return DeviceCode(
        verification_url=f"{issuer}{DEVICE_VERIFICATION_PATH}",
        user_code=user_code,
        device_auth_id=device_auth_id,
        interval=_interval(body.get("interval")),
    )


async def login_with_device_code(
    *,
    issuer: str | None = None,
    http: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    on_code: Callable[[DeviceCode], None],
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    timeout: float = 900.0,
    client_id: str = OAUTH_CLIENT_ID,
) -> ChatGPTTokens:
    """Sign in without a browser on this machine: `on_code` shows the URL and the code,
    then the server is polled at its interval until the user approves, declines, the code
    expires, or `timeout` seconds (counted in sleeps as well as on the clock) run out.

    Calls go through `http` (the caller's client, left open) or else a client of its own
    on `transport`; passing both is a TypeError."""
    issuer = resolve_issuer(issuer)
    async with client_for(http, transport) as client:
        device = await request_device_code(issuer=issuer, http=client, client_id=client_id)
        on_code(device)
        response = await _approval(issuer, client, device, sleep=sleep, timeout=timeout)
        body = json_object(response, "the device login")
        code = string_field(body, "authorization_code")
        challenge = string_field(body, "code_challenge")
        verifier = string_field(body, "code_verifier")
        if not (code and challenge and verifier):
            raise LoginError("the approved device login lacks its authorization code or PKCE pair")
        redactor.add(code, verifier)
        if not hmac.compare_digest(pkce_challenge(verifier), challenge):
            raise LoginError("the approved device login has a PKCE verifier that does not match")
        tokens = await exchange_code(
            issuer=issuer,
            http=client,
            code=code,
            code_verifier=verifier,
            redirect_uri=f"{issuer}{DEVICE_REDIRECT_PATH}",
            client_id=client_id,
        )
    logger.info("signed in to ChatGPT with a device code (account %s)", account_label(tokens))
    return tokens


async def _approval(
    issuer: str,
    http: httpx.AsyncClient,
    device: DeviceCode,
    *,
    sleep: Callable[[float], Awaitable[object]],
    timeout: float,
) -> httpx.Response:
    """Poll until the server answers the device login with success; that answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    slept = 0.0
    interval = device.interval
    while True:
        response = await post(
            http,
            f"{issuer}{DEVICE_TOKEN_PATH}",
            "the device login",
            json={"device_auth_id": device.device_auth_id, "user_code": device.user_code},
        )
        if response.is_success:
            return response
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


def _interval(raw: Any) -> float:
    # The real server sends the interval as a string ("5"); accept numbers too.
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return _DEFAULT_INTERVAL
    if seconds != seconds:  # NaN
        return _DEFAULT_INTERVAL
    return min(max(seconds, _MIN_INTERVAL), _MAX_INTERVAL)


def _device_failure_message(response: httpx.Response) -> str:
    code = error_code(response) or ""
    if code in DENIED_CODES:
        return "the device login was declined in the browser"
    if "expired" in code:
        return "the device code expired before it was approved; run the login again"
    return f"the device login failed ({describe_failure(response)})"
