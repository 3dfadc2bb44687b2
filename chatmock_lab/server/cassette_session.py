"""`chatmock_lab.cassette(...)`: record or replay a block of code's upstream traffic.

It lives with the server, not in `cassettes/`: it inserts cassettes into running servers
and starts servers of its own, and the cassette layer sits below the server.

With a running server (a notebook's, a test's), the cassette is inserted into it for the
block and the previous one put back after. Without one, a proxy is started on a free
loopback port for the block, answering through the provider the cassette was recorded
from, and stopped after.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chatmock_lab.cassettes.format import read_cassette
from chatmock_lab.cassettes.matching import MatchOptions
from chatmock_lab.cassettes.transport import CassetteTransport, RecordMode
from chatmock_lab.chaos import Chaos
from chatmock_lab.config import Settings
from chatmock_lab.endpoints import Endpoints
from chatmock_lab.server.app import create_app
from chatmock_lab.server.runner import BackgroundServer
from chatmock_lab.server.state import app_state


@dataclass(slots=True)
class CassetteSession:
    """A cassette in use: where to send requests, and what it has played and recorded."""

    transport: CassetteTransport
    server: BackgroundServer

    @property
    def path(self) -> Path:
        return self.transport.path

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(self.server.url)

    @property
    def played(self) -> int:
        return self.transport.played

    @property
    def recorded(self) -> int:
        return self.transport.recorded

    def unplayed(self) -> list[int]:
        return self.transport.unplayed()

    @property
    def chaos(self) -> Chaos:
        """The proxy's chaos: its rules for every request and `counts()` of what it
        injected."""
        return app_state(self.server.app).chaos


@contextmanager
def cassette(
    path: str | os.PathLike[str],
    mode: RecordMode = "once",
    *,
    speed: float = 0.0,
    server: BackgroundServer | None = None,
    provider: str | None = None,
    allow_playback_repeats: bool = False,
    ignore: Iterable[str] = (),
    settings: Settings | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[CassetteSession]:
    """Record or replay upstream traffic through the cassette at `path` inside the block.

    `mode` is vcrpy's record mode (`once`, `new_episodes`, `none`, `all`) or `rewrite`;
    `speed` paces replays (0 as fast as possible, 1 as recorded). Requests match on
    method, path and body without the volatile fields (`DEFAULT_IGNORED`) and any named
    in `ignore`; with `allow_playback_repeats`, a recording used up plays again.

    Without `server`, a proxy is started for the block with `settings` (default:
    loopback, a free port), `provider` (default: the one the cassette was recorded from,
    else the settings') and `env` (where credentials and base URLs are read; default the
    process's)."""
    matching = MatchOptions(allow_playback_repeats=allow_playback_repeats).ignoring(ignore)
    if server is not None:
        state = app_state(server.app)
        previous = state.deck.cassette
        transport = state.insert_cassette(path, mode=mode, speed=speed, matching=matching)
        try:
            yield CassetteSession(transport, server)
        finally:
            state.use_cassette(previous)
        return
    base = settings or Settings(port=0)
    loaded = None
    if provider is None and mode != "rewrite" and Path(path).exists():
        # Read once: for the provider it names, and then for the replay itself.
        loaded = read_cassette(path, cache_dir=base.cassette_cache)
        provider = loaded.providers[0] if loaded.providers else None
    config = base.replace(provider=provider)
    app = create_app(config, env=env)
    transport = app_state(app).insert_cassette(
        path, mode=mode, speed=speed, matching=matching, loaded=loaded
    )
    with BackgroundServer(config, app) as running:
        yield CassetteSession(transport, running)
