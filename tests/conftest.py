"""Shared fixtures: real servers on loopback, official SDK clients pointed at them."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import certifi
import httpx
import openai
import pytest

from chatmock_lab.config import Settings
from chatmock_lab.limits import Approver
from chatmock_lab.providers import Provider
from chatmock_lab.server import BackgroundServer, create_app
from tests.support import openai_client_for

pytest_plugins = ["pytester"]


def _small_trust_store() -> Path:
    """A CA file of one certificate (certifi's first). Every test talks plain HTTP on
    loopback, and loading a whole store (SSL_CERT_FILE's or certifi's, 200+ KB) took
    25 ms for each httpx client the SDKs make, 75 ms for each google-genai client:
    thousands in a run, a sixth of the suite's time."""
    bundle = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    first = bundle[bundle.index("-----BEGIN CERTIFICATE-----") : bundle.index(end) + len(end)]
    digest = hashlib.sha256(first.encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"chatmock-lab-tests-ca-{digest}.pem"
    if not path.exists():
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text(first + "\n")
        os.replace(partial, path)
    return path


# Set at import, so that servers, kernels and subprocesses the tests start inherit it.
os.environ["SSL_CERT_FILE"] = str(_small_trust_store())
os.environ.pop("SSL_CERT_DIR", None)


def pytest_addoption(parser: pytest.Parser) -> None:
    # The fuzz suite's long run (tests/fuzz): thousands of bodies per dialect.
    parser.addoption("--long", action="store_true", help="run the fuzz suite at full length")


ServerFactory = Callable[..., BackgroundServer]


@pytest.fixture(scope="session")
def server() -> Iterator[BackgroundServer]:
    """One proxy with the default mock provider for the whole session."""
    with BackgroundServer(Settings(port=0)) as running:
        yield running


@pytest.fixture
def start_server() -> Iterator[ServerFactory]:
    """Start a proxy with custom settings (or provider); stopped after the test."""
    started: list[BackgroundServer] = []

    def start(
        provider: Provider | None = None,
        *,
        provider_name: str | None = None,
        env: dict[str, str] | None = None,
        approver: Approver | None = None,
        **settings: Any,
    ) -> BackgroundServer:
        config = Settings(port=0).replace(provider=provider_name, **settings)
        # Never the process environment: tests say exactly which credentials exist.
        app = create_app(config, provider=provider, env=env or {}, approver=approver)
        running = BackgroundServer(config, app).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[openai.OpenAI]:
    with openai_client_for(server) as sdk:
        yield sdk


@pytest.fixture
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as raw:
        yield raw
