"""What a running proxy is doing, in one record: for `%chatmock status` and
`GET /_chatmock/status`."""

from __future__ import annotations

from dataclasses import dataclass, field

from chatmock_lab.chaos import format_rules
from chatmock_lab.server.state import ServerState


@dataclass(frozen=True, slots=True)
class ServerStatus:
    url: str
    provider: str
    cassette: str | None  # "path (mode, played N, recorded M)"
    requests_served: int
    permits_in_use: int
    max_concurrency: int
    waiting: int
    # The rules every request gets unless it brings its own, and the seed of the draws.
    chaos_rules: str = ""
    chaos_seed: int = 0
    # What was injected so far, by kind ("error 429", "drop", ...).
    chaos_injected: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        chaos = describe_chaos(self.chaos_rules, self.chaos_seed, self.chaos_injected)
        return "\n".join(
            [
                f"chatmock-lab at {self.url} (provider: {self.provider})",
                f"  cassette: {self.cassette or 'none'}",
                f"  requests served: {self.requests_served}",
                f"  permits in use: {self.permits_in_use} of {self.max_concurrency}"
                f" ({self.waiting} waiting)",
                f"  chaos: {chaos}",
            ]
        )


def describe_chaos(rules: str, seed: int, injected: dict[str, int]) -> str:
    counts = ", ".join(f"{kind} x{count}" for kind, count in injected.items())
    return f"{rules or 'none'} (seed {seed}); injected so far: {counts or 'nothing'}"


def server_status(state: ServerState, url: str) -> ServerStatus:
    cassette = state.deck.cassette
    described = None
    if cassette is not None:
        described = (
            f"{cassette.path} ({cassette.mode}, played {cassette.played},"
            f" recorded {cassette.recorded})"
        )
    return ServerStatus(
        url=url,
        provider=state.settings.provider,
        cassette=described,
        requests_served=state.requests_served,
        permits_in_use=state.gate.in_use,
        max_concurrency=state.gate.max_concurrency,
        waiting=state.gate.waiting,
        chaos_rules=format_rules(state.chaos.rules.rules),
        chaos_seed=state.chaos.seed,
        chaos_injected=state.chaos.counts(),
    )
