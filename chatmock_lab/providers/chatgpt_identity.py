"""How chatmock-lab presents itself to the ChatGPT Codex backend, and its model names.

The backend changes what it expects without notice (headers, client versions); all of
it lives here so that an update is one small change, covered by tests.
"""

from __future__ import annotations

import platform

from chatmock_lab import __version__

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
    system = f"{platform.system()} {platform.release()}; {platform.machine()}"
    return f"chatmock-lab/{__version__} ({system})"


def request_headers(
    *, access_token: str, account_id: str | None, session_id: str, installation_id: str
) -> dict[str, str]:
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
