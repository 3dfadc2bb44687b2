"""The ChatGPT provider's tokens: read from the token store (or Codex CLI's file), and
kept fresh.

Tokens are refreshed when they expire within five minutes, and once when the backend
answers 401. Refresh tokens rotate: each one works once, so `ChatGPTCredentials` makes
concurrent callers share a single refresh and re-reads the store first, in case another
process has refreshed already. Follows openai/codex (`auth/manager.rs`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from chatmock_lab.auth.chatgpt._wire import account_label
from chatmock_lab.auth.chatgpt.endpoints import resolve_issuer
from chatmock_lab.auth.chatgpt.errors import RefreshError
from chatmock_lab.auth.chatgpt.token_endpoint import refresh_tokens
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens
from chatmock_lab.auth.http import ClientFactory, client_factory
from chatmock_lab.auth.store import TokenStore, TokenStoreError, import_codex_auth
from chatmock_lab.core.errors import ProxyError

__all__ = [
    "LOGIN_HINT",
    "PROVIDER",
    "REFRESH_MARGIN",
    "ChatGPTCredentials",
    "load_tokens",
    "save_tokens",
]

logger = logging.getLogger(__name__)

# The token store's key for the ChatGPT login.
PROVIDER = "chatgpt"
LOGIN_HINT = "run: chatmock-lab login chatgpt"
REFRESH_MARGIN = 300.0
# Seconds between early refresh attempts while the auth server is failing.
_EARLY_REFRESH_RETRY = 30.0


def load_tokens(store: TokenStore) -> ChatGPTTokens | None:
    """The stored ChatGPT login, None without one; a damaged entry is a TokenStoreError."""
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

    Each refresh gets a new client, closed after it: built on `transport` (httpx's own
    when None), or returned by `http_factory`; giving both is a TypeError.
    """

    def __init__(
        self,
        store: TokenStore,
        *,
        issuer: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_factory: ClientFactory | None = None,
        import_codex: bool = True,
        codex_auth_path: Path | None = None,
        refresh_margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.issuer = resolve_issuer(issuer)
        self._http_factory = client_factory(http_factory, transport)
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
        logger.info("refreshing the ChatGPT login (account %s)", account_label(tokens))
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


def _consume_outcome(task: asyncio.Task[Any]) -> None:
    # Every caller may have given up; mark the failure seen so asyncio does not log it.
    if not task.cancelled():
        task.exception()
