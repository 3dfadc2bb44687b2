"""Gemini dialect: generateContent, streamGenerateContent, countTokens, models.

Pure translation between the Gemini Developer API's wire format and the canonical
model, one concept a module: `wire` (field spellings, finish reasons, usage, frames,
models, errors), `schema` (the OpenAPI-subset Schema as JSON Schema), `parse` and
`history` (the inbound request and its contents), `content` (the one model-content
encoder, and media parts), `render` (responses and the stream renderer) and `client`
(the request as a Gemini client sends it).
"""

from chatmock_lab.dialects.gemini.client import render_request
from chatmock_lab.dialects.gemini.parse import RequestOptions, parse_request
from chatmock_lab.dialects.gemini.render import GenerateStreamRenderer, render_response
from chatmock_lab.dialects.gemini.schema import openapi_to_json_schema
from chatmock_lab.dialects.gemini.wire import (
    finish_reason,
    model_id,
    render_error,
    render_model,
    render_model_list,
    usage_json,
)

__all__ = [
    "GenerateStreamRenderer",
    "RequestOptions",
    "finish_reason",
    "model_id",
    "openapi_to_json_schema",
    "parse_request",
    "render_error",
    "render_model",
    "render_model_list",
    "render_request",
    "render_response",
    "usage_json",
]
