"""Credentials for replaying a cassette: no request reaches an upstream, so no login,
key or cookie is needed, and none is read, refreshed or sent.

The recorded requests were scrubbed of their credentials before they were written, and
matching ignores credential headers, so any stand-in value replays the same answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens
from chatmock_lab.auth.github import CopilotCredentials, CopilotToken

STAND_IN = "replay-needs-no-key"


def stand_in_environment(env: Mapping[str, str], variables: Iterable[str]) -> dict[str, str]:
    """`env` with a stand-in for each credential variable it lacks."""
    return {**env, **{variable: STAND_IN for variable in variables if not env.get(variable)}}


class ReplayChatGPTCredentials:
    """What `ChatGPTCredentials` offers the provider, without a login."""

    def __init__(self) -> None:
        self._tokens = ChatGPTTokens(
            access_token=STAND_IN,
            refresh_token=STAND_IN,
            id_token=STAND_IN,
            account_id=None,
            expires_at=math.inf,
        )

    def __repr__(self) -> str:
        return "ReplayChatGPTCredentials()"

    async def current(self) -> ChatGPTTokens:
        return self._tokens

    async def after_unauthorized(self, stale_access_token: str) -> ChatGPTTokens:
        # A recorded 401 is replayed as it was; refreshing would change nothing.
        return self._tokens


class ReplayCopilotCredentials(CopilotCredentials):
    """A Copilot token that never expires and a GitHub token that is never checked; the
    API base comes from the environment or the account type, as with a real login."""

    def __repr__(self) -> str:
        return f"ReplayCopilotCredentials(account_type={self.account_type!r})"

    async def github_token(self) -> str:
        return STAND_IN

    async def current(self) -> CopilotToken:
        return CopilotToken(token=STAND_IN, expires_at=math.inf, refresh_in=math.inf, api_base=None)

    async def after_unauthorized(self, stale_token: str) -> CopilotToken:
        return await self.current()
