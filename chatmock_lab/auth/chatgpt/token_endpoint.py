"""The OAuth token endpoint, `{issuer}/oauth/token`: both logins end there, and every
refresh goes there.

The code exchange is form-encoded with the PKCE verifier; a refresh posts JSON
`{client_id, grant_type: refresh_token, refresh_token}`. Refresh tokens rotate, so a
refused refresh says whether the token is dead (`RefreshError.permanent`). Wire details
follow openai/codex (`codex-rs/login/src/server.rs`, `auth/manager.rs`, `token_data.rs`).
"""

from __future__ import annotations

import httpx

from chatmock_lab.auth.chatgpt._wire import describe_failure, error_code, json_object, post
from chatmock_lab.auth.chatgpt.endpoints import TOKEN_PATH, resolve_issuer
from chatmock_lab.auth.chatgpt.errors import LoginError, RefreshError
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens, account_id_from_id_token, expiry_of
from chatmock_lab.identity.chatgpt import OAUTH_CLIENT_ID
from chatmock_lab.redact import redactor

__all__ = ["exchange_code", "refresh_tokens"]

_PERMANENT_REFRESH_MESSAGES = {
    "refresh_token_expired": "the ChatGPT login has expired",
    "refresh_token_reused": "the ChatGPT refresh token was already used (by another program?)",
    "refresh_token_invalidated": "the ChatGPT login was revoked",
    # RFC 6749's code for a refresh token the server no longer accepts.
    "invalid_grant": "the ChatGPT login is no longer valid",
}


async def exchange_code(
    *,
    issuer: str | None = None,
    http: httpx.AsyncClient,
    code: str,
    code_verifier: str,
    redirect_uri: str,
    client_id: str = OAUTH_CLIENT_ID,
) -> ChatGPTTokens:
    """Trade an authorization code for tokens (form-encoded, with the PKCE verifier)."""
    redactor.add(code, code_verifier)
    issuer = resolve_issuer(issuer)
    response = await post(
        http,
        f"{issuer}{TOKEN_PATH}",
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
        raise LoginError(f"the auth server refused the sign-in code ({describe_failure(response)})")
    return _tokens_from(response, "the token exchange", previous=None)


async def refresh_tokens(
    *,
    issuer: str | None = None,
    http: httpx.AsyncClient,
    refresh_token: str,
    previous: ChatGPTTokens | None = None,
    client_id: str = OAUTH_CLIENT_ID,
) -> ChatGPTTokens:
    """New tokens for a refresh token. Fields the server leaves out (it may not rotate the
    refresh token, or resend the ID token) are kept from `previous`."""
    redactor.add(refresh_token)
    issuer = resolve_issuer(issuer)
    response = await post(
        http,
        f"{issuer}{TOKEN_PATH}",
        "the token refresh",
        json={
            "client_id": client_id,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
    )
    if not response.is_success:
        code = error_code(response)
        permanent = response.status_code == 401 or code in _PERMANENT_REFRESH_MESSAGES
        message = _PERMANENT_REFRESH_MESSAGES.get(code or "") or (
            f"the auth server refused to refresh the ChatGPT login ({describe_failure(response)})"
        )
        raise RefreshError(message, permanent=permanent)
    # A server that does not rotate refresh tokens leaves the one we sent in force.
    return _tokens_from(
        response, "the token refresh", previous=previous, refresh_fallback=refresh_token
    )


def _tokens_from(
    response: httpx.Response,
    what: str,
    *,
    previous: ChatGPTTokens | None,
    refresh_fallback: str | None = None,
) -> ChatGPTTokens:
    body = json_object(response, what)
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
