"""Routes about the proxy itself."""

from __future__ import annotations

from quart import Blueprint, Response

from chatmock_lab.core import ProxyError
from chatmock_lab.providers.copilot import CopilotProvider
from chatmock_lab.server.responses import json_response
from chatmock_lab.server.state import server_state

blueprint = Blueprint("admin", __name__)


@blueprint.get("/health")
async def health() -> Response:
    return json_response({"status": "ok"})


def _copilot() -> CopilotProvider:
    provider = server_state().provider_named("copilot")
    assert isinstance(provider, CopilotProvider)
    return provider


@blueprint.get("/usage")
async def usage() -> Response:
    """Copilot's quota for the signed-in account (what copilot-api users know as /usage)."""
    return json_response(await _copilot().usage())


@blueprint.get("/token")
async def token() -> Response:
    """The current Copilot token, for tools that call Copilot themselves. Served only by a
    proxy protected with --api-key: otherwise anyone who can reach it could take it."""
    if server_state().settings.api_key is None:
        raise ProxyError(
            "GET /token is only served when the proxy is started with --api-key",
            kind="permission",
        )
    current = await _copilot().credentials.current()
    return json_response({"token": current.token, "expires_at": int(current.expires_at)})


@blueprint.get("/")
async def root() -> Response:
    # Some clients (Claude Code) probe the base URL before their first request.
    return json_response({"status": "ok", "name": "chatmock-lab"})
