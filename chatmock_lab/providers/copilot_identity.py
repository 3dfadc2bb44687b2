"""How chatmock-lab presents itself to GitHub Copilot's API.

Copilot expects an editor's headers and changes them over time; they live here so an
update is one small change. `x-initiator` decides whether a request counts as a
premium user request or as agent work, so it is computed with care.
"""

from __future__ import annotations

import uuid

from chatmock_lab.core import ChatRequest, ImagePart, ToolResultPart

EDITOR_VERSION = "vscode/1.104.0"
PLUGIN_VERSION = "copilot-chat/0.26.7"
USER_AGENT = "GitHubCopilotChat/0.26.7"
API_VERSION = "2025-04-01"
INTEGRATION_ID = "vscode-chat"


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
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, ImagePart):
                return True
            if isinstance(part, ToolResultPart) and any(
                isinstance(p, ImagePart) for p in part.content
            ):
                return True
    return False


def editor_headers() -> dict[str, str]:
    """Headers GitHub's own endpoints expect from an editor (token exchange, usage)."""
    return {
        "editor-version": EDITOR_VERSION,
        "editor-plugin-version": PLUGIN_VERSION,
        "user-agent": USER_AGENT,
        "x-github-api-version": API_VERSION,
        "x-vscode-user-agent-library-version": "electron-fetch",
    }


def request_headers(copilot_token: str, request: ChatRequest | None = None) -> dict[str, str]:
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
