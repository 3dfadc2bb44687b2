"""The Responses dialect's routes: `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`.

A response is kept (unless the request said `store: false`) with the conversation it
ends, so a later request can continue it by `previous_response_id`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from quart import Blueprint, Response

from chatmock_lab.core import ChatResponse, InvalidRequest, Message, ProxyError
from chatmock_lab.dialects import responses
from chatmock_lab.server.dispatch import open_stream, read_json
from chatmock_lab.server.response_store import ResponseStore, StoredResponse, response_store
from chatmock_lab.server.responses import json_response, sse_response

blueprint = Blueprint("responses", __name__)


def _not_found(response_id: str, *, param: str | None = None) -> ProxyError:
    if param is not None:
        return ProxyError(
            f"Previous response with id {response_id!r} not found (responses are kept in"
            " memory by this server, and not at all with store: false).",
            kind="not_found",
            param=param,
            code="previous_response_not_found",
        )
    return ProxyError(f"No response found with id {response_id!r}.", kind="not_found")


def _history(store: ResponseStore, options: responses.ResponsesOptions) -> list[Message]:
    if options.previous_response_id is None:
        return []
    stored = store.get(options.previous_response_id)
    if stored is None:
        raise _not_found(options.previous_response_id, param="previous_response_id")
    return stored.conversation


def _keep(
    store: ResponseStore,
    body: dict[str, Any],
    conversation: list[Message],
    answer: ChatResponse,
) -> None:
    output = [Message(role="assistant", parts=list(answer.parts))] if answer.parts else []
    store.put(str(body["id"]), StoredResponse(body=body, conversation=[*conversation, *output]))


@blueprint.post("/responses")
async def create_response() -> Response:
    chat, options = responses.parse_request(await read_json())
    store = response_store()
    history = _history(store, options)
    if history:
        chat = responses.with_history(chat, options, history)
    if not chat.messages:
        raise InvalidRequest("input: must contain at least one item", param="input")
    conversation = [*history, *options.input]
    opened = await open_stream(
        chat, dialect="responses", dropped=options.dropped, stream=options.stream
    )
    context = responses.ResponseContext(
        id=f"resp_{uuid.uuid4().hex}",
        model=opened.model,
        created_at=int(time.time()),
        echo=options.echo,
        include_encrypted_reasoning=options.include_encrypted_reasoning,
    )
    if options.stream:

        def keep(body: dict[str, Any], answer: ChatResponse) -> None:
            if options.store:
                _keep(store, body, conversation, answer)

        renderer = responses.ResponseStreamRenderer(context, clock=time.time, on_complete=keep)
        return sse_response(opened.render(renderer), tap=opened.tap)
    answer = await opened.collect()
    body = responses.render_response(answer, context, completed_at=int(time.time()))
    if options.store:
        _keep(store, body, conversation, answer)
    return json_response(body)


@blueprint.get("/responses/<response_id>")
async def get_response(response_id: str) -> Response:
    stored = response_store().get(response_id)
    if stored is None:
        raise _not_found(response_id)
    return json_response(stored.body)


@blueprint.delete("/responses/<response_id>")
async def delete_response(response_id: str) -> Response:
    if not response_store().delete(response_id):
        raise _not_found(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})
