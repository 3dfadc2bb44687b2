"""Fixtures for the matrix (one proxy per provider for the whole session, its fakes reset
before each cell) and the plugin that records each cell's outcome.

With CHATMOCK_CONFORMANCE_RESULTS set to a path, every cell test appends one JSON line
per finished phase there (`python -m tests.conformance` reads them); without it, the
tests are ordinary tests and a failing cell fails the run like any other.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.cells import MARKER, Cell
from tests.conformance.upstreams import (
    Backend,
    CassetteBackend,
    chatgpt_backend,
    copilot_backend,
    mock_backend,
    openai_compatible_backend,
)

RESULTS_VARIABLE = "CHATMOCK_CONFORMANCE_RESULTS"
_CELL = pytest.StashKey[Cell]()
# What varies between runs in a failure message: ports, ids, addresses.
_VOLATILE = (
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"localhost:\d+"), "localhost:PORT"),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x…"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}\b"), "…"),
    (re.compile(r"\b(\w+[_-])?[0-9a-zA-Z]*\d[0-9a-zA-Z]{11,}\b"), r"\1…"),
    (re.compile(r"/tmp/\S+"), "/tmp/…"),
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(feature): a conformance matrix cell of this feature's row"
    )


class Backends:
    """Each provider's backend, started on first use and stopped at the session's end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: dict[str, Backend] = {}

    def get(self, provider: str) -> Backend:
        if provider not in self.started:
            self.started[provider] = self._start(provider)
        return self.started[provider]

    def _start(self, provider: str) -> Backend:
        home = self.directory / provider
        home.mkdir(exist_ok=True)
        if provider == "mock":
            return mock_backend()
        if provider == "openai-compatible":
            return openai_compatible_backend()
        if provider == "chatgpt":
            return chatgpt_backend(home)
        if provider == "copilot":
            return copilot_backend(home)
        if provider == "cassette":
            return CassetteBackend(home)
        raise LookupError(f"no backend for provider {provider!r}")

    def close(self) -> None:
        for backend in self.started.values():
            backend.close()


@pytest.fixture(scope="session")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    started = Backends(tmp_path_factory.mktemp("conformance"))
    yield started
    started.close()


@pytest.fixture
def backend(backends: Backends, provider: str) -> Backend:
    chosen = backends.get(provider)
    chosen.reset()
    return chosen


@pytest.fixture
def cell(request: pytest.FixtureRequest, dialect: str, provider: str) -> Cell:
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        raise LookupError("the `cell` fixture is for tests marked with @matrix(feature)")
    filled = Cell(feature=marker.args[0], dialect=dialect, provider=provider)
    request.node.stash[_CELL] = filled
    return filled


def failure_reason(report: pytest.TestReport) -> str:
    """The first line of a failure, without what changes from run to run."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    reason = lines[0] if lines else "failed"
    for pattern, replacement in _VOLATILE:
        reason = pattern.sub(replacement, reason)
    return reason if len(reason) <= 300 else reason[:299] + "…"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    marker = item.get_closest_marker(MARKER)
    callspec = getattr(item, "callspec", None)
    if marker is None or callspec is None:
        return report
    if report.when != "call" and not report.failed:
        return report
    filled = item.stash.get(_CELL, None)
    outcome: dict[str, Any] = {
        "feature": marker.args[0],
        "dialect": callspec.params["dialect"],
        "provider": callspec.params["provider"],
        "outcome": report.outcome,
        "label": filled.label if filled is not None else "✓",
        "reason": failure_reason(report) if report.failed else None,
        "test": item.nodeid,
    }
    path = os.environ.get(RESULTS_VARIABLE)
    if path:
        # One short line per write in append mode: workers never interleave within it.
        with open(path, "a", encoding="utf-8") as results:
            results.write(json.dumps(outcome, ensure_ascii=False) + "\n")
    return report
