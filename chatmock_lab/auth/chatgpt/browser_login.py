"""The browser login: authorization code with PKCE S256, back through the loopback server.

The user opens `authorize_url(...)`; the auth server sends the browser back to the
`CallbackServer` on port 1455 with a code, which is exchanged, form-encoded, with the
PKCE verifier at the token endpoint. Follows openai/codex (`codex-rs/login/src/server.rs`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote, urlencode

import httpx

from chatmock_lab.auth.chatgpt._wire import account_label
from chatmock_lab.auth.chatgpt.callback import CallbackServer
from chatmock_lab.auth.chatgpt.endpoints import (
    AUTHORIZE_PATH,
    DEFAULT_PORT,
    DEFAULT_REDIRECT_URI,
    resolve_issuer,
)
from chatmock_lab.auth.chatgpt.errors import LoginError
from chatmock_lab.auth.chatgpt.pkce import PKCE, generate_pkce, generate_state
from chatmock_lab.auth.chatgpt.token_endpoint import exchange_code
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens
from chatmock_lab.auth.http import client_for
from chatmock_lab.identity.chatgpt import OAUTH_CLIENT_ID, OAUTH_ORIGINATOR, OAUTH_SCOPES

__all__ = ["authorize_url", "login_with_browser"]

logger = logging.getLogger(__name__)


def authorize_url(
    issuer: str,
    pkce: PKCE,
    state: str,
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    *,
    client_id: str = OAUTH_CLIENT_ID,
) -> str:
    """The page the user opens to sign in; it ends at `redirect_uri` with a code."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": OAUTH_SCOPES,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        # The ID token then names the user's organizations, as Codex's login asks.
        "id_token_add_organizations": "true",
        "codex_cli_simplified_flow": "true",
        "state": state,
        "originator": OAUTH_ORIGINATOR,
    }
    # %20 rather than "+" for spaces, as Codex encodes them.
    return f"{issuer.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(query, quote_via=quote)}"


async def login_with_browser(
    *,
    issuer: str | None = None,
    http: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    open_browser: Callable[[str], object] | None,
    on_url: Callable[[str], None],
    port: int = DEFAULT_PORT,
    timeout: float = 300.0,
    client_id: str = OAUTH_CLIENT_ID,
) -> ChatGPTTokens:
    """Sign in through the browser. `on_url` always receives the sign-in URL (to print);
    `open_browser`, when given, is asked to open it (None is `--no-browser`).

    The token exchange goes through `http` (the caller's client, left open) or else a
    client of its own on `transport`; passing both is a TypeError."""
    issuer = resolve_issuer(issuer)
    async with client_for(http, transport) as client:
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
                    http=client,
                    code=code,
                    code_verifier=pkce.verifier,
                    redirect_uri=server.redirect_uri,
                    client_id=client_id,
                )
            except LoginError as exc:
                server.finish(str(exc))
                raise
            server.finish()
    logger.info("signed in to ChatGPT (account %s)", account_label(tokens))
    return tokens
