"""PKCE (RFC 7636, method S256) and the OAuth `state`, as the browser login uses them.

Both secrets are registered with the redactor as soon as they exist, so no log line or
error message can carry them. Codex's own implementation is `codex-rs/login/src/pkce.rs`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

from chatmock_lab.redact import redactor

__all__ = ["PKCE", "generate_pkce", "generate_state", "pkce_challenge"]


@dataclass(frozen=True, repr=False)
class PKCE:
    """A PKCE pair: the secret verifier and its S256 challenge."""

    verifier: str
    challenge: str

    def __repr__(self) -> str:
        return "PKCE(method='S256')"


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge for `verifier`: unpadded base64url of its SHA-256."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate_pkce() -> PKCE:
    """A fresh PKCE pair, its verifier registered with the redactor."""
    # 64 random bytes give an 86-character verifier, inside RFC 7636's 43..128.
    verifier = _random_token(64)
    redactor.add(verifier)
    return PKCE(verifier=verifier, challenge=pkce_challenge(verifier))


def generate_state() -> str:
    """A fresh OAuth `state`, registered with the redactor."""
    state = _random_token(32)
    redactor.add(state)
    return state


def _random_token(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b"=").decode("ascii")
