"""From a canonical request to a running event stream: the one path every dialect takes.

Provider choice, model mapping, per-request hints, approval, the Gate (held for the
whole stream), the rate limit, then the provider; the first event is awaited so that a
failure before any output becomes an HTTP error in the caller's dialect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from chatmock_lab import tokens
from chatmock_lab.chaos import CHAOS_HEADER, ChaosError, ChaosPlan
from chatmock_lab.core import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    Event,
    Finish,
    InvalidRequest,
    ProxyError,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from chatmock_lab.dialects.fields import check_model_name
from chatmock_lab.dialects.json_body import decode_json_body
from chatmock_lab.limits import ApprovalRequest
from chatmock_lab.providers import EmbeddingResult, Provider, RequestHint, report_dropped
from chatmock_lab.redact import Redactor
from chatmock_lab.server.inbound import InboundRequest, current_request, request_body
from chatmock_lab.server.responses import StreamRenderer, collect_events, prime, render_events
from chatmock_lab.server.state import ServerState, server_state
from chatmock_lab.taps import TAP_HEADER, Tap

logger = logging.getLogger(__name__)


# Bodies larger than this are decoded on a worker thread: the event loop keeps serving.
_DECODE_OFF_LOOP_BYTES = 256 * 1024


async def read_json() -> object:
    """The request's JSON body (a clear 400 naming the problem when it is not JSON)."""
    limits = server_state().body_limits
    data = await request_body()
    if len(data) > _DECODE_OFF_LOOP_BYTES:
        return await asyncio.to_thread(decode_json_body, data, limits=limits)
    return decode_json_body(data, limits=limits)


def select_provider(model: str) -> tuple[Provider, str]:
    # One check for every route: a crafted name must not become another upstream path.
    return server_state().select(check_model_name(model), current_request().args.get("provider"))


# OpenAI's own limit on inputs in one embeddings request; the vectors of more run to
# hundreds of megabytes.
MAX_EMBEDDING_INPUTS = 2048


async def embed_inputs(embedding: EmbeddingRequest) -> EmbeddingResult:
    """`embedding` answered by its provider (its model is replaced by the provider's)."""
    if len(embedding.inputs) > MAX_EMBEDDING_INPUTS:
        raise InvalidRequest(
            f"input: {len(embedding.inputs)} inputs; at most {MAX_EMBEDDING_INPUTS} are"
            " accepted in one request",
            param="input",
            code="too_many_items",
        )
    provider, embedding.model = select_provider(embedding.model)
    return await provider.embed(embedding)


def request_tap() -> Tap | None:
    """The tap the current request is copied to: the traffic log's (hot_routes.py
    gives each chat request one), else one registered for its `x-chatmock-tap`."""
    request = current_request()
    tap: Tap | None = getattr(request, "tap", None)
    return tap if tap is not None else registered_tap(request)


def registered_tap(request: InboundRequest) -> Tap | None:
    """The tap `request` asked to be copied to (`x-chatmock-tap`), if it is registered."""
    taps = server_state().taps
    if not taps:
        # No tap registered (the usual case): no header to look up on every request.
        return None
    tap_id = request.headers.get(TAP_HEADER)
    return taps.get(tap_id) if tap_id else None


def request_chaos() -> ChaosPlan | None:
    """The faults the current request gets: its `x-chatmock-chaos` rules (a 400 naming
    the header when they cannot be read), else the server's."""
    try:
        return server_state().chaos.plan(current_request().headers.get(CHAOS_HEADER))
    except ChaosError as error:
        raise InvalidRequest(str(error), param=CHAOS_HEADER, code="invalid_chaos") from None


@dataclass(frozen=True, slots=True)
class OpenedStream:
    """A provider's stream, started: its events, the model name the provider answers
    as, and the tap watching it (if any), which the renderer is handed explicitly."""

    events: AsyncGenerator[Event, None]
    model: str
    tap: Tap | None
    keepalive: float
    redactor: Redactor
    # The request as the provider got it (its model name, hints and trace).
    request: ChatRequest

    async def prompt_tokens(self) -> int:
        """The prompt's size by the proxy's tokenizer: an estimate, for answers that must
        state it before the upstream has (Anthropic's `message_start`)."""
        return await tokens.count_request_off_loop(self.request)

    def render(self, renderer: StreamRenderer) -> AsyncIterator[bytes]:
        """The dialect's frames for these events (keep-alives on silence)."""
        return render_events(
            self.events,
            renderer,
            redactor=self.redactor,
            keepalive=self.keepalive,
            tap=self.tap,
        )

    async def collect(self) -> ChatResponse:
        return await collect_events(self.events, tap=self.tap)


def _with_hints(provider: Provider, chat: ChatRequest) -> dict[str, object]:
    """The request's extensions with the provider's per-request hints added."""
    extensions = dict(chat.extensions)
    # Not `isinstance(provider, TakesRequestHints)`: a runtime protocol check walks the
    # protocol's members on every call, and this runs on every request.
    hints: tuple[RequestHint, ...] = getattr(provider, "request_hints", ())
    request = current_request()
    for hint in hints:
        value = (request.args.get(hint.query) if hint.query else None) or (
            request.headers.get(hint.header) if hint.header else None
        )
        if value:
            extensions[hint.extension] = value
    return extensions


async def open_stream(
    chat: ChatRequest, *, dialect: str, dropped: list[str] | None = None, stream: bool = False
) -> OpenedStream:
    """Start `chat` on its provider. The caller's request is not changed: the provider
    gets a copy with its own model name, hints and the request's tap. `dropped` are the
    inbound `dialect`'s notes on what its parser could not carry over. `stream` says
    whether the client reads the answer as it comes (`ChatRequest.stream`); one that
    must wait in line for a Gate slot starts after `keepalive_seconds` with keep-alives
    (see `prime`); one that need not wait starts with its first event."""
    state = server_state()
    provider, model = select_provider(chat.model)
    tap = request_tap()
    upstream = dataclasses.replace(
        chat,
        model=provider.map_model(model),
        extensions=_with_hints(provider, chat),
        stream=stream,
        trace=tap,
        chaos=request_chaos(),
    )
    report_dropped(dialect, upstream, dropped or ())
    entry = getattr(current_request(), "traffic", None)
    if entry is not None:
        entry.provider, entry.model, entry.canonical = provider.name, upstream.model, chat
        entry.upstream_dialect = getattr(provider, "upstream_dialect", None)
    keepalive = state.settings.keepalive_seconds
    queued = stream and keepalive > 0 and state.gate.full
    events = await prime(
        _guarded(state, provider, upstream), patience=keepalive if queued else None
    )
    return OpenedStream(
        events, upstream.model, tap, state.settings.keepalive_seconds, state.redactor, upstream
    )


async def _guarded(
    state: ServerState, provider: Provider, chat: ChatRequest
) -> AsyncGenerator[Event, None]:
    # Everything runs inside the generator, so that a generator closed before it started
    # holds nothing, and one closed at any later point releases its permit.
    if state.approver is not None:
        summary = f"{len(chat.messages)} message(s), last: {_last_text(chat)!r}"
        if not await state.approver(ApprovalRequest(provider.name, chat.model, summary)):
            raise ProxyError(
                "The request was refused by the operator (--manual)", kind="permission"
            )
    permit = await state.gate.acquire()
    try:
        await state.rate_limiter.admit()
        async with aclosing(provider.stream(chat)) as events:
            # Usage counted by the proxy's tokenizer (`Usage.estimated`) before the
            # finish when the upstream reported none, so that no dialect reports zeros
            # as if they were real. In this loop, not a generator of its own: every
            # event of every answer passes through here.
            reported = False
            produced: list[str] = []
            async for event in events:
                if isinstance(event, Usage):
                    reported = True
                elif isinstance(event, (TextDelta, ReasoningDelta, RefusalDelta)):
                    produced.append(event.text)
                elif isinstance(event, ToolCallDelta):
                    produced.append(event.arguments)
                elif isinstance(event, ToolCallStart):
                    produced.append(event.name)
                elif isinstance(event, Finish) and not reported:
                    yield Usage(
                        input_tokens=await tokens.count_request_off_loop(chat),
                        output_tokens=await tokens.count_text_off_loop("".join(produced)),
                        estimated=True,
                    )
                yield event
    finally:
        permit.release()


def _last_text(chat: ChatRequest) -> str:
    last = chat.last_user_message()
    text = last.text() if last is not None else ""
    return text if len(text) <= 80 else text[:77] + "..."
