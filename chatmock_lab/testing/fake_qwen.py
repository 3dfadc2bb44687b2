"""A fake chat.qwen.ai web API on loopback, answering the way the real one streams.

`POST /api/v2/chat/completions?chat_id=<uuid>` checks the bearer token and that a
`Cookie` header came (without one the real site's bot protection answers with an HTML
challenge page, and so does this fake), then streams SSE `data:` frames: a
`response.created` frame, `phase: "think"` chunks, the think phase `finished`,
`phase: "answer"` chunks carrying running `usage` totals, and the answer phase
`finished`. Scripted replies choose the texts, the chunk size and whether chunks are
deltas (`incremental_output`) or the text so far; faults cover HTTP errors, application
errors in a 200 JSON body, challenge pages and errors in the middle of a stream.

The server runs on its own thread and event loop (`BackgroundServer`); the knobs are
called from the test's thread, so shared state sits behind one lock.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from quart import Quart, Response, request

from chatmock_lab.server.runner import BackgroundServer
from chatmock_lab.testing._lifecycle import FakeServer, fake_app, scripted_reply

__all__ = ["FakeQwen", "QwenReply", "RecordedQwenRequest"]

_PATH = "/api/v2/chat/completions"
_SECRET_HEADERS = frozenset({"authorization", "cookie"})
_WORD = re.compile(r"\w+|[^\w\s]")
_CHALLENGE_PAGE = (
    "<!DOCTYPE html><html><head><title>Verification</title></head>"
    "<body><div id='baxia-dialog-content'>Please slide to verify</div></body></html>"
)
_CODE_FOR_STATUS = {
    400: "Bad_Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not_Found",
    429: "RateLimited",
}


@dataclass(repr=False)
class RecordedQwenRequest:
    """One request to an `/api/...` route, as it arrived (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    received_at: float

    def __repr__(self) -> str:
        # The token and the cookies stay out: reprs end up in assertion messages and logs.
        headers = {k: ("***" if k in _SECRET_HEADERS else v) for k, v in self.headers.items()}
        return (
            f"RecordedQwenRequest({self.method} {self.path} query={self.query!r}"
            f" headers={headers!r} body={self.body!r})"
        )


@dataclass
class QwenReply:
    """One scripted answer. `answer=None` echoes the last user message."""

    answer: str | None = None
    think: str | None = None
    chunk_chars: int = 4
    # False sends every chunk as the text so far, as Qwen does without incremental_output.
    incremental: bool = True
    # Running totals are computed from the texts unless given (sent on the final frame).
    usage: dict[str, Any] | None = None
    # A `data: [DONE]` after the finished frame (the web API is not known to send one).
    done_marker: bool = False

    def __post_init__(self) -> None:
        if self.chunk_chars < 1:
            raise ValueError(f"chunk_chars must be at least 1, got {self.chunk_chars}")


@dataclass(frozen=True)
class _Failure:
    status: int
    body: Any
    retry_after: float | None


@dataclass(frozen=True)
class _StreamError:
    code: str
    details: str
    after_chunks: int


class FakeQwen(FakeServer):
    """chat.qwen.ai's streaming chat endpoint on 127.0.0.1, with scriptable faults."""

    def __init__(self, *, token: str, port: int = 0, require_cookies: bool = True) -> None:
        self._token = token
        self.port = port
        self.require_cookies = require_cookies
        self.requests: list[RecordedQwenRequest] = []
        self._lock = threading.Lock()
        self._replies: deque[QwenReply] = deque()
        self._failures: deque[_Failure] = deque()
        self._stream_errors: deque[_StreamError] = deque()
        self._challenges = 0
        self._server: BackgroundServer | None = None
        self.app = self._create_app()

    def __repr__(self) -> str:
        state = self._server.url if self._server is not None else "stopped"
        return f"FakeQwen({state})"

    # Lifecycle

    # Inspection

    def last_request(self) -> RecordedQwenRequest:
        with self._lock:
            if not self.requests:
                raise LookupError("the fake Qwen has not received any request yet")
            return self.requests[-1]

    def chat_requests(self) -> list[RecordedQwenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == _PATH]

    # Scripting

    def reply(self, reply: QwenReply | None = None, **fields: Any) -> None:
        """Queue the answer to the next chat request; `fields` override those of `reply`."""
        scripted = scripted_reply(QwenReply, reply, fields)
        with self._lock:
            self._replies.append(scripted)

    def fail(
        self, status: int, body: Any = None, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next `times` chat requests with an HTTP error. The default body is
        Qwen's `{"success": false, "data": {"code", "details"}}`; a str is sent as is."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {status}")
        failure = _Failure(status=status, body=body, retry_after=retry_after)
        with self._lock:
            self._failures.extend([failure] * _positive(times))

    def reject(self, code: str, details: str, *, times: int = 1) -> None:
        """Answer with an application error in a 200 JSON body, as Qwen does for daily
        limits and validation errors."""
        failure = _Failure(status=200, body=_app_error(code, details), retry_after=None)
        with self._lock:
            self._failures.extend([failure] * _positive(times))

    def fail_in_stream(
        self, details: str, *, code: str = "Internal_Error", after_chunks: int = 0, times: int = 1
    ) -> None:
        """Break the next streams off with `{"error": {"code", "details"}}` after that many
        answer chunks."""
        if after_chunks < 0:
            raise ValueError(f"after_chunks must not be negative, got {after_chunks}")
        error = _StreamError(code=code, details=details, after_chunks=after_chunks)
        with self._lock:
            self._stream_errors.extend([error] * _positive(times))

    def challenge(self, *, times: int = 1) -> None:
        """Answer with the bot protection's HTML page (status 200)."""
        with self._lock:
            self._challenges += _positive(times)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._replies.clear()
            self._failures.clear()
            self._stream_errors.clear()
            self._challenges = 0

    # The app

    def _create_app(self) -> Quart:
        app = fake_app(__name__)

        @app.post(_PATH)
        async def _chat() -> Response:
            raw = await request.get_data()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            recorded = RecordedQwenRequest(
                method=request.method,
                path=request.path,
                query=request.args.to_dict(),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                received_at=time.monotonic(),
            )
            with self._lock:
                self.requests.append(recorded)
            return self._answer(recorded)

        return app

    def _answer(self, recorded: RecordedQwenRequest) -> Response:
        headers = recorded.headers
        with self._lock:
            challenged = self._challenges > 0
            self._challenges -= int(challenged)
        if challenged or (self.require_cookies and not headers.get("cookie")):
            return Response(_CHALLENGE_PAGE, status=200, content_type="text/html; charset=utf-8")
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self._token:
            # Never the token it got: the message ends up in the proxy's errors.
            return _json(_app_error("Unauthorized", "You are not logged in."), status=401)
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return _failure_response(failure)
        chat_id = recorded.query.get("chat_id", "")
        if not _is_uuid(chat_id):
            details = "[\"Query 'chat_id': a valid UUID is required\"]"
            return _json(_app_error("RequestValidationError", details))
        body = recorded.body
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _json(_app_error("RequestValidationError", "[\"Field 'messages': required\"]"))
        if not body.get("model"):
            return _json(_app_error("RequestValidationError", "[\"Field 'model': required\"]"))
        with self._lock:
            reply = self._replies.popleft() if self._replies else QwenReply()
            error = self._stream_errors.popleft() if self._stream_errors else None
        frames = _frames(reply, error, chat_id, body["messages"])
        response = Response(
            _stream(frames),
            content_type="text/event-stream; charset=utf-8",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
        response.timeout = None
        return response


async def _stream(frames: list[bytes]) -> AsyncGenerator[bytes, None]:
    for frame in frames:
        yield frame


def _frames(
    reply: QwenReply, error: _StreamError | None, chat_id: str, messages: list[Any]
) -> list[bytes]:
    response_id = str(uuid.uuid4())
    answer = reply.answer if reply.answer is not None else f"Qwen says: {_last_user(messages)}"
    input_tokens = sum(_count(_text(m.get("content"))) for m in messages if isinstance(m, dict))
    output_tokens = 0
    # Tokens of the phases already complete; the running total adds the current one's.
    done_tokens = 0
    frames = [
        _sse(
            {
                "response.created": {
                    "chat_id": chat_id,
                    "parent_id": str(uuid.uuid4()),
                    "response_id": response_id,
                }
            }
        )
    ]

    def chunk(content: str, phase: str, status: str = "typing") -> dict[str, Any]:
        return {
            "choices": [
                {
                    "delta": {
                        "role": "assistant",
                        "content": content,
                        "phase": phase,
                        "status": status,
                    }
                }
            ],
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            "response_id": response_id,
        }

    for phase, text in (("think", reply.think), ("answer", answer)):
        if phase == "think" and not text:
            continue
        pieces = _pieces(text or "", reply.chunk_chars)
        for sent, piece in enumerate(pieces):
            if phase == "answer" and error is not None and sent == error.after_chunks:
                break
            so_far = "".join(pieces[: sent + 1])
            output_tokens = done_tokens + _count(so_far)
            frames.append(_sse(chunk(piece if reply.incremental else so_far, phase)))
        if phase == "answer" and error is not None:
            frames.append(_sse({"error": {"code": error.code, "details": error.details}}))
            return frames
        if phase == "think":
            frames.append(_sse(chunk("", phase, "finished")))
            done_tokens = output_tokens
    final = chunk("", "answer", "finished")
    if reply.usage is not None:
        final["usage"] = reply.usage
    frames.append(_sse(final))
    if reply.done_marker:
        frames.append(b"data: [DONE]\n\n")
    return frames


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _last_user(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _count(text: str) -> int:
    return len(_WORD.findall(text))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _app_error(code: str, details: str) -> dict[str, Any]:
    return {
        "success": False,
        "request_id": str(uuid.uuid4()),
        "data": {"code": code, "details": details},
    }


def _failure_response(failure: _Failure) -> Response:
    headers: dict[str, str] = {}
    if failure.retry_after is not None:
        seconds = failure.retry_after
        headers["retry-after"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    body = failure.body
    if isinstance(body, str):
        return Response(body, status=failure.status, headers=headers, content_type="text/plain")
    if body is None:
        code = _CODE_FOR_STATUS.get(failure.status, "Internal_Error")
        body = _app_error(code, "fake failure")
    return _json(body, status=failure.status, headers=headers)


def _json(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json",
    )


def _sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _positive(times: int) -> int:
    if times < 1:
        raise ValueError(f"times must be at least 1, got {times}")
    return times
