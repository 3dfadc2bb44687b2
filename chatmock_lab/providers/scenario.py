"""Scripted replies for the mock provider, read from a JSON or YAML file.

    rules:
      - match: {model: "gpt-4*", contains: "weather"}
        reply:
          reasoning: "The user wants the weather."
          tool_calls: [{name: get_weather, arguments: {city: Paris}}]
      - match: {contains: "forbidden"}
        reply: {refusal: "I can't help with that."}
      - match: {contains: "overloaded"}
        reply: {error: {status: 529, message: "try later", retry_after: 2}}
      - match: {contains: "run it", last_role: user}
        reply:
          tool_calls: [{name: exec_command, arguments: {cmd: "echo hi"}}]
      - match: {contains: "flaky"}
        chaos: "drop after=2 p=0.5"
        reply: {text: "Sometimes this answer is cut off"}
      - reply: {text: "Fallback answer", chunk_chars: 2, delay_ms: 20}

Rules are tried in order and the first match wins; a rule without `match` matches
everything. `contains` looks at the last user message, which stays the same while an
agent loops through tool calls; `last_role: user` makes a rule answer only the user's
turn, so the request that carries the tool's result falls through to the next rule
(or to the mock's default, which quotes the result). `chaos` gives the rule's answers
faults (`chatmock_lab.chaos`'s rules; `p=` and `times=` count over all the requests the
rule answers). An invalid file fails at load time with the rule and field named.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatmock_lab.chaos import ChaosError, RuleSet, parse_rules
from chatmock_lab.config import ConfigError
from chatmock_lab.core import ChatRequest, FinishReason, Role

_REPLY_KEYS = {
    "text",
    "refusal",
    "reasoning",
    "tool_calls",
    "error",
    "finish_reason",
    "chunk_chars",
    "delay_ms",
}
_MATCH_KEYS = ("model", "contains", "last_role")
_ROLES: tuple[Role, ...] = ("system", "user", "assistant", "tool")
_FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "refusal")


@dataclass(slots=True, frozen=True)
class ScriptedToolCall:
    name: str
    # None: generate arguments from the request's schema for this tool.
    arguments: Any = None


@dataclass(slots=True, frozen=True)
class ScriptedError:
    status: int
    message: str
    retry_after: float | None = None


@dataclass(slots=True, frozen=True)
class Reply:
    text: str | None = None
    # The model declines: refusal text (OpenAI's `refusal`), ending with a "refusal" finish.
    refusal: str | None = None
    reasoning: str | None = None
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    error: ScriptedError | None = None
    finish_reason: FinishReason | None = None
    chunk_chars: int | None = None
    delay_ms: float | None = None

    @property
    def has_content(self) -> bool:
        return self.text is not None or self.refusal is not None or bool(self.tool_calls)


@dataclass(slots=True, frozen=True)
class Rule:
    reply: Reply
    model: str | None = None
    contains: str | None = None
    # The role of the request's last message: "tool" when it carries a tool's result.
    last_role: Role | None = None
    # Faults for the answers this rule gives (their budgets shared by all of them).
    chaos: RuleSet | None = None

    def matches(self, request: ChatRequest) -> bool:
        if self.model is not None and not fnmatch.fnmatchcase(request.model, self.model):
            return False
        final = request.messages[-1] if request.messages else None
        if self.last_role is not None and (final is None or final.role != self.last_role):
            return False
        if self.contains is not None:
            last = request.last_user_message()
            if last is None or self.contains not in last.text():
                return False
        return True


@dataclass(slots=True, frozen=True)
class Scenario:
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    source: str = "<memory>"

    def match(self, request: ChatRequest) -> Rule | None:
        for rule in self.rules:
            if rule.matches(request):
                return rule
        return None


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"scenario file {path}: cannot be read ({exc.strerror})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"scenario file {path}: not valid YAML ({exc})") from None
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"scenario file {path}: not valid JSON ({exc})") from None
    return parse_scenario(data, source=str(path))


def parse_scenario(data: Any, *, source: str = "<memory>") -> Scenario:
    def fail(where: str, message: str) -> ConfigError:
        return ConfigError(f"scenario file {source}: {where}: {message}")

    if isinstance(data, dict):
        unknown = set(data) - {"rules"}
        if unknown:
            raise fail(sorted(unknown)[0], "unknown top-level key (expected 'rules')")
        data = data.get("rules")
    if not isinstance(data, list):
        raise fail("rules", "expected a list of rules")
    return Scenario(
        rules=tuple(_parse_rule(raw, f"rules[{i}]", fail) for i, raw in enumerate(data)),
        source=source,
    )


def _parse_rule(raw: Any, where: str, fail: Any) -> Rule:
    if not isinstance(raw, dict):
        raise fail(where, "expected an object with 'match' and 'reply'")
    unknown = set(raw) - {"match", "reply", "name", "chaos"}
    if unknown:
        raise fail(
            f"{where}.{sorted(unknown)[0]}", "unknown key (expected 'match', 'reply', 'chaos')"
        )
    match = raw.get("match") or {}
    if not isinstance(match, dict):
        raise fail(f"{where}.match", "expected an object")
    for key in match:
        if key not in _MATCH_KEYS:
            raise fail(f"{where}.match.{key}", f"unknown key (expected one of {list(_MATCH_KEYS)})")
        if not isinstance(match[key], str):
            raise fail(f"{where}.match.{key}", "expected a string")
    last_role = next((r for r in _ROLES if r == match.get("last_role")), None)
    if "last_role" in match and last_role is None:
        raise fail(f"{where}.match.last_role", f"expected one of {list(_ROLES)}")
    if "reply" not in raw:
        raise fail(f"{where}.reply", "this field is required")
    return Rule(
        reply=_parse_reply(raw["reply"], f"{where}.reply", fail),
        model=match.get("model"),
        contains=match.get("contains"),
        last_role=last_role,
        chaos=_parse_chaos(raw.get("chaos"), f"{where}.chaos", fail),
    )


def _parse_chaos(raw: Any, where: str, fail: Any) -> RuleSet | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise fail(where, 'expected rules as text, e.g. "drop after=2; slow chunk=0.1"')
    try:
        rules = parse_rules(raw, source="rules")
    except ChaosError as error:
        raise fail(where, str(error)) from None
    return RuleSet(rules) if rules else None


def _parse_reply(raw: Any, where: str, fail: Any) -> Reply:
    if isinstance(raw, str):
        return Reply(text=raw)
    if not isinstance(raw, dict):
        raise fail(where, "expected an object or a string")
    for key in raw:
        if key not in _REPLY_KEYS:
            raise fail(f"{where}.{key}", f"unknown key (expected one of {sorted(_REPLY_KEYS)})")
    for key in ("text", "refusal", "reasoning"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(f"{where}.{key}", "expected a string")
    finish = raw.get("finish_reason")
    if finish is not None and finish not in _FINISH_REASONS:
        raise fail(f"{where}.finish_reason", f"expected one of {list(_FINISH_REASONS)}")
    chunk_chars = raw.get("chunk_chars")
    if chunk_chars is not None and (
        not isinstance(chunk_chars, int) or isinstance(chunk_chars, bool) or chunk_chars < 1
    ):
        raise fail(f"{where}.chunk_chars", "expected a positive integer")
    delay_ms = raw.get("delay_ms")
    if delay_ms is not None and (
        not isinstance(delay_ms, (int, float)) or isinstance(delay_ms, bool) or delay_ms < 0
    ):
        raise fail(f"{where}.delay_ms", "expected a number of milliseconds >= 0")
    return Reply(
        text=raw.get("text"),
        refusal=raw.get("refusal"),
        reasoning=raw.get("reasoning"),
        tool_calls=_parse_tool_calls(raw.get("tool_calls"), f"{where}.tool_calls", fail),
        error=_parse_error(raw.get("error"), f"{where}.error", fail),
        finish_reason=finish,
        chunk_chars=chunk_chars,
        delay_ms=float(delay_ms) if delay_ms is not None else None,
    )


def _parse_tool_calls(raw: Any, where: str, fail: Any) -> tuple[ScriptedToolCall, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail(where, "expected a list of {name, arguments}")
    calls = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise fail(f"{where}[{i}]", "expected an object with 'name' and 'arguments'")
        unknown = set(item) - {"name", "arguments"}
        if unknown:
            raise fail(f"{where}[{i}].{sorted(unknown)[0]}", "unknown key")
        if not isinstance(item.get("name"), str) or not item["name"]:
            raise fail(f"{where}[{i}].name", "expected a non-empty string")
        try:
            # YAML reads `.nan` and `.inf`, which would reach the client as `NaN` arguments.
            json.dumps(item.get("arguments"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise fail(f"{where}[{i}].arguments", f"not JSON: {exc}") from None
        calls.append(ScriptedToolCall(name=item["name"], arguments=item.get("arguments")))
    return tuple(calls)


def _parse_error(raw: Any, where: str, fail: Any) -> ScriptedError | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail(where, "expected an object with 'status' and 'message'")
    for key in raw:
        if key not in ("status", "message", "retry_after"):
            raise fail(f"{where}.{key}", "unknown key (expected status, message, retry_after)")
    status = raw.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise fail(f"{where}.status", "expected an integer between 400 and 599")
    message = raw.get("message")
    if not isinstance(message, str) or not message:
        raise fail(f"{where}.message", "expected a non-empty string")
    retry_after = raw.get("retry_after")
    if retry_after is not None and (
        not isinstance(retry_after, (int, float))
        or isinstance(retry_after, bool)
        or retry_after < 0
    ):
        raise fail(f"{where}.retry_after", "expected a number of seconds >= 0")
    return ScriptedError(status=status, message=message, retry_after=retry_after)
