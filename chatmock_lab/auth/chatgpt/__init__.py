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

One concept per module:

- `endpoints`: the issuer (`CHATMOCK_CHATGPT_AUTH_URL`), the paths, the loopback port;
- `pkce`: the PKCE pair and the OAuth state;
- `callback`: the loopback server the browser comes back to, and its pages;
- `browser_login`, `device_login`: the two logins;
- `token_endpoint`: the code exchange and the refresh;
- `credentials`: the stored login and `ChatGPTCredentials`, which keeps it fresh;
- `errors`: `LoginError` and `RefreshError`.

Who the login says it is (Codex CLI's OAuth client id, scopes, originator) lives in
`chatmock_lab.identity.chatgpt`, beside what the provider tells the backend. Every
public name of the former `auth/chatgpt.py` module is importable from here.

Wire details follow openai/codex (`codex-rs/login/src/server.rs`, `pkce.rs`,
`device_code_auth.rs`, `auth/manager.rs`, `token_data.rs`).
"""

from __future__ import annotations

from chatmock_lab.auth.chatgpt.browser_login import authorize_url, login_with_browser
from chatmock_lab.auth.chatgpt.callback import CallbackServer
from chatmock_lab.auth.chatgpt.credentials import (
    LOGIN_HINT,
    PROVIDER,
    REFRESH_MARGIN,
    ChatGPTCredentials,
    load_tokens,
    save_tokens,
)
from chatmock_lab.auth.chatgpt.device_login import (
    DeviceCode,
    login_with_device_code,
    request_device_code,
)
from chatmock_lab.auth.chatgpt.endpoints import (
    CALLBACK_PATH,
    DEFAULT_ISSUER,
    DEFAULT_PORT,
    DEFAULT_REDIRECT_URI,
    ISSUER_ENV,
    default_issuer,
)
from chatmock_lab.auth.chatgpt.errors import LoginError, RefreshError
from chatmock_lab.auth.chatgpt.pkce import PKCE, generate_pkce, generate_state, pkce_challenge
from chatmock_lab.auth.chatgpt.token_endpoint import exchange_code, refresh_tokens
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens, account_id_from_id_token
from chatmock_lab.identity.chatgpt import OAUTH_CLIENT_ID as CLIENT_ID
from chatmock_lab.identity.chatgpt import OAUTH_ORIGINATOR as ORIGINATOR
from chatmock_lab.identity.chatgpt import OAUTH_SCOPES as SCOPES

__all__ = [
    "CALLBACK_PATH",
    "CLIENT_ID",
    "DEFAULT_ISSUER",
    "DEFAULT_PORT",
    "DEFAULT_REDIRECT_URI",
    "ISSUER_ENV",
    "LOGIN_HINT",
    "ORIGINATOR",
    "PKCE",
    "PROVIDER",
    "REFRESH_MARGIN",
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
