"""Sending a fuzzed request and checking the property every answer must have.

The property, for any request at all: an answer within a deadline (never a hang),
never a 5xx, every 4xx in the route's dialect's own error shape with a short, non-empty
message, every 200 stream read to its end without an incomplete read and ending the way
its dialect ends a stream (or with the dialect's error frame), and the server still
answering `/health` afterwards.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from tests.fuzz.routes import Dialect, Route
from tests.fuzz.strategies import Case

# A bad value of a megabyte must not come back as a megabyte: an error message names
# the field and at most a bounded excerpt of what it held.
MAX_ERROR_MESSAGE_CHARS = 4096
MAX_ERROR_BODY_BYTES = 16 * 1024
# No read may wait longer than this for a byte, and no exchange take longer in all.
READ_TIMEOUT = 5.0
EXCHANGE_DEADLINE = 20.0

# Bodies sent, by dialect, in this process (the `--long` run's figures).
SENT: Counter[str] = Counter()


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


class PropertyFailure(AssertionError):
    pass


def client_for(url: str) -> httpx.Client:
    timeout = httpx.Timeout(READ_TIMEOUT, connect=5.0, write=10.0, pool=5.0)
    # A connection per request: each example stands alone, so that a failure is the
    # example's own and not the previous one's. No environment proxies: the loopback
    # server, and nothing else, is the target.
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.Client(base_url=url, timeout=timeout, limits=limits, trust_env=False)


def exchange(client: httpx.Client, case: Case, dialect: Dialect) -> Answer:
    """Send `case` as raw bytes and read the whole answer (a timeout or an incomplete
    read is a property failure, reported with the case)."""
    SENT[dialect] += 1
    deadline = time.monotonic() + EXCHANGE_DEADLINE
    chunks: list[bytes] = []
    try:
        with client.stream(
            case.method, case.path, content=case.body, headers=dict(case.headers)
        ) as response:
            for chunk in response.iter_raw():
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise PropertyFailure(
                        f"the answer was still coming after {EXCHANGE_DEADLINE} s"
                    )
            return Answer(
                response.status_code, response.headers.get("content-type", ""), b"".join(chunks)
            )
    except httpx.TimeoutException as exc:
        raise PropertyFailure(f"no answer within {READ_TIMEOUT} s ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        got = b"".join(chunks)
        raise PropertyFailure(
            f"the connection failed mid-answer ({type(exc).__name__}: {exc});"
            f" read {len(got)} bytes, ending {got[-300:]!r}"
        ) from exc


def check_health(client: httpx.Client) -> None:
    try:
        response = client.get("/health")
    except httpx.HTTPError as exc:
        raise PropertyFailure(f"/health failed afterwards: {exc!r}") from exc
    if response.status_code != 200:
        raise PropertyFailure(f"/health answered {response.status_code} afterwards")


def check_answer(route: Route, case: Case, answer: Answer) -> None:
    status = answer.status
    if status >= 500:
        raise PropertyFailure(f"a {status}: {_excerpt(answer.body)}")
    if 400 <= status < 500:
        check_error(route.dialect, answer)
        return
    if status != 200:
        raise PropertyFailure(f"an unexpected {status}: {_excerpt(answer.body)}")
    check_success(route, case, answer)


def check_error(dialect: Dialect, answer: Answer) -> None:
    if len(answer.body) > MAX_ERROR_BODY_BYTES:
        raise PropertyFailure(
            f"a {answer.status} error body of {len(answer.body)} bytes: {_excerpt(answer.body)}"
        )
    body = _json(answer.body, f"the {answer.status} error body")
    message = error_message(dialect, body)
    if message is None:
        raise PropertyFailure(
            f"a {answer.status} not in the {dialect} error shape: {_excerpt(answer.body)}"
        )
    if not message.strip():
        raise PropertyFailure(f"a {answer.status} with an empty message: {_excerpt(answer.body)}")
    if len(message) > MAX_ERROR_MESSAGE_CHARS:
        raise PropertyFailure(
            f"a {answer.status} whose message is {len(message)} characters: {message[:300]!r}"
        )


def error_message(dialect: Dialect, body: Any) -> str | None:
    """The message of an error body in `dialect`'s shape, or None if it is not one."""
    if not isinstance(body, dict):
        return None
    if dialect == "ollama":
        message = body.get("error")
        return message if isinstance(message, str) else None
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    message = error.get("message")
    if not isinstance(message, str):
        return None
    if dialect in ("openai", "responses"):
        return message if isinstance(error.get("type"), str) else None
    if dialect == "anthropic":
        well_formed = body.get("type") == "error" and isinstance(error.get("type"), str)
        return message if well_formed else None
    well_formed = isinstance(error.get("code"), int) and isinstance(error.get("status"), str)
    return message if well_formed else None


def check_success(route: Route, case: Case, answer: Answer) -> None:
    kind = answer.content_type.split(";")[0].strip().lower()
    if kind == "text/event-stream":
        check_sse(route, answer.body)
    elif kind == "application/x-ndjson":
        check_ndjson(answer.body)
    elif kind == "application/json":
        body = _json(answer.body, "the 200 body")
        if route.stream == "always" and "alt" not in route.query:
            check_gemini_array(body)
        elif not isinstance(body, dict):
            raise PropertyFailure(f"a 200 whose body is not an object: {_excerpt(answer.body)}")
        elif body.get("error") is not None:
            raise PropertyFailure(f"a 200 carrying an error: {_excerpt(answer.body)}")
    else:
        raise PropertyFailure(f"a 200 of content type {answer.content_type!r}")


def sse_frames(body: bytes) -> list[tuple[str, str]]:
    """The (event name, data) of each frame; comments (keep-alives) left out."""
    text = _text(body, "the stream")
    if text and not text.endswith(("\n\n", "\r\n\r\n")):
        raise PropertyFailure(f"the stream stops mid-frame: {text[-300:]!r}")
    frames: list[tuple[str, str]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].removeprefix(" "))
            elif line and not line.startswith(":"):
                raise PropertyFailure(f"a stream line that is not SSE: {line[:300]!r}")
        if data:
            frames.append((name, "\n".join(data)))
    if not frames:
        raise PropertyFailure("a 200 stream with no frames")
    return frames


def check_sse(route: Route, body: bytes) -> None:
    frames = sse_frames(body)
    dialect = route.dialect
    if dialect == "openai":
        *events, last = frames
        if last[1] != "[DONE]":
            raise PropertyFailure(f"an OpenAI stream not ended by [DONE]: {last[1][:300]!r}")
        for _, data in events:
            _json(data.encode(), "a stream frame")
        return
    payloads = [(name, _json(data.encode(), "a stream frame")) for name, data in frames]
    name, last = payloads[-1]
    if dialect == "responses":
        if name not in ("response.completed", "response.incomplete", "response.failed", "error"):
            raise PropertyFailure(f"a Responses stream ending with {name!r}")
    elif dialect == "anthropic":
        if name not in ("message_stop", "error"):
            raise PropertyFailure(f"an Anthropic stream ending with {name!r}")
    elif dialect == "gemini":
        _check_gemini_last(last)
    else:
        raise PropertyFailure(f"an SSE stream from {dialect}")


def check_gemini_array(body: Any) -> None:
    if not isinstance(body, list) or not body:
        raise PropertyFailure(f"a Gemini stream that is not a JSON array: {_short(body)}")
    _check_gemini_last(body[-1])


def _check_gemini_last(last: Any) -> None:
    if isinstance(last, dict) and isinstance(last.get("error"), dict):
        return
    candidates = last.get("candidates") if isinstance(last, dict) else None
    finished = (
        isinstance(candidates, list)
        and candidates
        and isinstance(candidates[0], dict)
        and candidates[0].get("finishReason")
    )
    if not finished:
        raise PropertyFailure(f"a Gemini stream whose last chunk has no finishReason: {last!r}")


def check_ndjson(body: bytes) -> None:
    text = _text(body, "the stream")
    if not text.endswith("\n"):
        raise PropertyFailure(f"an Ollama stream stopping mid-line: {text[-300:]!r}")
    lines = [_json(line.encode(), "a stream line") for line in text.splitlines() if line]
    if not lines:
        raise PropertyFailure("an Ollama stream with no lines")
    last = lines[-1]
    if not isinstance(last, dict) or not (last.get("done") is True or "error" in last):
        raise PropertyFailure(f"an Ollama stream not ended by done or error: {last!r}")


def _text(body: bytes, what: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PropertyFailure(f"{what} is not UTF-8: {exc}") from None


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(_text(data, what), parse_constant=_not_json)
    except ValueError as exc:
        raise PropertyFailure(f"{what} is not JSON ({exc}): {_excerpt(data)}") from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _excerpt(data: bytes) -> str:
    return repr(data[:500]) + (f" ...({len(data)} bytes)" if len(data) > 500 else "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "..."
