"""The Gemini `streamGenerateContent` stream checker: `GenerateContentResponse` chunks,
read as SSE (`alt=sse`) or as the JSON array the endpoint sends without it, told apart
by the first byte (`[`) and parsed incrementally (see `framing`).

Event types (`ChunkInfo.event_type`), beside `keep-alive`, `malformed` and `error`:
`candidate/<part kind>` for the first part of a chunk (`text`, `thought`,
`functionCall`, `inlineData`...), `candidate/empty` (a candidate without parts),
`finish` (a candidate with its `finishReason`; wins over parts in the same chunk),
`usage` (only `usageMetadata`), `prompt-feedback` (a blocked prompt), `chunk` (none of
these). `block_index` is the index of that part within the chunk's parts. A candidate's
`logprobsResult` and `avgLogprobs`, when present, must have the shapes google-genai
reads; text with `finishReason: "SAFETY"` (a refusal) is a valid ending.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from chatmock_lab.sse import SSEEvent
from chatmock_lab.stream_checks.base import (
    ChunkInfo,
    Shown,
    StreamChecker,
    as_index,
    as_list,
    as_object,
    error_summary,
    note_finish,
    parse_object,
)
from chatmock_lab.stream_checks.framing import (
    AutoReader,
    JSONArrayReader,
    Reader,
    SSEReader,
)
from chatmock_lab.stream_checks.text import clip, quote

_PART_KINDS = (
    "functionCall",
    "functionResponse",
    "inlineData",
    "fileData",
    "executableCode",
    "codeExecutionResult",
)
_READERS: dict[str, Callable[[], Reader]] = {
    "auto": AutoReader,
    "sse": SSEReader,
    "json-array": JSONArrayReader,
}


class GeminiStreamChecker(StreamChecker):
    """streamGenerateContent chunks, as SSE (`alt=sse`) or as one JSON array.

    `framing="auto"` tells them apart by the first byte; name one to check that the
    stream uses it."""

    def __init__(self, *, framing: Literal["auto", "sse", "json-array"] = "auto") -> None:
        super().__init__(reader=_READERS[framing]())
        self._chunks = 0
        self._errored = False
        self._blocked = False
        self._last_had_usage = False
        self._response_id: str | None = None
        self._candidates: set[int] = set()
        self._finished: dict[int, str] = {}

    def _event(self, event: SSEEvent) -> ChunkInfo:
        payload, problem = parse_object(event.data)
        if payload is None:
            return ChunkInfo("malformed", None, clip(event.data), [str(problem)])
        violations: list[str] = []
        if self._errored:
            violations.append("a chunk after the error object (an error ends the stream)")
        if payload.get("error"):
            self._errored = True
            return ChunkInfo("error", None, error_summary(payload["error"]), violations)
        self._chunks += 1
        self._last_had_usage = isinstance(payload.get("usageMetadata"), dict)
        self._check_response_id(payload, violations)
        candidates = as_list(payload.get("candidates"))
        for candidate in candidates:
            if isinstance(candidate, dict):
                self._candidate(candidate, violations)
            else:
                violations.append("a candidate that is not an object")
        feedback = payload.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            # A blocked prompt ends the stream without candidates, finish or usage.
            self._blocked = True
        kind, index, summary = _describe_gemini(payload, candidates)
        return ChunkInfo(kind, index, summary, violations)

    def _check_response_id(self, payload: dict[str, Any], violations: list[str]) -> None:
        response_id = payload.get("responseId")
        if not isinstance(response_id, str):
            return  # optional in Gemini's schema
        if self._response_id is None:
            self._response_id = response_id
        elif response_id != self._response_id:
            violations.append(
                f"responseId {response_id!r} differs from the stream's {self._response_id!r}"
            )

    def _candidate(self, candidate: dict[str, Any], violations: list[str]) -> None:
        index = as_index(candidate.get("index", 0))
        if index is None:
            violations.append("a candidate whose index is not an integer")
            index = 0
        self._candidates.add(index)
        if "logprobsResult" in candidate or "avgLogprobs" in candidate:
            _check_logprobs(index, candidate, violations)
        reason = candidate.get("finishReason")
        note_finish(
            self._finished,
            index,
            "candidate",
            "finishReason",
            reason,
            has_content=bool(_parts(candidate)),
            what="parts",
            violations=violations,
        )

    def _end_violations(self) -> list[str]:
        if self._errored or self._blocked:
            return []
        if not self._chunks:
            return ["the stream ended without any chunk"]
        if not self._finished:
            problems = ["the stream ended without a finishReason"]
        else:
            unfinished = sorted(self._candidates - set(self._finished))
            problems = [f"candidate {i} ended without a finishReason" for i in unfinished]
        if not self._last_had_usage:
            problems.append(
                "the last chunk carries no usageMetadata (Gemini reports usage on the final chunk)"
            )
        return problems


def _check_logprobs(index: int, candidate: dict[str, Any], violations: list[str]) -> None:
    """`avgLogprobs` a number; `logprobsResult.chosenCandidates` one `{token,
    logProbability}` per decoding step, and `topCandidates`, when present, one
    `{candidates: [...]}` per step as well."""
    average = candidate.get("avgLogprobs")
    if average is not None and not _is_number(average):
        violations.append(f"candidate {index}: avgLogprobs is not a number")
    result = candidate.get("logprobsResult")
    if result is None:
        return
    if not isinstance(result, dict):
        violations.append(f"candidate {index}: logprobsResult is not an object")
        return
    chosen = result.get("chosenCandidates")
    if not isinstance(chosen, list):
        violations.append(f"candidate {index}: logprobsResult has no chosenCandidates list")
        return
    if not all(_is_token_logprob(entry) for entry in chosen):
        violations.append(
            f"candidate {index}: a chosenCandidates entry without a string token"
            " and a numeric logProbability"
        )
    top = result.get("topCandidates")
    if top is None:
        return
    steps = as_list(top)
    if not isinstance(top, list) or len(steps) != len(chosen):
        violations.append(
            f"candidate {index}: topCandidates must have one entry per chosen token ({len(chosen)})"
        )
    elif not all(
        isinstance(step, dict)
        and isinstance(step.get("candidates"), list)
        and all(_is_token_logprob(entry) for entry in step["candidates"])
        for step in steps
    ):
        violations.append(f"candidate {index}: a topCandidates entry is not {{candidates: [...]}}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_token_logprob(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("token"), str)
        and _is_number(entry.get("logProbability"))
    )


def _describe_gemini(payload: dict[str, Any], candidates: list[Any]) -> Shown:
    valid = [c for c in candidates if isinstance(c, dict)]
    parts = next((_parts(c) for c in valid if _parts(c)), [])
    first = parts[0] if parts else None
    part = (0, *_gemini_part(first)) if first is not None else None
    extra = f" (+{len(parts) - 1} parts)" if len(parts) > 1 else ""
    finished = next((c["finishReason"] for c in valid if c.get("finishReason")), None)
    usage = payload.get("usageMetadata")
    usage_note = f", {_gemini_usage(usage)}" if isinstance(usage, dict) else ""
    if finished is not None:
        with_part = f" after {part[2]}" if part is not None else ""
        return "finish", part[0] if part else None, f"{finished}{with_part}{usage_note}"
    if part is not None:
        return f"candidate/{part[1]}", part[0], part[2] + extra
    if valid:
        return "candidate/empty", None, "no parts"
    feedback = payload.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        return "prompt-feedback", None, f"blocked: {feedback['blockReason']}"
    if isinstance(usage, dict):
        return "usage", None, _gemini_usage(usage)
    return "chunk", None, "no candidates"


def _parts(candidate: dict[str, Any]) -> list[Any]:
    return as_list(as_object(candidate.get("content")).get("parts"))


def _gemini_part(part: Any) -> tuple[str, str]:
    """A part's kind and its summary."""
    if not isinstance(part, dict):
        return "invalid", clip(repr(part))
    if part.get("thought") is True:
        text = part.get("text") or ""
        if not text and part.get("thoughtSignature"):
            return "thought", f"signature ({len(str(part['thoughtSignature']))} chars)"
        return "thought", quote(str(text))
    if "text" in part:
        return "text", quote(str(part["text"]))
    for kind in _PART_KINDS:
        if isinstance(part.get(kind), dict):
            value = part[kind]
            if kind == "functionCall":
                args = json.dumps(value.get("args", {}), ensure_ascii=False)
                return kind, clip(f"{value.get('name')}({args})")
            return kind, clip(json.dumps(value, ensure_ascii=False))
    other = [k for k in part if k not in ("thought", "thoughtSignature")]
    return (other[0], "?") if other else ("empty", "empty part")


def _gemini_usage(usage: dict[str, Any]) -> str:
    thoughts = usage.get("thoughtsTokenCount")
    with_thoughts = f" + thoughts {thoughts}" if thoughts is not None else ""
    return (
        f"usage prompt {usage.get('promptTokenCount')}"
        f" + candidates {usage.get('candidatesTokenCount')}{with_thoughts}"
        f" = {usage.get('totalTokenCount')} tokens"
    )
