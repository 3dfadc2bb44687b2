"""The OpenAI dialect's routes: chat and legacy completions, embeddings, models."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from quart import Blueprint, Response, stream_with_context

from chatmock_lab.core import ChatRequest, ChatResponse, Event
from chatmock_lab.dialects import openai
from chatmock_lab.server.dispatch import embed_inputs, open_stream, read_json
from chatmock_lab.server.responses import (
    json_response,
    json_response_off_loop,
    render_events,
    sse_response,
)
from chatmock_lab.server.state import server_state

blueprint = Blueprint("openai", __name__)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


@blueprint.post("/chat/completions")
async def chat_completions() -> Response:
    chat, options = openai.parse_request(await read_json())
    opened = await open_stream(
        chat, dialect="openai", dropped=options.dropped, stream=options.stream
    )
    ident, created = _new_id("chatcmpl"), int(time.time())
    if options.stream:
        renderer = openai.ChatStreamRenderer(
            id=ident,
            model=opened.model,
            created=created,
            include_usage=options.include_usage,
            logprobs=bool(chat.logprobs),
        )
        return sse_response(opened.render(renderer), tap=opened.tap)
    response = await opened.collect()
    return json_response(
        openai.render_response(response, id=ident, model=opened.model, created=created)
    )


async def _opened_lazily(chat: ChatRequest) -> AsyncGenerator[Event, None]:
    """A stream opened on first iteration, so that its failure to open lands inside
    `render_events` (a later prompt of a stream that has already started)."""
    opened = await open_stream(chat, dialect="openai", stream=True)
    async with aclosing(opened.events) as events:
        async for event in events:
            yield event


@blueprint.post("/completions")
async def completions() -> Response:
    completion = openai.parse_completion_request(await read_json())
    ident, created = _new_id("cmpl"), int(time.time())
    model = completion.requests[0].model
    first = await open_stream(
        completion.requests[0],
        dialect="openai",
        dropped=completion.options.dropped,
        stream=completion.options.stream,
    )
    if not completion.options.stream:
        responses: list[ChatResponse] = [await first.collect()]
        for chat in completion.requests[1:]:
            responses.append(await (await open_stream(chat, dialect="openai")).collect())
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

    state = server_state()

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
            events = first.events if index == 0 else _opened_lazily(chat)
            rendered = render_events(
                events,
                renderer,
                redactor=state.redactor,
                keepalive=state.settings.keepalive_seconds,
                tap=first.tap,
            )
            async for frame in rendered:
                yield frame
            if renderer.failed:
                break
            usages.append(renderer.usage)
        else:
            if completion.options.include_usage:
                yield renderer.usage_frame(openai.sum_usage(usages))
        yield openai.DONE

    return sse_response(frames(), tap=first.tap)


@blueprint.post("/embeddings")
async def embeddings() -> Response:
    embedding, options = openai.parse_embedding_request(await read_json())
    result = await embed_inputs(embedding)
    return await json_response_off_loop(
        lambda: openai.render_embeddings(
            result.vectors,
            model=embedding.model,
            input_tokens=result.input_tokens,
            encoding_format=options.encoding_format,
        )
    )
