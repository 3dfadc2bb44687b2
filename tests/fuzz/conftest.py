"""The fuzz suite's servers (one per test process, so that examples are cheap) and its
example budget: a few dozen per route in the normal run, `--long` for thousands."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings

from chatmock_lab.config import Settings
from chatmock_lab.server import BackgroundServer, create_app
from chatmock_lab.testing import FakeOpenAIUpstream
from tests.fuzz.checks import client_for
from tests.fuzz.routes import ROUTES, Route

UPSTREAM_KEY = "sk-fuzz-upstream-key-0123456789"
# The normal run's examples for a route of weight 1; aliases get their share, at least a few.
CI_EXAMPLES = 48
CI_MIN_EXAMPLES = 4
# The long run: at least this many bodies per dialect, shared among its routes by weight.
LONG_BODIES_PER_DIALECT = 10_000
UPSTREAM_CI_EXAMPLES = 12
UPSTREAM_LONG_EXAMPLES = 400


def examples_for(route: Route, *, long: bool) -> int:
    if not long:
        return max(CI_MIN_EXAMPLES, round(CI_EXAMPLES * route.weight))
    served = [other for other in ROUTES if other.dialect == route.dialect and other.served]
    total = sum(other.weight for other in served)
    return math.ceil(LONG_BODIES_PER_DIALECT * route.weight / total)


def fuzz_settings(examples: int) -> settings:
    # Fixed (derandomized) and without the example database, so that every run, on any
    # machine, sends the same bodies; no deadline (a stream's length varies), and the
    # health checks that large generated bodies trip are not about the server.
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=(
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ),
        print_blob=False,
    )


@pytest.fixture(scope="session")
def long_run(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--long"))


@pytest.fixture(scope="session")
def mock_server() -> Iterator[BackgroundServer]:
    config = Settings(port=0)
    with BackgroundServer(config, create_app(config, env={})) as running:
        yield running


@pytest.fixture(scope="session")
def mock_client(mock_server: BackgroundServer) -> Iterator[httpx.Client]:
    with client_for(mock_server.url) as client:
        yield client


@pytest.fixture(scope="session")
def response_ids(mock_client: httpx.Client) -> list[str]:
    """Stored responses, so that fuzzed GETs and DELETEs also hit ones that exist."""
    ids = []
    for text in ("first", "second"):
        answer = mock_client.post("/v1/responses", json={"model": "mock", "input": text})
        answer.raise_for_status()
        ids.append(answer.json()["id"])
    return ids


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeOpenAIUpstream]:
    # Only the newest requests are kept: the long run sends thousands.
    with FakeOpenAIUpstream(api_key=UPSTREAM_KEY, keep_requests=20) as upstream:
        yield upstream


@pytest.fixture(scope="session")
def upstream_client(fake_upstream: FakeOpenAIUpstream) -> Iterator[httpx.Client]:
    """A proxy with `--provider openai` in front of the fake upstream."""
    config = Settings(port=0).replace(provider="openai", retries=0)
    env = {"OPENAI_API_KEY": UPSTREAM_KEY, "CHATMOCK_OPENAI_BASE_URL": fake_upstream.base_url}
    with (
        BackgroundServer(config, create_app(config, env=env)) as running,
        client_for(running.url) as client,
    ):
        yield client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    sent: Counter[str] = Counter()
    for reports in terminalreporter.stats.values():
        for report in reports:
            # The teardown report carries the call's properties again.
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == "fuzz_bodies":
                    dialect, count = value
                    sent[dialect] += count
    if sent:
        shown = ", ".join(f"{dialect} {count}" for dialect, count in sorted(sent.items()))
        terminalreporter.write_line(f"fuzz bodies sent: {shown} (total {sum(sent.values())})")
