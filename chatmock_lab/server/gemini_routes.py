"""The Gemini dialect's routes: `models/{model}:generateContent`, `:streamGenerateContent`
and `:countTokens`, under `/v1beta` and `/v1` (google-genai's default)."""

from __future__ import annotations

import uuid

from quart import Blueprint, Response

from chatmock_lab import tokens
from chatmock_lab.core import InvalidRequest, ProxyError
from chatmock_lab.dialects import gemini
from chatmock_lab.dialects.fields import expect_object
from chatmock_lab.server.dispatch import open_stream, read_json
from chatmock_lab.server.inbound import current_request
from chatmock_lab.server.responses import json_response, sse_response, stream_response

blueprint = Blueprint("gemini", __name__)


@blueprint.post("/models/<path:target>")
async def model_method(target: str) -> Response:
    model, _, method = target.rpartition(":")
    if not model:
        raise ProxyError(
            f"Unknown path: POST {current_request().path} (expected models/MODEL:METHOD)",
            kind="not_found",
        )
    body = await read_json()
    if method == "generateContent":
        return await _generate(body, model, stream=False)
    if method == "streamGenerateContent":
        return await _generate(body, model, stream=True)
    if method == "countTokens":
        return await _count_tokens(body, model)
    raise ProxyError(
        f"Method {method!r} is not supported for models/{gemini.model_id(model)}"
        " (supported: generateContent, streamGenerateContent, countTokens)",
        kind="not_found",
    )


async def _generate(body: object, model: str, *, stream: bool) -> Response:
    chat, options = gemini.parse_request(body, model=model)
    opened = await open_stream(chat, dialect="gemini", dropped=options.dropped, stream=stream)
    ident = uuid.uuid4().hex[:22]
    if stream:
        sse = current_request().args.get("alt") == "sse"
        renderer = gemini.GenerateStreamRenderer(
            id=ident,
            model=opened.model,
            include_thoughts=options.include_thoughts,
            sse=sse,
            logprobs=bool(chat.logprobs),
        )
        frames = opened.render(renderer)
        if sse:
            return sse_response(frames, tap=opened.tap)
        return stream_response(frames, "application/json; charset=utf-8", tap=opened.tap)
    response = await opened.collect()
    return json_response(
        gemini.render_response(
            response, id=ident, model=opened.model, include_thoughts=options.include_thoughts
        )
    )


async def _count_tokens(body: object, model: str) -> Response:
    body = expect_object(body)
    inner = body.get("generateContentRequest", body.get("generate_content_request"))
    if inner is not None and body.get("contents") is not None:
        raise InvalidRequest(
            "contents and generateContentRequest cannot both be set", param="contents"
        )
    target = expect_object(inner, "generateContentRequest") if inner is not None else body
    chat, _ = gemini.parse_request(target, model=model, count_only=True)
    return json_response({"totalTokens": await tokens.count_request_off_loop(chat)})
