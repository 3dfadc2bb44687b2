"""Recording and replaying upstream traffic at the httpx layer, where providers call out.

A `CassetteTransport` wraps the real transport. Recording tees each response: the
stream goes on to the caller chunk by chunk as it arrives (time to first token stays
real) while every chunk and its time offset is kept; when the response ends, or is cut
off, the interaction is scrubbed of secrets and the cassette saved. Replay serves
recorded responses with their chunk boundaries, as fast as possible (`speed=0`) or at
the recorded pace times `speed`.

Record modes follow vcrpy: `once` (record into a new cassette, replay an existing one),
`new_episodes` (replay what matches, record the rest), `none` (replay only), `all`
(record everything, replay nothing); and `rewrite` (start from an empty cassette).
"""

from __future__ import annotations

import asyncio
import codecs
import copy
import os
import threading
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Literal

import httpx

from chatmock_lab.cassettes.format import (
    Cassette,
    CassetteError,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
    save_cassette,
)
from chatmock_lab.cassettes.matching import Matcher, MatchOptions
from chatmock_lab.cassettes.play_log import PlayLog
from chatmock_lab.cassettes.scrub import scrub_interaction
from chatmock_lab.chaos import (
    CHAOS_APPLIED,
    CHAOS_EXTENSION,
    ChaosPlan,
    ChaosRule,
    chaotic_body,
    chaotic_response,
    parse_rules,
)
from chatmock_lab.config import RECORD_MODES
from chatmock_lab.core import ProxyError

RecordMode = Literal["once", "new_episodes", "none", "all", "rewrite"]
# How long finished interactions wait to be written together.
_WRITE_DELAY = 0.2
# ... and at least this many times as long as the last write took.
_WRITE_SPACING = 4.0
# Set on each outgoing request by the provider's client, so a cassette can note whose
# traffic it holds and a replay can pick the same provider.
PROVIDER_EXTENSION = "chatmock_lab.provider"
# Headers that describe the wire encoding, not the stored (decoded) text.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
# Recorded chaos whose effect is time, which a replay at full speed must apply again.
_TIMING_KINDS = frozenset({"slow", "silence"})


def _recorded_request(request: httpx.Request) -> RecordedRequest:
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.multi_items():
        headers.setdefault(name.lower(), []).append(value)
    body = request.content.decode("utf-8", errors="replace") if request.content else None
    return RecordedRequest(method=request.method, uri=str(request.url), headers=headers, body=body)


class CassetteTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: RecordMode = "once",
        inner: httpx.AsyncBaseTransport | None = None,
        speed: float = 0.0,
        secrets: Iterable[str] = (),
        matching: MatchOptions | None = None,
        play_log: PlayLog | None = None,
        loaded: Cassette | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """`loaded` is the cassette at `path` already read (by whoever needed its
        metadata first), so a large one is not parsed twice; `cache_dir` keeps its
        parsed YAML for the next time (`load_cassette`)."""
        if mode not in RECORD_MODES:
            raise ValueError(f"record mode must be one of {', '.join(RECORD_MODES)}, got {mode!r}")
        if speed < 0:
            raise ValueError(f"replay speed must not be negative, got {speed}")
        self.path = Path(path)
        self.mode = mode
        self.speed = speed
        self._secrets = list(secrets)
        # A transport we were given belongs to someone else (a deck's shared pool).
        self._owns_inner = inner is None
        self._inner = inner or httpx.AsyncHTTPTransport()
        self.play_log = play_log
        self.recorded = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._unsaved = False
        self._timer: threading.Timer | None = None
        self._write_seconds = 0.0
        existed = self.path.exists() and mode != "rewrite"
        if mode == "none" and not existed:
            raise CassetteError(
                f"{self.path}: no such cassette to replay (record it first, e.g. with"
                " record mode once)"
            )
        if not existed:
            self.cassette = Cassette()
        else:
            self.cassette = (
                loaded if loaded is not None else load_cassette(self.path, cache_dir=cache_dir)
            )
        self.cassette.metadata.setdefault("recorded_by", "chatmock-lab")
        # `once` records only into a cassette that did not exist yet.
        self._may_record = mode in ("all", "rewrite", "new_episodes") or (
            mode == "once" and not existed
        )
        self._may_replay = mode in ("once", "new_episodes", "none")
        self.matcher = Matcher(self.cassette, matching)

    def __repr__(self) -> str:
        return f"CassetteTransport({str(self.path)!r}, mode={self.mode!r})"

    @property
    def records(self) -> bool:
        """Whether a request this cassette cannot answer goes to the network (and is kept)."""
        return self._may_record

    @property
    def played(self) -> int:
        """How many answers have been replayed so far."""
        return self.matcher.plays

    def unplayed(self) -> list[int]:
        """Indexes of the loaded interactions not replayed so far."""
        return self.matcher.unplayed()

    async def aclose(self) -> None:
        self.flush()
        if self._owns_inner:
            await self._inner.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        recorded_request = _recorded_request(request)
        if self._may_replay:
            index = self.matcher.match_index(recorded_request)
            if index is not None:
                return await self._play(index, request)
        if not self._may_record:
            raise self._no_match(recorded_request)
        provider = request.extensions.get(PROVIDER_EXTENSION)
        if isinstance(provider, str):
            self._note_provider(provider)
        # Plain bytes on the wire, so what is recorded is the text itself.
        request.headers["accept-encoding"] = "identity"
        response = await self._inner.handle_async_request(request)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_RecordingStream(self, recorded_request, response),
            extensions=response.extensions,
            request=request,
        )

    def _no_match(self, request: RecordedRequest) -> ProxyError:
        used_up = self.matcher.used_up(request)
        if used_up:
            return self._used_up(request, used_up)
        closest = self.matcher.closest(request)
        hint = f"; closest recorded request (#{closest[0]}):\n{closest[1]}" if closest else ""
        return ProxyError(
            f"cassette {self.path}: no recorded request matches {request.method}"
            f" {httpx.URL(request.uri).path} (record mode {self.mode}){hint}",
            kind="not_found",
        )

    def _used_up(self, request: RecordedRequest, recordings: list[tuple[int, int]]) -> ProxyError:
        # The request does match: a diff against the closest recording would be empty and
        # say nothing, while what the caller needs is the option that lets it play again.
        path = httpx.URL(request.uri).path
        indexes = ", ".join(f"#{index}" for index, _ in recordings)
        played = sum(count for _, count in recordings)
        if len(recordings) == 1:
            which = f"the recording that matches {request.method} {path} (interaction {indexes})"
            was = "was"
        else:
            which = (
                f"the {len(recordings)} recordings that match {request.method} {path}"
                f" (interactions {indexes})"
            )
            was = "were all"
        return ProxyError(
            f"cassette {self.path}: {which} {was} already played: recorded"
            f" {_times(len(recordings))}, played {_times(played)} (record mode {self.mode})."
            " Each recording answers once; to let a used-up recording answer again, serve"
            " with --allow-playback-repeats, or use the pytest marker option"
            " @pytest.mark.chatmock(allow_playback_repeats=True)"
            " (chatmock_lab.cassette(..., allow_playback_repeats=True),"
            " %chatmock replay --repeats)",
            kind="not_found",
        )

    async def _play(self, index: int, request: httpx.Request) -> httpx.Response:
        interaction = self.cassette.interactions[index]
        plan = request.extensions.get(CHAOS_EXTENSION)
        # Chaos recorded with the interaction already happened in it; rules given now
        # apply only over an interaction recorded without any.
        rules = (
            plan.draw()
            if isinstance(plan, ChaosPlan) and interaction.response.chaos is None
            else ()
        )
        if any(rule.kind == "error" for rule in rules):
            # The error answers this call; the recording answers the next one.
            self.matcher.release(index)
        elif self.play_log is not None:
            self.play_log.record(self.path, index, interaction.request)
        if not rules:
            return self._replay(interaction, request)

        async def replayed(request: httpx.Request) -> httpx.Response:
            return self._replay(interaction, request)

        return await chaotic_response(rules, request, replayed)

    def _replay(self, interaction: Interaction, request: httpx.Request) -> httpx.Response:
        recorded = interaction.response
        headers = [
            (name, value)
            for name, values in recorded.headers.items()
            if name.lower() not in _WIRE_HEADERS
            for value in values
        ]
        chunks = recorded.chunks if recorded.chunks is not None else [(0.0, recorded.body)]
        timing: tuple[ChaosRule, ...] = ()
        if recorded.chaos and self.speed == 0:
            # At the recorded pace the offsets hold the delays already.
            timing = tuple(r for r in parse_rules(recorded.chaos) if r.kind in _TIMING_KINDS)
        response = httpx.Response(
            status_code=recorded.status,
            headers=headers,
            stream=_ReplayStream(chunks, self.speed, broke_off=recorded.broke_off, timing=timing),
            request=request,
        )
        if recorded.chaos is not None:
            response.extensions[CHAOS_APPLIED] = recorded.chaos
        return response

    def _note_provider(self, name: str) -> None:
        with self._lock:
            providers = self.cassette.metadata.setdefault("providers", [])
            if name not in providers:
                providers.append(name)

    def save(self, interaction: Interaction) -> None:
        """Keep a finished interaction (scrubbed); the file is written soon after, off
        the caller's thread, with whatever else finished meanwhile."""
        clean = scrub_interaction(interaction, secrets=self._secrets)
        with self._lock:
            self.cassette.interactions.append(clean)
            self.recorded += 1
            self.cassette.metadata["recorded_at"] = time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime()
            )
            self._unsaved = True
            if self._timer is None:
                # Writing the whole file for each interaction made recording quadratic
                # (seconds per request at a few megabytes). One write per burst, and
                # rarer as writes grow slower, keeps writing to a fraction of the time.
                delay = max(_WRITE_DELAY, _WRITE_SPACING * self._write_seconds)
                self._timer = threading.Timer(delay, self._write)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Write what has been recorded and not yet written; on return it is on disk."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self._write()

    def _write(self) -> None:
        # One writer at a time, each writing the newest state: a slow write can never
        # land after (and undo) a later one.
        with self._write_lock:
            with self._lock:
                self._timer = None
                if not self._unsaved:
                    return
                self._unsaved = False
                snapshot = Cassette(
                    list(self.cassette.interactions), copy.deepcopy(self.cassette.metadata)
                )
            started = time.monotonic()
            save_cassette(self.path, snapshot)
            self._write_seconds = time.monotonic() - started


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


class _ReplayStream(httpx.AsyncByteStream):
    """The recorded chunks, at once or at the recorded pace times `speed`; `timing`
    (recorded slow or silence chaos) is applied again over them, and a recording that
    broke off breaks off after its last chunk."""

    def __init__(
        self,
        chunks: list[tuple[float, str]],
        speed: float,
        *,
        broke_off: bool = False,
        timing: tuple[ChaosRule, ...] = (),
    ) -> None:
        self._chunks = chunks
        self._speed = speed
        self._broke_off = broke_off
        self._timing = timing

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if not self._timing:
            async for chunk in self._recorded():
                yield chunk
        else:
            # Recorded chaos cut the body into its frames: the same cut comes back.
            async for chunk in chaotic_body(self._recorded(), self._timing, event_stream=True):
                yield chunk
        if self._broke_off:
            raise httpx.RemoteProtocolError("the recorded upstream broke off the stream here")

    async def _recorded(self) -> AsyncIterator[bytes]:
        started = time.monotonic()
        for offset, text in self._chunks:
            if self._speed > 0:
                # Each chunk is due at a fixed time from the start, so the time spent
                # sending earlier chunks does not add up over a long stream.
                delay = started + offset / 1000 / self._speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield text.encode()


class _RecordingStream(httpx.AsyncByteStream):
    """Passes the upstream's chunks on as they come, keeping each with its offset."""

    def __init__(
        self, owner: CassetteTransport, request: RecordedRequest, response: httpx.Response
    ) -> None:
        self._owner = owner
        self._request = request
        self._response = response
        self._chunks: list[tuple[float, str]] = []
        self._saved = False
        self._error: str | None = None
        self._complete = False
        self._broke_off = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        started = time.monotonic()
        # A character split across two chunks belongs to the later one.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            async for chunk in self._response.aiter_raw():
                offset = round((time.monotonic() - started) * 1000, 1)
                self._chunks.append((offset, decoder.decode(chunk)))
                yield chunk
            self._complete = True
        except httpx.TransportError as exc:
            self._error = f"{type(exc).__name__}: the upstream broke off the stream"
            self._broke_off = True
            raise
        except (GeneratorExit, asyncio.CancelledError):
            self._error = "the client went away before the end"
            raise

    async def aclose(self) -> None:
        await self._response.aclose()
        if self._saved:
            return
        self._saved = True
        headers: dict[str, list[str]] = {}
        for name, value in self._response.headers.multi_items():
            if name.lower() not in _WIRE_HEADERS:
                headers.setdefault(name.lower(), []).append(value)
        complete = self._complete and self._error is None
        self._owner.save(
            Interaction(
                request=self._request,
                response=RecordedResponse(
                    status=self._response.status_code,
                    reason=self._response.reason_phrase,
                    headers=headers,
                    body="".join(text for _, text in self._chunks),
                    chunks=list(self._chunks),
                    complete=complete,
                    error=None if complete else (self._error or "not read to the end"),
                    broke_off=self._broke_off,
                    chaos=self._response.extensions.get(CHAOS_APPLIED),
                ),
            )
        )
