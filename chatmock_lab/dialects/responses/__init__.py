"""The OpenAI Responses dialect, in both directions.

Pure translation, no I/O, no globals beyond constant tables.

Outbound (the proxy is the client of the ChatGPT Codex backend):
- `wire`: stream event names, finish reasons, usage, error bodies (`upstream_error`).
- `client`: the request the proxy sends (`build_upstream_request`) and the reasoning
  replay rule (`REPLAY_REASONING`, `looks_like_encrypted_reasoning`).
- `upstream`: the upstream stream parser (`UpstreamResponsesStream`).

Inbound (`POST /v1/responses` from clients):
- `parse`: a request as the canonical one (`parse_request`, `with_history` for
  `previous_response_id`).
- `render`: the `response` object (`render_response`) and its event stream
  (`ResponseStreamRenderer`).
- `request`: the request as a public Responses client sends it (`render_request`).
"""

from chatmock_lab.dialects.responses.client import (
    REPLAY_REASONING,
    build_upstream_request,
    looks_like_encrypted_reasoning,
)
from chatmock_lab.dialects.responses.parse import ResponsesOptions, parse_request, with_history
from chatmock_lab.dialects.responses.render import (
    ResponseContext,
    ResponseStreamRenderer,
    render_response,
    response_object,
)
from chatmock_lab.dialects.responses.request import render_request
from chatmock_lab.dialects.responses.upstream import UpstreamResponsesStream
from chatmock_lab.dialects.responses.wire import upstream_error, usage_from_json

__all__ = [
    "REPLAY_REASONING",
    "ResponseContext",
    "ResponseStreamRenderer",
    "ResponsesOptions",
    "UpstreamResponsesStream",
    "build_upstream_request",
    "looks_like_encrypted_reasoning",
    "parse_request",
    "render_request",
    "render_response",
    "response_object",
    "upstream_error",
    "usage_from_json",
    "with_history",
]
