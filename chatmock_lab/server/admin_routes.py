"""Routes about the proxy itself."""

from __future__ import annotations

from quart import Blueprint, Response

from chatmock_lab.server.responses import json_response

blueprint = Blueprint("admin", __name__)


@blueprint.get("/health")
async def health() -> Response:
    return json_response({"status": "ok"})


@blueprint.get("/")
async def root() -> Response:
    # Some clients (Claude Code) probe the base URL before their first request.
    return json_response({"status": "ok", "name": "chatmock-lab"})
