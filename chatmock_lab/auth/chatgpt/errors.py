"""What a ChatGPT login or refresh raises when it cannot complete."""

from __future__ import annotations

from chatmock_lab.core.errors import ChatmockError

__all__ = ["LoginError", "RefreshError"]


class LoginError(ChatmockError):
    """A login or refresh that the auth server refused or that could not complete. The
    message is meant for the user and never holds a token, code or verifier."""


class RefreshError(LoginError):
    """A refused refresh. `permanent` means the refresh token is dead: only a new login helps."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
