"""Keeping secrets out of logs: keys, bearer tokens, cookies and OAuth tokens are masked.

Two layers: known secret values (every provider key read from the environment, and
credentials seen in request headers) are replaced wherever they appear, and patterns
that look like credentials are masked even when nobody registered them.

Each app has a `Redactor` of its own (its keys, its clients' headers, its providers'
cookies), so one app's secrets neither leak into nor grow another's. Tokens that logins
and token stores learn belong to the process (a login outlives any app), and live in
`redactor`, which every app's redactor consults too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping

from chatmock_lab.core import ProxyError

MASK = "***"

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
        "cookie",
        "set-cookie",
        "chatgpt-account-id",
    }
)

_PATTERNS = [
    # Bearer/Basic credentials in headers or text.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + MASK),
    # Vendor key formats.
    (re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\bxai-[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"\bgh[opsu]_[A-Za-z0-9]{16,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), MASK),
    # JSON fields holding tokens (OAuth, device flow, Copilot).
    (
        re.compile(
            r'(?i)("(?:access_token|refresh_token|id_token|token|api_key|apiKey|secret|'
            r'client_secret|password|device_code)"\s*:\s*")[^"]+(")'
        ),
        r"\1" + MASK + r"\2",
    ),
    # Keys in query strings and cookie headers.
    (re.compile(r"(?i)([?&](?:key|api_key|access_token|token)=)[^&\s\"']+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(cookie|set-cookie):\s*[^\r\n]+"), r"\1: " + MASK),
]

# Values shorter than this are too likely to be ordinary words to replace blindly.
_MIN_SECRET_LENGTH = 6


class Redactor:
    """Masks secrets in text and headers; thread-safe. A redactor with a `parent` masks
    the parent's secrets too (an app's redactor has the process's as its parent)."""

    def __init__(self, secrets: Iterable[str] = (), *, parent: Redactor | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        fresh = {s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH} - self._secrets
        if not fresh:
            return
        with self._lock:
            self._secrets |= fresh
            # Longest first, so a secret that contains another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def add_from_headers(self, headers: Mapping[str, str]) -> None:
        for name, value in headers.items():
            if name.lower() in SECRET_HEADERS:
                scheme, _, credential = value.partition(" ")
                self.add(credential if credential else scheme)
                if name.lower() in ("cookie", "set-cookie"):
                    self.add(*(c.partition("=")[2] for c in value.split(";")))

    def __repr__(self) -> str:
        # Never the secrets themselves.
        return f"Redactor({len(self._secrets)} secrets, parent={self._parent is not None})"

    def text(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        if self._parent is not None:
            return self._parent.text(text)
        for regex, replacement in _PATTERNS:
            text = regex.sub(replacement, text)
        return text

    def error(self, error: ProxyError) -> ProxyError:
        """The error with its message masked: upstreams sometimes echo the key they got."""
        error.message = self.text(error.message)
        error.args = (error.message,)
        return error

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        masked = {}
        for name, value in headers.items():
            lowered = name.lower()
            if lowered in ("cookie", "set-cookie"):
                masked[name] = MASK  # every pair is a secret, not only what follows a space
            elif lowered in SECRET_HEADERS:
                scheme, _, credential = value.partition(" ")
                masked[name] = f"{scheme} {MASK}" if credential else MASK
            else:
                masked[name] = self.text(value)
        return masked


class RedactingFilter(logging.Filter):
    """A logging filter that masks every record's final message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.redactor.text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = self.redactor.text(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        return True


# The process's redactor: credentials learned by logins and token stores.
redactor = Redactor()


def app_redactor() -> Redactor:
    """A fresh redactor for one app, falling back to the process's credentials."""
    return Redactor(parent=redactor)
