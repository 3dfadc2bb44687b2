"""Chaos on demand: faults injected at the proxy's upstream edge, per request (the
`x-chatmock-chaos` header) or for every request (`serve --chaos`, `%chatmock chaos`,
the pytest marker, a scenario rule), recorded into cassettes as what happened.

Modules, each depending only on those before it: `rules` (the text of rules, pure),
`plan` (which rules hit which call: seeded draws, budgets, counts), `body` (an answer's
bytes made to misbehave), `transport` (the httpx seam).
"""

from chatmock_lab.chaos.body import chaotic_body, error_body
from chatmock_lab.chaos.plan import CHAOS_HEADER, Chaos, ChaosPlan, RuleSet, retry_budget
from chatmock_lab.chaos.rules import KINDS, ChaosError, ChaosRule, format_rules, parse_rules
from chatmock_lab.chaos.transport import (
    CHAOS_APPLIED,
    CHAOS_EXTENSION,
    ChaosTransport,
    chaotic_response,
)

__all__ = [
    "CHAOS_APPLIED",
    "CHAOS_EXTENSION",
    "CHAOS_HEADER",
    "KINDS",
    "Chaos",
    "ChaosError",
    "ChaosPlan",
    "ChaosRule",
    "ChaosTransport",
    "RuleSet",
    "chaotic_body",
    "chaotic_response",
    "error_body",
    "format_rules",
    "parse_rules",
    "retry_budget",
]
