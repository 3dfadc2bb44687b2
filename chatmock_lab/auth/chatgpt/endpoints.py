"""Where ChatGPT's auth server lives, and the paths the logins use on it.

The issuer is `https://auth.openai.com` unless `CHATMOCK_CHATGPT_AUTH_URL` names another
(a fake one in tests). Paths follow openai/codex (`codex-rs/login/src/server.rs`,
`device_code_auth.rs`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = [
    "AUTHORIZE_PATH",
    "CALLBACK_PATH",
    "DEFAULT_ISSUER",
    "DEFAULT_PORT",
    "DEFAULT_REDIRECT_URI",
    "DEVICE_REDIRECT_PATH",
    "DEVICE_TOKEN_PATH",
    "DEVICE_USERCODE_PATH",
    "DEVICE_VERIFICATION_PATH",
    "ISSUER_ENV",
    "TOKEN_PATH",
    "default_issuer",
    "resolve_issuer",
]

DEFAULT_ISSUER = "https://auth.openai.com"
ISSUER_ENV = "CHATMOCK_CHATGPT_AUTH_URL"

# The sign-in page, and the token endpoint both logins end at and refreshes go to.
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
# The device-code login: ask for a user code, poll for the approval, send the user to the
# verification page; the approved code is exchanged with the device redirect URI.
DEVICE_USERCODE_PATH = "/api/accounts/deviceauth/usercode"
DEVICE_TOKEN_PATH = "/api/accounts/deviceauth/token"
DEVICE_VERIFICATION_PATH = "/codex/device"
DEVICE_REDIRECT_PATH = "/deviceauth/callback"

# Where the browser comes back to: one of the loopback redirects registered for Codex's
# OAuth client ("localhost", not 127.0.0.1, is the registered form).
DEFAULT_PORT = 1455
CALLBACK_PATH = "/auth/callback"
DEFAULT_REDIRECT_URI = f"http://localhost:{DEFAULT_PORT}{CALLBACK_PATH}"


def default_issuer(env: Mapping[str, str] = os.environ) -> str:
    """`CHATMOCK_CHATGPT_AUTH_URL` from `env`, else `DEFAULT_ISSUER`; no trailing slash."""
    return (env.get(ISSUER_ENV) or DEFAULT_ISSUER).rstrip("/")


def resolve_issuer(issuer: str | None) -> str:
    """`issuer` without a trailing slash; `default_issuer()` when it is None or empty."""
    return (issuer or default_issuer()).rstrip("/")
