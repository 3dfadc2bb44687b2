"""The fuzz suite covers every route that takes a request body (or changes state), so
that a route added later cannot go unfuzzed without this test failing."""

from __future__ import annotations

import inspect
import re

from werkzeug.exceptions import HTTPException

from chatmock_lab.config import Settings
from chatmock_lab.server import create_app, gemini_routes
from tests.fuzz.routes import DIALECT_NAMES, MODEL, ROUTES, routes_of

_STATEFUL = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _served() -> set[tuple[str, str]]:
    app = create_app(Settings(port=0), env={})
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) & _STATEFUL
    }


def _fuzzed() -> set[tuple[str, str]]:
    app = create_app(Settings(port=0), env={})
    adapter = app.url_map.bind("localhost")
    covered = set()
    for route in ROUTES:
        path = route.path.replace(MODEL, "mock").replace("{id}", "resp_1")
        try:
            endpoint, _ = adapter.match(path, method=route.method)
        except HTTPException as exc:
            raise AssertionError(f"{route.name}: {route.method} {path} is not served") from exc
        covered.add((str(endpoint), route.method))
    return covered


def test_every_stateful_route_is_fuzzed() -> None:
    missing = _served() - _fuzzed()
    assert not missing, f"routes the fuzz suite does not cover (add them to routes.py): {missing}"


def test_every_gemini_method_is_fuzzed() -> None:
    # One URL rule serves all of Gemini's `models/{model}:method` calls; the methods it
    # knows are the names its handler compares against.
    source = inspect.getsource(gemini_routes.model_method)
    methods = set(re.findall(r'method == "(\w+)"', source))
    assert methods, "the Gemini handler's methods could not be read"
    fuzzed = {route.path.rsplit(":", 1)[1] for route in routes_of("gemini")}
    assert methods <= fuzzed, f"Gemini methods not fuzzed: {methods - fuzzed}"


def test_every_dialect_has_routes() -> None:
    assert all(routes_of(dialect) for dialect in DIALECT_NAMES)
