"""Which chaos rules hit which upstream call: the server's rules, a request's own, the
seeded draws of `p=`, the `times=` budgets, and the counts of what was injected."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Sequence

from chatmock_lab.chaos.rules import ChaosRule, format_rules, parse_rules

# A request's own rules, replacing the server's for that request (`none`: no chaos).
CHAOS_HEADER = "x-chatmock-chaos"


class RuleSet:
    """Rules that share their `times=` budgets: the server's (every request draws from
    the same budget), a scenario rule's, or one request's header (its own calls only)."""

    def __init__(self, rules: Sequence[ChaosRule]) -> None:
        self.rules = tuple(rules)
        self._hits = [0] * len(self.rules)

    def __repr__(self) -> str:
        return f"RuleSet({format_rules(self.rules)!r})"

    def __bool__(self) -> bool:
        return bool(self.rules)

    def spent(self, index: int) -> bool:
        """Whether rule `index` has hit as many calls as its `times=` allows."""
        times = self.rules[index].times
        return times is not None and self._hits[index] >= times

    def hit(self, index: int) -> None:
        self._hits[index] += 1


class Chaos:
    """The server's chaos. One random source, seeded, draws every `p=` (the same seed
    and the same calls in the same order hit the same calls); `counts()` says how many
    times each kind was injected. Thread-safe: a notebook sets rules from its thread."""

    def __init__(self, rules: Sequence[ChaosRule] = (), *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.rules = RuleSet(rules)
        self.seed = seed
        self._random = random.Random(seed)
        self._counts: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"Chaos({format_rules(self.rules.rules)!r}, seed={self.seed})"

    def set_rules(self, rules: Sequence[ChaosRule], *, seed: int | None = None) -> None:
        """Rules for every request from now on (budgets start afresh); with `seed`, the
        draws start again from it."""
        with self._lock:
            self.rules = RuleSet(rules)
            if seed is not None:
                self.seed = seed
                self._random = random.Random(seed)

    def plan(self, header: str | None) -> ChaosPlan | None:
        """The chaos of one request: its header's rules if it sent `x-chatmock-chaos`
        (`ChaosError` if they cannot be read), else the server's; None for none."""
        if header is not None:
            rules = parse_rules(header, source=CHAOS_HEADER)
            return ChaosPlan(self, RuleSet(rules)) if rules else None
        rules_now = self.rules
        return ChaosPlan(self, rules_now) if rules_now else None

    def draw(self, rule_set: RuleSet) -> tuple[ChaosRule, ...]:
        """The rules of `rule_set` that hit this upstream call, counted."""
        hit = []
        with self._lock:
            for index, rule in enumerate(rule_set.rules):
                if rule_set.spent(index):
                    continue
                if rule.p < 1 and self._random.random() >= rule.p:
                    continue
                rule_set.hit(index)
                self._counts[rule.label] += 1
                hit.append(rule)
        return tuple(hit)

    def counts(self) -> dict[str, int]:
        """Injections so far, by kind (`error 429`, `drop`, ...)."""
        with self._lock:
            return dict(sorted(self._counts.items()))

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()


class ChaosPlan:
    """One request's chaos, drawn afresh at each of its upstream calls (the proxy's
    retries are calls too)."""

    def __init__(self, chaos: Chaos, rule_set: RuleSet) -> None:
        self._chaos = chaos
        self._rule_set = rule_set

    def __repr__(self) -> str:
        return f"ChaosPlan({format_rules(self._rule_set.rules)!r})"

    def __deepcopy__(self, memo: dict[int, object]) -> ChaosPlan:
        # The request's faults, drawn from the server's one source: a copy of a request
        # draws from the same plan.
        return self

    def draw(self) -> tuple[ChaosRule, ...]:
        return self._chaos.draw(self._rule_set)


def retry_budget(rules: Sequence[ChaosRule]) -> int | None:
    """The proxy's own retries for a call these rules hit: the smallest `retries=` among
    them (None: the server's)."""
    return min((rule.retries for rule in rules if rule.retries is not None), default=None)
