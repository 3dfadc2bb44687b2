"""The OpenAI Chat Completions stream checker: `data:` frames of `chat.completion.chunk`
objects, ended by `data: [DONE]`.

Event types (`ChunkInfo.event_type`), beside `keep-alive`, `malformed` and `error`:
`chunk/role` (a delta with only the role, the first chunk), `chunk/content`,
`chunk/reasoning` (`reasoning_content`/`reasoning`, a compatible-server extension),
`chunk/refusal`, `chunk/tool_calls`, `chunk/finish` (a choice with its `finish_reason`;
wins over any content in the same chunk), `chunk/logprobs` (an empty delta carrying
log probabilities), `chunk` (an empty delta or no choices),
`usage` (the `choices: []` chunk with usage), `[DONE]`. `block_index` is the tool
call's `index` for `chunk/tool_calls`, else the choice index.
"""

from __future__ import annotations

from typing import Any

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
from chatmock_lab.stream_checks.text import clip, quote


class OpenAIStreamChecker(StreamChecker):
    """Chat Completions chunks: `data:` frames ended by `data: [DONE]`."""

    def __init__(self, *, include_usage: bool = False) -> None:
        super().__init__()
        self._include_usage = include_usage
        self._id: str | None = None
        self._done = False
        self._errored = False
        self._usage_chunks = 0
        self._choices: set[int] = set()
        self._finished: dict[int, str] = {}
        # (choice index, tool call index) -> the call's id ("" if its first fragment had none)
        self._tool_ids: dict[tuple[int, int], str] = {}

    def _event(self, event: SSEEvent) -> ChunkInfo:
        violations: list[str] = []
        if self._done:
            violations.append("an event after data: [DONE] (nothing may follow it)")
        if event.data.strip() == "[DONE]":
            self._done = True
            return ChunkInfo("[DONE]", None, "end of stream", violations)
        payload, problem = parse_object(event.data)
        if payload is None:
            return ChunkInfo("malformed", None, clip(event.data), [*violations, str(problem)])
        if payload.get("error"):
            # An in-band error ends the stream; it is not itself a protocol violation.
            self._errored = True
            return ChunkInfo("error", None, error_summary(payload["error"]), violations)
        self._check_envelope(payload, violations)
        choices = payload.get("choices")
        if not isinstance(choices, list):
            violations.append("the chunk has no choices list")
            choices = []
        shown: Shown | None = None
        for choice in choices:
            if not isinstance(choice, dict):
                violations.append("a choice that is not an object")
                continue
            described = self._choice(choice, violations)
            shown = shown or described
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._usage_chunks += 1
            if self._usage_chunks == 2:
                violations.append("a second chunk with usage (usage is reported once)")
            if not choices:
                shown = ("usage", None, _openai_usage(usage))
        kind, index, summary = shown or ("chunk", None, "no choices")
        return ChunkInfo(kind, index, summary, violations)

    def _check_envelope(self, payload: dict[str, Any], violations: list[str]) -> None:
        chunk_id = payload.get("id")
        if not isinstance(chunk_id, str):
            violations.append("the chunk has no string id")
        elif self._id is None:
            self._id = chunk_id
        elif chunk_id != self._id:
            violations.append(f"chunk id {chunk_id!r} differs from the stream's id {self._id!r}")
        kind = payload.get("object")
        if kind is not None and kind != "chat.completion.chunk":
            violations.append(f"object is {kind!r}, expected 'chat.completion.chunk'")

    def _choice(self, choice: dict[str, Any], violations: list[str]) -> Shown:
        index = as_index(choice.get("index"))
        if index is None:
            violations.append("a choice without an integer index")
            index = 0
        self._choices.add(index)
        delta = as_object(choice.get("delta"))
        reason = choice.get("finish_reason")
        content = delta.get("content")
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        refusal = delta.get("refusal")
        calls = as_list(delta.get("tool_calls"))
        logprobs = choice.get("logprobs")
        if logprobs is not None:
            _check_logprobs(index, logprobs, violations)
        if self._usage_chunks:
            violations.append(
                f"choice {index} after the usage chunk (usage comes last, right before [DONE])"
            )
        note_finish(
            self._finished,
            index,
            "choice",
            "finish_reason",
            reason,
            has_content=bool(content or reasoning or refusal or calls),
            what="content",
            violations=violations,
        )
        first_call = self._tool_calls(index, calls, violations)
        if reason is not None:
            text = f" after {quote(content)}" if content else ""
            return "chunk/finish", index, f"finish_reason={reason}{text}"
        if calls:
            return "chunk/tool_calls", first_call, _tool_call_summary(calls[0])
        if content:
            return "chunk/content", index, quote(content)
        if reasoning:
            return "chunk/reasoning", index, quote(str(reasoning))
        if refusal:
            return "chunk/refusal", index, quote(str(refusal))
        if delta.get("role"):
            return "chunk/role", index, f"role={delta['role']}"
        if isinstance(logprobs, dict):
            return "chunk/logprobs", index, _logprobs_summary(logprobs)
        return "chunk", index, "empty delta"

    def _tool_calls(self, choice: int, calls: list[Any], violations: list[str]) -> int | None:
        """Check each tool-call fragment; the index of the first, for the ChunkInfo."""
        first: int | None = None
        for call in calls:
            index = as_index(call.get("index")) if isinstance(call, dict) else None
            if index is None:
                violations.append("a tool call fragment without an integer index")
                continue
            first = index if first is None else first
            function = as_object(call.get("function"))
            call_id, name = call.get("id"), function.get("name")
            known = self._tool_ids.get((choice, index))
            if known is None:
                missing = [f for f, v in (("id", call_id), ("function.name", name)) if not v]
                if missing:
                    violations.append(
                        f"tool call {index}: its first fragment lacks {' and '.join(missing)}"
                        " (the first fragment must carry id, type and function.name)"
                    )
                self._tool_ids[(choice, index)] = call_id or ""
            elif call_id and known and call_id != known:
                # Clients join fragments by index, so a second call there gets merged.
                violations.append(
                    f"tool call {index}: a new id {call_id!r} at an index already used by"
                    f" {known!r} (each call needs its own index)"
                )
                self._tool_ids[(choice, index)] = call_id
        return first

    def _end_violations(self) -> list[str]:
        if self._errored:
            return []
        problems: list[str] = []
        if not self._choices:
            problems.append("the stream ended without any choice (no finish_reason)")
        for index in sorted(self._choices - set(self._finished)):
            problems.append(f"choice {index} ended without a finish_reason")
        if self._include_usage and not self._usage_chunks:
            problems.append("no usage chunk although stream_options.include_usage was requested")
        if not self._done:
            problems.append("the stream ended without data: [DONE]")
        return problems


def _check_logprobs(index: int, logprobs: Any, violations: list[str]) -> None:
    """A choice's `logprobs`: null, or `content` and `refusal`, each null or a list of
    `{token, logprob, bytes, top_logprobs}` (the SDK reads `choice.logprobs.content`)."""
    if not isinstance(logprobs, dict):
        violations.append(f"choice {index}: logprobs is neither null nor an object")
        return
    for field in ("content", "refusal"):
        entries = logprobs.get(field)
        if entries is None:
            continue
        if not isinstance(entries, list):
            violations.append(f"choice {index}: logprobs.{field} is neither null nor a list")
            continue
        for position, entry in enumerate(entries):
            problem = _token_problem(entry, top=True)
            if problem:
                violations.append(f"choice {index}: logprobs.{field}[{position}] {problem}")


def _token_problem(entry: Any, *, top: bool) -> str | None:
    if not isinstance(entry, dict):
        return "is not an object"
    if not isinstance(entry.get("token"), str):
        return "has no string token"
    logprob = entry.get("logprob")
    if not isinstance(logprob, (int, float)) or isinstance(logprob, bool) or logprob > 0:
        return "has no logprob (a number <= 0)"
    raw = entry.get("bytes")
    if raw is not None and not (
        isinstance(raw, list) and all(as_index(b) is not None for b in raw)
    ):
        return "has bytes that are not a list of integers"
    if top:
        alternatives = entry.get("top_logprobs")
        if not isinstance(alternatives, list):
            return "has no top_logprobs list"
        for alternative in alternatives:
            problem = _token_problem(alternative, top=False)
            if problem:
                return f"has an alternative that {problem}"
    return None


def _logprobs_summary(logprobs: dict[str, Any]) -> str:
    tokens = as_list(logprobs.get("content")) + as_list(logprobs.get("refusal"))
    shown = "".join(str(t.get("token", "")) for t in tokens if isinstance(t, dict))
    return f"{len(tokens)} token logprobs {quote(shown)}"


def _openai_usage(usage: dict[str, Any]) -> str:
    return (
        f"prompt {usage.get('prompt_tokens')} + completion {usage.get('completion_tokens')}"
        f" = {usage.get('total_tokens')} tokens"
    )


def _tool_call_summary(call: Any) -> str:
    if not isinstance(call, dict):
        return "?"
    function = as_object(call.get("function"))
    # Argument fragments are JSON text already; quoting them again only adds backslashes.
    arguments = clip(str(function.get("arguments") or ""))
    if function.get("name"):
        return f"{function['name']} id={call.get('id')} {arguments}".rstrip()
    return arguments
