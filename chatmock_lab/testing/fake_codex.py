"""A fake ChatGPT Codex backend on loopback: the Responses API as `chatgpt.com/backend-api/codex`
serves it to ChatGPT-account clients.

It answers `POST {base}/responses` with the Responses event stream (the event order of a
real answer: reasoning summary, message, function calls, `response.completed` with
usage), validates bodies the way the real backend does (`{"detail": ...}` errors for
missing instructions, `store` not false, `stream` not true, unsupported sampling
fields, unknown models), and lists models at `GET {base}/models`. Knobs script replies,
HTTP failures, in-stream `response.failed`, dropped connections and stale bearer tokens;
every request under `/backend-api/` is recorded.

The server runs on its own thread and event loop (`BackgroundServer`); the knobs are
called from the test's thread, so all shared state sits behind one lock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from chatmock_lab.testing.fake_openai import RecordedRequest, record_request

__all__ = ["CodexReply", "FakeCodexBackend"]

BASE_PATH = "/backend-api/codex"
# Fields of the public Responses API that the Codex backend refuses.
UNSUPPORTED_FIELDS = ("max_output_tokens", "temperature", "top_p", "top_logprobs", "truncation")
_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_WORD = re.compile(r"\w+|[^\w\s]")
_EXPIRED_TOKEN = {
    "error": {
        "message": "Provided authentication token is expired. Please try signing in again.",
        "type": "invalid_request_error",
        "code": "token_expired",
        "param": None,
    }
}
_EFFORTS = ("minimal", "low", "medium", "high")
_MODEL_INFO: dict[str, tuple[str, str]] = {
    "gpt-5": ("GPT-5", "General-purpose GPT-5 model."),
    "gpt-5-codex": ("GPT-5 Codex", "GPT-5 tuned for coding agents."),
    "codex-mini-latest": ("Codex mini", "A small, fast model for coding tasks."),
}


@dataclass
class CodexReply:
    """One scripted answer to a `/responses` request.

    `reasoning` is the reasoning summary, one string per summary part; `tool_calls` are
    parallel function calls `{"call_id"?, "name", "arguments": str | dict}`; `usage`
    replaces the computed Responses usage object; `encrypted_content` replaces the
    generated one (sent only when the request includes `reasoning.encrypted_content`);
    `incomplete_reason` ends the answer with `response.incomplete`; `refusal` is the
    message's refusal, a `refusal` content part after the text one (if any), streamed
    as `response.refusal.delta` events and ended by `response.refusal.done`."""

    text: str = ""
    refusal: str | None = None
    reasoning: str | list[str] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    chunk_chars: int = 4
    encrypted_content: str | None = None
    incomplete_reason: str | None = None

    def __post_init__(self) -> None:
        if self.chunk_chars < 1:
            raise ValueError(f"chunk_chars must be at least 1, got {self.chunk_chars}")

    @property
    def summary_parts(self) -> list[str]:
        if self.reasoning is None:
            return []
        return [self.reasoning] if isinstance(self.reasoning, str) else list(self.reasoning)


@dataclass(frozen=True)
class _Failure:
    status: int
    body: Any
    retry_after: float | None
    message: str


@dataclass(frozen=True)
class _StreamFailure:
    code: str
    message: str


class FakeCodexBackend(FakeServer):
    """The ChatGPT Codex backend on 127.0.0.1, with scriptable replies and faults."""

    def __init__(
        self,
        *,
        tokens: Sequence[str] | None = None,
        models: Sequence[str] = tuple(_MODEL_INFO),
        port: int = 0,
        keep_requests: int | None = None,
    ) -> None:
        """`tokens`: the bearer tokens accepted (any request is accepted when None);
        `keep_requests` bounds how many recorded requests are kept (the newest)."""
        self.models = list(models)
        self.port = port
        self.requests: deque[RecordedRequest] = deque(maxlen=keep_requests)
        self._lock = threading.Lock()
        self._initial_tokens = None if tokens is None else frozenset(tokens)
        self._tokens = self._initial_tokens
        self._replies: deque[CodexReply] = deque()
        self._failures: deque[_Failure] = deque()
        self._stream_failures: deque[_StreamFailure] = deque()
        self._drops: deque[int] = deque()
        # Sent with every stream, as the backend reports plan usage (x-codex-* headers).
        self.usage_headers: dict[str, str] = {}
        self._server: BackgroundServer | None = None
        self.app = self._create_app()

    # Lifecycle

    def _before_start(self) -> None:
        quiet_deliberate_drops()

    @property
    def base_url(self) -> str:
        return f"{self.url}{BASE_PATH}"

    # Inspection

    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self.requests:
                raise LookupError("the fake Codex backend has not received any request yet")
            return self.requests[-1]

    @property
    def accepted_tokens(self) -> frozenset[str] | None:
        with self._lock:
            return self._tokens

    # Scripting

    def require_bearer(self, *tokens: str) -> None:
        """Accept only these bearer tokens from now on (others get 401 `token_expired`);
        with no tokens, accept any request again."""
        with self._lock:
            self._tokens = frozenset(tokens) if tokens else None

    def reply(self, reply: CodexReply | None = None, **fields: Any) -> None:
        """Queue the answer to the next `/responses` request; `fields` override `reply`'s."""
        scripted = scripted_reply(CodexReply, reply, fields)
        with self._lock:
            self._replies.append(scripted)

    def fail(
        self,
        status: int,
        *,
        body: Any = None,
        times: int = 1,
        retry_after: float | None = None,
        message: str = "fake failure",
    ) -> None:
        """Answer the next `times` requests with this HTTP error. Without a `body`, 429
        gets the backend's quota body (`usage_limit_reached`, `resets_at` from
        `retry_after` or a minute) and other statuses `{"detail": message}`."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status}")
        failure = _Failure(status=status, body=body, retry_after=retry_after, message=message)
        with self._lock:
            self._failures.extend([failure] * _positive(times))

    def fail_in_stream(self, code: str, message: str, *, times: int = 1) -> None:
        """Start the next answers normally, then end them with `response.failed`."""
        failure = _StreamFailure(code=code, message=message)
        with self._lock:
            self._stream_failures.extend([failure] * _positive(times))

    def drop_connection_after(self, events: int, *, times: int = 1) -> None:
        """Close the connection mid-body after this many SSE events."""
        if events < 0:
            raise ValueError(f"events must not be negative, got {events}")
        with self._lock:
            self._drops.extend([events] * _positive(times))

    def reset(self) -> None:
        """Forget requests, queued replies and faults; accept the tokens given at
        construction again."""
        with self._lock:
            self.requests.clear()
            self._replies.clear()
            self._failures.clear()
            self._stream_failures.clear()
            self._drops.clear()
            self._tokens = self._initial_tokens

    # The app

    def _create_app(self) -> Quart:
        app = fake_app(__name__)

        @app.before_request
        async def _record_and_authorize() -> Response | None:
            if not request.path.startswith("/backend-api/"):
                return None
            recorded = await record_request()
            with self._lock:
                self.requests.append(recorded)
            return self._authorization_error()

        @app.post(f"{BASE_PATH}/responses")
        async def _responses() -> Response:
            return self._respond()

        @app.get(f"{BASE_PATH}/models")
        async def _models() -> Response:
            return _json({"models": [_model(slug, i) for i, slug in enumerate(self.models)]})

        @app.errorhandler(HTTPException)
        async def _http_error(exc: HTTPException) -> Response:
            # The backend is a FastAPI app: its own errors are `{"detail": ...}`.
            return _json({"detail": exc.name}, status=exc.code or 500)

        return app

    def _authorization_error(self) -> Response | None:
        with self._lock:
            tokens = self._tokens
        if tokens is None:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _json({"detail": "Unauthorized"}, status=401)
        if token.strip() not in tokens:
            return _json(_EXPIRED_TOKEN, status=401)
        return None

    def _validation_error(self) -> Response | None:
        if g.json_error is not None:
            return _detail(400, f"Invalid JSON body: {g.json_error}")
        body = g.json_body
        if not isinstance(body, dict):
            return _detail(400, "The request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _detail(400, "Model is required")
        if not isinstance(body.get("instructions"), str):
            return _detail(400, "Instructions are required")
        if body.get("store") is not False:
            return _detail(400, "Store must be set to false")
        if body.get("stream") is not True:
            return _detail(400, "Stream must be set to true")
        for name in UNSUPPORTED_FIELDS:
            if name in body:
                return _detail(400, f"Unsupported parameter: {name}")
        if not isinstance(body.get("input"), list):
            return _detail(400, "Input must be a list")
        if model not in self.models:
            message = (
                f"The '{model}' model is not supported when using Codex with a ChatGPT account."
            )
            return _detail(400, message)
        return None

    def _respond(self) -> Response:
        invalid = self._validation_error()
        if invalid is not None:
            return invalid
        body: dict[str, Any] = g.json_body
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return _failure_response(failure)
        with self._lock:
            scripted = self._replies.popleft() if self._replies else None
            stream_failure = self._stream_failures.popleft() if self._stream_failures else None
            drop_after = self._drops.popleft() if self._drops else None
        reply = scripted or CodexReply(text=f"Codex says: {_last_user_text(body['input'])}")
        events = _Answer(reply, body).events(stream_failure)
        response = Response(
            _frames(events, drop_after),
            content_type="text/event-stream; charset=utf-8",
            headers={**_STREAM_HEADERS, **self.usage_headers},
        )
        response.timeout = None
        return response


async def _frames(
    events: list[tuple[str, dict[str, Any]]], drop_after: int | None
) -> AsyncGenerator[bytes, None]:
    for sent, (kind, payload) in enumerate(events):
        if sent == drop_after:
            raise DroppedConnection(f"dropped after {sent} events")
        data = json.dumps({"type": kind, "sequence_number": sent, **payload}, separators=(",", ":"))
        yield f"event: {kind}\ndata: {data}\n\n".encode()
    if drop_after is not None:
        # Asked to drop after more events than the answer has: drop before the end of
        # the chunked body all the same, so the fault is never silently skipped.
        raise DroppedConnection(f"dropped after {len(events)} events")


class _Answer:
    """A scripted reply resolved against one request, rendered as Responses events."""

    def __init__(self, reply: CodexReply, body: dict[str, Any]) -> None:
        self.reply = reply
        self.body = body
        self.id = f"resp_{uuid.uuid4().hex}"
        self.created_at = int(time.time())
        include = body.get("include")
        self.encrypted = isinstance(include, list) and "reasoning.encrypted_content" in include
        self.calls = [_call(i, call) for i, call in enumerate(reply.tool_calls)]
        self.output: list[dict[str, Any]] = []
        self.events_out: list[tuple[str, dict[str, Any]]] = []

    def events(self, failure: _StreamFailure | None) -> list[tuple[str, dict[str, Any]]]:
        self._emit("response.created", {"response": self._response("in_progress")})
        self._emit("response.in_progress", {"response": self._response("in_progress")})
        if failure is not None:
            error = {"code": failure.code, "message": failure.message}
            self._emit("response.failed", {"response": self._response("failed", error=error)})
            return self.events_out
        if self.reply.summary_parts:
            self._reasoning_item()
        if self.reply.text or self.reply.refusal is not None or not self.calls:
            self._message_item()
        for call in self.calls:
            self._call_item(call)
        usage = self.reply.usage if self.reply.usage is not None else self._usage()
        if self.reply.incomplete_reason is not None:
            details = {"reason": self.reply.incomplete_reason}
            response = self._response("incomplete", usage=usage, incomplete_details=details)
            self._emit("response.incomplete", {"response": response})
        else:
            self._emit("response.completed", {"response": self._response("completed", usage)})
        return self.events_out

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        self.events_out.append((kind, payload))

    def _response(
        self,
        status: str,
        usage: dict[str, Any] | None = None,
        *,
        error: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = self.body
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": error,
            "incomplete_details": incomplete_details,
            "instructions": body.get("instructions"),
            "model": body.get("model"),
            "output": [] if status == "in_progress" else list(self.output),
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "store": False,
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "usage": usage,
        }

    def _added(self, index: int, item: dict[str, Any]) -> None:
        self._emit("response.output_item.added", {"output_index": index, "item": item})

    def _done(self, index: int, item: dict[str, Any]) -> None:
        self.output.append(item)
        self._emit("response.output_item.done", {"output_index": index, "item": item})

    def _reasoning_item(self) -> None:
        index, item_id = len(self.output), f"rs_{uuid.uuid4().hex}"
        parts = self.reply.summary_parts
        self._added(index, {"id": item_id, "type": "reasoning", "summary": []})
        where = {"item_id": item_id, "output_index": index}
        for summary_index, text in enumerate(parts):
            at = {**where, "summary_index": summary_index}
            empty = {"type": "summary_text", "text": ""}
            self._emit("response.reasoning_summary_part.added", {**at, "part": empty})
            for piece in _pieces(text, self.reply.chunk_chars):
                self._emit("response.reasoning_summary_text.delta", {**at, "delta": piece})
            self._emit("response.reasoning_summary_text.done", {**at, "text": text})
            full = {"type": "summary_text", "text": text}
            self._emit("response.reasoning_summary_part.done", {**at, "part": full})
        item: dict[str, Any] = {
            "id": item_id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text} for text in parts],
        }
        if self.encrypted:
            item["encrypted_content"] = self.reply.encrypted_content or _encrypted(parts)
        self._done(index, item)

    def _message_item(self) -> None:
        index, item_id = len(self.output), f"msg_{uuid.uuid4().hex}"
        text, refusal = self.reply.text, self.reply.refusal
        item = {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "content": [],
            "role": "assistant",
        }
        self._added(index, item)
        where = {"item_id": item_id, "output_index": index}
        content: list[dict[str, Any]] = []
        if text or refusal is None:
            at = {**where, "content_index": len(content)}
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            self._emit("response.content_part.added", {**at, "part": part})
            for piece in _pieces(text, self.reply.chunk_chars):
                self._emit("response.output_text.delta", {**at, "delta": piece, "logprobs": []})
            self._emit("response.output_text.done", {**at, "text": text, "logprobs": []})
            self._emit("response.content_part.done", {**at, "part": {**part, "text": text}})
            content.append({**part, "text": text})
        if refusal is not None:
            at = {**where, "content_index": len(content)}
            self._emit("response.content_part.added", {**at, "part": _refusal_part("")})
            for piece in _pieces(refusal, self.reply.chunk_chars):
                self._emit("response.refusal.delta", {**at, "delta": piece})
            self._emit("response.refusal.done", {**at, "refusal": refusal})
            self._emit("response.content_part.done", {**at, "part": _refusal_part(refusal)})
            content.append(_refusal_part(refusal))
        self._done(index, {**item, "status": "completed", "content": content})

    def _call_item(self, call: dict[str, str]) -> None:
        index, item_id = len(self.output), f"fc_{uuid.uuid4().hex}"
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": call["call_id"],
            "name": call["name"],
        }
        self._added(index, item)
        at = {"item_id": item_id, "output_index": index}
        for piece in _pieces(call["arguments"], self.reply.chunk_chars):
            self._emit("response.function_call_arguments.delta", {**at, "delta": piece})
        done = {**at, "name": call["name"], "arguments": call["arguments"]}
        self._emit("response.function_call_arguments.done", done)
        self._done(index, {**item, "status": "completed", "arguments": call["arguments"]})

    def _usage(self) -> dict[str, Any]:
        prompt = _count_tokens(str(self.body.get("instructions") or ""))
        prompt += sum(_count_tokens(text) for text in _input_texts(self.body["input"]))
        reasoning = sum(_count_tokens(text) for text in self.reply.summary_parts)
        output = reasoning + _count_tokens(self.reply.text)
        output += _count_tokens(self.reply.refusal or "")
        output += sum(_count_tokens(c["name"]) + _count_tokens(c["arguments"]) for c in self.calls)
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + output,
        }


def _call(position: int, call: dict[str, Any]) -> dict[str, str]:
    arguments = call.get("arguments", "")
    if not isinstance(arguments, str):
        # Scripts may give the arguments as a dict; the wire always carries a JSON string.
        arguments = json.dumps(arguments)
    call_id = call.get("call_id") or call.get("id") or f"call_{position + 1}"
    return {"call_id": str(call_id), "name": str(call["name"]), "arguments": arguments}


def _refusal_part(refusal: str) -> dict[str, str]:
    return {"type": "refusal", "refusal": refusal}


def _encrypted(parts: list[str]) -> str:
    # Shaped like the real thing (a Fernet token, hence `gAAAAA`) so that replay rules
    # keyed on that shape see it as Responses reasoning; deterministic for tests.
    digest = hashlib.sha256("\n".join(parts).encode()).digest()
    return "gAAAAAB" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _count_tokens(text: str) -> int:
    # Words and punctuation marks: crude, but deterministic and easy to predict in a test.
    return len(_WORD.findall(text))


def _input_texts(items: list[Any]) -> list[str]:
    texts: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            ]
        for key in ("arguments", "output"):
            if isinstance(item.get(key), str):
                texts.append(item[key])
    return texts


def _last_user_text(items: list[Any]) -> str:
    for item in reversed(items):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    part["text"]
                    for part in content
                    if isinstance(part, dict)
                    and part.get("type") == "input_text"
                    and isinstance(part.get("text"), str)
                )
    return ""


def _model(slug: str, priority: int) -> dict[str, Any]:
    name, description = _MODEL_INFO.get(slug, (slug, f"The {slug} model."))
    return {
        "slug": slug,
        "display_name": name,
        "description": description,
        "default_reasoning_level": "medium",
        "supported_reasoning_levels": [
            {"effort": effort, "description": f"{effort.capitalize()} reasoning effort"}
            for effort in _EFFORTS
        ],
        "visibility": "list",
        "supported_in_api": True,
        "priority": priority,
        "context_window": 272_000,
    }


def _lower_headers(items: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _positive(times: int) -> int:
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times}")
    return times


def _failure_response(failure: _Failure) -> Response:
    headers: dict[str, str] = {}
    if failure.retry_after is not None:
        seconds = failure.retry_after
        headers["retry-after"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    payload = failure.body
    if payload is None and failure.status == 429:
        wait = failure.retry_after if failure.retry_after is not None else 60
        payload = {
            "error": {
                "type": "usage_limit_reached",
                "message": failure.message,
                "plan_type": "plus",
                "resets_at": int(time.time() + wait),
            }
        }
    elif payload is None:
        payload = {"detail": failure.message}
    if isinstance(payload, bytes):
        return Response(payload, status=failure.status, headers=headers)
    if isinstance(payload, str):
        return Response(payload, status=failure.status, headers=headers, content_type="text/plain")
    return _json(payload, status=failure.status, headers=headers)


def _detail(status: int, message: str) -> Response:
    return _json({"detail": message}, status=status)


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # json.dumps rather than jsonify: Quart's provider sorts keys, and the field order of
    # the real API is easier to compare by eye.
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )
