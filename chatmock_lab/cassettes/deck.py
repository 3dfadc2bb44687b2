"""The one transport a running server's providers send through, with a cassette slot.

Providers are built once and keep their httpx clients, so recording or replaying cannot
mean rebuilding their transport. Every provider's client therefore sends through one
`CassetteDeck`: with no cassette inserted it passes requests to the network; with one
inserted (`serve --record/--replay`, `chatmock_lab.cassette(...)`, the notebook's
`%chatmock record`) the cassette records or answers them. A notebook can switch
cassettes while the server runs.
"""

from __future__ import annotations

import os
import threading

import httpx

from chatmock_lab.cassettes.format import Cassette
from chatmock_lab.cassettes.matching import MatchOptions
from chatmock_lab.cassettes.play_log import PlayLog
from chatmock_lab.cassettes.transport import CassetteTransport, RecordMode
from chatmock_lab.chaos import ChaosTransport
from chatmock_lab.network import network_transport


class CassetteDeck(httpx.AsyncBaseTransport):
    def __init__(self, network: httpx.AsyncBaseTransport | None = None) -> None:
        # Every provider shares this pool, as each had its own before. Chaos sits just
        # above it: a cassette records what the client was really sent.
        self.network: httpx.AsyncBaseTransport = ChaosTransport(network or network_transport())
        self._cassette: CassetteTransport | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        cassette = self._cassette
        inserted = "empty" if cassette is None else f"{cassette.path} ({cassette.mode})"
        return f"CassetteDeck({inserted})"

    @property
    def cassette(self) -> CassetteTransport | None:
        return self._cassette

    @property
    def replay_only(self) -> bool:
        """True while nothing can reach the network: credentials are not needed."""
        cassette = self._cassette
        return cassette is not None and not cassette.records

    def insert(
        self,
        path: str | os.PathLike[str],
        *,
        mode: RecordMode = "once",
        speed: float = 0.0,
        matching: MatchOptions | None = None,
        play_log: PlayLog | None = None,
        loaded: Cassette | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> CassetteTransport:
        """Record or replay through the cassette at `path` from now on (replacing any
        cassette already inserted; a request in flight finishes with the old one)."""
        cassette = CassetteTransport(
            path,
            mode=mode,
            inner=self.network,
            speed=speed,
            matching=matching,
            play_log=play_log,
            loaded=loaded,
            cache_dir=cache_dir,
        )
        self.put(cassette)
        return cassette

    def put(self, cassette: CassetteTransport | None) -> CassetteTransport | None:
        """Use `cassette` (None: the network) from now on; returns the one it replaces,
        with everything it recorded written."""
        with self._lock:
            previous, self._cassette = self._cassette, cassette
        if previous is not None:
            previous.flush()
        return previous

    def eject(self) -> CassetteTransport | None:
        """Go back to the network; returns the cassette that was inserted."""
        return self.put(None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        cassette = self._cassette
        if cassette is None:
            return await self.network.handle_async_request(request)
        return await cassette.handle_async_request(request)

    async def aclose(self) -> None:
        # Called by each provider's client as it closes; the shared pool outlives them
        # and is closed once, by `shutdown`, when the server stops.
        return None

    async def shutdown(self) -> None:
        cassette = self._cassette
        if cassette is not None:
            cassette.flush()
        await self.network.aclose()
