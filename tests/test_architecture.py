"""Facts about the package's shape that a reader can check (issue 12): module size, no
import cycles, and which layers may import which.

The import graph is read from the source (every `import`, at module level or inside a
function, except under `if TYPE_CHECKING:`), so a lazy import that would close a circle
counts too: a cycle is a design fault whether or not it fails at import time.
"""

from __future__ import annotations

import ast
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "chatmock_lab"
MAX_LINES = 700
# Providers the registry builds; the server must reach them only through it.
PROVIDER_MODULES = {
    f"chatmock_lab.providers.{name}"
    for name in ("mock", "openai_compatible", "chatgpt", "copilot", "qwen")
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
# Modules that run a program when imported (`python -m`).
_ENTRY_POINTS = {m for m in MODULES if m.endswith(".__main__")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str) -> set[tuple[str, str | None]]:
    """(imported module, imported name or None) pairs of `module`, resolved to modules of
    this package where a name is itself a module."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[tuple[str, str | None]] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add((submodule, None) if submodule in MODULES else (base, alias.name))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {(target, name) for target, name in found if target.startswith("chatmock_lab")}


GRAPH = {module: {target for target, _ in _imports(module)} & set(MODULES) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def test_no_module_outside_testing_is_over_700_lines() -> None:
    long = {
        module: lines
        for module, path in MODULES.items()
        if not module.startswith("chatmock_lab.testing")
        and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_import_graph_has_no_cycle() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_cycles() -> None:
    # The check above must be able to fail.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"], ["e"]]


def test_every_module_imports_alone_in_any_order() -> None:
    """Each module imported first in a fresh interpreter, the rest after it in a random
    order: an import-time cycle would fail on a partly initialised module."""
    seed = random.randrange(1 << 30)
    order = sorted(set(MODULES) - _ENTRY_POINTS)
    random.Random(seed).shuffle(order)
    script = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run(
        [sys.executable, "-c", script, *order],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert result.returncode == 0, f"seed {seed}: {result.stderr[-2000:]}"


def _importers_of(prefix: str) -> dict[str, set[str]]:
    return {m: GRAPH[m] for m in MODULES if m == prefix or m.startswith(prefix + ".")}


def test_no_server_module_imports_a_specific_provider() -> None:
    reached = {
        module: sorted(targets & PROVIDER_MODULES)
        for module, targets in _importers_of("chatmock_lab.server").items()
        if targets & PROVIDER_MODULES
    }
    assert reached == {}


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        # Dialects are pure translation: no provider, server, cassette, auth or lab code.
        (
            "chatmock_lab.dialects",
            (
                "chatmock_lab.providers",
                "chatmock_lab.server",
                "chatmock_lab.cassettes",
                "chatmock_lab.auth",
                "chatmock_lab.lab",
            ),
        ),
        # The canonical model depends on nothing else of the package.
        (
            "chatmock_lab.core",
            tuple(
                f"chatmock_lab.{name}"
                for name in ("dialects", "providers", "server", "cassettes", "auth", "lab")
            ),
        ),
        # Chaos knows rules, bytes and the canonical model: it sits below every user.
        (
            "chatmock_lab.chaos",
            tuple(
                f"chatmock_lab.{name}"
                for name in (
                    "dialects",
                    "providers",
                    "server",
                    "cassettes",
                    "auth",
                    "lab",
                    "config",
                )
            ),
        ),
        # Protocol checks are pure: the SSE reader is all they use.
        (
            "chatmock_lab.stream_checks",
            tuple(
                f"chatmock_lab.{name}"
                for name in ("core", "dialects", "providers", "server", "cassettes", "lab")
            ),
        ),
        # The traffic records sit below the server that fills them and the lab.
        (
            "chatmock_lab.traffic",
            tuple(
                f"chatmock_lab.{name}"
                for name in ("dialects", "providers", "server", "cassettes", "auth", "lab")
            ),
        ),
        # The cassette layer sits below the server.
        ("chatmock_lab.cassettes", ("chatmock_lab.server", "chatmock_lab.lab")),
        # Providers are built by the server, not the other way round.
        ("chatmock_lab.providers", ("chatmock_lab.server", "chatmock_lab.lab")),
        ("chatmock_lab.auth", ("chatmock_lab.server", "chatmock_lab.lab")),
    ],
)
def test_layers_import_only_downwards(layer: str, forbidden: tuple[str, ...]) -> None:
    wrong = {
        module: sorted(t for t in targets if t.startswith(forbidden))
        for module, targets in _importers_of(layer).items()
        if any(t.startswith(forbidden) for t in targets)
    }
    assert wrong == {}


def test_dialects_use_only_the_token_counters_public_names() -> None:
    private = {
        module: sorted(name for target, name in _imports(module) if name and name.startswith("_"))
        for module in _importers_of("chatmock_lab.dialects")
    }
    assert {m: names for m, names in private.items() if names} == {}
    for module in _importers_of("chatmock_lab.dialects"):
        for target, name in _imports(module):
            if target == "chatmock_lab.tokens":
                assert name is None or not name.startswith("_"), (module, name)
