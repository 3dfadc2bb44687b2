"""Routes about the proxy itself, and about a provider's account where it has one.

`/usage` and `/token` ask the provider (the default, or `?provider=`) for a capability
(`ReportsUsage`, `IssuesClientToken`); the server knows no provider by name.
"""

from __future__ import annotations

import dataclasses

from quart import Blueprint, Response, request

from chatmock_lab.core import ProxyError
from chatmock_lab.providers import IssuesClientToken, Provider, ReportsUsage
from chatmock_lab.server.responses import json_response
from chatmock_lab.server.state import server_state
from chatmock_lab.server.status import server_status

blueprint = Blueprint("admin", __name__)


@blueprint.get("/health")
async def health() -> Response:
    return json_response({"status": "ok"})


def _provider() -> Provider:
    """The provider asked about: `?provider=`, else the default."""
    state = server_state()
    requested = request.args.get("provider")
    return state.provider_named(requested, param="provider") if requested else state.provider


def _lacks(provider: Provider, what: str) -> ProxyError:
    return ProxyError(
        f"GET {request.path}: the {provider.name} provider has no {what}"
        " (name another with ?provider=)",
        kind="not_found",
    )


@blueprint.get("/usage")
async def usage() -> Response:
    """The quota of the provider's account (what copilot-api users know as /usage).
    Served only by a proxy protected with --api-key: it tells about the user's account."""
    _only_with_key("/usage")
    provider = _provider()
    if not isinstance(provider, ReportsUsage):
        raise _lacks(provider, "usage to report")
    return json_response(await provider.usage())


@blueprint.get("/token")
async def token() -> Response:
    """The provider's current upstream token, for tools that call the upstream
    themselves. Served only by a proxy protected with --api-key: otherwise anyone who
    can reach it could take it."""
    _only_with_key("/token")
    provider = _provider()
    if not isinstance(provider, IssuesClientToken):
        raise _lacks(provider, "token to hand out")
    current = await provider.client_token()
    return json_response({"token": current.token, "expires_at": int(current.expires_at)})


@blueprint.get("/_chatmock/status")
async def status() -> Response:
    """What the proxy is doing: requests served, permits, the cassette, the chaos rules
    and what they injected. Behind the proxy key like the API."""
    status = server_status(server_state(), request.host_url.rstrip("/"))
    return json_response(dataclasses.asdict(status))


@blueprint.get("/")
async def root() -> Response:
    # Some clients (Claude Code) probe the base URL before their first request.
    return json_response({"status": "ok", "name": "chatmock-lab"})


def _only_with_key(path: str) -> None:
    if server_state().settings.api_key is None:
        raise ProxyError(
            f"GET {path} is only served when the proxy is started with --api-key",
            kind="permission",
        )
