"""Chaos rules: what may go wrong at the proxy's upstream edge, written as text.

    error status=429 retry_after=2      the upstream answers this HTTP error
    drop after=3                        the connection drops after 3 chunks
    malformed at=2 how=json             chunk 2 is broken (json, utf8 or blank-line)
    slow first=1.5 chunk=0.2            1.5 s to the first chunk, 0.2 s between the others
    silence after=1 seconds=20          20 s of nothing after chunk 1
    early-end after=4                   the body ends cleanly after 4 chunks, unfinished
    duplicate at=2                      chunk 2 comes twice

Rules are separated by `;`. Every rule also takes `p=` (the chance it hits an upstream
call, 0 to 1, default 1), `times=` (how many upstream calls it may hit in all, default
every one) and `retries=` (the proxy's own retries for a call it hit; `retries=0` hands
the failure to the client at once, so the client's retry logic is what gets tested).

A chunk is one SSE frame of a streamed upstream body (a whole JSON body is one chunk).
Everything here is pure: parsing, validation and the canonical text of a rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from chatmock_lab.core.errors import ChatmockError

Kind = Literal["error", "drop", "malformed", "slow", "silence", "early-end", "duplicate"]
KINDS: tuple[Kind, ...] = get_args(Kind)
MALFORMATIONS = ("json", "utf8", "blank-line")
# Longest delay a rule may ask for: an hour is already longer than any client waits.
_MAX_SECONDS = 3600.0
_MAX_COUNT = 1_000_000

# The parameters each kind takes, beside the common ones.
PARAMETERS: dict[Kind, tuple[str, ...]] = {
    "error": ("status", "retry_after"),
    "drop": ("after",),
    "malformed": ("at", "how"),
    "slow": ("first", "chunk"),
    "silence": ("after", "seconds"),
    "early-end": ("after",),
    "duplicate": ("at",),
}
COMMON_PARAMETERS = ("p", "times", "retries")
_DEFAULT_AFTER: dict[Kind, int] = {"drop": 0, "silence": 1, "early-end": 1}


class ChaosError(ChatmockError, ValueError):
    """Rules that cannot be read; the message names the rule and the parameter."""


@dataclass(frozen=True, slots=True)
class ChaosRule:
    kind: Kind
    status: int = 0
    retry_after: float | None = None
    after: int = 0
    at: int = 1
    how: str = "json"
    first: float = 0.0
    chunk: float = 0.0
    seconds: float = 0.0
    p: float = 1.0
    times: int | None = None
    retries: int | None = None

    @property
    def label(self) -> str:
        """What `status` counts it as: the kind, with the status for an error."""
        return f"error {self.status}" if self.kind == "error" else self.kind

    def __str__(self) -> str:
        """The rule's canonical text: its kind and every parameter it was given a value
        for that is not the default, in a fixed order (`parse_rules` reads it back)."""
        defaults = ChaosRule(self.kind, after=_DEFAULT_AFTER.get(self.kind, 0))
        words: list[str] = [self.kind]
        for name in (*PARAMETERS[self.kind], *COMMON_PARAMETERS):
            value = getattr(self, name)
            if value != getattr(defaults, name) or (name == "status" and self.kind == "error"):
                words.append(f"{name}={_number(value)}")
        return " ".join(words)


def format_rules(rules: Sequence[ChaosRule]) -> str:
    return "; ".join(str(rule) for rule in rules)


def parse_rules(text: str, *, source: str = "chaos") -> tuple[ChaosRule, ...]:
    """The rules in `text` (`;`-separated); `none` or an empty text is no rule.
    `ChaosError` names `source`, the rule and the parameter at fault."""
    rules = []
    pieces = [piece.strip() for piece in text.split(";")]
    if [piece for piece in pieces if piece] == ["none"]:
        return ()
    for index, piece in enumerate(pieces):
        if piece:
            rules.append(_parse_rule(piece, f"{source}: rule {index + 1} ({piece!r})"))
    return tuple(rules)


def _parse_rule(text: str, where: str) -> ChaosRule:
    kind_word, *words = text.split()
    kind = next((k for k in KINDS if k == kind_word.lower()), None)
    if kind is None:
        raise ChaosError(f"{where}: unknown kind {kind_word!r}; one of {', '.join(KINDS)}")
    allowed = (*PARAMETERS[kind], *COMMON_PARAMETERS)
    values: dict[str, object] = {}
    for word in words:
        name, equals, raw = word.partition("=")
        name = name.lower().replace("-", "_")
        if not equals or not raw:
            raise ChaosError(f"{where}: {word!r} is not name=value")
        if name not in allowed:
            raise ChaosError(
                f"{where}: {kind} takes no parameter {name!r}; it takes {', '.join(allowed)}"
            )
        if name in values:
            raise ChaosError(f"{where}: {name} is given twice")
        values[name] = _value(name, raw, f"{where}: {name}")
    values.setdefault("after", _DEFAULT_AFTER.get(kind, 0))
    rule = ChaosRule(kind, **values)  # type: ignore[arg-type]
    _check(rule, where)
    return rule


def _value(name: str, raw: str, where: str) -> object:
    if name == "how":
        if raw not in MALFORMATIONS:
            raise ChaosError(f"{where}: {raw!r} is not one of {', '.join(MALFORMATIONS)}")
        return raw
    if name in ("status", "after", "at", "times", "retries"):
        try:
            number = int(raw)
        except ValueError:
            raise ChaosError(f"{where}: {raw!r} is not a whole number") from None
        if not 0 <= number <= _MAX_COUNT:
            raise ChaosError(f"{where}: {number} is not between 0 and {_MAX_COUNT}")
        return number
    try:
        value = float(raw)
    except ValueError:
        raise ChaosError(f"{where}: {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ChaosError(f"{where}: {raw!r} must be a number >= 0")
    if name == "p" and value > 1:
        raise ChaosError(f"{where}: a probability is between 0 and 1, got {raw}")
    if name != "p" and value > _MAX_SECONDS:
        raise ChaosError(f"{where}: at most {_MAX_SECONDS:g} seconds, got {raw}")
    return value


def _check(rule: ChaosRule, where: str) -> None:
    if rule.kind == "error" and not 400 <= rule.status <= 599:
        raise ChaosError(f"{where}: status: error needs status=400..599 (429, 500, 503, 529)")
    if rule.kind in ("malformed", "duplicate") and rule.at < 1:
        raise ChaosError(f"{where}: at: chunks count from 1")
    if rule.kind == "slow" and rule.first == 0 and rule.chunk == 0:
        raise ChaosError(f"{where}: slow needs first= or chunk= (seconds)")
    if rule.kind == "silence" and rule.seconds == 0:
        raise ChaosError(f"{where}: seconds: silence needs seconds= (longer than a keep-alive)")
    if rule.times == 0:
        raise ChaosError(f"{where}: times: at least 1 (leave it out for every call)")


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
