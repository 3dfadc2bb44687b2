"""The OpenAI dialect's routes: chat and legacy completions, embeddings, models."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from quart import Blueprint, Response, request

from chatmock_lab.core import ChatResponse, ProxyError, acollect
from chatmock_lab.dialects import openai
from chatmock_lab.dialects.fields import decode_json_body
from chatmock_lab.server.responses import json_response, prime, render_events, sse_response
from chatmock_lab.server.state import server_state

blueprint = Blueprint("openai", __name__)


async def read_json() -> object:
    return decode_json_body(await request.get_data(cache=False))


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


@blueprint.post("/chat/completions")
async def chat_completions() -> Response:
    chat, options = openai.parse_request(await read_json())
    events = await prime(server_state().provider.stream(chat))
    ident, created = _new_id("chatcmpl"), int(time.time())
    if options.stream:
        renderer = openai.ChatStreamRenderer(
            id=ident, model=chat.model, created=created, include_usage=options.include_usage
        )
        return sse_response(render_events(events, renderer))
    response = await acollect(events)
    return json_response(
        openai.render_response(response, id=ident, model=chat.model, created=created)
    )


@blueprint.post("/completions")
async def completions() -> Response:
    completion = openai.parse_completion_request(await read_json())
    provider = server_state().provider
    ident, created = _new_id("cmpl"), int(time.time())
    model = completion.requests[0].model
    first = await prime(provider.stream(completion.requests[0]))
    if not completion.options.stream:
        responses: list[ChatResponse] = [await acollect(first)]
        for chat in completion.requests[1:]:
            responses.append(await acollect(provider.stream(chat)))
        return json_response(
            openai.render_completion(
                responses,
                completion.prompts,
                id=ident,
                model=model,
                created=created,
                echo=completion.echo,
            )
        )

    async def frames() -> AsyncIterator[bytes]:
        usages = []
        for index, (chat, prompt) in enumerate(
            zip(completion.requests, completion.prompts, strict=True)
        ):
            renderer = openai.CompletionStreamRenderer(
                id=ident,
                model=model,
                created=created,
                index=index,
                echo=prompt if completion.echo else None,
            )
            events = first if index == 0 else provider.stream(chat)
            async for frame in render_events(events, renderer):
                yield frame
            if renderer.failed:
                break
            usages.append(renderer.usage)
        else:
            if completion.options.include_usage:
                yield renderer.usage_frame(openai.sum_usage(usages))
        yield openai.DONE

    return sse_response(frames())


@blueprint.post("/embeddings")
async def embeddings() -> Response:
    embedding, options = openai.parse_embedding_request(await read_json())
    result = await server_state().provider.embed(embedding)
    return json_response(
        openai.render_embeddings(
            result.vectors,
            model=embedding.model,
            input_tokens=result.input_tokens,
            encoding_format=options.encoding_format,
        )
    )


@blueprint.get("/models")
async def list_models() -> Response:
    models = await server_state().provider.models()
    return json_response(
        openai.render_model_list(
            [openai.render_model(m.id, owned_by=m.owned_by, created=m.created) for m in models]
        )
    )


@blueprint.get("/models/<path:model_id>")
async def get_model(model_id: str) -> Response:
    model = await server_state().provider.model(model_id)
    if model is None:
        raise ProxyError(
            f"The model {model_id!r} does not exist",
            kind="not_found",
            param="model",
        )
    return json_response(
        openai.render_model(model.id, owned_by=model.owned_by, created=model.created)
    )
