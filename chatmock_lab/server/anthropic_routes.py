"""The Anthropic dialect's routes: `/v1/messages` and `/v1/messages/count_tokens`."""

from __future__ import annotations

import uuid

from quart import Blueprint, Response, request

from chatmock_lab import tokens
from chatmock_lab.dialects import anthropic
from chatmock_lab.dialects.fields import decode_json_body
from chatmock_lab.server.dispatch import keepalive_seconds, open_stream
from chatmock_lab.server.responses import collect_events, json_response, render_events, sse_response

blueprint = Blueprint("anthropic", __name__)


def _beta_features() -> list[str]:
    header = request.headers.get("anthropic-beta", "")
    return [feature.strip() for feature in header.split(",") if feature.strip()]


@blueprint.post("/messages")
async def messages() -> Response:
    body = decode_json_body(await request.get_data(cache=False))
    chat, options = anthropic.parse_request(body, beta=_beta_features())
    events = await open_stream(chat, dropped=options.dropped)
    ident = f"msg_{uuid.uuid4().hex[:24]}"
    if options.stream:
        renderer = anthropic.MessageStreamRenderer(
            id=ident, model=chat.model, include_thinking=options.include_thinking
        )
        return sse_response(render_events(events, renderer, keepalive=keepalive_seconds()))
    response = await collect_events(events)
    return json_response(
        anthropic.render_response(
            response, id=ident, model=chat.model, include_thinking=options.include_thinking
        )
    )


@blueprint.post("/messages/count_tokens")
async def count_tokens() -> Response:
    body = decode_json_body(await request.get_data(cache=False))
    chat, _ = anthropic.parse_request(body, beta=_beta_features(), count_only=True)
    return json_response({"input_tokens": await tokens.count_request_off_loop(chat)})
