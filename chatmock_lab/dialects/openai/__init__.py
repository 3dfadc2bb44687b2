"""The OpenAI dialect: Chat Completions, legacy Completions, embeddings and models, in
both directions.

Pure translation between OpenAI's wire format and the canonical model: no I/O, no
globals. Stream renderers and the upstream stream parser are small state machines fed
one event at a time.

- `wire`: names and limits, SSE frames, finish reasons, usage, models, errors.
- `parse`: an inbound Chat Completions request.
- `render`: answers to clients (whole and streamed) and the assistant message encoding
  shared with `client`.
- `completions`, `embeddings`: the legacy Completions and embeddings endpoints.
- `client`: the request as a client sends it (`render_request`, and the proxy's own
  `build_upstream_request`) and the codec for an OpenAI-compatible upstream's answer.
"""

from chatmock_lab.dialects.openai.client import (
    UpstreamChatStream,
    build_upstream_request,
    events_from_completion,
    render_request,
    upstream_error,
)
from chatmock_lab.dialects.openai.completions import (
    CompletionRequest,
    CompletionStreamRenderer,
    parse_completion_request,
    render_completion,
    sum_usage,
)
from chatmock_lab.dialects.openai.embeddings import (
    EmbeddingOptions,
    parse_embedding_request,
    render_embeddings,
)
from chatmock_lab.dialects.openai.parse import StreamOptions, parse_request
from chatmock_lab.dialects.openai.render import ChatStreamRenderer, render_response
from chatmock_lab.dialects.openai.wire import (
    DONE,
    KEEPALIVE,
    render_error,
    render_model,
    render_model_list,
    sse,
    usage_from_json,
    usage_json,
)

__all__ = [
    "DONE",
    "KEEPALIVE",
    "ChatStreamRenderer",
    "CompletionRequest",
    "CompletionStreamRenderer",
    "EmbeddingOptions",
    "StreamOptions",
    "UpstreamChatStream",
    "build_upstream_request",
    "events_from_completion",
    "parse_completion_request",
    "parse_embedding_request",
    "parse_request",
    "render_completion",
    "render_embeddings",
    "render_error",
    "render_model",
    "render_model_list",
    "render_request",
    "render_response",
    "sse",
    "sum_usage",
    "upstream_error",
    "usage_from_json",
    "usage_json",
]
