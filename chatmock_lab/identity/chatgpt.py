"""How chatmock-lab presents itself to OpenAI's ChatGPT services, and the backend's model names.

Two identities, on purpose:

- the login presents itself as Codex CLI (`OAUTH_CLIENT_ID`, `OAUTH_SCOPES`,
  `OAUTH_ORIGINATOR`, used by `auth/chatgpt/`): the auth server only redirects to the
  loopback URIs registered for Codex's public OAuth client, and tailors its pages to the
  originator it names;
- calls to the Codex backend say who is really calling (`ORIGINATOR`, `user_agent()`,
  `request_headers`, used by `providers/chatgpt.py`).

The backend changes what it expects without notice (headers, client versions); all of
it lives here so that an update is one small change, covered by tests. The login's
values follow openai/codex (`codex-rs/login/src/server.rs`).
"""

from __future__ import annotations

import platform

from chatmock_lab._version import __version__

__all__ = [
    "CLIENT_VERSION",
    "DEFAULT_BASE_URL",
    "EFFORTS",
    "OAUTH_CLIENT_ID",
    "OAUTH_ORIGINATOR",
    "OAUTH_SCOPES",
    "ORIGINATOR",
    "STATIC_MODELS",
    "parse_model",
    "request_headers",
    "user_agent",
]

# The login, as Codex CLI

# Codex CLI's public OAuth client: the auth server only redirects to the loopback URIs
# registered for it (ports 1455 and 1457).
OAUTH_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
OAUTH_SCOPES = "openid profile email offline_access"
# The auth server tailors its pages to the client named here; it knows Codex's.
OAUTH_ORIGINATOR = "codex_cli_rs"

# The backend, as chatmock-lab

DEFAULT_BASE_URL = "https://chatgpt.com/backend-api/codex"
ORIGINATOR = "chatmock_lab"
# The Codex client version the models catalog is asked for.
CLIENT_VERSION = "0.146.0"

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
# Offered when the backend's catalog cannot be reached.
STATIC_MODELS = (
    "gpt-5",
    "gpt-5.1",
    "gpt-5-codex",
    "gpt-5.1-codex",
    "gpt-5.1-codex-mini",
    "codex-mini-latest",
)
_ALIASES = {
    "gpt5": "gpt-5",
    "gpt-5-latest": "gpt-5",
    "gpt5.1": "gpt-5.1",
    "gpt-5.1-latest": "gpt-5.1",
    "codex": "gpt-5-codex",
    "codex-mini": "codex-mini-latest",
}


def user_agent() -> str:
    """`chatmock-lab/<version> (<system> <release>; <machine>)`."""
    system = f"{platform.system()} {platform.release()}; {platform.machine()}"
    return f"chatmock-lab/{__version__} ({system})"


def request_headers(
    *, access_token: str, account_id: str | None, session_id: str, installation_id: str
) -> dict[str, str]:
    """Headers for one streamed Responses call to the Codex backend; `chatgpt-account-id`
    only when the login names an account (workspace)."""
    headers = {
        "authorization": f"Bearer {access_token}",
        "content-type": "application/json",
        "accept": "text/event-stream",
        "openai-beta": "responses=experimental",
        "originator": ORIGINATOR,
        "user-agent": user_agent(),
        "session_id": session_id,
        "x-codex-installation-id": installation_id,
    }
    if account_id:
        headers["chatgpt-account-id"] = account_id
    return headers


def parse_model(name: str) -> tuple[str, str | None]:
    """A requested model name as (backend model, effort from its suffix or None).

    `gpt-5-high`, `gpt-5:low` and `gpt-5_minimal` carry an effort; aliases map to the
    backend's names; anything else passes through unchanged (never a silent downgrade)."""
    model = name.strip().lower()
    effort = None
    for separator in (":", "-", "_"):
        head, sep, tail = model.rpartition(separator)
        if sep and head and tail in EFFORTS:
            model, effort = head, tail
            break
    return _ALIASES.get(model, model), effort
