"""The Quart application factory."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import httpx
from quart import Quart, Response

from chatmock_lab.cassettes.deck import CassetteDeck
from chatmock_lab.cassettes.matching import MatchOptions
from chatmock_lab.config import Settings
from chatmock_lab.limits import Approver, Gate, RateLimiter, TerminalApprover
from chatmock_lab.network import network_transport
from chatmock_lab.providers import Provider, secret_variables
from chatmock_lab.redact import app_redactor
from chatmock_lab.server import (
    admin_routes,
    anthropic_routes,
    gemini_routes,
    model_routes,
    ollama_routes,
    openai_routes,
    responses_routes,
    traffic_routes,
)
from chatmock_lab.server.body_drain import BodyWatch, drain_body
from chatmock_lab.server.errors import install_error_handlers
from chatmock_lab.server.hot_routes import HotRoutes
from chatmock_lab.server.request_hooks import RequestHooks
from chatmock_lab.server.state import ServerState, attach_state, server_state
from chatmock_lab.tokens import get_encoding


def create_app(
    settings: Settings | None = None,
    *,
    provider: Provider | None = None,
    env: Mapping[str, str] | None = None,
    approver: Approver | None = None,
    auth_transport: httpx.AsyncBaseTransport | None = None,
) -> Quart:
    """A ready-to-serve app. `provider` replaces the one named in the settings; `env` is
    where provider credentials and base URLs are read (default: the process
    environment); `approver` is asked before each upstream request (default: the
    terminal when `settings.manual`); `auth_transport` carries login and token calls
    (default: the network)."""
    settings = settings or Settings()
    env = os.environ if env is None else env
    redactor = app_redactor()
    redactor.add(*(env.get(variable) for variable in secret_variables()))
    redactor.add(settings.api_key)
    app = Quart("chatmock_lab")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # Streams are timed by their provider, not by a blanket limit (Quart's default is 60 s).
    app.config["RESPONSE_TIMEOUT"] = None
    # A client that trickles its body in holds a connection and a task; bounded here.
    app.config["BODY_TIMEOUT"] = settings.body_timeout
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    state = ServerState(
        settings=settings,
        env=env,
        gate=Gate(settings.max_concurrency, settings.queue_timeout),
        rate_limiter=RateLimiter(settings.rate_limit, wait=settings.wait),
        approver=approver or (TerminalApprover() if settings.manual else None),
        given=frozenset() if provider is None else frozenset({settings.provider}),
        redactor=redactor,
        auth_transport=auth_transport,
        deck=CassetteDeck(network_transport(settings.upstream_transport)),
    )
    matching = MatchOptions(allow_playback_repeats=settings.allow_playback_repeats).ignoring(
        settings.match_ignore
    )
    if settings.replay is not None:
        state.insert_cassette(
            settings.replay, mode="none", speed=settings.replay_speed, matching=matching
        )
    elif settings.record is not None:
        state.insert_cassette(
            settings.record,
            mode=settings.record_mode,  # type: ignore[arg-type]
            speed=settings.replay_speed,
            matching=matching,
        )
    # Fail at startup, not at the first request, on an unknown provider or bad scenario.
    default = provider or state.build_provider(settings.provider)
    state.providers[settings.provider] = default
    attach_state(app.extensions, state)

    app.register_blueprint(admin_routes.blueprint)
    app.register_blueprint(traffic_routes.blueprint)
    # Ollama's API lives under /api only, as Ollama serves it.
    app.register_blueprint(ollama_routes.blueprint, url_prefix="/api")
    # Many clients are configured with a base URL that lacks /v1, so every dialect route
    # is served under both.
    dialects = (
        openai_routes.blueprint,
        responses_routes.blueprint,
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
    hooks = RequestHooks(settings, redactor)
    # The chat routes straight from ASGI (hot_routes.py); the rest through Quart.
    app.asgi_app = HotRoutes(  # type: ignore[method-assign, assignment]
        app, BodyWatch(app.asgi_app), hooks, settings
    )

    # One hook before and one after each request (Quart's cost is per hook).
    @app.before_request
    async def _before() -> Response | None:
        return await hooks.before()

    @app.after_request
    async def _after(response: Response) -> Response:
        response = await hooks.after(response)
        # A route that answers without reading the body (a 404, a 413, a GET with a
        # body) would leave Hypercorn to close the connection under the client. Not
        # after a 408: that client is the one too slow to wait for.
        if response.status_code != 408:
            await drain_body()
        return response

    if settings.preload_tokenizer:

        @app.before_serving
        async def _load_tokenizer() -> None:
            # Loading the encoding takes half a second; done off the loop while the server
            # starts, the first request does not pay for it (nor its timings show it).
            asyncio.get_running_loop().run_in_executor(None, get_encoding)

    @app.after_serving
    async def _close_providers() -> None:
        await server_state().aclose()

    return app
