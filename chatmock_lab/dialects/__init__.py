"""The inbound dialects, and the one registry of them.

Each dialect is a package of pure functions (no I/O, no globals) between its wire
format and the canonical model in `chatmock_lab.core`: `wire` (names, frames, error
tables, models), `parse` (the inbound request), `render` (answers, whole and
streamed), `client` (the request as that dialect's client sends it; for dialects an
upstream speaks, also the upstream codec). `DIALECTS` is what the server's error path,
its model routes and the lab look dialects up in; adding a dialect means adding its
package and one entry here (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chatmock_lab.core import ChatRequest, ModelInfo, ProxyError, RenderedRequest
from chatmock_lab.dialects import anthropic, gemini, ollama, openai, responses


class RenderRequest(Protocol):
    def __call__(self, request: ChatRequest, *, stream: bool = ...) -> RenderedRequest: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """What the rest of the package needs of a dialect.

    `parse_body(body, model)` reads a request body (`model` fills in a model the body
    does not name: Gemini's comes from the URL). `render_models(models, next_page_token)`
    is the model list; `pages_models` says whether the dialect pages it (Gemini's
    pageSize/pageToken)."""

    name: str
    render_error: Callable[[ProxyError], tuple[int, dict[str, Any]]]
    render_model: Callable[[ModelInfo], dict[str, Any]]
    render_models: Callable[[list[dict[str, Any]], str | None], dict[str, Any]]
    render_request: RenderRequest
    parse_body: Callable[[dict[str, Any], str], ChatRequest]
    pages_models: bool = False


def _parse_openai(body: dict[str, Any], model: str) -> ChatRequest:
    return openai.parse_request({"model": model, **body})[0]


def _parse_anthropic(body: dict[str, Any], model: str) -> ChatRequest:
    return anthropic.parse_request({"model": model, **body})[0]


def _parse_gemini(body: dict[str, Any], model: str) -> ChatRequest:
    return gemini.parse_request(body, model=model)[0]


DIALECTS: dict[str, Dialect] = {
    "openai": Dialect(
        name="openai",
        render_error=openai.render_error,
        render_model=lambda m: openai.render_model(m.id, owned_by=m.owned_by, created=m.created),
        render_models=lambda models, _token: openai.render_model_list(models),
        render_request=openai.render_request,
        parse_body=_parse_openai,
    ),
    "anthropic": Dialect(
        name="anthropic",
        render_error=anthropic.render_error,
        render_model=lambda m: anthropic.render_model(
            m.id, created=m.created, display_name=m.display_name
        ),
        render_models=lambda models, _token: anthropic.render_model_list(models),
        render_request=anthropic.render_request,
        parse_body=_parse_anthropic,
    ),
    "gemini": Dialect(
        name="gemini",
        render_error=gemini.render_error,
        render_model=lambda m: gemini.render_model(
            m.id,
            display_name=m.display_name,
            input_limit=m.context_window,
            output_limit=m.max_output_tokens,
        ),
        render_models=lambda models, token: gemini.render_model_list(models, next_page_token=token),
        render_request=gemini.render_request,
        parse_body=_parse_gemini,
        pages_models=True,
    ),
    "ollama": Dialect(
        name="ollama",
        render_error=ollama.render_error,
        render_model=ollama.render_model,
        render_models=lambda models, _token: ollama.render_model_list(models),
        render_request=ollama.render_request,
        parse_body=lambda body, model: ollama.parse_chat_request({"model": model, **body})[0],
    ),
    # Errors and models as OpenAI sends them (the Responses API shares its error shape).
    "responses": Dialect(
        name="responses",
        render_error=openai.render_error,
        render_model=lambda m: openai.render_model(m.id, owned_by=m.owned_by, created=m.created),
        render_models=lambda models, _token: openai.render_model_list(models),
        render_request=responses.render_request,
        parse_body=lambda body, model: responses.parse_request({"model": model, **body})[0],
    ),
}

__all__ = ["DIALECTS", "Dialect", "RenderRequest"]
