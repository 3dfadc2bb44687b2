"""A fake OpenAI-compatible upstream on loopback, with knobs for the faults real ones show.

It stands in for xAI, OpenRouter or any server that speaks the Chat Completions wire
protocol, so the proxy can be tested against a real socket instead of a mocked client:
scripted replies (text, reasoning, tool calls, provider quirks), HTTP errors, dropped
connections, malformed frames, slow first bytes, held requests, and a record of every
request that arrived and of when each frame of its streamed answer went out.

The server runs on its own thread and event loop (`BackgroundServer`); the knobs are
called from the test's thread, so all shared state sits behind one lock.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import struct
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from quart import Quart, Response, g, request
from werkzeug.exceptions import HTTPException

from chatmock_lab.server.runner import BackgroundServer
from chatmock_lab.testing._lifecycle import (
    DroppedConnection,
    FakeServer,
    fake_app,
    quiet_deliberate_drops,
    scripted_reply,
)

__all__ = ["FakeOpenAIUpstream", "FakeReply", "RecordedRequest"]

# A fixed timestamp keeps model listings byte-identical between runs.
_MODEL_CREATED = 1_700_000_000
_HOLD_POLL_SECONDS = 0.005
_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_MALFORMED_FRAME = b"data: {this is not json\n\n"
_DONE_FRAME = b"data: [DONE]\n\n"
_WORD = re.compile(r"\w+|[^\w\s]")
_Number = TypeVar("_Number", int, float)


@dataclass
class RecordedRequest:
    """One request to a `/v1/...` route, as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: Any
    received_at: float
    # (time.monotonic(), frame) for each frame of a streamed answer, taken as the frame is
    # handed to the server to write, so a test in the same process can tell how long the
    # proxy took to pass each one on. Appended under the fake's lock while the stream runs.
    sent: list[tuple[float, bytes]] = field(default_factory=list)


async def record_request() -> RecordedRequest:
    """The current request as recorded; its decoded JSON body (or the reason it is not
    JSON) is also left on `g` for the route."""
    raw = await request.get_data()
    g.json_error = None
    try:
        g.json_body = json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        g.json_body = None
        g.json_error = str(exc)
    return RecordedRequest(
        method=request.method,
        path=request.path,
        headers=_lower_headers(request.headers.items()),
        query=request.args.to_dict(),
        body=g.json_body,
        received_at=time.monotonic(),
    )


@dataclass
class FakeReply:
    """One scripted answer to a chat completion request."""

    text: str = ""
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    chunk_chars: int = 4
    chunk_delay: float = 0.0
    split_choices: bool = False
    tool_calls_at_index_zero: bool = False
    json_when_streaming: bool = False
    # Exactly these frames, for upstream quirks the fields above cannot describe: each
    # chunk a dict (sent as `data: <json>`, id/object/created/model filled in where
    # missing) or a str (sent as the frame's data, verbatim); `[DONE]` follows.
    chunks: list[dict[str, Any] | str] | None = None
    # Exactly this body as the non-streamed answer (envelope fields filled in the same way).
    completion: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.chunk_chars < 1:
            raise ValueError(f"chunk_chars must be at least 1, got {self.chunk_chars}")
        if self.chunk_delay < 0:
            raise ValueError(f"chunk_delay must not be negative, got {self.chunk_delay}")


@dataclass(frozen=True)
class _Failure:
    status: int
    message: str
    retry_after: float | None
    body: Any


@dataclass(frozen=True)
class _ToolCall:
    id: str
    name: str
    arguments: str


class _Lease:
    """One chat request's slot in `in_flight`, given back exactly once, whichever of the
    handler, the body, or the garbage collector finishes with it first."""

    def __init__(self, owner: FakeOpenAIUpstream) -> None:
        self._owner = owner
        self._released = False

    def release(self) -> None:
        with self._owner._lock:
            if self._released:
                return
            self._released = True
            self._owner._in_flight -= 1


class _Body:
    """A streamed body that gives its lease back, and notes the client's departure, even
    when it is closed before its first frame (a client gone while the status line was
    being written never starts the generator, so the generator's own handlers never run)."""

    def __init__(
        self, frames: AsyncGenerator[bytes, None], lease: _Lease, on_abandon: Callable[[], None]
    ) -> None:
        self._frames = frames
        self._lease = lease
        self._on_abandon = on_abandon
        self._started = False
        weakref.finalize(self, lease.release)

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        self._started = True
        return await self._frames.__anext__()

    async def aclose(self) -> None:
        try:
            if not self._started:
                self._on_abandon()
            await self._frames.aclose()
        finally:
            self._lease.release()


class FakeOpenAIUpstream(FakeServer):
    """An OpenAI-compatible server on 127.0.0.1 with scriptable replies and faults."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Sequence[str] = ("fake-model-1", "fake-model-2"),
        embedding_dimensions: int = 8,
        port: int = 0,
        keep_requests: int | None = None,
        prefix: str = "/v1",
    ) -> None:
        """`keep_requests` bounds how many recorded requests are kept (the newest), for
        long runs such as benchmarks; by default all are kept. `prefix` is where the API
        lives: OpenAI's `/v1`, or `""` for servers such as GitHub Copilot's API that
        serve `/chat/completions` at the root."""
        if embedding_dimensions < 1:
            raise ValueError(f"embedding_dimensions must be at least 1, got {embedding_dimensions}")
        self.api_key = api_key
        self.models = list(models)
        self.embedding_dimensions = embedding_dimensions
        self.port = port
        self.prefix = prefix.rstrip("/")
        self.requests: deque[RecordedRequest] = deque(maxlen=keep_requests)
        self.disconnects: list[float] = []
        self._lock = threading.Lock()
        self._replies: deque[FakeReply] = deque()
        self._failures: deque[_Failure] = deque()
        self._drops: deque[int] = deque()
        self._malformed: deque[int] = deque()
        self._delays: deque[float] = deque()
        self._in_flight = 0
        self._max_in_flight = 0
        # Set means "not held"; waiting requests poll it from the server's loop.
        self._released = threading.Event()
        self._released.set()
        self._server: BackgroundServer | None = None
        self.app = self._create_app()

    # Lifecycle

    def _before_start(self) -> None:
        quiet_deliberate_drops()

    def _before_stop(self) -> None:
        # Held requests would otherwise keep the graceful shutdown waiting.
        self._released.set()

    @property
    def base_url(self) -> str:
        return f"{self.url}{self.prefix}"

    # Inspection

    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self.requests:
                raise LookupError("the fake upstream has not received any request yet")
            return self.requests[-1]

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    # Scripting

    def reply(self, reply: FakeReply | None = None, **fields: Any) -> None:
        """Queue the answer to the next chat request; `fields` override those of `reply`."""
        scripted = scripted_reply(FakeReply, reply, fields)
        with self._lock:
            self._replies.append(scripted)

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        message: str = "fake failure",
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status}")
        failure = _Failure(status=status, message=message, retry_after=retry_after, body=body)
        with self._lock:
            self._failures.extend([failure] * _positive(times))

    def drop_connection_after(self, chunks: int, *, times: int = 1) -> None:
        with self._lock:
            self._drops.extend([_not_negative(chunks, "chunks")] * _positive(times))

    def malformed_after(self, chunks: int, *, times: int = 1) -> None:
        with self._lock:
            self._malformed.extend([_not_negative(chunks, "chunks")] * _positive(times))

    def delay_first_byte(self, seconds: float, *, times: int = 1) -> None:
        with self._lock:
            self._delays.extend([_not_negative(seconds, "seconds")] * _positive(times))

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def reset(self) -> None:
        """Forget requests, queued replies, faults and counters, and release a hold.

        Requests still being answered stay counted in `in_flight` (they will give their
        slot back when they finish), so `max_in_flight` restarts from that count."""
        self._released.set()
        with self._lock:
            self.requests.clear()
            self.disconnects.clear()
            self._replies.clear()
            self._failures.clear()
            self._drops.clear()
            self._malformed.clear()
            self._delays.clear()
            self._max_in_flight = self._in_flight

    # The app

    def _create_app(self) -> Quart:
        app = fake_app(__name__)
        prefix = self.prefix

        @app.before_request
        async def _record_and_authorize() -> Response | None:
            outside = request.path != prefix and not request.path.startswith(f"{prefix}/")
            if outside or request.path == "/health":
                return None
            recorded = await record_request()
            g.recorded = recorded
            with self._lock:
                self.requests.append(recorded)
            return self._authorization_error()

        @app.post(f"{prefix}/chat/completions")
        async def _chat_completions() -> Response:
            return await self._chat()

        @app.get(f"{prefix}/models")
        async def _list_models() -> Response:
            return _json({"object": "list", "data": [_model(name) for name in self.models]})

        @app.get(f"{prefix}/models/<path:model_id>")
        async def _get_model(model_id: str) -> Response:
            if model_id not in self.models:
                return _error(
                    404,
                    f"The model `{model_id}` does not exist or you do not have access to it.",
                    code="model_not_found",
                )
            return _json(_model(model_id))

        @app.post(f"{prefix}/embeddings")
        async def _embeddings() -> Response:
            return self._embed()

        @app.errorhandler(HTTPException)
        async def _http_error(exc: HTTPException) -> Response:
            status = exc.code or 500
            if status == 404:
                message = f"Unknown request URL: {request.method} {request.path}."
            else:
                message = f"{exc.name}: {request.method} {request.path}"
            return _error(status, message)

        return app

    def _authorization_error(self) -> Response | None:
        if self.api_key is None:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip() == self.api_key:
            return None
        if not header:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            message = f"Incorrect API key provided: {_redact(token.strip() or header)}."
        return _error(401, message, code="invalid_api_key")

    def _json_body_error(self) -> Response | None:
        if g.json_error is not None:
            return _error(
                400,
                "We could not parse the JSON body of your request. The API expects a JSON "
                f"payload, but what was sent was not valid JSON ({g.json_error}).",
            )
        if not isinstance(g.json_body, dict):
            return _error(400, "The request body must be a JSON object.")
        return None

    async def _chat(self) -> Response:
        invalid = self._json_body_error()
        if invalid is not None:
            return invalid
        body: dict[str, Any] = g.json_body
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(400, "you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list):
            return _error(400, "'messages' is a required property", param="messages")

        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        lease = _Lease(self)
        handed_to_body = False
        try:
            while not self._released.is_set():
                await asyncio.sleep(_HOLD_POLL_SECONDS)
            with self._lock:
                delay = self._delays.popleft() if self._delays else 0.0
            if delay:
                await asyncio.sleep(delay)
            with self._lock:
                failure = self._failures.popleft() if self._failures else None
            if failure is not None:
                return _failure_response(failure)
            with self._lock:
                scripted = self._replies.popleft() if self._replies else None
            reply = scripted or FakeReply(text=f"Upstream says: {_last_user_text(messages)}")
            answer = _Answer.build(reply, model, messages)
            if body.get("stream") is not True or reply.json_when_streaming:
                return _json(answer.completion())
            with self._lock:
                drop_after = self._drops.popleft() if self._drops else None
                malformed_after = self._malformed.popleft() if self._malformed else None
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            frames = self._stream(
                answer.frames(include_usage),
                reply.chunk_delay,
                drop_after,
                malformed_after,
                lease,
                g.recorded.sent,
            )
            response = Response(
                _Body(frames, lease, self._record_disconnect),
                content_type="text/event-stream; charset=utf-8",
                headers=_STREAM_HEADERS,
            )
            response.timeout = None
            handed_to_body = True
            return response
        except asyncio.CancelledError:
            # The client went away while the request was held or delayed.
            self._record_disconnect()
            raise
        finally:
            if not handed_to_body:
                lease.release()

    async def _stream(
        self,
        frames: list[bytes],
        delay: float,
        drop_after: int | None,
        malformed_after: int | None,
        lease: _Lease,
        send_log: list[tuple[float, bytes]],
    ) -> AsyncGenerator[bytes, None]:
        def logged(frame: bytes) -> bytes:
            with self._lock:
                send_log.append((time.monotonic(), frame))
            return frame

        try:
            for sent, frame in enumerate(frames):
                if sent == drop_after:
                    raise DroppedConnection(f"dropped after {sent} frames")
                if sent == malformed_after:
                    yield logged(_MALFORMED_FRAME)
                if sent and delay:
                    await asyncio.sleep(delay)
                yield logged(frame)
            if drop_after is not None:
                # Asked to drop after more frames than the answer has: drop before the end
                # of the chunked body all the same, so the fault is never silently skipped.
                raise DroppedConnection(f"dropped after {len(frames)} frames")
            if malformed_after is not None and malformed_after >= len(frames):
                yield logged(_MALFORMED_FRAME)
        except (asyncio.CancelledError, GeneratorExit):
            self._record_disconnect()
            raise
        finally:
            lease.release()

    def _record_disconnect(self) -> None:
        with self._lock:
            self.disconnects.append(time.monotonic())

    def _embed(self) -> Response:
        invalid = self._json_body_error()
        if invalid is not None:
            return invalid
        body: dict[str, Any] = g.json_body
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(400, "you must provide a model parameter", param="model")
        inputs = _embedding_inputs(body.get("input"))
        if inputs is None:
            return _error(
                400,
                "'input' must be a non-empty string, array of strings, array of tokens, "
                "or array of token arrays",
                param="input",
            )
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return _error(
                400,
                f"Invalid value for 'encoding_format': {encoding!r}; expected 'float' or 'base64'",
                param="encoding_format",
            )
        dimensions = body.get("dimensions", self.embedding_dimensions)
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
            return _error(400, "'dimensions' must be a positive integer", param="dimensions")
        data = []
        for index, item in enumerate(inputs):
            vector = _embedding(item, dimensions)
            encoded: Any = vector
            if encoding == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(_count_tokens(item) if isinstance(item, str) else len(item) for item in inputs)
        return _json(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


@dataclass
class _Answer:
    """A scripted reply resolved against one request: ids, defaults and usage fixed, ready
    to render as a whole completion or as stream frames."""

    reply: FakeReply
    model: str
    id: str
    created: int
    tool_calls: list[_ToolCall]
    finish_reason: str
    usage: dict[str, Any]

    @classmethod
    def build(cls, reply: FakeReply, model: str, messages: list[Any]) -> _Answer:
        calls = [_tool_call(i, call) for i, call in enumerate(reply.tool_calls)]
        return cls(
            reply=reply,
            model=model,
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
            tool_calls=calls,
            finish_reason=reply.finish_reason or ("tool_calls" if calls else "stop"),
            usage=reply.usage if reply.usage is not None else _usage(reply, calls, messages),
        )

    def completion(self) -> dict[str, Any]:
        reply = self.reply
        if reply.completion is not None:
            return {**self._envelope(), "object": "chat.completion", **reply.completion}
        if reply.chunks is not None:
            # What a real server answers a non-streaming client: the same answer, whole.
            folded = fold_chunks([c for c in reply.chunks if isinstance(c, dict)])
            return {**self._envelope(), "object": "chat.completion", **folded}
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if self.tool_calls and not reply.text else reply.text,
        }
        calls = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in self.tool_calls
        ]
        if reply.reasoning is not None:
            message["reasoning_content"] = reply.reasoning
        choices = [_final_choice(0, message, self.finish_reason)]
        if calls and reply.split_choices:
            # Copilot's shape: the text in one choice, the calls in a second one.
            tool_message = {"role": "assistant", "content": None, "tool_calls": calls}
            choices.append(_final_choice(1, tool_message, self.finish_reason))
        elif calls:
            message["tool_calls"] = calls
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": self.usage,
        }

    def frames(self, include_usage: bool) -> list[bytes]:
        reply = self.reply
        if reply.chunks is not None:
            return [
                _sse({**self._envelope(), **chunk})
                if isinstance(chunk, dict)
                else f"data: {chunk}\n\n".encode()
                for chunk in reply.chunks
            ] + [_DONE_FRAME]
        tool_choice = 1 if reply.split_choices else 0
        chunks: list[dict[str, Any]] = [self._chunk(0, {"role": "assistant", "content": ""})]
        for piece in _pieces(reply.reasoning or "", reply.chunk_chars):
            chunks.append(self._chunk(0, {"reasoning_content": piece}))
        for piece in _pieces(reply.text, reply.chunk_chars):
            chunks.append(self._chunk(0, {"content": piece}))
        for position, call in enumerate(self.tool_calls):
            index = 0 if reply.tool_calls_at_index_zero else position
            opening = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            chunks.append(self._chunk(tool_choice, {"tool_calls": [opening]}))
            for piece in _pieces(call.arguments, reply.chunk_chars):
                fragment = {"index": index, "function": {"arguments": piece}}
                chunks.append(self._chunk(tool_choice, {"tool_calls": [fragment]}))
        chunks.append(self._chunk(0, {}, self.finish_reason))
        if self.tool_calls and reply.split_choices:
            chunks.append(self._chunk(1, {}, self.finish_reason))
        if include_usage:
            for chunk in chunks:
                chunk["usage"] = None
            chunks.append({**self._envelope(), "choices": [], "usage": self.usage})
        return [_sse(chunk) for chunk in chunks] + [_DONE_FRAME]

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }

    def _chunk(
        self, index: int, delta: dict[str, Any], finish_reason: str | None = None
    ) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**self._envelope(), "choices": [choice]}


def fold_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Chat Completions chunks as the one `chat.completion` body they stream: each
    choice's deltas joined (content, reasoning, refusal, tool calls, logprobs), its
    finish reason and matched stop, the first chunk id and the usage; an error chunk is
    the whole answer. A tool call opens
    where a stream reader opens one: a new index, a new id, or a second name at an
    index whose call came without an id."""
    choices: dict[int, dict[str, Any]] = {}
    # (choice, tool_calls index) -> the call's position in the message's list
    open_calls: dict[tuple[int, int], int] = {}
    body: dict[str, Any] = {}
    for chunk in chunks:
        if chunk.get("error"):
            # An error chunk in a 200 stream: the same error object in a 200 body.
            return {"error": chunk["error"]}
        if isinstance(chunk.get("id"), str):
            body.setdefault("id", chunk["id"])
        if isinstance(chunk.get("usage"), dict):
            body["usage"] = chunk["usage"]
        for choice in chunk.get("choices") or []:
            index = choice.get("index", 0)
            folded = choices.setdefault(
                index,
                {
                    "index": index,
                    "message": {"role": "assistant", "content": None},
                    "logprobs": None,
                    "finish_reason": None,
                },
            )
            message = folded["message"]
            delta = choice.get("delta") or {}
            for field_name in ("content", "reasoning_content", "refusal"):
                if isinstance(delta.get(field_name), str):
                    message[field_name] = (message.get(field_name) or "") + delta[field_name]
            for position, call in enumerate(delta.get("tool_calls") or []):
                calls = message.setdefault("tool_calls", [])
                key = (index, call.get("index", position))
                function = call.get("function") or {}
                known = open_calls.get(key)
                target = calls[known] if known is not None else None
                if target is None or (
                    (call.get("id") and call["id"] != target.get("id"))
                    or (not call.get("id") and function.get("name") and target["function"]["name"])
                ):
                    target = {"type": "function", "function": {"name": "", "arguments": ""}}
                    open_calls[key] = len(calls)
                    calls.append(target)
                if call.get("id"):
                    target["id"] = call["id"]
                target["function"]["name"] += function.get("name") or ""
                target["function"]["arguments"] += function.get("arguments") or ""
            logprobs = choice.get("logprobs")
            if isinstance(logprobs, dict):
                into = folded["logprobs"] = folded["logprobs"] or {}
                for name, entries in logprobs.items():
                    if isinstance(entries, list):
                        into[name] = [*(into.get(name) or []), *entries]
            if choice.get("finish_reason"):
                folded["finish_reason"] = choice["finish_reason"]
            if choice.get("stop_reason") is not None:
                folded["stop_reason"] = choice["stop_reason"]
    body["choices"] = [choices[i] for i in sorted(choices)]
    return body


def _final_choice(index: int, message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}


def _tool_call(position: int, call: dict[str, Any]) -> _ToolCall:
    arguments = call.get("arguments", "")
    if not isinstance(arguments, str):
        # Scripts may give the arguments as a dict; the wire always carries a JSON string.
        arguments = json.dumps(arguments)
    return _ToolCall(
        id=str(call.get("id") or f"call_{position + 1}"),
        name=str(call["name"]),
        arguments=arguments,
    )


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _count_tokens(text: str) -> int:
    # Words and punctuation marks: crude, but deterministic and easy to predict in a test.
    return len(_WORD.findall(text))


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part.get("text")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        ]
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _message_text(message.get("content"))
    return ""


def _prompt_tokens(messages: list[Any]) -> int:
    total = 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += _count_tokens(_message_text(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += _count_tokens(str(function.get("name", "")))
                total += _count_tokens(str(function.get("arguments", "")))
    return total


def _usage(reply: FakeReply, calls: list[_ToolCall], messages: list[Any]) -> dict[str, Any]:
    prompt = _prompt_tokens(messages)
    reasoning = _count_tokens(reply.reasoning or "")
    completion = reasoning + _count_tokens(reply.text)
    completion += sum(_count_tokens(call.name) + _count_tokens(call.arguments) for call in calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _embedding_inputs(value: Any) -> list[str | list[int]] | None:
    """The inputs of an embeddings request, or None when the shape is not one OpenAI takes."""
    if isinstance(value, str):
        return [value] if value else None
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return [value]
    if all(isinstance(item, str) and item for item in value):
        return list(value)
    if all(
        isinstance(item, list)
        and item
        and all(isinstance(t, int) and not isinstance(t, bool) for t in item)
        for item in value
    ):
        return list(value)
    return None


def _embedding(item: str | list[int], dimensions: int) -> list[float]:
    seed = item.encode() if isinstance(item, str) else json.dumps(item).encode()
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        raw.extend(value / 2**31 - 1.0 for value in struct.unpack("<8I", digest))
        counter += 1
    raw = raw[:dimensions]
    norm = sum(value * value for value in raw) ** 0.5 or 1.0
    # Rounded through float32 so the float and base64 encodings carry the same numbers.
    packed = struct.pack(f"<{dimensions}f", *(value / norm for value in raw))
    return list(struct.unpack(f"<{dimensions}f", packed))


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": _MODEL_CREATED, "owned_by": "fake"}


def _lower_headers(items: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _redact(key: str) -> str:
    return key if len(key) <= 8 else f"{key[:3]}***{key[-4:]}"


def _positive(times: int) -> int:
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times}")
    return times


def _not_negative(value: _Number, name: str) -> _Number:
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _error_type(status: int) -> str:
    if status == 401:
        return "invalid_request_error"
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def _error(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> Response:
    body = {
        "error": {"message": message, "type": _error_type(status), "param": param, "code": code}
    }
    return _json(body, status=status)


def _failure_response(failure: _Failure) -> Response:
    headers: dict[str, str] = {}
    if failure.retry_after is not None:
        seconds = failure.retry_after
        headers["retry-after"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    if failure.body is not None:
        payload = failure.body
        if isinstance(payload, bytes):
            return Response(payload, status=failure.status, headers=headers)
        if isinstance(payload, str):
            return Response(
                payload, status=failure.status, headers=headers, content_type="text/plain"
            )
        return _json(payload, status=failure.status, headers=headers)
    code = "rate_limit_exceeded" if failure.status == 429 else None
    body = {
        "error": {
            "message": failure.message,
            "type": _error_type(failure.status),
            "param": None,
            "code": code,
        }
    }
    return _json(body, status=failure.status, headers=headers)


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # json.dumps rather than jsonify: Quart's provider sorts keys, and the field order of
    # the real API is easier to compare by eye.
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def _sse(chunk: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()
