"""Fixtures for the dialect tests that go through an OpenAI-compatible upstream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chatmock_lab.server import BackgroundServer
from chatmock_lab.testing import FakeOpenAIUpstream


@pytest.fixture
def fake() -> Iterator[FakeOpenAIUpstream]:
    """A scripted OpenAI-compatible upstream (`FakeReply(chunks=...)` for exact frames)."""
    with FakeOpenAIUpstream() as upstream:
        yield upstream


@pytest.fixture
def proxy(fake: FakeOpenAIUpstream, start_server: Any) -> BackgroundServer:
    """The proxy in front of `fake` (provider `openai`), without retries: a client sees
    the upstream's first failure."""
    env = {"CHATMOCK_OPENAI_BASE_URL": fake.base_url}
    server: BackgroundServer = start_server(provider_name="openai", env=env, retries=0)
    return server
