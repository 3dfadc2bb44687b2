"""Finding the recording for a request on replay, ignoring what changes from run to run.

A request is reduced to its canonical form: method, path (the host differs between a
recording and a replay through the proxy), the query without credentials, and the body
as JSON with sorted keys and volatile fields removed. Volatile by default:

- at any depth: `user`, `safety_identifier`, `metadata`, `stream_options`, `request_id`,
  `prompt_cache_key`, `session_id`, `created`, `created_at`, `timestamp` (per-user,
  per-session or per-clock values that a client fills in afresh each run);
- at the top level only (written `$.name`): `id`, because nested ids (tool call ids in a
  conversation's history) come from the recorded answers and must match.

Names inside a JSON Schema's `properties` are data, not fields, so they are never removed.
Form bodies are compared as sorted parameters; other bodies as text.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from chatmock_lab.cassettes.format import Cassette, Interaction, RecordedRequest

DEFAULT_IGNORED = frozenset(
    {
        "user",
        # OpenAI's per-end-user id (the successor of `user`), which clients now send.
        "safety_identifier",
        "metadata",
        "stream_options",
        "request_id",
        "prompt_cache_key",
        "session_id",
        "created",
        "created_at",
        "timestamp",
        "$.id",
    }
)

# Credentials (scrubbed in cassettes, real on replay) and cache busters.
DEFAULT_IGNORED_QUERY = frozenset({"key", "api_key", "access_token", "token", "_"})

_DIFF_LINES = 12

CanonicalRequest = tuple[str, str, str, str]


def canonical_request(
    request: RecordedRequest,
    *,
    ignore: Iterable[str] = DEFAULT_IGNORED,
    ignore_query: Iterable[str] = DEFAULT_IGNORED_QUERY,
) -> CanonicalRequest:
    """(method, path, query, body): equal for requests a replay should treat as the same."""
    ignored = frozenset(ignore)
    ignored_query = frozenset(name.lower() for name in ignore_query)
    parts = urlsplit(request.uri)
    query = urlencode(
        sorted(
            (name, value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
            if name.lower() not in ignored_query
        )
    )
    return request.method.upper(), parts.path or "/", query, _canonical_body(request, ignored)


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """How a replay finds a request's recording: the body fields and query parameters
    left out of the comparison, and whether a recording already used may play again."""

    allow_playback_repeats: bool = False
    ignore: frozenset[str] = DEFAULT_IGNORED
    ignore_query: frozenset[str] = DEFAULT_IGNORED_QUERY

    def ignoring(self, fields: Iterable[str]) -> MatchOptions:
        """These options with more body fields ignored (`name`, or `$.name` at the top)."""
        return replace(self, ignore=self.ignore | frozenset(fields))


class Matcher:
    """Hands out recorded interactions for requests: the n-th identical request gets the n-th
    recording; once they are used up, nothing, or the last one again if repeats are allowed.
    Thread-safe, since a proxy serves requests concurrently.
    """

    def __init__(self, cassette: Cassette, options: MatchOptions | None = None) -> None:
        self.cassette = cassette
        self.options = options or MatchOptions()
        self._ignore = self.options.ignore
        self._ignore_query = self.options.ignore_query
        self._lock = threading.Lock()
        self._canonical = [self._canonicalize(i.request) for i in cassette.interactions]
        self._by_request: dict[CanonicalRequest, list[int]] = {}
        for index, canonical in enumerate(self._canonical):
            self._by_request.setdefault(canonical, []).append(index)
        # The same requests with top-level `stream` left out, for requests no recording
        # matches exactly: the proxy used to ask its upstream for a stream even when the
        # client wanted one body, so cassettes recorded then hold `stream: true` where a
        # replay now asks `false` (the provider reads either answer). Built at the first
        # miss: a cassette recorded now never needs it.
        self._stream_blind = self._ignore | {"$.stream"}
        self._by_request_any_stream: dict[CanonicalRequest, list[int]] | None = None
        self._play_counts = [0] * len(cassette.interactions)

    def match(self, request: RecordedRequest) -> Interaction | None:
        index = self.match_index(request)
        return None if index is None else self.cassette.interactions[index]

    def match_index(self, request: RecordedRequest) -> int | None:
        """The index of the recording to play for `request`, counted as played."""
        indexes = self._recordings_of(request)
        with self._lock:
            for index in indexes:
                if self._play_counts[index] == 0:
                    break
            else:
                if not (indexes and self.options.allow_playback_repeats):
                    return None
                index = indexes[-1]
            self._play_counts[index] += 1
        return index

    def release(self, index: int) -> None:
        """Count a play of `index` as not made (the call it matched was answered
        otherwise, by a chaos error), so that it answers the next call instead."""
        with self._lock:
            if self._play_counts[index] > 0:
                self._play_counts[index] -= 1

    def used_up(self, request: RecordedRequest) -> list[tuple[int, int]]:
        """The recordings of `request` (each one's index and how many times it was played),
        for saying why a request whose recordings were all played got nothing; empty when
        no recording matches it at all."""
        indexes = self._recordings_of(request)
        with self._lock:
            return [(index, self._play_counts[index]) for index in indexes]

    @property
    def plays(self) -> int:
        with self._lock:
            return sum(self._play_counts)

    def unplayed(self) -> list[int]:
        with self._lock:
            return [index for index, count in enumerate(self._play_counts) if count == 0]

    def closest(self, request: RecordedRequest) -> tuple[int, str] | None:
        """The most similar recorded request's index and a short diff, for an error message."""
        if not self._canonical:
            return None
        wanted = self._canonicalize(request)
        wanted_lines = _lines(wanted)

        def score(index: int) -> tuple[bool, bool, float]:
            recorded = self._canonical[index]
            ratio = difflib.SequenceMatcher(None, _lines(recorded), wanted_lines).ratio()
            return recorded[:2] == wanted[:2], recorded[0] == wanted[0], ratio

        best = max(range(len(self._canonical)), key=score)
        diff = difflib.unified_diff(
            _lines(self._canonical[best]),
            wanted_lines,
            fromfile=f"recorded #{best}",
            tofile="request",
            n=1,
            lineterm="",
        )
        lines = list(diff)
        if len(lines) > _DIFF_LINES:
            lines = [*lines[:_DIFF_LINES], f"... ({len(lines) - _DIFF_LINES} more lines)"]
        return best, "\n".join(lines)

    def _recordings_of(self, request: RecordedRequest) -> list[int]:
        exact = self._by_request.get(self._canonicalize(request))
        if exact:
            return exact
        with self._lock:
            if self._by_request_any_stream is None:
                blind: dict[CanonicalRequest, list[int]] = {}
                for index, interaction in enumerate(self.cassette.interactions):
                    canonical = self._canonicalize(interaction.request, self._stream_blind)
                    blind.setdefault(canonical, []).append(index)
                self._by_request_any_stream = blind
            by_request = self._by_request_any_stream
        return by_request.get(self._canonicalize(request, self._stream_blind), [])

    def _canonicalize(
        self, request: RecordedRequest, ignore: frozenset[str] | None = None
    ) -> CanonicalRequest:
        return canonical_request(
            request,
            ignore=self._ignore if ignore is None else ignore,
            ignore_query=self._ignore_query,
        )


def _lines(canonical: CanonicalRequest) -> list[str]:
    method, path, query, body = canonical
    first = f"{method} {path}?{query}" if query else f"{method} {path}"
    return [first, *body.splitlines()]


def _canonical_body(request: RecordedRequest, ignored: frozenset[str]) -> str:
    body = request.body
    if not body:
        return ""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    else:
        cleaned = _without(document, ignored, top_level=True)
        if isinstance(cleaned, dict) and "max_completion_tokens" in cleaned:
            # The same limit under its newer OpenAI name, which a provider sends or not
            # depending on its base URL: a replay elsewhere must still match.
            cleaned.setdefault("max_tokens", cleaned.pop("max_completion_tokens"))
        return json.dumps(cleaned, sort_keys=True, indent=1, ensure_ascii=False)
    if _is_form(request):
        pairs = parse_qsl(body, keep_blank_values=True)
        return urlencode(sorted((k, v) for k, v in pairs if k not in ignored))
    return body


def _is_form(request: RecordedRequest) -> bool:
    return any(
        name.lower() == "content-type" and "x-www-form-urlencoded" in value.lower()
        for name, values in request.headers.items()
        for value in values
    )


def _without(node: Any, ignored: frozenset[str], *, top_level: bool = False) -> Any:
    if isinstance(node, dict):
        kept = {}
        for key, value in node.items():
            if key in ignored or (top_level and f"$.{key}" in ignored):
                continue
            if key == "properties" and isinstance(value, dict):
                # A schema's property names are data: keep them, clean their definitions.
                kept[key] = {name: _without(item, ignored) for name, item in value.items()}
            else:
                kept[key] = _without(value, ignored)
        return kept
    if isinstance(node, list):
        return [_without(item, ignored) for item in node]
    return node
