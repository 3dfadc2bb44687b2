"""One request's traffic as rows: each chunk the client received, beside the upstream
bytes and canonical events that led to it, with the protocol checks of both sides.

The notebook's stream inspector and the live traffic page read taps through this one
builder, so both show the same rows and flag the same violations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chatmock_lab.stream_checks import StreamChecker, checker_for
from chatmock_lab.taps import TapRecord

PREVIEW_CHARS = 120


@dataclass
class ChunkRow:
    """One chunk the client received, and what led to it."""

    seconds: float  # since the request reached the server
    gap: float  # since the previous chunk the client received
    upstream: str  # the upstream bytes read since the previous client chunk
    events: str  # the canonical events those became
    client: str
    event_types: list[str]
    block_indexes: list[int | None]
    # What each event in the client chunk says, briefly (a delta's text, a finish).
    summaries: list[str]
    violations: list[str]
    # What the upstream's own protocol checks found in those upstream bytes.
    upstream_violations: list[str] = field(default_factory=list)


def record_bytes(record: TapRecord) -> bytes:
    """The bytes of a record that carries bytes (`upstream`, `client`, `request`)."""
    return record.data if isinstance(record.data, bytes) else b""


def short(text: str, limit: int = PREVIEW_CHARS) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RowBuilder:
    """Rows from a tap's records with the client dialect's checks (and the upstream's,
    given `upstream_dialect`), built as the records come: each `update` reads only what
    arrived since the last one."""

    def __init__(
        self,
        dialect: str,
        *,
        include_usage: bool,
        upstream_dialect: str | None = None,
        check: bool = True,
    ) -> None:
        """Without `check` (an answer in one body, not a stream), rows only."""
        self._checker: StreamChecker | None = (
            checker_for(dialect, include_usage=include_usage) if check else None
        )
        self._upstream_checker: StreamChecker | None = (
            checker_for(upstream_dialect, include_usage=True)
            if check and upstream_dialect
            else None
        )
        self.rows: list[ChunkRow] = []
        self._read = 0
        self._upstream: list[str] = []
        self._upstream_violations: list[str] = []
        self._events: list[str] = []
        self._previous = 0.0
        self.notes: list[str] = []

    def update(self, records: list[TapRecord]) -> None:
        for record in records[self._read :]:
            if record.side == "upstream":
                data = record_bytes(record)
                self._upstream.append(data.decode("utf-8", errors="replace"))
                if self._upstream_checker is not None:
                    for info in self._upstream_checker.feed(data):
                        self._upstream_violations += info.violations
            elif record.side == "event":
                self._events.append(repr(record.data))
            elif record.side == "note":
                self.notes.append(str(record.data))
            elif record.side == "client":
                self._client_chunk(record)
        self._read = len(records)

    def _client_chunk(self, record: TapRecord) -> None:
        data = record_bytes(record)
        infos = self._checker.feed(data) if self._checker is not None else []
        self.rows.append(
            ChunkRow(
                seconds=record.seconds,
                gap=record.seconds - self._previous,
                upstream="".join(self._upstream),
                events="; ".join(self._events),
                client=data.decode("utf-8", errors="replace"),
                event_types=[info.event_type for info in infos],
                block_indexes=[info.block_index for info in infos],
                summaries=[info.summary for info in infos if info.summary],
                violations=[v for info in infos for v in info.violations],
                upstream_violations=self._upstream_violations,
            )
        )
        self._previous = record.seconds
        self._upstream, self._events, self._upstream_violations = [], [], []

    def close(self) -> list[str]:
        """The stream's end: what is missing from it as a whole (the client's side)."""
        return self._checker.close() if self._checker is not None else []
