"""Reasoning policy the hub decides once: an effort for upstreams that know only
efforts when the client gave a token budget (or nothing)."""

from __future__ import annotations

from chatmock_lab.core.request import ReasoningConfig

# Translator policy: no vendor defines how budgets map to efforts.
_EFFORT_FOR_BUDGET = ((2048, "low"), (8192, "medium"))


def effort_for(reasoning: ReasoningConfig) -> str:
    """The effort asked for; else one for the budget (under 2048 low, under 8192
    medium, else high); else medium."""
    if reasoning.effort is not None:
        return reasoning.effort
    if reasoning.budget_tokens is not None:
        for limit, effort in _EFFORT_FOR_BUDGET:
            if reasoning.budget_tokens < limit:
                return effort
        return "high"
    return "medium"
