"""The Quart application factory."""

from __future__ import annotations

import logging

from quart import Quart, Response, request

from chatmock_lab.config import Settings
from chatmock_lab.providers import Provider, create_provider
from chatmock_lab.server import (
    admin_routes,
    anthropic_routes,
    gemini_routes,
    model_routes,
    openai_routes,
)
from chatmock_lab.server.errors import install_error_handlers
from chatmock_lab.server.state import ServerState, attach_state, server_state

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, provider: Provider | None = None) -> Quart:
    """A ready-to-serve app; `provider` overrides the one named in the settings."""
    settings = settings or Settings()
    app = Quart("chatmock_lab")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # Streams are timed by their provider, not by a blanket limit (Quart's default is 60 s).
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    attach_state(
        app.extensions,
        ServerState(
            settings=settings, provider=provider or create_provider(settings.provider, settings)
        ),
    )

    app.register_blueprint(admin_routes.blueprint)
    # Many clients are configured with a base URL that lacks /v1, so every dialect route
    # is served under both.
    dialects = (
        openai_routes.blueprint,
        anthropic_routes.blueprint,
        gemini_routes.blueprint,
        model_routes.blueprint,
    )
    for blueprint in dialects:
        app.register_blueprint(blueprint, url_prefix="/v1")
        app.register_blueprint(blueprint, url_prefix="", name=f"{blueprint.name}_unprefixed")
    # Gemini's own API version; models there are always listed in Gemini's shape.
    for blueprint in (gemini_routes.blueprint, model_routes.blueprint):
        app.register_blueprint(blueprint, url_prefix="/v1beta", name=f"{blueprint.name}_v1beta")
    install_error_handlers(app)

    @app.after_request
    async def _count(response: Response) -> Response:
        server_state().requests_served += 1
        if settings.verbose:
            logger.debug("%s %s -> %s", request.method, request.path, response.status_code)
        return response

    @app.after_serving
    async def _close_provider() -> None:
        await server_state().provider.aclose()

    return app
