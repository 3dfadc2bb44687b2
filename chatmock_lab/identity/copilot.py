"""How chatmock-lab presents itself to GitHub and GitHub Copilot: as VS Code's Copilot Chat.

GitHub issues Copilot tokens only to logins made with Copilot Chat's OAuth app
(`CLIENT_ID`), and both GitHub's own endpoints (the Copilot token exchange, usage) and
Copilot's chat API expect that editor's headers. GitHub rejects clients it considers
outdated (HTTP 466 since 2026-02-11), so the versions below are the one thing to bump when
that happens again: `auth/github.py` and `providers/copilot.py` both take them from here.

`x-initiator` decides whether a request counts as a premium user request or as agent
work, so it is computed with care (`initiator`).
"""

from __future__ import annotations

import uuid

from chatmock_lab.core import ChatRequest, ImagePart, ToolResultPart

__all__ = [
    "API_VERSION",
    "CLIENT_ID",
    "COPILOT_CHAT_VERSION",
    "EDITOR_VERSION",
    "INTEGRATION_ID",
    "PLUGIN_VERSION",
    "USER_AGENT",
    "editor_headers",
    "has_images",
    "initiator",
    "request_headers",
]

# The VS Code Copilot Chat OAuth app; Copilot only issues tokens to logins made with it.
CLIENT_ID = "Iv1.b507a08c87ecfe98"

COPILOT_CHAT_VERSION = "0.26.7"
# One value for GitHub and Copilot alike. This was "vscode/1.104.3" in the login and
# "vscode/1.104.0" in the API headers; the login's, the later patch release, is kept:
# the token exchange is the call GitHub turns outdated clients away at.
EDITOR_VERSION = "vscode/1.104.3"
PLUGIN_VERSION = f"copilot-chat/{COPILOT_CHAT_VERSION}"
USER_AGENT = f"GitHubCopilotChat/{COPILOT_CHAT_VERSION}"
API_VERSION = "2025-04-01"
INTEGRATION_ID = "vscode-chat"
# The HTTP library VS Code reports using; sent as the editor sends it.
_USER_AGENT_LIBRARY = "electron-fetch"


def editor_headers() -> dict[str, str]:
    """The editor identity GitHub expects from a Copilot client, on GitHub and Copilot calls."""
    return {
        "editor-version": EDITOR_VERSION,
        "editor-plugin-version": PLUGIN_VERSION,
        "user-agent": USER_AGENT,
        "x-github-api-version": API_VERSION,
        "x-vscode-user-agent-library-version": _USER_AGENT_LIBRARY,
    }


def request_headers(copilot_token: str, request: ChatRequest | None = None) -> dict[str, str]:
    """Headers for a call to Copilot's API with `copilot_token`; with `request`, also who
    initiated it (`x-initiator`) and whether it carries images."""
    headers = {
        **editor_headers(),
        "authorization": f"Bearer {copilot_token}",
        "content-type": "application/json",
        "copilot-integration-id": INTEGRATION_ID,
        "openai-intent": "conversation-panel",
        "x-request-id": str(uuid.uuid4()),
    }
    if request is not None:
        headers["x-initiator"] = initiator(request)
        if has_images(request):
            # Without it Copilot answers 400 "missing required Copilot-Vision-Request header".
            headers["copilot-vision-request"] = "true"
    return headers


def initiator(request: ChatRequest) -> str:
    """`user` only when the last message is the user's own turn (something other than tool
    results); a turn that continues after tools is the agent's."""
    if not request.messages:
        return "agent"
    last = request.messages[-1]
    if last.role != "user":
        return "agent"
    return "user" if any(not isinstance(p, ToolResultPart) for p in last.parts) else "agent"


def has_images(request: ChatRequest) -> bool:
    """Whether any message, or any tool result inside one, carries an image."""
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, ImagePart):
                return True
            if isinstance(part, ToolResultPart) and any(
                isinstance(p, ImagePart) for p in part.content
            ):
                return True
    return False
