"""Logging in to account providers, logging out, and what is known about each login.

The CLI (`chatmock-lab login|logout|info`) and the notebook drive the same functions;
they report progress through callbacks and never return or print a secret.
"""

from __future__ import annotations

import os
import time
import webbrowser
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from chatmock_lab.auth import chatgpt, github
from chatmock_lab.auth.chatgpt_tokens import jwt_claims
from chatmock_lab.auth.store import TokenStore, chatmock_home, codex_auth_path, import_codex_auth

ACCOUNT_PROVIDERS = ("chatgpt", "copilot", "qwen")
_QWEN_FIELDS = (("auth_token", "QWEN_AUTH_TOKEN"), ("cookies", "QWEN_COOKIES"))


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=30.0)


async def login_chatgpt(
    env: Mapping[str, str] = os.environ,
    *,
    headless: bool = False,
    open_browser: bool = True,
    on_url: Callable[[str], None] = print,
    on_code: Callable[[chatgpt.DeviceCode], None] | None = None,
    port: int = chatgpt.DEFAULT_PORT,
) -> str:
    """Sign in to ChatGPT (browser with PKCE, or the headless device code) and store the
    tokens; returns a one-line summary without secrets."""
    issuer = chatgpt.default_issuer(env)
    async with _client() as http:
        if headless:
            tokens = await chatgpt.login_with_device_code(
                issuer=issuer, http=http, on_code=on_code or (lambda code: on_url(str(code)))
            )
        else:
            tokens = await chatgpt.login_with_browser(
                issuer=issuer,
                http=http,
                open_browser=webbrowser.open if open_browser else None,
                on_url=on_url,
                port=port,
            )
    store = TokenStore.default(env)
    chatgpt.save_tokens(store, tokens)
    return f"Signed in to ChatGPT ({_masked(tokens.account_id)}); tokens saved in {store.path}"


async def login_copilot(
    env: Mapping[str, str] = os.environ,
    *,
    on_code: Callable[[github.DeviceCode], None],
    on_status: Callable[[str], None] | None = None,
) -> str:
    """GitHub's device flow, then a check that the account has Copilot."""
    endpoints = github.GitHubEndpoints.from_env(env)
    async with _client() as http:
        token = await github.login(http, endpoints, on_code=on_code, on_status=on_status)
        await github.fetch_copilot_token(http, endpoints, token)
    store = TokenStore.default(env)
    store.save(github.STORE_KEY, {**(store.load(github.STORE_KEY) or {}), "github_token": token})
    return f"Signed in to GitHub Copilot; token saved in {store.path}"


def login_qwen(auth_token: str, cookies: str, env: Mapping[str, str] = os.environ) -> str:
    """Qwen has no API login: keep a browser session's token and cookies."""
    if not auth_token.strip() or not cookies.strip():
        raise ValueError("both the auth token and the cookies are needed")
    store = TokenStore.default(env)
    store.save("qwen", {"auth_token": auth_token.strip(), "cookies": cookies.strip()})
    return f"Qwen session saved in {store.path}"


def qwen_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the stored Qwen session filled in where the variables are not set."""
    merged = dict(env)
    stored = TokenStore.default(env).load("qwen") or {}
    for field, variable in _QWEN_FIELDS:
        if not merged.get(variable) and stored.get(field):
            merged[variable] = stored[field]
    return merged


def logout(provider: str, env: Mapping[str, str] = os.environ) -> bool:
    if provider not in ACCOUNT_PROVIDERS:
        raise ValueError(
            f"unknown account provider {provider!r} (one of {', '.join(ACCOUNT_PROVIDERS)})"
        )
    return TokenStore.default(env).delete(provider)


def _masked(value: str | None) -> str | None:
    if not value:
        return None
    return f"...{value[-4:]}" if len(value) > 4 else "..."


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_label(minutes: float) -> str:
    """A usage window named by its real length: a 10080-minute window is "7 days", not
    "weekly" or "5 hours" by position."""
    if minutes >= 1440 and minutes % 1440 == 0:
        days = int(minutes // 1440)
        return f"{days} day{'s' if days != 1 else ''}"
    if minutes >= 60 and minutes % 60 == 0:
        hours = int(minutes // 60)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes:g} minutes"


def _chatgpt_usage(env: Mapping[str, str]) -> list[dict[str, Any]]:
    snapshot = TokenStore(chatmock_home(env) / "usage.json").load("chatgpt") or {}
    captured = float(snapshot.get("captured_at") or 0)
    return [
        {
            "window": window_label(w["window_minutes"]),
            "used_percent": w["used_percent"],
            "resets_at": _iso(captured + w["resets_in_seconds"]),
        }
        for w in snapshot.get("windows") or []
    ]


def _chatgpt_info(store: TokenStore, env: Mapping[str, str]) -> dict[str, Any]:
    source = "chatmock-lab"
    tokens = chatgpt.load_tokens(store)
    if tokens is None:
        tokens = import_codex_auth(codex_auth_path(env))
        source = "codex-cli"
    if tokens is None:
        return {"logged_in": False, "login": "chatmock-lab login chatgpt"}
    access = jwt_claims(tokens.access_token) or {}
    identity = jwt_claims(tokens.id_token) or {}
    auth_claim = access.get("https://api.openai.com/auth") or {}
    return {
        "logged_in": True,
        "source": source,
        "account": _masked(tokens.account_id),
        "email": identity.get("email"),
        "plan": auth_claim.get("chatgpt_plan_type"),
        "access_token_expires_at": _iso(tokens.expires_at),
        "expires_in_seconds": int(tokens.expires_at - time.time()),
        "usage": _chatgpt_usage(env),
    }


def copilot_usage_windows(usage: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Copilot's quota snapshots as rows: what it is, how much is left, when it resets."""
    rows = []
    for name, quota in (usage.get("quota_snapshots") or {}).items():
        if not isinstance(quota, dict):
            continue
        rows.append(
            {
                "quota": name.replace("_", " "),
                "unlimited": bool(quota.get("unlimited")),
                "remaining": quota.get("remaining"),
                "entitlement": quota.get("entitlement"),
                "percent_remaining": quota.get("percent_remaining"),
                "resets": usage.get("quota_reset_date"),
            }
        )
    return rows


async def _copilot_info(store: TokenStore, env: Mapping[str, str]) -> dict[str, Any]:
    entry = store.load(github.STORE_KEY) or {}
    token = entry.get("github_token")
    if not token:
        return {"logged_in": False, "login": "chatmock-lab login copilot"}
    info: dict[str, Any] = {"logged_in": True}
    endpoints = github.GitHubEndpoints.from_env(env)
    try:
        async with _client() as http:
            usage = await github.copilot_usage(http, endpoints, token)
        info["plan"] = usage.get("copilot_plan")
        info["usage"] = copilot_usage_windows(usage)
    except Exception as exc:  # the login is still worth reporting when usage is out of reach
        info["usage_error"] = f"{type(exc).__name__}: could not read usage"
    return info


async def account_info(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Who is logged in where, with plans, expiries and usage; no secret in it."""
    store = TokenStore.default(env)
    qwen = qwen_environment(env)
    return {
        "home": str(chatmock_home(env)),
        "token_file": str(store.path),
        "providers": {
            "chatgpt": _chatgpt_info(store, env),
            "copilot": await _copilot_info(store, env),
            "qwen": {"configured": bool(qwen.get("QWEN_AUTH_TOKEN") and qwen.get("QWEN_COOKIES"))},
        },
    }


def _usage_line(row: Mapping[str, Any]) -> str:
    if "window" in row:  # ChatGPT's rolling windows
        return f"{row['window']} window: {row['used_percent']:g}% used, resets {row['resets_at']}"
    left = "unlimited" if row["unlimited"] else f"{row['remaining']}/{row['entitlement']} left"
    return f"{row['quota']}: {left}, resets {row['resets']}"


def format_info(info: Mapping[str, Any]) -> str:
    lines = [f"chatmock-lab home: {info['home']}"]
    for name, details in info["providers"].items():
        if details.get("logged_in") or details.get("configured"):
            facts = ", ".join(
                f"{key}: {value}"
                for key, value in details.items()
                if key not in ("logged_in", "configured", "usage") and value is not None
            )
            lines.append(f"{name}: signed in" + (f" ({facts})" if facts else ""))
            lines.extend(f"  {_usage_line(row)}" for row in details.get("usage") or [])
        else:
            hint = (
                details.get("login")
                or "set QWEN_AUTH_TOKEN and QWEN_COOKIES, or chatmock-lab login qwen"
            )
            lines.append(f"{name}: not signed in ({hint})")
    return "\n".join(lines)
