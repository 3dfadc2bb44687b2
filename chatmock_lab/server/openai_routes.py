"""The OpenAI dialect's routes: chat and legacy completions, embeddings, models."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from quart import Blueprint, Response, request, stream_with_context

from chatmock_lab.core import ChatRequest, ChatResponse, Event
from chatmock_lab.dialects import openai
from chatmock_lab.dialects.fields import decode_json_body
from chatmock_lab.server.dispatch import keepalive_seconds, open_stream, select_provider
from chatmock_lab.server.responses import collect_events, json_response, render_events, sse_response

blueprint = Blueprint("openai", __name__)


async def read_json() -> object:
    return decode_json_body(await request.get_data(cache=False))


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


@blueprint.post("/chat/completions")
async def chat_completions() -> Response:
    chat, options = openai.parse_request(await read_json())
    events = await open_stream(chat)
    ident, created = _new_id("chatcmpl"), int(time.time())
    if options.stream:
        renderer = openai.ChatStreamRenderer(
            id=ident, model=chat.model, created=created, include_usage=options.include_usage
        )
        return sse_response(render_events(events, renderer, keepalive=keepalive_seconds()))
    response = await collect_events(events)
    return json_response(
        openai.render_response(response, id=ident, model=chat.model, created=created)
    )


async def _opened_lazily(chat: ChatRequest) -> AsyncIterator[Event]:
    """A stream opened on first iteration, so that its failure to open lands inside
    `render_events` (a later prompt of a stream that has already started)."""
    async for event in await open_stream(chat):
        yield event


@blueprint.post("/completions")
async def completions() -> Response:
    completion = openai.parse_completion_request(await read_json())
    ident, created = _new_id("cmpl"), int(time.time())
    model = completion.requests[0].model
    first = await open_stream(completion.requests[0])
    if not completion.options.stream:
        responses: list[ChatResponse] = [await collect_events(first)]
        for chat in completion.requests[1:]:
            responses.append(await collect_events(await open_stream(chat)))
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

    keepalive = keepalive_seconds()

    # Later prompts open their streams inside the generator, which needs the app context.
    @stream_with_context
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
            events = first if index == 0 else _opened_lazily(chat)
            async for frame in render_events(events, renderer, keepalive=keepalive):
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
    provider, embedding.model = select_provider(embedding.model)
    result = await provider.embed(embedding)
    return json_response(
        openai.render_embeddings(
            result.vectors,
            model=embedding.model,
            input_tokens=result.input_tokens,
            encoding_format=options.encoding_format,
        )
    )
