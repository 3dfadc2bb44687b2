"""Qwen through chat.qwen.ai's web API, with the credentials of a logged-in browser session.

There is no API key: the web app's bearer token (`QWEN_AUTH_TOKEN`) and its cookies
(`QWEN_COOKIES`, sent verbatim as a `Cookie` header) stand in for one. Answers are
written into an existing conversation, named by its UUID (`QWEN_CHAT_ID`, the `<id>` in
`https://chat.qwen.ai/c/<id>`; a request's `extensions["qwen-chat-id"]` wins).

The wire format, as public clients of the web API use it (e.g. the Qwen parsers in
router-for-me/CLIProxyAPI's `qwen_executor`, and several `qwen2api` proxies):

- `POST {base}/api/v2/chat/completions?chat_id=<uuid>` with `{model, messages, stream:
  true, incremental_output: true, chat_mode: "normal", chat_id, ...}`, bearer token,
  cookies and browser-like headers (`_BROWSER_HEADERS`).
- The answer is SSE. The first frame is `{"response.created": {chat_id, response_id}}`;
  then `{"choices": [{"delta": {"role", "content", "phase", "status"}}], "usage",
  "response_id"}` frames. `phase` is "think" (reasoning) or "answer"; `status` is
  "typing", and "finished" closes a phase, so the answer is complete when the *answer*
  phase finishes (a finished "think" phase only ends the reasoning). `usage` holds
  running totals (`input_tokens`/`output_tokens`), so only the last one counts.
- Application errors come as `{"success": false, "data": {"code", "details"}}` (often
  with HTTP 200 and a JSON content type instead of a stream) or, mid-stream, as
  `{"error": {"code", "details"}}`. The bot protection answers with an HTML page.

Uncertain, from reading clients rather than a specification:

- The web app itself sends richer messages (`fid`, `parentId`, `chat_type: "t2t"`,
  per-message `feature_config`, `version: "2.1"`, a timestamp) and anti-bot
  fingerprints (`bx-ua`, `bx-umidtoken`) that only a browser can compute; this provider
  sends the plain OpenAI-shaped messages that simpler clients send. If Qwen starts
  answering with validation errors or HTML challenge pages, that is where to look.
- A top-level `feature_config: {thinking_enabled, output_schema: "phase"}` is sent when
  the client asks for reasoning; one client sends it there, others per message.
- Chunks without a `phase` are taken as answer text; `thinking_summary` frames (the
  summarised thinking some models send in `extra.summary_thought.content`) as reasoning.
- `incremental_output: true` asks for deltas. Should Qwen send the text so far instead
  (the non-incremental form), that is noticed on the second chunk (it starts with all
  of the first) and only new suffixes are passed on. An incremental stream whose second
  chunk happens to begin with the whole first chunk would be misread; a snapshot that
  rewrites earlier text cannot take back what was already sent.
- Error codes map onto statuses by name (`RateLimited` is 429, `Unauthorized` 401, ...);
  the list of codes is not published.
- Several generations may interleave (two `response.created` frames with different
  `response_id`s); the first one that carries content is kept, as the web app does.

Qwen's web API has no function calling: tools in a request are dropped (noted in the
debug log), tool results in the history become user text, and there are no embeddings.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import httpx

from chatmock_lab.core import (
    ChatRequest,
    EmbeddingRequest,
    Error,
    Event,
    Finish,
    FinishReason,
    ProxyError,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from chatmock_lab.dialects.openai import build_upstream_request
from chatmock_lab.providers.base import EmbeddingResult, ModelInfo, RequestHint, report_dropped
from chatmock_lab.providers.context import ProviderContext
from chatmock_lab.providers.http import HttpUpstream, JSONStream
from chatmock_lab.redact import redactor

__all__ = [
    "AUTH_TOKEN_VARIABLE",
    "BASE_URL_VARIABLE",
    "CHAT_ID_EXTENSION",
    "CHAT_ID_VARIABLE",
    "COOKIES_VARIABLE",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "MODELS",
    "MODEL_VARIABLE",
    "QwenProvider",
    "create",
]

logger = logging.getLogger(__name__)

AUTH_TOKEN_VARIABLE = "QWEN_AUTH_TOKEN"
COOKIES_VARIABLE = "QWEN_COOKIES"
CHAT_ID_VARIABLE = "QWEN_CHAT_ID"
MODEL_VARIABLE = "QWEN_MODEL"
BASE_URL_VARIABLE = "CHATMOCK_QWEN_BASE_URL"
DEFAULT_BASE_URL = "https://chat.qwen.ai"
# The `ChatRequest.extensions` key naming the conversation for one request.
CHAT_ID_EXTENSION = "qwen-chat-id"
DEFAULT_MODEL = "qwen3-max"
# The web app's model picker; it changes often, so unknown names are passed on as is.
MODELS = (
    "qwen3-max",
    "qwen3-coder-plus",
    "qwen3-vl-plus",
    "qwen-plus",
    "qwen-turbo",
    "qwq-32b",
)

_PATH = "/api/v2/chat/completions"
_CREDENTIALS_HINT = (
    f"set {AUTH_TOKEN_VARIABLE} and {COOKIES_VARIABLE}"
    " (from a logged-in chat.qwen.ai browser session)"
)
_CHAT_ID_HINT = "the <id> in https://chat.qwen.ai/c/<id>"
_COOKIES_HINT = f"refresh {COOKIES_VARIABLE} from a logged-in chat.qwen.ai browser session"

# What the web app sends besides credentials. Without a browser's headers the bot
# protection answers with a challenge page instead of the API. `bx-v` is the version
# of the app's anti-bot script that public clients copy; it drifts over time.
_BROWSER_HEADERS: Mapping[str, str] = {
    "accept": "text/event-stream",
    "accept-language": "en-US,en;q=0.9",
    "source": "web",
    "bx-v": "2.5.31",
    "user-agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"
        " (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
    ),
    "x-accel-buffering": "no",
}

_THINK_PHASES = frozenset({"think", "thinking", "reasoning"})
_SUMMARY_PHASE = "thinking_summary"
_FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
}
# Statuses for the codes of Qwen's `{"success": false, "data": {"code"}}` bodies, compared
# without case or underscores. `RateLimited`, `Bad_Request` and `RequestValidationError`
# appear in captured answers; the others are read by their names.
_STATUS_FOR_CODE: Mapping[str, int] = {
    "badrequest": 400,
    "requestvalidationerror": 400,
    "unauthorized": 401,
    "tokenexpired": 401,
    "notlogin": 401,
    "forbidden": 403,
    "notfound": 404,
    "chatnotfound": 404,
    "ratelimited": 429,
    "toomanyrequests": 429,
}
# Body fields of a Chat Completions request that the web API has no use for.
_UNSUPPORTED_FIELDS = (
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "user",
)
_DETAILS_LIMIT = 500
_HTML_STARTS = ("<!doctype", "<html")


class QwenProvider:
    """chat.qwen.ai's web chat as a provider. Building it reads only the environment;
    missing credentials are reported when a request comes."""

    # Qwen's web chat keeps conversations by id; a client may name one per request.
    request_hints = (
        RequestHint(extension=CHAT_ID_EXTENSION, query="chat_id", header="x-qwen-chat-id"),
    )

    def __init__(self, env: Mapping[str, str], http: HttpUpstream) -> None:
        self.name = "qwen"
        self.base_url = (env.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL).rstrip("/")
        token = (env.get(AUTH_TOKEN_VARIABLE) or "").strip()
        # A token copied from the browser's request headers comes with its scheme.
        self._token = token.removeprefix("Bearer ").strip() or None
        self._cookies = (env.get(COOKIES_VARIABLE) or "").strip() or None
        self._chat_id = (env.get(CHAT_ID_VARIABLE) or "").strip() or None
        self.default_model = (env.get(MODEL_VARIABLE) or "").strip() or DEFAULT_MODEL
        # Masked in every log from now on: the whole cookie string and each value in it.
        # They are the account's credentials (a saved login, like the token store's),
        # so the process's redactor holds them, which every app's consults.
        redactor.add(self._token, self._cookies)
        if self._cookies is not None:
            redactor.add(*(part.partition("=")[2].strip() for part in self._cookies.split(";")))
        self.http = http

    def __repr__(self) -> str:
        # Never the token or the cookies: reprs end up in logs and tracebacks.
        return f"QwenProvider(base_url={self.base_url!r}, model={self.default_model!r})"

    def map_model(self, model: str) -> str:
        return model or self.default_model

    async def aclose(self) -> None:
        await self.http.aclose()

    async def models(self) -> list[ModelInfo]:
        names = list(MODELS)
        if self.default_model not in names:
            names.insert(0, self.default_model)
        return [ModelInfo(id=name, owned_by="qwen") for name in names]

    async def model(self, model_id: str) -> ModelInfo | None:
        for model in await self.models():
            if model.id == model_id:
                return model
        return None

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        raise ProxyError(
            "The qwen provider has no embeddings: chat.qwen.ai's web API only chats",
            kind="invalid_request",
            param="model",
        )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Event, None]:
        headers = self._credentials()
        chat_id = self._chat_id_for(request)
        headers |= {
            "x-request-id": str(uuid.uuid4()),
            "origin": self.base_url,
            "referer": f"{self.base_url}/c/{chat_id}",
        }
        dropped: list[str] = []
        body = self._body(request, chat_id, dropped)
        report_dropped(self.name, request, dropped)
        url = f"{self.base_url}{_PATH}?chat_id={chat_id}"
        response = await self.http.open(
            "POST", url, headers=headers, json_body=body, serving=request
        )
        async for event in self.http.relay(response, self._answer(response)):
            yield event

    async def _answer(self, response: httpx.Response) -> AsyncIterator[Event]:
        content_type = response.headers.get("content-type", "").lower()
        if "json" in content_type:
            # No stream: an application error (or a whole answer) in one piece.
            for event in _QwenStream().whole(json.loads(await response.aread())):
                yield event
        elif "html" in content_type:
            yield Error(_challenge_error(response.status_code))
        else:
            async for event in self._events(response):
                yield event

    def _credentials(self) -> dict[str, str]:
        token, cookies = self._token, self._cookies
        if token is None or cookies is None:
            missing = [
                variable
                for variable, value in ((AUTH_TOKEN_VARIABLE, token), (COOKIES_VARIABLE, cookies))
                if value is None
            ]
            raise ProxyError(
                f"The qwen provider has no {' or '.join(missing)}: {_CREDENTIALS_HINT}",
                kind="authentication",
            )
        return {**_BROWSER_HEADERS, "authorization": f"Bearer {token}", "cookie": cookies}

    def _chat_id_for(self, request: ChatRequest) -> str:
        override = request.extensions.get(CHAT_ID_EXTENSION)
        if override is not None:
            return _uuid(override, f"extensions[{CHAT_ID_EXTENSION!r}]")
        if self._chat_id is None:
            raise ProxyError(
                f"The qwen provider needs a conversation to write into: set"
                f" {CHAT_ID_VARIABLE} to its UUID ({_CHAT_ID_HINT})",
                kind="invalid_request",
                param="chat_id",
            )
        return _uuid(self._chat_id, CHAT_ID_VARIABLE)

    def _body(self, request: ChatRequest, chat_id: str, dropped: list[str]) -> dict[str, Any]:
        upstream, notes = build_upstream_request(request, max_tokens_field="max_tokens")
        dropped.extend(notes)
        body: dict[str, Any] = {
            "model": request.model or self.default_model,
            "messages": _web_messages(upstream["messages"], dropped),
            "stream": True,
            "incremental_output": True,
            "chat_mode": "normal",
            # Qwen rejects a body without it ("Field 'chat_id': Field required").
            "chat_id": chat_id,
        }
        for field in ("temperature", "top_p", "max_tokens"):
            if field in upstream:
                body[field] = upstream[field]
        if request.reasoning is not None:
            body["feature_config"] = {"thinking_enabled": True, "output_schema": "phase"}
        if request.tools:
            dropped.append(
                f"tools: Qwen's web API has no function calling ({len(request.tools)} dropped)"
            )
        dropped.extend(
            f"{field}: Qwen's web API has no such setting"
            for field in _UNSUPPORTED_FIELDS
            if field in upstream
        )
        return body

    def _events(self, response: httpx.Response) -> AsyncIterator[Event]:
        # A bare JSON body where a stream was expected is an application error.
        stream = JSONStream(self.http, response, bare_json_lines=True)
        return stream.events(_QwenStream(), stop_when_finished=True)


class _QwenStream:
    """Qwen's `data:` payloads in, canonical events out; usage and the finish are held
    until the end, since every chunk repeats the running totals."""

    def __init__(self) -> None:
        # Per phase, the text passed on so far (needed to cut cumulative chunks).
        self._seen: dict[str, str] = {}
        # Whether chunks repeat the text so far; None until the second chunk tells.
        self._cumulative: bool | None = None
        self._usage: Usage | None = None
        self._reason: FinishReason | None = None
        self._response_id: str | None = None
        self.failed = False

    @property
    def finished(self) -> bool:
        return self._reason is not None

    @property
    def done(self) -> bool:
        return self.failed

    def feed_frame(self, event: str, payload: Any) -> list[Event]:
        # Qwen names no events; everything is in the payload.
        return self.feed(payload)

    def feed(self, payload: Any) -> list[Event]:
        if not isinstance(payload, dict):
            return []  # keep-alive oddities such as `data: true`
        error = _payload_error(payload)
        if error is not None:
            self.failed = True
            return [Error(error)]
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return []  # `response.created` and other bookkeeping
        choice = choices[0]
        delta = choice.get("delta") or choice.get("message") or {}
        if not isinstance(delta, dict) or not self._owns(payload, delta):
            return []
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._usage = _usage_from(usage)
        events = self._content(delta)
        phase = delta.get("phase")
        reason = choice.get("finish_reason") or delta.get("finish_reason")
        if isinstance(reason, str) and reason and reason != "null":
            self._reason = _FINISH_REASONS.get(reason, "stop")
        elif delta.get("status") == "finished" and phase in (None, "", "answer"):
            self._reason = "stop"
        return events

    def whole(self, payload: Any) -> list[Event]:
        """A JSON body that came instead of a stream: an error, or a whole answer."""
        events = self.feed(payload)
        if self.failed:
            return events
        if not events and not self.finished:
            return [Error(ProxyError("qwen answered without a stream or an answer", status=502))]
        return events + self.close()

    def close(self) -> list[Event]:
        events: list[Event] = [] if self._usage is None else [self._usage]
        return [*events, Finish(reason=self._reason or "stop")]

    def _owns(self, payload: dict[str, Any], delta: dict[str, Any]) -> bool:
        """Whether a frame belongs to the generation being passed on: Qwen sometimes
        runs two at once, interleaved, and the first with content is the one kept."""
        response_id = payload.get("response_id")
        if not isinstance(response_id, str):
            return True
        if self._response_id is None:
            if delta.get("content") or delta.get("extra"):
                self._response_id = response_id
            return True
        return response_id == self._response_id

    def _content(self, delta: dict[str, Any]) -> list[Event]:
        phase = delta.get("phase")
        if phase == _SUMMARY_PHASE:
            # The summary is a list that grows: always the text so far.
            piece = self._take(_SUMMARY_PHASE, _summary_text(delta), cumulative=True)
            return [ReasoningDelta(piece)] if piece else []
        content = delta.get("content")
        if not isinstance(content, str) or not content:
            return []
        if phase in _THINK_PHASES:
            piece = self._take("think", content)
            return [ReasoningDelta(piece)] if piece else []
        piece = self._take("answer", content)
        return [TextDelta(piece)] if piece else []

    def _take(self, phase: str, content: str, *, cumulative: bool | None = None) -> str:
        """The part of a chunk not passed on yet."""
        seen = self._seen.get(phase, "")
        if cumulative is None:
            if self._cumulative is None and seen:
                self._cumulative = len(content) > len(seen) and content.startswith(seen)
            cumulative = self._cumulative
        if cumulative is False:
            return content
        if seen.startswith(content):
            return ""  # a repeated (or older) snapshot
        # What was sent cannot be taken back: only what lies beyond it goes on.
        self._seen[phase] = content
        return content[len(seen) :]


def create(name: str, context: ProviderContext) -> QwenProvider:
    """The registry's factory: a session saved by `chatmock-lab login qwen` fills in what
    the environment lacks."""
    from chatmock_lab.accounts import qwen_environment

    return QwenProvider(
        qwen_environment(context.env),
        context.http_upstream(name, error_parser=_http_error),
    )


def secret_variables(name: str) -> list[str]:
    return [AUTH_TOKEN_VARIABLE, COOKIES_VARIABLE]


def _uuid(value: object, source: str) -> str:
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        # The value itself stays out of the message: it may be a pasted secret.
        raise ProxyError(
            f"{source} must be the UUID of a chat.qwen.ai conversation ({_CHAT_ID_HINT})",
            kind="invalid_request",
            param="chat_id",
        ) from None


def _web_messages(messages: list[dict[str, Any]], dropped: list[str]) -> list[dict[str, Any]]:
    """Chat Completions messages as the web chat takes them: text and images only."""
    result: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "tool":
            dropped.append("a tool result is sent as user text (no function calling)")
            result.append(
                {
                    "role": "user",
                    "content": f"Result of tool call {message['tool_call_id']}:\n"
                    f"{message['content']}",
                }
            )
        elif role == "assistant":
            if message.get("tool_calls"):
                dropped.append("tool calls in an assistant turn (no function calling)")
            result.append({"role": "assistant", "content": message.get("content") or ""})
        else:
            result.append({"role": role, "content": _web_content(message["content"], dropped)})
    return result


def _web_content(content: Any, dropped: list[str]) -> Any:
    if not isinstance(content, list):
        return content
    kept = [part for part in content if part.get("type") in ("text", "image_url")]
    if len(kept) < len(content):
        dropped.append("files and documents (the web chat takes text and images)")
    if len(kept) == 1 and kept[0]["type"] == "text":
        return kept[0]["text"]
    return kept


def _summary_text(delta: dict[str, Any]) -> str:
    extra = delta.get("extra")
    thought = extra.get("summary_thought") if isinstance(extra, dict) else None
    parts = thought.get("content") if isinstance(thought, dict) else None
    if not isinstance(parts, list):
        return ""
    return "\n".join(part for part in parts if isinstance(part, str))


def _usage_from(raw: dict[str, Any]) -> Usage:
    def number(*names: str, source: Any = raw) -> int:
        if not isinstance(source, dict):
            return 0
        for name in names:
            value = source.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return int(value)
        return 0

    input_details = raw.get("prompt_tokens_details") or raw.get("input_tokens_details")
    output_details = raw.get("completion_tokens_details") or raw.get("output_tokens_details")
    return Usage(
        input_tokens=number("input_tokens", "prompt_tokens"),
        output_tokens=number("output_tokens", "completion_tokens"),
        cached_tokens=number("cached_tokens", source=input_details),
        reasoning_tokens=number("reasoning_tokens", source=output_details),
    )


def _code_and_details(raw: Any) -> tuple[str | None, str | None]:
    if isinstance(raw, str):
        return None, raw
    if not isinstance(raw, dict):
        return None, None
    code = raw.get("code")
    details = raw.get("details") or raw.get("message") or raw.get("detail")
    if details is not None and not isinstance(details, str):
        details = json.dumps(details, ensure_ascii=False)
    return (str(code) if code else None), details


def _error_from(
    code: str | None, details: str | None, *, http_status: int | None = None
) -> ProxyError:
    """An error Qwen reported; without an HTTP status (an error inside a 200 answer) the
    status is the one its code means."""
    status = http_status
    if status is None:
        status = _STATUS_FOR_CODE.get((code or "").replace("_", "").lower(), 502)
    label = f" ({code})" if code else ""
    # Masked here, not only when rendered: the message is logged on its way to the client,
    # and an upstream may echo the cookies it was sent.
    text = redactor.text((details or "no details").strip()[:_DETAILS_LIMIT])
    prefix = "Qwen error" if http_status is None else f"Qwen answered {http_status}"
    message = f"{prefix}{label}: {text}"
    if status == 401:
        message += f" ({_CREDENTIALS_HINT} again: the session may have expired)"
    return ProxyError(message, status=status, code=code)


def _payload_error(payload: dict[str, Any]) -> ProxyError | None:
    """The error a stream payload or a JSON body reports, if it is one."""
    if payload.get("error"):
        return _error_from(*_code_and_details(payload["error"]))
    if payload.get("success") is False:
        return _error_from(*_code_and_details(payload.get("data")))
    ret = payload.get("ret")
    if isinstance(ret, list) and any("FAIL_SYS_USER_VALIDATE" in str(item) for item in ret):
        return ProxyError(
            f"Qwen's bot protection stopped the stream: {_COOKIES_HINT}", kind="authentication"
        )
    return None


def _challenge_error(status: int) -> ProxyError:
    answered = "Qwen answered" if status < 400 else f"Qwen answered {status}"
    return ProxyError(
        f"{answered} with a web page instead of the API (its bot protection): {_COOKIES_HINT}",
        kind="authentication" if status < 400 else None,
        status=None if status < 400 else status,
    )


def _http_error(payload: Any, status: int) -> ProxyError:
    """An HTTP error answer from chat.qwen.ai (`HttpUpstream.error_parser`)."""
    if isinstance(payload, dict):
        if payload.get("error"):
            code, details = _code_and_details(payload["error"])
        elif isinstance(payload.get("data"), dict):
            code, details = _code_and_details(payload["data"])
        else:
            code, details = _code_and_details(payload)
        return _error_from(code, details, http_status=status)
    text = payload.strip() if isinstance(payload, str) else ""
    if text[:15].lower().startswith(_HTML_STARTS):
        return _challenge_error(status)
    return _error_from(None, text or None, http_status=status)
