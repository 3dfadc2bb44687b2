"""`GET /models` and `/models/{id}`, answered in the dialect of the caller.

OpenAI, Anthropic and google-genai clients (the latter defaults to `/v1`) call the same
paths; `dialect_for_request` tells them apart by the headers each SDK sends.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from quart import Blueprint, Response, request

from chatmock_lab.core import InvalidRequest, ProxyError
from chatmock_lab.dialects import anthropic, gemini, openai
from chatmock_lab.providers import ModelInfo, Provider
from chatmock_lab.server.errors import dialect_for_request
from chatmock_lab.server.responses import json_response
from chatmock_lab.server.state import server_state

blueprint = Blueprint("models", __name__)

_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 1000


def _render(model: ModelInfo, dialect: str) -> dict[str, Any]:
    if dialect == "anthropic":
        return anthropic.render_model(
            model.id, created=model.created, display_name=model.display_name
        )
    if dialect == "gemini":
        return gemini.render_model(
            model.id,
            display_name=model.display_name,
            input_limit=model.context_window,
            output_limit=model.max_output_tokens,
        )
    return openai.render_model(model.id, owned_by=model.owned_by, created=model.created)


def _page_bounds() -> tuple[int, int]:
    """Offset and size of the requested page (Gemini's pageSize/pageToken)."""
    raw_size = request.args.get("pageSize", str(_DEFAULT_PAGE_SIZE))
    if not raw_size.isdigit() or int(raw_size) < 1:
        raise InvalidRequest("pageSize: expected a positive integer", param="pageSize")
    token = request.args.get("pageToken", "")
    offset = 0
    if token:
        try:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise InvalidRequest(
                "pageToken: not a token this server issued", param="pageToken"
            ) from None
    return offset, min(int(raw_size), _MAX_PAGE_SIZE)


def _provider() -> Provider:
    requested = request.args.get("provider")
    state = server_state()
    return state.provider_named(requested, param="provider") if requested else state.provider


@blueprint.get("/models")
async def list_models() -> Response:
    dialect = dialect_for_request()
    models = await _provider().models()
    if dialect == "gemini":
        offset, size = _page_bounds()
        page = models[offset : offset + size]
        more = offset + size < len(models)
        token = base64.urlsafe_b64encode(str(offset + size).encode()).decode() if more else None
        return json_response(
            gemini.render_model_list([_render(m, dialect) for m in page], next_page_token=token)
        )
    rendered = [_render(m, dialect) for m in models]
    if dialect == "anthropic":
        return json_response(anthropic.render_model_list(rendered))
    return json_response(openai.render_model_list(rendered))


@blueprint.get("/models/<path:model_id>")
async def get_model(model_id: str) -> Response:
    dialect = dialect_for_request()
    if dialect == "gemini":
        model_id = gemini.model_id(model_id)
    model = await _provider().model(model_id)
    if model is None:
        raise ProxyError(f"The model {model_id!r} does not exist", kind="not_found", param="model")
    return json_response(_render(model, dialect))
