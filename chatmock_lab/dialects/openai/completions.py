"""Legacy Completions (`POST /v1/completions`): each prompt as one canonical chat
request, the answers as `text_completion` objects and chunks.

Source: OpenAI's API reference, "Completions (Legacy)". Token-id prompts are decoded
with the proxy's tokenizer (`tokens.decode`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chatmock_lab.core import (
    ChatRequest,
    ChatResponse,
    Error,
    Event,
    Finish,
    InvalidRequest,
    Message,
    TextDelta,
    TextPart,
    Usage,
)
from chatmock_lab.dialects.fields import (
    expect,
    expect_object,
    optional,
    optional_int,
    optional_number,
    required,
)
from chatmock_lab.dialects.openai.parse import StreamOptions, parse_stop, parse_stream_options
from chatmock_lab.dialects.openai.wire import KEEPALIVE, render_error, sse, usage_json
from chatmock_lab.tokens import decode


@dataclass(slots=True)
class CompletionRequest:
    """A legacy completion: one canonical chat request per prompt."""

    requests: list[ChatRequest]
    prompts: list[str]
    options: StreamOptions
    echo: bool = False


# Each prompt of a list is one upstream request, so a small body of many prompts would
# make the proxy send thousands; OpenAI answers them in one.
MAX_PROMPTS = 128


def _prompt_texts(raw: Any) -> list[str]:
    """`prompt` as strings: a string, a list of strings, token ids, or lists of token ids."""
    if isinstance(raw, str):
        return [raw]
    items = expect(raw, list, "prompt")
    if not items:
        raise InvalidRequest("prompt: must not be empty", param="prompt")
    if type(items[0]) is int:  # a bool is not an id
        # One prompt of token ids; an id the encoding lacks is a 400 naming it.
        return [decode(items, path="prompt")]
    if len(items) > MAX_PROMPTS:
        raise InvalidRequest(
            f"prompt: {len(items)} prompts; at most {MAX_PROMPTS} are accepted in one"
            " request (each is its own upstream request)",
            param="prompt",
        )
    texts: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, list):
            texts.append(decode(item, path=f"prompt[{i}]"))
        else:
            raise InvalidRequest(
                f"prompt[{i}]: expected a string or a list of token ids", param=f"prompt[{i}]"
            )
    return texts


def parse_completion_request(body: Any) -> CompletionRequest:
    """A legacy Completions body: one chat request per prompt, each a user message."""
    body = expect_object(body)
    model = required(body, "model", str)
    if "prompt" not in body or body["prompt"] is None:
        raise InvalidRequest("prompt: this field is required", param="prompt")
    prompts = _prompt_texts(body["prompt"])
    n = optional_int(body, "n")
    if n is not None and n != 1:
        raise InvalidRequest(f"n: only n=1 is supported (got {n})", param="n")
    best_of = optional_int(body, "best_of")
    if best_of is not None and best_of != 1:
        raise InvalidRequest(
            f"best_of: only best_of=1 is supported (got {best_of})", param="best_of"
        )
    stop = parse_stop(body)
    common = {
        "max_tokens": optional_int(body, "max_tokens", minimum=1),
        "temperature": optional_number(body, "temperature", minimum=0, maximum=2),
        "top_p": optional_number(body, "top_p", minimum=0, maximum=1),
        "seed": optional_int(body, "seed"),
        "presence_penalty": optional_number(body, "presence_penalty", minimum=-2, maximum=2),
        "frequency_penalty": optional_number(body, "frequency_penalty", minimum=-2, maximum=2),
        "user": optional(body, "user", str),
    }
    optional(body, "suffix", str)
    requests = [
        ChatRequest(
            model=model,
            messages=[Message(role="user", parts=[TextPart(prompt)])],
            stop=list(stop),
            **common,  # type: ignore[arg-type]
        )
        for prompt in prompts
    ]
    return CompletionRequest(
        requests=requests,
        prompts=prompts,
        options=parse_stream_options(body),
        echo=bool(optional(body, "echo", bool)),
    )


def render_completion(
    responses: list[ChatResponse],
    prompts: list[str],
    *,
    id: str,
    model: str,
    created: int,
    echo: bool,
) -> dict[str, Any]:
    """The answers to all prompts as one `text_completion` (choice `i` for prompt `i`)."""
    choices = [
        {
            "text": (prompt if echo else "") + response.text(),
            "index": i,
            "logprobs": None,
            "finish_reason": "length" if response.finish_reason == "length" else "stop",
        }
        for i, (response, prompt) in enumerate(zip(responses, prompts, strict=True))
    ]
    return {
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
        "usage": usage_json(sum_usage(r.usage for r in responses)),
    }


def sum_usage(usages: Iterable[Usage | None]) -> Usage:
    """The usage of several answers added up (missing ones count as nothing)."""
    total = Usage()
    for u in usages:
        if u is not None:
            total = Usage(
                input_tokens=total.input_tokens + u.input_tokens,
                output_tokens=total.output_tokens + u.output_tokens,
                cached_tokens=total.cached_tokens + u.cached_tokens,
                cache_write_tokens=total.cache_write_tokens + u.cache_write_tokens,
                reasoning_tokens=total.reasoning_tokens + u.reasoning_tokens,
            )
    return total


class CompletionStreamRenderer:
    """Canonical events of one prompt in, `text_completion` SSE frames out.

    Several prompts are streamed one after another, each with its own `index`; the
    caller sends `usage_frame` and `DONE` once at the very end."""

    def __init__(self, *, id: str, model: str, created: int, index: int, echo: str | None) -> None:
        self._base = {"id": id, "object": "text_completion", "created": created, "model": model}
        self._index = index
        self._echo = echo
        self._finished = False
        self.usage: Usage | None = None
        self.failed = False

    def _chunk(self, text: str, finish_reason: str | None = None) -> bytes:
        choice = {
            "text": text,
            "index": self._index,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        return sse({**self._base, "choices": [choice]})

    def start(self) -> list[bytes]:
        return [self._chunk(self._echo)] if self._echo else []

    def feed(self, event: Event) -> list[bytes]:
        if self.failed:
            return []
        if isinstance(event, TextDelta) and event.text:
            return [self._chunk(event.text)]
        if isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finish) and not self._finished:
            self._finished = True
            return [self._chunk("", "length" if event.reason == "length" else "stop")]
        elif isinstance(event, Error):
            self.failed = True
            return [sse(render_error(event.error)[1])]
        return []

    def keepalive(self) -> list[bytes]:
        return [] if self.failed else [KEEPALIVE]

    def finish(self) -> list[bytes]:
        if self._finished or self.failed:
            return []
        self._finished = True
        return [self._chunk("", "stop")]

    def usage_frame(self, usage: Usage) -> bytes:
        return sse({**self._base, "choices": [], "usage": usage_json(usage)})
