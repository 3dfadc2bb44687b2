"""A streamed request watched chunk by chunk: what the upstream sent, the canonical events
it became, and what the client received after translation, with protocol checks.

The request goes to the proxy over HTTP with a tap (`chatmock_lab.taps`) registered on
the server, so the upstream's bytes and the client's bytes are timed on one clock by
the server itself. The table is rebuilt at most every 100 ms while the stream runs, and
once more at the end.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from chatmock_lab.core import ChatRequest
from chatmock_lab.lab.answers import error_line
from chatmock_lab.lab.dialect_table import render_in
from chatmock_lab.server.state import ServerState
from chatmock_lab.taps import TAP_HEADER, Tap
from chatmock_lab.traffic.rows import ChunkRow, RowBuilder, record_bytes, short

REFRESH_SECONDS = 0.1


@dataclass
class InspectedStream:
    dialect: str
    path: str
    request: dict[str, Any]
    rows: list[ChunkRow] = field(default_factory=list)
    # Problems with the stream as a whole (no end, no usage), beside the per-chunk ones.
    end_violations: list[str] = field(default_factory=list)
    status: int | None = None
    done: bool = False
    # An error answer (status 400 and above) instead of a stream: its first line.
    error: str | None = None
    # What the translation could not carry over ("field: why"), inbound and upstream.
    notes: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        if self.error is not None:
            return []  # not a stream: there is no protocol to break
        found = [v for row in self.rows for v in row.violations]
        return found + self.end_violations

    def __repr__(self) -> str:
        lines = [
            f"chatmock inspect: {self.dialect} POST {self.path} -> {self.status},"
            f" {len(self.rows)} chunks, {len(self.violations)} violation(s)"
        ]
        if self.error is not None:
            return f"{lines[0]}\n  error: {self.error}"
        for row in self.rows:
            flag = " !" if row.violations else ""
            # Without an upstream (the mock), the canonical events are what came in.
            source = f"up={short(row.upstream)!r}" if row.upstream else f"events={row.events}"
            lines.append(
                f"{row.seconds * 1000:8.1f} ms +{row.gap * 1000:6.1f}  "
                f"{','.join(row.event_types) or '-'}  client: {' | '.join(row.summaries)}{flag}"
            )
            lines.append(f"      {short(source)}")
            lines += [f"      ! {v}" for v in row.violations]
        lines += [f"  ! {v}" for v in self.end_violations]
        lines += [f"  not carried over: {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return table_html(self)


def table_html(stream: InspectedStream) -> str:
    head = (
        "<tr><th>ms</th><th>gap</th><th>upstream chunk</th><th>events</th>"
        "<th>client chunk</th><th>type</th><th>block</th><th>problems</th></tr>"
    )
    rows = []
    for row in stream.rows:
        style = ' style="background:#f8d7da"' if row.violations else ""
        blocks = ",".join("-" if b is None else str(b) for b in row.block_indexes)
        cells = [
            f"{row.seconds * 1000:.1f}",
            f"+{row.gap * 1000:.1f}",
            f"<code>{html.escape(short(row.upstream))}</code>",
            html.escape(short(row.events)),
            f"<code>{html.escape(short(row.client))}</code>",
            html.escape(", ".join(row.event_types)),
            blocks,
            html.escape("; ".join(row.violations)),
        ]
        rows.append(f"<tr{style}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if stream.error is not None:
        return (
            f"<div><b>chatmock inspect</b> {html.escape(stream.dialect)} POST"
            f" {html.escape(stream.path)} &mdash; HTTP {stream.status}:"
            f" {html.escape(stream.error)}</div>"
        )
    state = "done" if stream.done else "streaming..."
    summary = (
        f"<b>chatmock inspect</b> {html.escape(stream.dialect)} POST {html.escape(stream.path)}"
        f" &mdash; {len(stream.rows)} chunks, {len(stream.violations)} problem(s), {state}"
    )
    ends = "".join(f"<div style='color:#a00'>{html.escape(v)}</div>" for v in stream.end_violations)
    return f"<div>{summary}</div><table>{head}{''.join(rows)}</table>{ends}"


def inspect_stream(
    state: ServerState,
    base_url: str,
    chat: ChatRequest,
    *,
    dialect: str = "openai",
    provider: str | None = None,
    on_update: Callable[[InspectedStream], None] | None = None,
    timeout: float = 300.0,
) -> InspectedStream:
    """Send `chat` as a streamed request in `dialect` and watch it; `on_update` is called
    with the table so far at most every 100 ms, and once at the end."""
    rendered = render_in(dialect, chat, stream=True)
    tap = Tap()
    tap_id = state.add_tap(tap)
    include_usage = bool((rendered.body.get("stream_options") or {}).get("include_usage"))
    status: int | None = None

    rows = RowBuilder(dialect, include_usage=include_usage)

    def snapshot(done: bool) -> InspectedStream:
        rows.update(list(tap.records))
        stream = InspectedStream(
            dialect=dialect,
            path=rendered.path,
            request=rendered.body,
            rows=list(rows.rows),
            notes=list(rows.notes),
            status=status,
            done=done,
        )
        if done:
            stream.end_violations = rows.close()
            if status is not None and status >= 400:
                body = b"".join(record_bytes(r) for r in tap.records if r.side == "client")
                stream.error = error_line(body.decode("utf-8", errors="replace"))
        return stream

    last = 0.0
    try:
        with (
            httpx.Client(base_url=base_url, timeout=timeout) as client,
            client.stream(
                "POST",
                rendered.path,
                json=rendered.body,
                headers={TAP_HEADER: tap_id},
                params={"provider": provider} if provider else None,
            ) as response,
        ):
            status = response.status_code
            for _ in response.iter_raw():
                now = time.monotonic()
                if on_update is not None and now - last >= REFRESH_SECONDS:
                    last = now
                    on_update(snapshot(done=False))
        # The server notes the last chunk as it writes it; wait for its word that the
        # response is complete rather than guessing with a sleep.
        tap.finished.wait(5.0)
    finally:
        state.remove_tap(tap_id)
    result = snapshot(done=True)
    if on_update is not None:
        on_update(result)
    return result


def in_background(work: Callable[[], Any]) -> threading.Thread:
    """Run `work` on a daemon thread, so the cell that started it returns at once."""
    thread = threading.Thread(target=work, name="chatmock-lab inspect", daemon=True)
    thread.start()
    return thread
