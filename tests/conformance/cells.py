"""The matrix's rows and columns, and how a test names the cell it fills."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from tests.conformance.upstreams import PROVIDERS

# (id, row title), in the order the matrix shows them.
FEATURES = (
    ("text", "text"),
    ("stream", "stream"),
    ("tools", "tools"),
    ("parallel-tools", "parallel tools"),
    ("streamed-tool-arguments", "streamed tool arguments"),
    ("tool-calls-without-ids", "tool calls without ids"),
    ("images", "images"),
    ("documents", "documents"),
    ("reasoning-signatures", "reasoning with signatures"),
    ("refusals", "refusals"),
    ("structured-output", "structured output"),
    ("logprobs", "logprobs"),
    ("stop-sequences", "stop sequences"),
    ("errors-retry-hints", "errors with retry hints"),
    ("usage", "usage"),
    ("count-tokens", "count tokens"),
)
FEATURE_IDS = tuple(feature for feature, _ in FEATURES)
# (id, column title): the inbound dialects.
DIALECTS = (
    ("openai", "OpenAI Chat Completions"),
    ("anthropic", "Anthropic Messages"),
    ("gemini", "Gemini"),
    ("ollama", "Ollama"),
    ("responses", "OpenAI Responses"),
)
DIALECT_IDS = tuple(dialect for dialect, _ in DIALECTS)
PROVIDER_TITLES = {
    "mock": "mock",
    "openai-compatible": "OpenAI-compatible fake",
    "chatgpt": "ChatGPT fake",
    "copilot": "Copilot fake",
    "cassette": "cassette replay",
}
MARKER = "conformance"
_Test = TypeVar("_Test", bound=Callable[..., Any])


def matrix(feature: str) -> Callable[[_Test], _Test]:
    """Make a test the row `feature`: one test per dialect x provider cell."""
    if feature not in FEATURE_IDS:
        raise ValueError(f"unknown feature {feature!r}; the rows are {FEATURE_IDS}")
    cells = [(dialect, provider) for dialect in DIALECT_IDS for provider in PROVIDERS]

    def decorate(test: _Test) -> _Test:
        marked = pytest.mark.conformance(feature)(test)
        return pytest.mark.parametrize(
            ("dialect", "provider"), cells, ids=[f"{d}-{p}" for d, p in cells]
        )(marked)

    return decorate


@dataclass
class Cell:
    """The cell a test fills. A passing test shows ✓ unless it says the feature cannot
    be carried (`dropped`, asserted from the proxy's notes) or does not exist there
    (`not_applicable`); a failing one shows ✗ with its failure."""

    feature: str
    dialect: str
    provider: str
    label: str = "✓"

    def dropped(self, why: str) -> None:
        self.label = f"dropped: {why}"

    def not_applicable(self, why: str) -> None:
        self.label = f"n/a: {why}"
