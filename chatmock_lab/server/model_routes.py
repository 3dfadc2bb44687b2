"""`GET /v1/models` and `/v1/models/{id}`, answered in the dialect of the caller.

OpenAI and Anthropic clients (and google-genai, which defaults to `/v1`) call the same
paths; the headers each SDK sends tell them apart.
"""

from __future__ import annotations

from quart import Blueprint, Response

from chatmock_lab.core import ProxyError
from chatmock_lab.dialects import anthropic, openai
from chatmock_lab.providers import ModelInfo
from chatmock_lab.server.errors import dialect_for_request
from chatmock_lab.server.responses import json_response
from chatmock_lab.server.state import server_state

blueprint = Blueprint("models", __name__)


def _render(model: ModelInfo, dialect: str) -> dict:
    if dialect == "anthropic":
        return anthropic.render_model(
            model.id, created=model.created, display_name=model.display_name
        )
    return openai.render_model(model.id, owned_by=model.owned_by, created=model.created)


@blueprint.get("/models")
async def list_models() -> Response:
    dialect = dialect_for_request()
    models = [_render(m, dialect) for m in await server_state().provider.models()]
    if dialect == "anthropic":
        return json_response(anthropic.render_model_list(models))
    return json_response(openai.render_model_list(models))


@blueprint.get("/models/<path:model_id>")
async def get_model(model_id: str) -> Response:
    model = await server_state().provider.model(model_id)
    if model is None:
        raise ProxyError(f"The model {model_id!r} does not exist", kind="not_found", param="model")
    return json_response(_render(model, dialect_for_request()))
