"""The request as a public Responses API client sends it (`render_request`, for the lab).

It shares the input encoding with the Codex-backend request (`client.py`) and adds back
what the public API takes and the Codex backend refuses: token limit, sampling, user,
metadata, service tier and logprobs. It stores nothing (`store: false`), so a history
is always sent whole. Normalisation: leading system text becomes `instructions`.
"""

from __future__ import annotations

from typing import Any

from chatmock_lab.core import ChatRequest, RenderedRequest
from chatmock_lab.dialects.responses.client import build_upstream_request

# What `build_upstream_request` says of the fields only the Codex backend refuses.
_CODEX_ONLY = "dropped deliberately (the Codex backend does not take it)"
_NO_PLACE = {
    "top_k": "the Responses API has no top_k",
    "stop": "the Responses API has no stop sequences",
    "seed": "the Responses API has no seed",
    "presence_penalty": "the Responses API has no presence penalty",
    "frequency_penalty": "the Responses API has no frequency penalty",
    "logit_bias": "the Responses API has no logit bias",
    "cache_control": "the Responses API has no prompt-caching hints",
}


def render_request(request: ChatRequest, *, stream: bool = False) -> RenderedRequest:
    body, notes = build_upstream_request(request)
    notes = [note for note in notes if not note.endswith(_CODEX_ONLY)]
    if not body["instructions"]:
        del body["instructions"]
    if request.reasoning is None:
        del body["include"]
    carried: dict[str, Any] = {
        "max_output_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "user": request.user,
        "metadata": request.metadata,
        "service_tier": request.service_tier,
        "safety_identifier": request.safety_identifier,
        "prompt_cache_key": request.prompt_cache_key,
        "top_logprobs": request.top_logprobs,
    }
    body.update({key: value for key, value in carried.items() if value is not None})
    if request.logprobs:
        body["include"] = [*body.get("include", []), "message.output_text.logprobs"]
    body["stream"] = stream
    present = {
        "top_k": request.top_k,
        "stop": request.stop or None,
        "seed": request.seed,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "logit_bias": request.logit_bias,
        "cache_control": request.cache_control,
    }
    notes += [f"{key}: {_NO_PLACE[key]}" for key, value in present.items() if value is not None]
    return RenderedRequest(body=body, path="/responses", dropped=notes)
