"""Settings: built-in defaults, then `CHATMOCK_*` environment variables, then flags.

Each setting is declared once in `_FIELDS` with its environment variable and how to
parse it, so the CLI, the README and the environment can never disagree on names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatmock_lab.chaos.rules import ChaosError, parse_rules
from chatmock_lab.core.errors import ChatmockError

# vcrpy's record modes, plus `rewrite` (start the cassette afresh).
RECORD_MODES: tuple[str, ...] = ("once", "new_episodes", "none", "all", "rewrite")
# What may carry upstream calls under httpx's API (see chatmock_lab/network.py).
UPSTREAM_TRANSPORTS: tuple[str, ...] = ("aiohttp", "httpx")


class ConfigError(ChatmockError, ValueError):
    """A setting with a value that cannot be used; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    provider: str = "mock"
    verbose: bool = False
    max_body_bytes: int = 20 * 1024 * 1024
    # Deepest JSON nesting accepted in a request body (a 400 beyond).
    max_json_depth: int = 100
    # What one body may hold (a 400 beyond); see dialects/json_body.py's BodyLimits.
    max_messages: int = 10_000
    max_parts: int = 10_000
    max_tools: int = 1_000
    max_list_items: int = 100_000
    max_string_chars: int = 10_485_760
    # Seconds a client may take to send its request body (a 408 beyond).
    body_timeout: float = 30.0
    mock_chunk_chars: int = 8
    mock_delay_ms: float = 0.0
    scenario: Path | None = None
    keepalive_seconds: float = 15.0
    max_concurrency: int = 16
    queue_timeout: float = 30.0
    rate_limit: float = 0.0
    wait: bool = False
    manual: bool = False
    retries: int = 2
    connect_timeout: float = 10.0
    first_byte_timeout: float = 300.0
    # What carries upstream calls under httpx's API: aiohttp's pool, or httpx's own.
    upstream_transport: str = "aiohttp"
    # A key clients must present, for a proxy reachable beyond this machine.
    api_key: str | None = field(default=None, repr=False)
    record: Path | None = None
    replay: Path | None = None
    record_mode: str = "once"
    replay_speed: float = 0.0
    # Where replays note which interactions they played, for `cassettes check --plays`.
    play_log: Path | None = None
    # Where cassettes' parsed YAML is kept by content, so a large one is parsed once.
    cassette_cache: Path | None = None
    # Body fields a replay leaves out of matching, beyond the volatile ones always left out.
    match_ignore: tuple[str, ...] = ()
    allow_playback_repeats: bool = False
    # Host names served beyond addresses and localhost (see server/browser_guard.py).
    allowed_hosts: tuple[str, ...] = ()
    # Web origins allowed to call the proxy from a browser (CORS); "*" for any.
    cors_origins: tuple[str, ...] = ()
    # Faults injected at the upstream edge for every request that brings none of its
    # own (`chatmock_lab.chaos`'s rules), and the seed of their `p=` draws.
    chaos: str | None = None
    chaos_seed: int = 0
    # The live traffic page at /_chatmock/ (and the recent requests it shows).
    ui: bool = True
    # How many recent chat requests the page (and its API) keeps, the newest.
    ui_requests: int = 500
    # A SQLite file every finished chat request is kept in (chatmock_lab.traffic).
    history: Path | None = None
    # Processes serving the one port (`serve` only; see server/workers.py).
    workers: int = 1
    # Load the tokenizer while the server starts, so that the first request that counts
    # tokens does not wait for it. Off in the pytest plugin: a replay rarely counts, and
    # the load would hold the GIL half a second beside the test. No variable or flag.
    preload_tokenizer: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        for name, (variable, parse) in _FIELDS.items():
            raw = env.get(variable)
            if raw is None or raw == "":
                continue
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{variable}={raw!r}: {exc}") from None
        return cls(**values).validated()

    def replace(self, **overrides: Any) -> Settings:
        """These settings with every override that is not None applied (flags win)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes).validated()

    def validated(self) -> Settings:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: must be between 0 and 65535, got {self.port}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes: must be at least 1024, got {self.max_body_bytes}")
        if not 2 <= self.max_json_depth <= 10_000:
            raise ConfigError(
                f"max_json_depth: must be between 2 and 10000, got {self.max_json_depth}"
            )
        for name in (
            "max_messages",
            "max_parts",
            "max_tools",
            "max_list_items",
            "max_string_chars",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.body_timeout <= 0:
            raise ConfigError(f"body_timeout: must be positive, got {self.body_timeout}")
        if self.mock_chunk_chars < 1:
            raise ConfigError(f"mock_chunk_chars: must be at least 1, got {self.mock_chunk_chars}")
        if self.keepalive_seconds < 0:
            raise ConfigError(
                f"keepalive_seconds: must not be negative, got {self.keepalive_seconds}"
            )
        if self.ui_requests < 1:
            raise ConfigError(f"ui_requests: must be at least 1, got {self.ui_requests}")
        if self.workers < 1:
            raise ConfigError(f"workers: must be at least 1, got {self.workers}")
        if self.max_concurrency < 1:
            raise ConfigError(f"max_concurrency: must be at least 1, got {self.max_concurrency}")
        for name in ("queue_timeout", "rate_limit", "connect_timeout", "first_byte_timeout"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: must not be negative, got {getattr(self, name)}")
        if self.record is not None and self.replay is not None:
            raise ConfigError("record and replay: choose one cassette mode, not both")
        if self.record_mode not in RECORD_MODES:
            raise ConfigError(
                f"record_mode: must be one of {', '.join(RECORD_MODES)}, got {self.record_mode!r}"
            )
        if self.upstream_transport not in UPSTREAM_TRANSPORTS:
            raise ConfigError(
                f"upstream_transport: must be one of {', '.join(UPSTREAM_TRANSPORTS)},"
                f" got {self.upstream_transport!r}"
            )
        if self.replay_speed < 0:
            raise ConfigError(f"replay_speed: must not be negative, got {self.replay_speed}")
        if self.retries < 0:
            raise ConfigError(f"retries: must not be negative, got {self.retries}")
        if self.mock_delay_ms < 0:
            raise ConfigError(f"mock_delay_ms: must not be negative, got {self.mock_delay_ms}")
        if self.chaos is not None:
            try:
                parse_rules(self.chaos)
            except ChaosError as error:
                raise ConfigError(str(error)) from None
        return self


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _parse_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("expected an integer") from None


def parse_names(raw: str) -> tuple[str, ...]:
    """A comma-separated list of names ("temperature, seed")."""
    return tuple(name.strip() for name in raw.split(",") if name.strip())


def _parse_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("expected a number") from None


_FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "host": ("CHATMOCK_HOST", str),
    "port": ("CHATMOCK_PORT", _parse_int),
    "provider": ("CHATMOCK_PROVIDER", str),
    "verbose": ("CHATMOCK_VERBOSE", _parse_bool),
    "max_body_bytes": ("CHATMOCK_MAX_BODY_BYTES", _parse_int),
    "max_json_depth": ("CHATMOCK_MAX_JSON_DEPTH", _parse_int),
    "max_messages": ("CHATMOCK_MAX_MESSAGES", _parse_int),
    "max_parts": ("CHATMOCK_MAX_PARTS", _parse_int),
    "max_tools": ("CHATMOCK_MAX_TOOLS", _parse_int),
    "max_list_items": ("CHATMOCK_MAX_LIST_ITEMS", _parse_int),
    "max_string_chars": ("CHATMOCK_MAX_STRING_CHARS", _parse_int),
    "body_timeout": ("CHATMOCK_BODY_TIMEOUT", _parse_float),
    "mock_chunk_chars": ("CHATMOCK_MOCK_CHUNK_CHARS", _parse_int),
    "mock_delay_ms": ("CHATMOCK_MOCK_DELAY_MS", _parse_float),
    "scenario": ("CHATMOCK_SCENARIO", Path),
    "keepalive_seconds": ("CHATMOCK_KEEPALIVE_SECONDS", _parse_float),
    "max_concurrency": ("CHATMOCK_MAX_CONCURRENCY", _parse_int),
    "queue_timeout": ("CHATMOCK_QUEUE_TIMEOUT", _parse_float),
    "rate_limit": ("CHATMOCK_RATE_LIMIT", _parse_float),
    "wait": ("CHATMOCK_WAIT", _parse_bool),
    "manual": ("CHATMOCK_MANUAL", _parse_bool),
    "retries": ("CHATMOCK_RETRIES", _parse_int),
    "connect_timeout": ("CHATMOCK_CONNECT_TIMEOUT", _parse_float),
    "first_byte_timeout": ("CHATMOCK_FIRST_BYTE_TIMEOUT", _parse_float),
    "upstream_transport": ("CHATMOCK_UPSTREAM_TRANSPORT", str),
    "api_key": ("CHATMOCK_API_KEY", str),
    "record": ("CHATMOCK_RECORD", Path),
    "replay": ("CHATMOCK_REPLAY", Path),
    "record_mode": ("CHATMOCK_RECORD_MODE", str),
    "replay_speed": ("CHATMOCK_REPLAY_SPEED", _parse_float),
    "play_log": ("CHATMOCK_PLAY_LOG", Path),
    "cassette_cache": ("CHATMOCK_CASSETTE_CACHE", Path),
    "match_ignore": ("CHATMOCK_MATCH_IGNORE", parse_names),
    "allowed_hosts": ("CHATMOCK_ALLOWED_HOSTS", parse_names),
    "cors_origins": ("CHATMOCK_CORS_ORIGINS", parse_names),
    "allow_playback_repeats": ("CHATMOCK_ALLOW_PLAYBACK_REPEATS", _parse_bool),
    "workers": ("CHATMOCK_WORKERS", _parse_int),
    "chaos": ("CHATMOCK_CHAOS", str),
    "chaos_seed": ("CHATMOCK_CHAOS_SEED", _parse_int),
    "ui": ("CHATMOCK_UI", _parse_bool),
    "ui_requests": ("CHATMOCK_UI_REQUESTS", _parse_int),
    "history": ("CHATMOCK_HISTORY", Path),
}


def environment_variables() -> dict[str, str]:
    """Setting name to its environment variable, for help texts."""
    return {name: variable for name, (variable, _) in _FIELDS.items()}
