"""Talking to an upstream over httpx: retries, timeouts, upstream errors, masked logs.

Every provider that calls a real upstream goes through `HttpUpstream`, so retries on
429/5xx and connection errors (before anything reached the client), the connect and
first-byte timeouts, and verbose logging with secrets masked behave the same for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from chatmock_lab import json_codec
from chatmock_lab.cassettes.transport import PROVIDER_EXTENSION
from chatmock_lab.chaos import (
    CHAOS_APPLIED,
    CHAOS_EXTENSION,
    ChaosPlan,
    ChaosRule,
    parse_rules,
    retry_budget,
)
from chatmock_lab.core import ChatRequest, Error, Event, ProxyError
from chatmock_lab.dialects.openai import upstream_error
from chatmock_lab.limits import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after
from chatmock_lab.network import network_transport
from chatmock_lab.redact import Redactor, app_redactor
from chatmock_lab.sse import SSEDecoder, SSEEvent
from chatmock_lab.taps import TAP_EXTENSION

logger = logging.getLogger("chatmock_lab.upstream")

# Verbose logs show at most this much of one body.
_LOG_BODY_LIMIT = 64 * 1024
# Seconds to send a request body to an upstream.
_WRITE_TIMEOUT = 60.0
# Parsed URLs and prepared header sets kept per upstream (a base URL and its few paths,
# a key or two; more is a changing query or token).
_CACHED_URLS = 256
# What an httpx client sends unless told otherwise; the providers' headers win.
_DEFAULT_HEADERS = {
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "connection": "keep-alive",
    "user-agent": f"python-httpx/{httpx.__version__}",
}


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    # Until the upstream starts answering. After that there is deliberately no idle
    # timeout: some upstreams stay silent for a minute while preparing a tool call.
    first_byte: float = 300.0


# Where `open` leaves the deadline for the first line of the body: one first-byte
# budget covers the headers and the first line together.
_FIRST_BYTE_DEADLINE = "chatmock_lab.first_byte_deadline"


def _loggable(body: Any, redactor: Redactor) -> str:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    if len(text) > _LOG_BODY_LIMIT:
        text = text[:_LOG_BODY_LIMIT] + f"... ({len(text)} characters)"
    return redactor.text(text)


DONE = "[DONE]"


# What an upstream's failures become, worded once: the mock's chaos says the same.
def malformed_line_error(upstream: str, data: str) -> ProxyError:
    return ProxyError(f"{upstream} sent a malformed stream line: {data[:80]!r}", status=502)


def unfinished_error(upstream: str) -> ProxyError:
    return ProxyError(f"{upstream} ended the stream before finishing", status=502)


def retry_policy_under(policy: RetryPolicy, rules: Sequence[ChaosRule]) -> RetryPolicy:
    """`policy` with the retry budget of the chaos rules that made a failure (`retries=`),
    if any of them sets one."""
    budget = retry_budget(rules)
    return policy if budget is None else dataclasses.replace(policy, max_retries=budget)


def broke_off_error(upstream: str, elapsed: float, what: str) -> ProxyError:
    return ProxyError(f"{upstream} broke off the stream after {elapsed:.1f} s: {what}", status=502)


async def _lines_of(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The lines of a body, without their ends (`\n`, `\r\n` or `\r`, as SSE allows),
    decoded as UTF-8. What httpx's `aiter_lines` does, in one generator over bytes
    instead of three over text: every line of every stream passes here."""
    pending = b""
    async for chunk in chunks:
        buffer = pending + chunk if pending else chunk
        if not buffer:
            continue
        lines = buffer.splitlines(keepends=True)
        # An unfinished last line waits for the rest, and so does one ending in `\r`,
        # whose `\n` may come in the next chunk.
        pending = b"" if lines[-1].endswith(b"\n") else lines.pop()
        for line in lines:
            end = 2 if line.endswith(b"\r\n") else 1
            yield line[:-end].decode(errors="replace")
    if pending:
        end = 1 if pending.endswith(b"\r") else 0
        yield pending[: len(pending) - end].decode(errors="replace")


class JSONStream:
    """The JSON payloads of an upstream's SSE body, as `(event name, payload)`.

    `data: [DONE]` ends it (`said_done` tells); a frame that is not JSON raises
    `ProxyError`. `finish()` reads what is left of the body, so httpx can keep the
    connection. With `bare_json_lines`, a JSON object on a line of its own outside any
    frame counts as a frame (some upstreams answer an error that way)."""

    def __init__(
        self, upstream: HttpUpstream, response: httpx.Response, *, bare_json_lines: bool = False
    ) -> None:
        self._upstream = upstream
        self._lines = upstream.lines(response)
        self._bare_json_lines = bare_json_lines
        self._finished = False
        self.said_done = False

    def _decoded(self, data: str) -> Any:
        try:
            return json_codec.loads(data)
        except ValueError:
            raise malformed_line_error(self._upstream.name, data) from None

    async def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        decoder = SSEDecoder()
        async for line in self._lines:
            if self._bare_json_lines and line.startswith("{"):
                frame: SSEEvent | None = SSEEvent(event="message", data=line)
            else:
                frame = decoder.feed_line(line)
            if frame is None:
                continue
            if frame.data.strip() == DONE:
                self.said_done = True
                await self.finish()
                return
            yield frame.event, self._decoded(frame.data)
        frame = decoder.flush()
        if frame is not None and frame.data.strip() != DONE:
            yield frame.event, self._decoded(frame.data)

    async def finish(self) -> None:
        if not self._finished:
            self._finished = True
            await self._upstream.drain(self._lines)

    async def events(
        self,
        parser: StreamParser,
        *,
        must_finish: bool = True,
        stop_when_finished: bool = False,
    ) -> AsyncIterator[Event]:
        """The canonical events `parser` makes of this stream: the one loop every
        streaming provider runs. A parser that is `done` (an error, a terminal event)
        ends it; with `stop_when_finished`, so does the upstream's finish. With
        `must_finish`, a body that ends cleanly without a finish or `[DONE]` is an
        error (the answer may be cut short); without it, `parser.close()` judges."""
        async for name, payload in self:
            for event in parser.feed_frame(name, payload):
                yield event
            if parser.done:
                await self.finish()
                return
            if stop_when_finished and parser.finished:
                break
        if must_finish and not (parser.finished or self.said_done):
            yield Error(unfinished_error(self._upstream.name))
            return
        for event in parser.close():
            yield event
        # Reading to the end of the body lets httpx keep the connection alive.
        await self.finish()


class StreamParser(Protocol):
    """An upstream's stream payloads in, canonical events out: a pure state machine
    (each upstream's lives with its dialect, `UpstreamChatStream`, ...), driven by
    `JSONStream.events`."""

    @property
    def done(self) -> bool:
        """Nothing more to read: everything has been said (an error, a terminal event)."""
        ...

    @property
    def finished(self) -> bool:
        """The upstream said how the answer ended."""
        ...

    def feed_frame(self, event: str, payload: Any) -> list[Event]:
        """One SSE frame: its event name and its decoded JSON payload."""
        ...

    def close(self) -> list[Event]:
        """The body ended: the events that end the answer."""
        ...


class HttpUpstream:
    """One upstream's HTTP client, created lazily on the loop that serves requests."""

    def __init__(
        self,
        name: str,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        error_parser: Callable[[Any, int], ProxyError] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.name = name
        # Where requests really go: the network, or a cassette that records or replays.
        self._given = transport
        self._transport = transport
        self._urls: dict[str, httpx.URL] = {}
        self._headers: dict[tuple[object, ...], httpx.Headers] = {}
        # How this upstream's error bodies read (OpenAI's envelope, Codex's `detail`, ...).
        self.error_parser = error_parser or upstream_error
        self.redactor = redactor or app_redactor()
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        # httpx's per-request timeouts, the same for every call: no read timeout after
        # the first byte (`lines` times that), no wait for a pooled connection.
        self._timeout_extension = {
            "connect": self.timeouts.connect,
            "read": None,
            "write": _WRITE_TIMEOUT,
            "pool": None,
        }

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """Where requests go: the one given (taps over the cassette deck, in a server),
        else a network pool of this upstream's own, made on first use."""
        if self._transport is None:
            self._transport = network_transport()
        return self._transport

    def _url(self, url: str) -> httpx.URL:
        # Parsing a URL is a tenth of what httpx costs per request; providers call the
        # same few (a base URL and a path) over and over.
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _CACHED_URLS:
                self._urls.clear()
            parsed = self._urls[url] = httpx.URL(url)
        return parsed

    def _prepared_headers(self, headers: Mapping[str, str], *, has_body: bool) -> httpx.Headers:
        # Normalising headers is a fifth of building an `httpx.Request`, and a provider
        # sends the same few sets over and over (its key, streamed or not); httpx copies
        # them into each request, so one prepared set serves them all.
        key = (has_body, *headers.items())
        prepared = self._headers.get(key)
        if prepared is None:
            if len(self._headers) >= _CACHED_URLS:
                self._headers.clear()
            merged = {**_DEFAULT_HEADERS, **headers}
            if has_body:
                merged["content-type"] = "application/json"
            prepared = self._headers[key] = httpx.Headers(merged)
        return prepared

    async def aclose(self) -> None:
        # Closes the transport, given or made, as an httpx client closing would (a
        # server's shared deck takes this as a no-op; a cassette writes itself out).
        # A given one stays this upstream's: a call after this must never find its way
        # to the network around a cassette.
        transport, self._transport = self._transport, self._given
        if transport is not None:
            await transport.aclose()

    async def open(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        serving: ChatRequest | None = None,
    ) -> httpx.Response:
        """A response with a status below 400 whose body is not read yet (the caller
        closes it). Retryable failures are retried; the rest raise `ProxyError`.
        What the canonical request this call is `serving` carries beside what was asked
        travels to the transport: its trace (someone watching) and its chaos."""
        extensions: dict[str, Any] = {PROVIDER_EXTENSION: self.name}
        if serving is not None:
            if serving.trace is not None:
                extensions[TAP_EXTENSION] = serving.trace
            if isinstance(serving.chaos, ChaosPlan):
                extensions[CHAOS_EXTENSION] = serving.chaos
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "-> %s %s %s headers=%s body=%s",
                self.name,
                method,
                url,
                self.redactor.headers(headers),
                _loggable(json_body, self.redactor) if json_body is not None else "-",
            )
        extensions["timeout"] = self._timeout_extension
        all_headers = self._prepared_headers(headers, has_body=json_body is not None)
        content = b"" if json_body is None else json_codec.dumps_bytes(json_body)
        target = self._url(url)
        transport = self.transport
        attempt = 0
        while True:
            attempt += 1
            # Straight to the transport (the seam taps and cassettes sit at): an
            # AsyncClient's redirects, auth, cookie jar and hooks are nothing a proxy
            # wants, and cost as much as the rest of the upstream call.
            request = httpx.Request(
                method, target, headers=all_headers, content=content, extensions=extensions
            )
            deadline = time.monotonic() + self.timeouts.first_byte
            try:
                # A deadline on this task, not `wait_for`'s new task per request.
                async with asyncio.timeout(self.timeouts.first_byte):
                    response = await transport.handle_async_request(request)
            except TimeoutError:
                raise ProxyError(
                    f"{self.name} did not answer within {self.timeouts.first_byte:g} s"
                    " (--first-byte-timeout)",
                    kind="timeout",
                    status=504,
                ) from None
            except httpx.TransportError as exc:
                delay = self.retry.delay(attempt)
                if delay is None:
                    raise ProxyError(
                        f"Cannot reach {self.name} at {request.url.host}:"
                        f" {type(exc).__name__} {exc}".rstrip(),
                        kind="api_error",
                        status=502,
                    ) from None
                logger.info(
                    "%s: %s, retry %d in %.2f s", self.name, type(exc).__name__, attempt, delay
                )
                await asyncio.sleep(delay)
                continue
            if response.status_code < 400:
                logger.debug("<- %s %s", self.name, response.status_code)
                response.extensions[_FIRST_BYTE_DEADLINE] = deadline
                return response
            raw = await response.aread()
            await response.aclose()
            try:
                payload: Any = json_codec.loads(raw)
            except ValueError:
                payload = raw.decode(errors="replace")
            error = self.error_parser(payload, response.status_code)
            header = parse_retry_after(response.headers.get("retry-after"))
            if header is not None:
                # The header wins; without one, keep what the body said (a quota's reset time).
                error.retry_after = header
            logger.debug(
                "<- %s %s %s", self.name, response.status_code, _loggable(payload, self.redactor)
            )
            if response.status_code in RETRYABLE_STATUSES:
                # The rules that made this answer (now, or when a cassette recorded
                # it) may set the proxy's budget, so the client's retry logic meets it.
                applied = response.extensions.get(CHAOS_APPLIED)
                policy = retry_policy_under(self.retry, parse_rules(applied) if applied else ())
                delay = policy.delay(attempt, error.retry_after)
                if delay is not None:
                    logger.info(
                        "%s answered %d, retry %d in %.2f s",
                        self.name,
                        response.status_code,
                        attempt,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
            raise error

    async def read_json(self, response: httpx.Response) -> Any:
        """A whole JSON answer from an open response, which is then closed."""
        try:
            return json_codec.loads(await response.aread())
        except ValueError:
            raise ProxyError(
                f"{self.name} answered with something that is not JSON", status=502
            ) from None
        except httpx.TransportError as exc:
            raise ProxyError(f"{self.name} broke off its answer: {exc}", status=502) from None
        finally:
            await response.aclose()

    async def request_json(
        self, method: str, url: str, *, headers: Mapping[str, str], json_body: Any = None
    ) -> Any:
        return await self.read_json(
            await self.open(method, url, headers=headers, json_body=json_body)
        )

    async def relay(
        self, response: httpx.Response, events: AsyncIterator[Event]
    ) -> AsyncIterator[Event]:
        """Events read from an open response. A lost connection or a body that is not JSON
        becomes an `Error` event (the client gets its dialect's mid-stream error), and the
        response is always closed: on the end, on an error, and when the client leaves."""
        started = time.monotonic()
        try:
            async for event in events:
                yield event
        except httpx.TransportError as exc:
            yield Error(broke_off_error(self.name, time.monotonic() - started, type(exc).__name__))
        except ValueError:
            yield Error(
                ProxyError(f"{self.name} answered with something that is not JSON", status=502)
            )
        finally:
            await response.aclose()

    async def drain(self, lines: AsyncIterator[str], timeout: float = 1.0) -> None:
        """Read what is left of a body after its end marker (an upstream that keeps
        talking after that is cut off after `timeout`)."""

        with contextlib.suppress(TimeoutError, httpx.TransportError):
            # A deadline on this task: no task of its own per stream, as `wait_for` made.
            async with asyncio.timeout(timeout):
                async for _ in lines:
                    pass

    async def lines(self, response: httpx.Response) -> AsyncIterator[str]:
        """The response's lines; the first must come within the first-byte timeout (what is
        left of it after the headers), later ones may take as long as they take. Logged
        (masked) in verbose mode."""
        iterator = _lines_of(response.aiter_bytes())
        deadline = response.extensions.get(_FIRST_BYTE_DEADLINE)
        budget = self.timeouts.first_byte
        if deadline is not None:
            budget = max(0.0, deadline - time.monotonic())
        try:
            async with asyncio.timeout(budget):
                first = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ProxyError(
                f"{self.name} sent no data within {self.timeouts.first_byte:g} s"
                " (--first-byte-timeout)",
                kind="timeout",
                status=504,
            ) from None
        debug = logger.isEnabledFor(logging.DEBUG)
        if debug:
            logger.debug("<- %s | %s", self.name, self.redactor.text(first))
        yield first
        async for line in iterator:
            if debug and line:
                logger.debug("<- %s | %s", self.name, self.redactor.text(line))
            yield line
