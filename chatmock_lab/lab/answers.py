"""What a dialect's response says, read back from its bytes: text, tool calls, thinking,
finish reason and usage, the same shape for every dialect so they can be compared.

Pure: bytes in, an `Answer` out. Streams are folded from their SSE payloads (Ollama's
from its NDJSON lines); whole responses are read from their JSON. Finish reasons are
mapped to the canonical ones (`stop`, `length`, `tool_calls`, `content_filter`) and the
dialect's own word is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chatmock_lab.sse import SSEDecoder

_OPENAI_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
_ANTHROPIC_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_GEMINI_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter"}
_OLLAMA_FINISH = {"stop": "stop", "length": "length"}
_RESPONSES_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


@dataclass
class ToolCall:
    name: str
    arguments: Any  # the parsed JSON value, or the raw text when it is not JSON


@dataclass
class Answer:
    text: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None  # canonical
    native_finish_reason: str | None = None  # the dialect's own word
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None

    def comparable(self) -> dict[str, Any]:
        """The fields that should agree across dialects for one conversation."""
        return {
            "text": self.text,
            "thinking": self.thinking,
            "tool calls": [(c.name, c.arguments) for c in self.tool_calls],
            "finish reason": self.finish_reason,
            "input tokens": self.input_tokens,
            "output tokens": self.output_tokens,
            "error": self.error,
        }


def read_answer(dialect: str, status: int, body: bytes, *, streamed: bool) -> Answer:
    """The answer in a response of `dialect` (a name in the dialect registry)."""
    text = body.decode("utf-8", errors="replace")
    if status >= 400:
        return Answer(error=f"HTTP {status}: {error_line(text)}")
    if dialect == "ollama":
        payloads = [_json(line) for line in text.splitlines() if line.strip()]
    else:
        payloads = _sse_payloads(text) if streamed else [_json(text)]
    fold = _FOLDS[dialect]
    answer = Answer()
    for payload in payloads:
        if isinstance(payload, dict):
            fold(answer, payload)
    # Streamed arguments arrive as text fragments: parsed once joined.
    for call in answer.tool_calls:
        call.arguments = _arguments(call.arguments)
    return answer


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _sse_payloads(text: str) -> list[Any]:
    decoder = SSEDecoder()
    frames = [decoder.feed_line(line) for line in text.splitlines()]
    frames.append(decoder.flush())
    return [_json(f.data) for f in frames if f is not None and f.data.strip() != "[DONE]"]


def error_line(text: str) -> str:
    """The first line of an error answer's message, in any of the three dialects."""
    payload = _json(text)
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"].splitlines()[0]
        if isinstance(error, str) and error:  # Ollama's `{"error": "..."}`
            return error.splitlines()[0]
    return text.strip().splitlines()[0][:200] if text.strip() else "(empty body)"


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return raw
    return raw


def _fold_openai(answer: Answer, payload: dict[str, Any]) -> None:
    if isinstance(payload.get("error"), dict):
        answer.error = str(payload["error"].get("message"))
    usage = payload.get("usage")
    if isinstance(usage, dict):
        answer.input_tokens = usage.get("prompt_tokens")
        answer.output_tokens = usage.get("completion_tokens")
    for choice in payload.get("choices") or []:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        part = choice.get("delta") or choice.get("message") or {}
        answer.text += part.get("content") or ""
        answer.thinking += part.get("reasoning_content") or part.get("reasoning") or ""
        for call in part.get("tool_calls") or []:
            _fold_openai_call(answer, call, streamed="delta" in choice)
        if choice.get("finish_reason"):
            answer.native_finish_reason = choice["finish_reason"]
            answer.finish_reason = _OPENAI_FINISH.get(choice["finish_reason"], "stop")


def _fold_openai_call(answer: Answer, call: dict[str, Any], *, streamed: bool) -> None:
    function = call.get("function") or {}
    if not streamed:
        answer.tool_calls.append(ToolCall(function.get("name", ""), function.get("arguments")))
        return
    index = call.get("index", 0)
    while len(answer.tool_calls) <= index:
        answer.tool_calls.append(ToolCall("", ""))
    entry = answer.tool_calls[index]
    entry.name += function.get("name") or ""
    entry.arguments += function.get("arguments") or ""


def _fold_anthropic(answer: Answer, payload: dict[str, Any]) -> None:
    kind = payload.get("type")
    if kind == "error":
        answer.error = str((payload.get("error") or {}).get("message"))
    elif kind == "message":  # a whole response
        for block in payload.get("content") or []:
            _anthropic_block(answer, block)
        _anthropic_finish(answer, payload.get("stop_reason"))
        _anthropic_usage(answer, payload.get("usage"))
    elif kind == "message_start":
        _anthropic_usage(answer, (payload.get("message") or {}).get("usage"))
    elif kind == "content_block_start":
        block = dict(payload.get("content_block") or {})
        if block.get("type") == "tool_use":
            block["input"] = ""  # the input arrives as JSON fragments
        _anthropic_block(answer, block)
    elif kind == "content_block_delta":
        delta = payload.get("delta") or {}
        answer.text += delta.get("text") or ""
        answer.thinking += delta.get("thinking") or ""
        if delta.get("type") == "input_json_delta" and answer.tool_calls:
            answer.tool_calls[-1].arguments += delta.get("partial_json") or ""
    elif kind == "message_delta":
        _anthropic_finish(answer, (payload.get("delta") or {}).get("stop_reason"))
        _anthropic_usage(answer, payload.get("usage"))


def _anthropic_block(answer: Answer, block: dict[str, Any]) -> None:
    kind = block.get("type")
    if kind == "text":
        answer.text += block.get("text") or ""
    elif kind == "thinking":
        answer.thinking += block.get("thinking") or ""
    elif kind == "tool_use":
        answer.tool_calls.append(ToolCall(block.get("name", ""), block.get("input")))


def _anthropic_finish(answer: Answer, reason: Any) -> None:
    if isinstance(reason, str):
        answer.native_finish_reason = reason
        answer.finish_reason = _ANTHROPIC_FINISH.get(reason, "stop")


def _anthropic_usage(answer: Answer, usage: Any) -> None:
    if isinstance(usage, dict):
        if usage.get("input_tokens"):
            answer.input_tokens = usage["input_tokens"]
        if "output_tokens" in usage:
            answer.output_tokens = usage["output_tokens"]


def _fold_gemini(answer: Answer, payload: dict[str, Any]) -> None:
    if isinstance(payload.get("error"), dict):
        answer.error = str(payload["error"].get("message"))
    for candidate in payload.get("candidates") or []:
        if not isinstance(candidate, dict) or candidate.get("index", 0) != 0:
            continue
        for part in (candidate.get("content") or {}).get("parts") or []:
            if "functionCall" in part:
                call = part["functionCall"]
                answer.tool_calls.append(ToolCall(call.get("name", ""), call.get("args", {})))
            elif part.get("thought"):
                answer.thinking += part.get("text") or ""
            else:
                answer.text += part.get("text") or ""
        reason = candidate.get("finishReason")
        if isinstance(reason, str):
            answer.native_finish_reason = reason
            answer.finish_reason = _GEMINI_FINISH.get(reason, "stop")
    usage = payload.get("usageMetadata")
    if isinstance(usage, dict):
        answer.input_tokens = usage.get("promptTokenCount")
        answer.output_tokens = usage.get("candidatesTokenCount")
    # Gemini has no finish reason of its own for a call: STOP with a call means tools.
    if answer.tool_calls and answer.finish_reason == "stop":
        answer.finish_reason = "tool_calls"


def _fold_ollama(answer: Answer, payload: dict[str, Any]) -> None:
    """One NDJSON line (or the whole answer) of `/api/chat` or `/api/generate`."""
    if isinstance(payload.get("error"), str):
        answer.error = payload["error"]
        return
    raw_message = payload.get("message")
    message: dict[str, Any] = raw_message if isinstance(raw_message, dict) else {}
    answer.text += message.get("content") or payload.get("response") or ""
    answer.thinking += message.get("thinking") or payload.get("thinking") or ""
    for call in message.get("tool_calls") or []:
        function = (call.get("function") or {}) if isinstance(call, dict) else {}
        answer.tool_calls.append(ToolCall(function.get("name", ""), function.get("arguments")))
    if payload.get("done"):
        reason = payload.get("done_reason") or "stop"
        answer.native_finish_reason = reason
        answer.finish_reason = (
            "tool_calls" if answer.tool_calls else _OLLAMA_FINISH.get(reason, "stop")
        )
        answer.input_tokens = payload.get("prompt_eval_count")
        answer.output_tokens = payload.get("eval_count")


def _fold_responses(answer: Answer, payload: dict[str, Any]) -> None:
    """A Responses stream event, or a whole `response` object: the answer is read from
    the final response (`response.completed` / `.incomplete` / `.failed` carry it)."""
    kind = payload.get("type")
    if kind == "error":
        answer.error = str(payload.get("message") or payload.get("error"))
        return
    response = payload.get("response") if isinstance(kind, str) else payload
    if not isinstance(response, dict) or response.get("status") in (None, "in_progress"):
        return
    if isinstance(response.get("error"), dict):
        answer.error = str(response["error"].get("message"))
    for item in response.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    answer.text += part.get("text") or ""
        elif item.get("type") == "reasoning":
            for part in item.get("summary") or []:
                if isinstance(part, dict):
                    answer.thinking += part.get("text") or ""
        elif item.get("type") == "function_call":
            answer.tool_calls.append(ToolCall(item.get("name", ""), item.get("arguments")))
    usage = response.get("usage")
    if isinstance(usage, dict):
        answer.input_tokens = usage.get("input_tokens")
        answer.output_tokens = usage.get("output_tokens")
    status = response.get("status")
    answer.native_finish_reason = status
    if status == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        answer.finish_reason = _RESPONSES_INCOMPLETE.get(str(reason), "length")
    elif status == "completed":
        answer.finish_reason = "tool_calls" if answer.tool_calls else "stop"


_FOLDS = {
    "openai": _fold_openai,
    "anthropic": _fold_anthropic,
    "gemini": _fold_gemini,
    "ollama": _fold_ollama,
    "responses": _fold_responses,
}
