"""The proxy's recent chat traffic, kept for the live traffic page and `--history`.

Every chat request the server serves gets an entry with a tap (`chatmock_lab.taps`; the
notebook inspector's own when it watches the request): the client's body, the canonical
request, what the provider sent upstream, the upstream's bytes, the events, the client's
bytes and the notes on what was not carried over, each timed on the server's clock. The
log keeps the newest `limit` entries, tells subscribers (the page's event stream) when
one starts and ends, and hands each finished one to the history file, if there is one.
Rows and protocol checks are made when someone asks (`TrafficEntry.record`), not per
request, and once for a finished entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from chatmock_lab.core import ChatRequest, Usage, request_data
from chatmock_lab.redact import Redactor
from chatmock_lab.taps import Tap
from chatmock_lab.traffic.rows import RowBuilder, record_bytes

# What one entry keeps of its traffic at most: a long stream's tail is timed, not kept;
# past so many records (chunks, events) nothing more is kept, only counted. A megabyte
# echo is 130,000 events, which kept alive cost the whole server's garbage collector.
ENTRY_BYTES = 2 * 1024 * 1024
ENTRY_RECORDS = 4096
# Longest text shown for one body (a request with images runs to megabytes).
_TEXT_CHARS = 64 * 1024


@dataclass(frozen=True, slots=True)
class TrafficRecord:
    """One chat request as the page shows it and the history file keeps it."""

    id: int
    started_at: float  # seconds since the epoch
    method: str
    path: str
    dialect: str
    provider: str | None
    model: str | None
    status: int | None
    done: bool
    ttft_ms: float | None  # the first chunk the client received, from the request's arrival
    total_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    chunks: int
    violations: int
    # Records (chunks, events) past the entry's bound: counted, not kept.
    not_kept: int = 0
    request_body: str = ""
    canonical_request: str = ""
    upstream_request: str = ""
    notes: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    end_violations: list[str] = field(default_factory=list)
    # When each chunk arrived (ms), on either side: the timeline.
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The fields the page's list shows."""
        return {name: getattr(self, name) for name in SUMMARY_FIELDS}


# What a subscriber is told: a request's `begin` or `end`, with its summary.
Told = tuple[str, dict[str, Any]]

SUMMARY_FIELDS = (
    "id",
    "started_at",
    "method",
    "path",
    "dialect",
    "provider",
    "model",
    "status",
    "done",
    "ttft_ms",
    "total_ms",
    "input_tokens",
    "output_tokens",
    "chunks",
    "violations",
    "not_kept",
)


class TrafficEntry:
    """One chat request while it is served and after. Its rows, checks and counts are
    made from the tap's records as someone asks, each record read once: a page that
    follows a long stream costs what the new records cost, not the whole stream again."""

    def __init__(
        self, entry_id: int, method: str, path: str, dialect: str, body: bytes, tap: Tap
    ) -> None:
        self.id = entry_id
        self.started_at = time.time()
        self.method = method
        self.path = path
        self.dialect = dialect
        self.body = body[:_TEXT_CHARS]
        self.tap = tap
        self.provider: str | None = None
        self.model: str | None = None
        self.upstream_dialect: str | None = None
        self.canonical: ChatRequest | None = None
        self.status: int | None = None
        # Whether the answer was a stream (a whole JSON body has no protocol to check).
        self.streamed = False
        self.done = False
        # Made once the answer has started (whether it is a stream is known then).
        self._builder: RowBuilder | None = None
        self._rows: list[dict[str, Any]] = []
        self._violations = 0
        self._end: list[str] | None = None
        self._read = 0
        self._timeline: list[tuple[float, str]] = []
        self._first_client: float | None = None
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None
        self._sent: bytes | None = None
        # The client's body and the canonical request as shown: made once.
        self._texts: tuple[str, str] | None = None
        self._finished: TrafficRecord | None = None

    def __repr__(self) -> str:
        return f"TrafficEntry({self.id}, {self.method} {self.path}, status={self.status})"

    def record(self, redactor: Redactor) -> TrafficRecord:
        """The entry as a record, rows and checks included (kept once it is done)."""
        if self._finished is not None:
            return self._finished
        record = self._build(redactor)
        if self.done:
            self._finished = record
        return record

    def _catch_up(self, redactor: Redactor) -> None:
        # The server's loop writes the tap and reads it here: no copy is needed.
        records = self.tap.records
        for record in records[self._read :]:
            if record.side in _TIMED:
                self._timeline.append((_ms(record.seconds), record.side))
                if record.side == "client" and self._first_client is None:
                    self._first_client = record.seconds
            elif record.side == "request":
                self._sent = record_bytes(record)
            elif record.side == "event" and isinstance(record.data, Usage):
                self._input_tokens = max(self._input_tokens or 0, record.data.input_tokens)
                self._output_tokens = max(self._output_tokens or 0, record.data.output_tokens)
        self._read = len(records)
        if self._texts is None and self.canonical is not None:
            body = redactor.text(self.body.decode("utf-8", errors="replace"))
            self._texts = body, redactor.text(_canonical_text(self.canonical))
        if self._builder is None:
            if self.status is None and not self.done:
                return  # nothing of the answer yet: no rows to make
            self._builder = RowBuilder(
                self.dialect,
                include_usage=_asks_for_usage(self.body.decode("utf-8", errors="replace")),
                upstream_dialect=self.upstream_dialect,
                check=self.streamed,
            )
        self._builder.update(records)
        for row in self._builder.rows[len(self._rows) :]:
            shown = asdict(row)
            for text in ("upstream", "events", "client"):
                shown[text] = redactor.text(shown[text])
            self._violations += len(row.violations) + len(row.upstream_violations)
            self._rows.append(shown)
        if self.done and self._end is None:
            self._end = self._builder.close() if self.streamed else []

    def _build(self, redactor: Redactor) -> TrafficRecord:
        self._catch_up(redactor)
        records = self.tap.records
        last = records[-1].seconds if records else None
        end = self._end or []
        notes = self._builder.notes if self._builder is not None else []
        sent = self._sent.decode("utf-8", errors="replace")[:_TEXT_CHARS] if self._sent else ""
        body, canonical = self._texts or (
            redactor.text(self.body.decode("utf-8", errors="replace")),
            "",
        )
        return TrafficRecord(
            id=self.id,
            started_at=self.started_at,
            method=self.method,
            path=self.path,
            dialect=self.dialect,
            provider=self.provider,
            model=self.model,
            status=self.status,
            done=self.done,
            ttft_ms=None if self._first_client is None else _ms(self._first_client),
            total_ms=_ms(last) if self.done and last is not None else None,
            input_tokens=self._input_tokens,
            output_tokens=self._output_tokens,
            chunks=len(self._rows),
            violations=self._violations + len(end),
            not_kept=self.tap.dropped,
            request_body=body,
            canonical_request=canonical,
            upstream_request=redactor.text(sent),
            notes=[redactor.text(note) for note in notes],
            rows=list(self._rows),
            end_violations=list(end),
            timeline=list(self._timeline),
        )


_TIMED = ("upstream", "client")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _asks_for_usage(body: str) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    options = parsed.get("stream_options") if isinstance(parsed, dict) else None
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _canonical_text(request: ChatRequest) -> str:
    text = json.dumps(
        request_data(request, max_chars=2000), indent=2, ensure_ascii=False, default=str
    )
    return text if len(text) <= _TEXT_CHARS else text[:_TEXT_CHARS] + "\n..."


class TrafficLog:
    """The newest `limit` chat requests, in order. `begin` and `finish` run on the
    server's loop; subscribers (asyncio queues on that loop) hear of both."""

    def __init__(self, *, limit: int = 500, redactor: Redactor) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.redactor = redactor
        self._entries: OrderedDict[int, TrafficEntry] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._subscribers: set[asyncio.Queue[Told | None]] = set()
        self._sinks: list[Any] = []

    def __repr__(self) -> str:
        return f"TrafficLog({len(self._entries)} of {self.limit})"

    def add_sink(self, sink: Any) -> None:
        """Something with `keep(record)`, handed every finished record (the history)."""
        self._sinks.append(sink)

    def begin(self, method: str, path: str, dialect: str, body: bytes, tap: Tap) -> TrafficEntry:
        with self._lock:
            entry = TrafficEntry(next(self._ids), method, path, dialect, body, tap)
            self._entries[entry.id] = entry
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)
        self._publish("begin", entry)
        return entry

    def finish(self, entry: TrafficEntry) -> None:
        entry.done = True
        entry.tap.end()
        self._publish("end", entry)
        if self._sinks:
            record = entry.record(self.redactor)
            for sink in self._sinks:
                sink.keep(record)

    def entries(self) -> list[TrafficEntry]:
        with self._lock:
            return list(self._entries.values())

    def get(self, entry_id: int) -> TrafficEntry | None:
        with self._lock:
            return self._entries.get(entry_id)

    def in_flight(self) -> Iterator[TrafficEntry]:
        return (entry for entry in self.entries() if not entry.done)

    def subscribe(self) -> asyncio.Queue[Told | None]:
        queue: asyncio.Queue[Told | None] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Told | None]) -> None:
        self._subscribers.discard(queue)

    def end_subscriptions(self) -> None:
        """End every subscriber's stream: the server is stopping, and must not wait for
        pages that would listen for ever."""
        for queue in list(self._subscribers):
            _offer(queue, None)

    def close(self) -> None:
        self.end_subscriptions()
        for sink in self._sinks:
            sink.close()

    def _publish(self, kind: str, entry: TrafficEntry) -> None:
        if not self._subscribers:
            return
        # At the start nothing has been read yet: the record is quick to make.
        summary = entry.record(self.redactor).summary()
        for queue in list(self._subscribers):
            _offer(queue, (kind, summary))


def _offer(
    queue: asyncio.Queue[Told | None],
    item: Told | None,
) -> None:
    # A page that stopped reading loses updates, never the server's memory or time.
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(item)
