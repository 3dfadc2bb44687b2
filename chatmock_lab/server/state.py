"""What a running app holds: its settings and its provider."""

from __future__ import annotations

from dataclasses import dataclass

from quart import current_app

from chatmock_lab.config import Settings
from chatmock_lab.providers import Provider

_KEY = "chatmock_lab"


@dataclass(slots=True)
class ServerState:
    settings: Settings
    provider: Provider
    requests_served: int = 0


def server_state() -> ServerState:
    return current_app.extensions[_KEY]


def attach_state(extensions: dict[str, object], state: ServerState) -> None:
    extensions[_KEY] = state
