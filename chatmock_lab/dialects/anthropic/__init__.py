"""Anthropic Messages dialect: `/v1/messages`, `count_tokens`, models and errors.

Pure translation between Anthropic's wire format and the canonical model, one concept a
module: `wire` (names, stop reasons, usage, SSE frames, models, errors), `parse` (the
inbound request), `blocks` (the one assistant-content encoder), `render` (responses and
the stream renderer) and `client` (the request as an Anthropic client sends it).
"""

from chatmock_lab.dialects.anthropic.client import render_request
from chatmock_lab.dialects.anthropic.parse import RequestOptions, parse_request
from chatmock_lab.dialects.anthropic.render import MessageStreamRenderer, render_response
from chatmock_lab.dialects.anthropic.wire import (
    PING,
    event_frame,
    render_error,
    render_error_event,
    render_model,
    render_model_list,
    stop_reason,
    tool_use_id,
    usage_json,
)

__all__ = [
    "PING",
    "MessageStreamRenderer",
    "RequestOptions",
    "event_frame",
    "parse_request",
    "render_error",
    "render_error_event",
    "render_model",
    "render_model_list",
    "render_request",
    "render_response",
    "stop_reason",
    "tool_use_id",
    "usage_json",
]
