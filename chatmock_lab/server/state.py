"""What a running app holds: settings, providers (built on first use), and the limits."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
from quart import Quart, current_app

from chatmock_lab.cassettes.deck import CassetteDeck
from chatmock_lab.cassettes.format import Cassette
from chatmock_lab.cassettes.matching import MatchOptions
from chatmock_lab.cassettes.play_log import PlayLog
from chatmock_lab.cassettes.transport import CassetteTransport, RecordMode
from chatmock_lab.chaos import Chaos, parse_rules
from chatmock_lab.config import Settings
from chatmock_lab.core import InvalidRequest
from chatmock_lab.dialects.json_body import BodyLimits
from chatmock_lab.limits import Approver, Gate, RateLimiter
from chatmock_lab.providers import (
    Provider,
    UnknownProvider,
    available_providers,
    create_provider,
)
from chatmock_lab.redact import Redactor, app_redactor
from chatmock_lab.taps import Tap, TapTransport
from chatmock_lab.traffic import HistoryFile, TrafficLog

_KEY = "chatmock_lab"


@dataclass(slots=True)
class ServerState:
    settings: Settings
    env: Mapping[str, str]
    gate: Gate
    rate_limiter: RateLimiter
    approver: Approver | None = None
    # Every upstream call goes through it: to the network, or into a cassette.
    deck: CassetteDeck = field(default_factory=CassetteDeck)
    # This app's secrets (its keys, its clients' credentials, its providers' cookies).
    redactor: Redactor = field(default_factory=app_redactor)
    # Login and token calls: injectable like upstream calls, never recorded.
    auth_transport: httpx.AsyncBaseTransport | None = None
    providers: dict[str, Provider] = field(default_factory=dict)
    requests_served: int = 0
    # Registered by the notebook's stream inspector; see chatmock_lab.taps.
    taps: dict[str, Tap] = field(default_factory=dict)
    # Providers handed in ready-made (not built from a name), kept across cassettes.
    given: frozenset[str] = frozenset()
    # What one request body may hold: from the settings, built once, read per request.
    body_limits: BodyLimits = field(init=False)
    # Faults for every request (`--chaos`, `%chatmock chaos`, the pytest marker), the
    # seeded draws of every request's, and the counts of what was injected.
    chaos: Chaos = field(init=False)
    # The recent chat requests, for the traffic page and --history (None: neither is on).
    traffic: TrafficLog | None = field(init=False)
    _retired: list[Provider] = field(default_factory=list)
    _transport: TapTransport | None = None

    def __post_init__(self) -> None:
        settings = self.settings
        self.body_limits = BodyLimits(
            max_depth=settings.max_json_depth,
            max_messages=settings.max_messages,
            max_parts=settings.max_parts,
            max_tools=settings.max_tools,
            max_list_items=settings.max_list_items,
            max_string_chars=settings.max_string_chars,
        )
        self.chaos = Chaos(parse_rules(settings.chaos or ""), seed=settings.chaos_seed)
        self.traffic = None
        if settings.ui or settings.history is not None:
            self.traffic = TrafficLog(limit=settings.ui_requests, redactor=self.redactor)
            if settings.history is not None:
                self.traffic.add_sink(HistoryFile(settings.history))

    @property
    def transport(self) -> TapTransport:
        """What providers send through: taps, over the cassette deck, over the network."""
        if self._transport is None:
            self._transport = TapTransport(self.deck)
        return self._transport

    @property
    def provider(self) -> Provider:
        """The default provider."""
        return self.provider_named(self.settings.provider)

    def provider_named(self, name: str, *, param: str = "model") -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            try:
                provider = self.build_provider(name)
            except UnknownProvider as exc:
                # A name the client chose (a model prefix, `?provider=`): the client's
                # fault. Any other failure to build is the server's, and stays a 500.
                raise InvalidRequest(str(exc), param=param) from None
            self.providers[name] = provider
        return provider

    def build_provider(self, name: str) -> Provider:
        return create_provider(
            name,
            self.settings,
            self.env,
            self.transport,
            auth_transport=self.auth_transport,
            redactor=self.redactor,
            chaos=self.chaos,
        )

    def select(self, model: str, requested: str | None = None) -> tuple[Provider, str]:
        """The provider for a request and the model name to give it: `?provider=`, else a
        `provider/model` prefix naming a known provider, else the default."""
        if requested:
            return self.provider_named(requested, param="provider"), model
        prefix, slash, rest = model.partition("/")
        if slash and rest and prefix in available_providers():
            return self.provider_named(prefix), rest
        return self.provider, model

    def add_tap(self, tap: Tap) -> str:
        """Register a tap; a request that sends its id in `x-chatmock-tap` is copied to it."""
        tap_id = uuid.uuid4().hex
        self.taps[tap_id] = tap
        return tap_id

    def remove_tap(self, tap_id: str) -> None:
        self.taps.pop(tap_id, None)

    def insert_cassette(
        self,
        path: str | os.PathLike[str],
        *,
        mode: RecordMode = "once",
        speed: float = 0.0,
        matching: MatchOptions | None = None,
        loaded: Cassette | None = None,
    ) -> CassetteTransport:
        """Record or replay every upstream call through this cassette from now on
        (`loaded`: its contents, when the caller has read them already)."""
        play_log = PlayLog(self.settings.play_log) if self.settings.play_log else None
        was_replaying = self.deck.replay_only
        cassette = self.deck.insert(
            path,
            mode=mode,
            speed=speed,
            matching=matching,
            play_log=play_log,
            loaded=loaded,
            cache_dir=self.settings.cassette_cache,
        )
        self._credentials_changed(was_replaying)
        return cassette

    def eject_cassette(self) -> CassetteTransport | None:
        """Send upstream calls to the network again; returns the cassette taken out."""
        return self.use_cassette(None)

    def use_cassette(self, cassette: CassetteTransport | None) -> CassetteTransport | None:
        """Put a cassette already built (or None: the network) back in; returns the one
        it replaces."""
        was_replaying = self.deck.replay_only
        previous = self.deck.put(cassette)
        self._credentials_changed(was_replaying)
        return previous

    def reload_environment(self, env: Mapping[str, str]) -> None:
        """New credentials (a notebook login): providers are rebuilt with them."""
        self.env = env
        self._retire_built_providers()

    def _credentials_changed(self, was_replaying: bool) -> None:
        # Providers built for a replay hold stand-in credentials, and providers built
        # for the network hold real ones: rebuild them on the next request. Requests in
        # flight finish with the provider they started with.
        if was_replaying != self.deck.replay_only:
            self._retire_built_providers()

    def _retire_built_providers(self) -> None:
        kept = {name: p for name, p in self.providers.items() if name in self.given}
        self._retired += [p for name, p in self.providers.items() if name not in self.given]
        self.providers = kept

    async def aclose(self) -> None:
        for provider in [*self.providers.values(), *self._retired]:
            await provider.aclose()
        await self.deck.shutdown()
        if self.traffic is not None:
            self.traffic.close()


def server_state() -> ServerState:
    """The state of the app serving the current request."""
    return app_state(current_app)


def app_state(app: Quart) -> ServerState:
    """The state of an app built by `create_app`, from outside a request."""
    return app.extensions[_KEY]


def find_state(app: Quart) -> ServerState | None:
    """The state of an app, or None for one `create_app` did not build."""
    state = app.extensions.get(_KEY)
    return state if isinstance(state, ServerState) else None


def attach_state(extensions: dict[str, object], state: ServerState) -> None:
    extensions[_KEY] = state
