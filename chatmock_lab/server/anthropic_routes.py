"""The Anthropic dialect's routes: `/v1/messages` and `/v1/messages/count_tokens`."""

from __future__ import annotations

import uuid

from quart import Blueprint, Response

from chatmock_lab import tokens
from chatmock_lab.dialects import anthropic
from chatmock_lab.server.dispatch import open_stream, read_json
from chatmock_lab.server.inbound import current_request
from chatmock_lab.server.responses import json_response, sse_response

blueprint = Blueprint("anthropic", __name__)


def _beta_features() -> list[str]:
    header = current_request().headers.get("anthropic-beta", "")
    return [feature.strip() for feature in header.split(",") if feature.strip()]


@blueprint.post("/messages")
async def messages() -> Response:
    body = await read_json()
    chat, options = anthropic.parse_request(body, beta=_beta_features())
    opened = await open_stream(
        chat, dialect="anthropic", dropped=options.dropped, stream=options.stream
    )
    ident = f"msg_{uuid.uuid4().hex[:24]}"
    if options.stream:
        renderer = anthropic.MessageStreamRenderer(
            id=ident,
            model=opened.model,
            include_thinking=options.include_thinking,
            # message_start comes before the upstream's usage: the proxy's own count.
            input_tokens=await opened.prompt_tokens(),
        )
        return sse_response(opened.render(renderer), tap=opened.tap)
    response = await opened.collect()
    return json_response(
        anthropic.render_response(
            response, id=ident, model=opened.model, include_thinking=options.include_thinking
        )
    )


@blueprint.post("/messages/count_tokens")
async def count_tokens() -> Response:
    body = await read_json()
    chat, _ = anthropic.parse_request(body, beta=_beta_features(), count_only=True)
    return json_response({"input_tokens": await tokens.count_request_off_loop(chat)})
