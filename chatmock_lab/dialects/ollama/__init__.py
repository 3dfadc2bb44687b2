"""Ollama dialect: `/api/chat`, `/api/generate`, embeddings and the model routes.

Pure translation between Ollama's API and the canonical model, one concept a module:
`wire` (done reasons, metrics, NDJSON lines, models, errors), `history` (messages and
tool-result pairing), `parse` (the inbound requests), `content` (the one assistant
encoder), `render` (answers, whole and streamed) and `client` (the request as the
ollama client sends it).
"""

from chatmock_lab.dialects.ollama.client import render_request
from chatmock_lab.dialects.ollama.parse import (
    RequestOptions,
    parse_chat_request,
    parse_embed_request,
    parse_embeddings_request,
    parse_generate_request,
    parse_show_request,
)
from chatmock_lab.dialects.ollama.render import (
    StreamRenderer,
    render_load,
    render_response,
)
from chatmock_lab.dialects.ollama.wire import (
    NDJSON,
    VERSION,
    Durations,
    created_at,
    render_error,
    render_model,
    render_model_list,
    render_running_model,
    render_show,
)

__all__ = [
    "NDJSON",
    "VERSION",
    "Durations",
    "RequestOptions",
    "StreamRenderer",
    "created_at",
    "parse_chat_request",
    "parse_embed_request",
    "parse_embeddings_request",
    "parse_generate_request",
    "parse_show_request",
    "render_error",
    "render_load",
    "render_model",
    "render_model_list",
    "render_request",
    "render_response",
    "render_running_model",
    "render_show",
]
