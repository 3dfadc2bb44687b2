"""The OpenAI Responses dialect, as the ChatGPT Codex backend speaks it.

Today outbound only: the proxy is the Responses client. Pure translation, no I/O, no
globals beyond constant tables.

- `wire`: stream event names, finish reasons, usage, error bodies (`upstream_error`).
- `client`: the request the proxy sends (`build_upstream_request`) and the reasoning
  replay rule (`REPLAY_REASONING`, `looks_like_encrypted_reasoning`).
- `upstream`: the upstream stream parser (`UpstreamResponsesStream`).

An inbound Responses dialect adds `parse` (requests from clients) and `render` (answers
to them) beside these, sharing `wire`.
"""

from chatmock_lab.dialects.responses.client import (
    REPLAY_REASONING,
    build_upstream_request,
    looks_like_encrypted_reasoning,
)
from chatmock_lab.dialects.responses.upstream import UpstreamResponsesStream
from chatmock_lab.dialects.responses.wire import upstream_error, usage_from_json

__all__ = [
    "REPLAY_REASONING",
    "UpstreamResponsesStream",
    "build_upstream_request",
    "looks_like_encrypted_reasoning",
    "upstream_error",
    "usage_from_json",
]
