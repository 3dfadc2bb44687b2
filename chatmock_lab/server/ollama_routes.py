"""The Ollama dialect's routes under `/api`: chat, generate, embeddings, models, version.

Chat and generate stream NDJSON unless `"stream": false`. The metrics' durations are
the proxy's own measurements (`time.perf_counter_ns`), taken here: load until the
provider's stream opened, prompt eval until its first output, eval from then to the end.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing

from quart import Blueprint, Response

from chatmock_lab.core import (
    ChatRequest,
    Event,
    Finish,
    LogprobsDelta,
    ProxyError,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallStart,
)
from chatmock_lab.dialects import ollama
from chatmock_lab.dialects.ollama.render import Endpoint
from chatmock_lab.providers import Provider
from chatmock_lab.server.dispatch import (
    OpenedStream,
    embed_inputs,
    open_stream,
    read_json,
    select_provider,
)
from chatmock_lab.server.inbound import current_request
from chatmock_lab.server.responses import json_response, json_response_off_loop, stream_response
from chatmock_lab.server.state import server_state

blueprint = Blueprint("ollama", __name__)

_OUTPUT = (TextDelta, ReasoningDelta, RefusalDelta, ToolCallStart, LogprobsDelta)
# How long Ollama keeps a model loaded by default; what `/api/ps` says of each model.
_KEEP_ALIVE_NS = 5 * 60 * 1_000_000_000


def _now() -> str:
    return ollama.created_at(time.time_ns())


@dataclasses.dataclass(slots=True)
class _Stopwatch:
    """The moments of one answer, by `time.perf_counter_ns`."""

    start: int = dataclasses.field(default_factory=time.perf_counter_ns)
    opened: int | None = None
    first_output: int | None = None
    end: int | None = None

    def durations(self) -> ollama.Durations:
        end = self.end if self.end is not None else time.perf_counter_ns()
        opened = self.opened if self.opened is not None else end
        first = self.first_output if self.first_output is not None else end

        # An interval below the clock's resolution still took time: at least 1 ns, so
        # that the field is present (Ollama leaves zeros out).
        def span(a: int, b: int) -> int:
            return max(1, b - a)

        return ollama.Durations(
            total=span(self.start, end),
            load=span(self.start, opened),
            prompt_eval=span(opened, first),
            eval=span(first, end),
        )

    async def timed(self, events: AsyncGenerator[Event, None]) -> AsyncGenerator[Event, None]:
        async with aclosing(events):
            async for event in events:
                if self.first_output is None and isinstance(event, _OUTPUT):
                    self.first_output = time.perf_counter_ns()
                if isinstance(event, Finish):
                    self.end = time.perf_counter_ns()
                yield event


async def _answer(
    chat: ChatRequest, options: ollama.RequestOptions, endpoint: Endpoint
) -> Response:
    stopwatch = _Stopwatch()
    if not chat.messages:
        # Ollama's way to load a model: nothing to answer, `done_reason: "load"`.
        select_provider(chat.model)
        return json_response(
            ollama.render_load(endpoint=endpoint, model=chat.model, created_at=_now())
        )
    opened = await open_stream(
        chat, dialect="ollama", dropped=options.dropped, stream=options.stream
    )
    stopwatch.opened = time.perf_counter_ns()
    opened = dataclasses.replace(opened, events=stopwatch.timed(opened.events))
    if options.stream:
        return _stream(opened, options, endpoint, stopwatch)
    response = await opened.collect()
    return json_response(
        ollama.render_response(
            response,
            endpoint=endpoint,
            model=opened.model,
            created_at=_now(),
            durations=stopwatch.durations(),
            show_thinking=options.show_thinking,
        )
    )


def _stream(
    opened: OpenedStream, options: ollama.RequestOptions, endpoint: Endpoint, stopwatch: _Stopwatch
) -> Response:
    renderer = ollama.StreamRenderer(
        endpoint=endpoint,
        model=opened.model,
        clock=_now,
        durations=stopwatch.durations,
        show_thinking=options.show_thinking,
        logprobs=bool(opened.request.logprobs),
    )
    return stream_response(opened.render(renderer), ollama.NDJSON, tap=opened.tap)


@blueprint.post("/chat")
async def chat() -> Response:
    chat, options = ollama.parse_chat_request(await read_json())
    return await _answer(chat, options, "chat")


@blueprint.post("/generate")
async def generate() -> Response:
    chat, options = ollama.parse_generate_request(await read_json())
    return await _answer(chat, options, "generate")


@blueprint.post("/embed")
async def embed() -> Response:
    stopwatch = _Stopwatch()
    embedding, _dropped = ollama.parse_embed_request(await read_json())
    name = embedding.model
    if not embedding.inputs:
        select_provider(embedding.model)
        return json_response({"model": name, "embeddings": []})
    stopwatch.opened = time.perf_counter_ns()
    result = await embed_inputs(embedding)
    stopwatch.end = time.perf_counter_ns()
    durations = stopwatch.durations()
    body: dict[str, object] = {
        "model": name,
        "embeddings": result.vectors,
        "total_duration": durations.total,
        "load_duration": durations.load,
    }
    if result.input_tokens:
        body["prompt_eval_count"] = result.input_tokens
    return await json_response_off_loop(lambda: body)


@blueprint.post("/embeddings")
async def embeddings() -> Response:
    embedding, _dropped = ollama.parse_embeddings_request(await read_json())
    if not embedding.inputs:
        select_provider(embedding.model)
        return json_response({"embedding": []})
    result = await embed_inputs(embedding)
    return json_response({"embedding": result.vectors[0]})


def _provider() -> Provider:
    requested = current_request().args.get("provider")
    state = server_state()
    return state.provider_named(requested, param="provider") if requested else state.provider


@blueprint.get("/tags")
async def tags() -> Response:
    models = await _provider().models()
    return json_response(ollama.render_model_list([ollama.render_model(m) for m in models]))


@blueprint.get("/ps")
async def running() -> Response:
    models = await _provider().models()
    expires = time.time_ns() + _KEEP_ALIVE_NS
    return json_response(
        ollama.render_model_list(
            [ollama.render_running_model(m, expires_at_ns=expires) for m in models]
        )
    )


@blueprint.post("/show")
async def show() -> Response:
    name = ollama.parse_show_request(await read_json())
    provider, model = select_provider(name)
    info = await provider.model(model)
    if info is None:
        raise ProxyError(f"model '{name}' not found", kind="not_found", param="model")
    return json_response(ollama.render_show(info))


@blueprint.get("/version")
async def version() -> Response:
    return json_response({"version": ollama.VERSION})
