"""`GET /models` and `/models/{id}`, answered in the dialect of the caller.

OpenAI, Anthropic and google-genai clients (the latter defaults to `/v1`) call the same
paths; `dialect_for_request` tells them apart by the headers each SDK sends.
"""

from __future__ import annotations

import base64
import binascii

from quart import Blueprint, Response, request

from chatmock_lab.core import InvalidRequest, ProxyError
from chatmock_lab.dialects import DIALECTS, gemini
from chatmock_lab.dialects.fields import check_model_name
from chatmock_lab.providers import Provider
from chatmock_lab.server.errors import dialect_for_request
from chatmock_lab.server.responses import json_response
from chatmock_lab.server.state import server_state

blueprint = Blueprint("models", __name__)

_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 1000


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
    dialect = DIALECTS[dialect_for_request()]
    models = await _provider().models()
    token = None
    if dialect.pages_models:
        offset, size = _page_bounds()
        more = offset + size < len(models)
        models = models[offset : offset + size]
        token = base64.urlsafe_b64encode(str(offset + size).encode()).decode() if more else None
    return json_response(dialect.render_models([dialect.render_model(m) for m in models], token))


@blueprint.get("/models/<path:model_id>")
async def get_model(model_id: str) -> Response:
    name = dialect_for_request()
    if name == "gemini":
        # Gemini clients name models as `models/ID`.
        model_id = gemini.model_id(model_id)
    model = await _provider().model(check_model_name(model_id))
    if model is None:
        raise ProxyError(f"The model {model_id!r} does not exist", kind="not_found", param="model")
    return json_response(DIALECTS[name].render_model(model))
