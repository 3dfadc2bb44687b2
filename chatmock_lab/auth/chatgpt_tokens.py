"""ChatGPT OAuth tokens as kept in the token store, and the JWT claims read from them.

This sits apart from `chatgpt` so the token store can import Codex CLI's file without
importing the login flows. The tokens are JWTs signed by auth.openai.com; only their
claims are read here (expiry, account id), never verified: the backend that accepts
them verifies them, and we received them over TLS from the issuer itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from chatmock_lab.redact import redactor

__all__ = [
    "AUTH_CLAIM",
    "ChatGPTTokens",
    "account_id_from_id_token",
    "expiry_of",
    "jwt_claims",
]

AUTH_CLAIM = "https://api.openai.com/auth"
# Used when the access token has no `exp` and the server sent no `expires_in`: short, so
# that a wrong guess costs an early refresh rather than a request refused as expired.
_FALLBACK_LIFETIME = 3600.0


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, decoded without checking its signature; None if not a JWT."""
    parts = token.split(".")
    # An unsigned token ("alg": "none") may end with an empty signature part.
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return None
    payload = parts[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def account_id_from_id_token(id_token: str) -> str | None:
    """The ChatGPT account (workspace) id carried in a token's OpenAI auth claim."""
    claims = jwt_claims(id_token) or {}
    auth = claims.get(AUTH_CLAIM)
    if isinstance(auth, dict):
        account = auth.get("chatgpt_account_id")
        if isinstance(account, str) and account:
            return account
    return None


def expiry_of(access_token: str, expires_in: Any = None, *, now: float | None = None) -> float:
    """When an access token expires (Unix time): its `exp` claim when it is a JWT, else
    `expires_in` seconds from now, else a conservative hour from now."""
    now = time.time() if now is None else now
    exp = (jwt_claims(access_token) or {}).get("exp")
    if _is_number(exp):
        return float(exp)
    if _is_number(expires_in):
        return now + float(expires_in)
    return now + _FALLBACK_LIFETIME


@dataclass(repr=False)
class ChatGPTTokens:
    """One ChatGPT login: the bearer token, what renews it, and whose account it is."""

    access_token: str
    refresh_token: str
    id_token: str
    account_id: str | None
    expires_at: float

    def __post_init__(self) -> None:
        # Registered at birth, whatever the source (login, refresh, token store, Codex's
        # file), so no code path can log a token the redactor has not been told about.
        redactor.add(self.access_token, self.refresh_token, self.id_token)

    def __repr__(self) -> str:
        return (
            f"ChatGPTTokens(account_id={_masked(self.account_id)}, "
            f"expires_at={_iso(self.expires_at)})"
        )

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.expires_at - now <= seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "id_token": self.id_token,
            "account_id": self.account_id,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChatGPTTokens:
        """Tokens from `to_json()` output; a ValueError names a bad field, never a value."""
        strings = {}
        for name in ("access_token", "refresh_token", "id_token"):
            value = data.get(name, "" if name == "id_token" else None)
            if not isinstance(value, str) or (name != "id_token" and not value):
                raise ValueError(f"the field {name!r} is missing or not a string")
            strings[name] = value
        account_id = data.get("account_id")
        if account_id is not None and not isinstance(account_id, str):
            raise ValueError("the field 'account_id' is not a string")
        expires_at = data.get("expires_at")
        if not _is_number(expires_at):
            # An entry written by hand may lack it; the token itself usually knows.
            expires_at = expiry_of(strings["access_token"])
        return cls(
            access_token=strings["access_token"],
            refresh_token=strings["refresh_token"],
            id_token=strings["id_token"],
            account_id=account_id or account_id_from_id_token(strings["id_token"]),
            expires_at=float(expires_at),
        )


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _masked(account_id: str | None) -> str:
    # Enough to tell two accounts apart in a log, not enough to name one in a header.
    if account_id is None:
        return "None"
    return f"'…{account_id[-4:]}'" if len(account_id) > 8 else "'…'"


def _iso(timestamp: float) -> str:
    try:
        moment = datetime.fromtimestamp(timestamp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return repr(timestamp)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
