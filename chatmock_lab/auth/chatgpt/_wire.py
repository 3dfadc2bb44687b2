"""Talking to ChatGPT's auth server: posting, reading its JSON answers, and describing
its failures in words fit for a terminal (masked, clipped, no control characters).

Shared by the token endpoint, the device login and the callback server; not public.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any

import httpx

from chatmock_lab.auth.chatgpt.errors import LoginError
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens
from chatmock_lab.redact import redactor

__all__ = [
    "DENIED_CODES",
    "account_label",
    "clip",
    "describe_failure",
    "error_code",
    "json_object",
    "post",
    "string_field",
]

# The codes an auth server answers with when the user said no, in the browser or on the
# device page.
DENIED_CODES = frozenset({"access_denied", "authorization_declined", "denied"})
_DETAIL_LIMIT = 200
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


async def post(
    http: httpx.AsyncClient,
    url: str,
    what: str,
    *,
    data: dict[str, str] | None = None,
    json: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a form (`data`) or JSON body asking for JSON back; a transport failure becomes
    a `LoginError` naming `what` and `url`, never the body."""
    try:
        return await http.post(url, data=data, json=json, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        # `from None`: the exception's request would carry the form with the secrets.
        reason = redactor.text(str(exc)) or type(exc).__name__
        raise LoginError(f"{what} could not reach {url}: {clip(reason)}") from None


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The answer's JSON object; a `LoginError` when it is anything else."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise LoginError(f"{what} got an answer that is not a JSON object")
    return body


def string_field(body: Mapping[str, Any], name: str) -> str:
    """`body[name]` when it is a string, else ""."""
    value = body.get(name)
    return value if isinstance(value, str) else ""


def error_code(response: httpx.Response) -> str | None:
    """The OAuth error code of a failed answer, lower-cased: `error`, `error.code` or
    `code`, whichever the server used; None without one."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("code")
    if not isinstance(error, str):
        error = body.get("code")
    return error.lower() if isinstance(error, str) and error else None


def describe_failure(response: httpx.Response) -> str:
    """HTTP status and the server's own explanation, masked and clipped. A body that is
    not JSON (an HTML error page, say) is left out rather than pasted into a terminal."""
    detail = None
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            error = body.get("error")
            candidates = [
                body.get("error_description"),
                error.get("message") if isinstance(error, dict) else None,
                error.get("code") if isinstance(error, dict) else error,
            ]
            detail = next((c for c in candidates if isinstance(c, str) and c.strip()), None)
    status = f"HTTP {response.status_code}"
    return f"{status}: {clip(redactor.text(detail))}" if detail else status


def clip(text: str) -> str:
    """`text` fit for a terminal: control characters replaced, at most 200 characters."""
    # Server and browser text ends up in a terminal: no control characters, bounded size.
    text = _UNPRINTABLE.sub(" ", text).strip()
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def account_label(tokens: ChatGPTTokens) -> str:
    """The login's account for a log line: its last four characters at most."""
    account = tokens.account_id
    if not account:
        return "unknown"
    return f"…{account[-4:]}" if len(account) > 8 else "…"
