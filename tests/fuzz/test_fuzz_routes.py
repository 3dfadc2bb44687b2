"""Every inbound route of every dialect, fuzzed over real HTTP (see `checks.py` for the
property each answer must have): against the mock provider, and the chat routes once
more against an OpenAI-compatible upstream (`--provider openai` in front of the fake).

The normal run sends a few dozen bodies per route, the same ones every time; `pytest
tests/fuzz --long -n 2` sends at least 10,000 per dialect.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given

from tests.fuzz.checks import check_answer, check_health, exchange
from tests.fuzz.conftest import (
    UPSTREAM_CI_EXAMPLES,
    UPSTREAM_LONG_EXAMPLES,
    examples_for,
    fuzz_settings,
)
from tests.fuzz.routes import ROUTES, Route
from tests.fuzz.strategies import Case, cases

UPSTREAM_ROUTES = [route for route in ROUTES if route.chat and route.weight == 1.0]


def _fuzz(
    route: Route,
    client: httpx.Client,
    examples: int,
    *,
    long: bool,
    ids: list[str],
    request: pytest.FixtureRequest,
) -> None:
    sent = 0

    @fuzz_settings(examples)
    @given(case=cases(route, long=long, ids=ids))
    def survives(case: Case) -> None:
        nonlocal sent
        sent += 1
        check_answer(route, case, exchange(client, case, route.dialect))
        check_health(client)

    survives()
    request.node.user_properties.append(("fuzz_bodies", (route.dialect, sent)))
    # Hypothesis may stop early on a search space it has exhausted; these must not.
    assert sent >= examples, f"only {sent} of {examples} bodies were sent"


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name)
def test_route_survives_fuzzing(
    route: Route,
    mock_client: httpx.Client,
    response_ids: list[str],
    long_run: bool,
    request: pytest.FixtureRequest,
) -> None:
    examples = examples_for(route, long=long_run)
    _fuzz(route, mock_client, examples, long=long_run, ids=response_ids, request=request)


@pytest.mark.parametrize("route", UPSTREAM_ROUTES, ids=lambda route: route.name)
def test_route_survives_fuzzing_via_openai_upstream(
    route: Route,
    upstream_client: httpx.Client,
    long_run: bool,
    request: pytest.FixtureRequest,
) -> None:
    examples = UPSTREAM_LONG_EXAMPLES if long_run else UPSTREAM_CI_EXAMPLES
    _fuzz(route, upstream_client, examples, long=long_run, ids=[], request=request)
