"""A request in one dialect translated into another, through the canonical request, with
every field that could not be carried over named. Pure: no server is involved."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from chatmock_lab.core import ChatRequest, InvalidRequest, request_data
from chatmock_lab.lab.dialect_table import DIALECTS, parse_conversation, render_in


@dataclass(frozen=True)
class Translation:
    source: str
    target: str
    canonical: ChatRequest
    path: str
    body: dict[str, Any]
    dropped: list[str]

    def __repr__(self) -> str:
        lines = [
            f"chatmock translate {self.source} -> {self.target}",
            "canonical request:",
            _canonical_text(self.canonical),
            f"{self.target} request: POST {self.path}",
            json.dumps(self.body, indent=2, ensure_ascii=False),
            "not carried over: " + ("none" if not self.dropped else ""),
        ]
        lines += [f"  - {note}" for note in self.dropped]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        dropped = "".join(f"<li>{html.escape(note)}</li>" for note in self.dropped) or (
            "<li>nothing: every field was carried over</li>"
        )
        canonical = html.escape(_canonical_text(self.canonical))
        body = html.escape(json.dumps(self.body, indent=2, ensure_ascii=False))
        return (
            f"<b>chatmock translate</b> {self.source} &rarr; {self.target}"
            f"<div><b>canonical request</b><pre>{canonical}</pre></div>"
            f"<div><b>{self.target} request</b> POST {html.escape(self.path)}"
            f"<pre>{body}</pre></div>"
            f"<div><b>not carried over</b><ul>{dropped}</ul></div>"
        )


def _canonical_text(request: ChatRequest) -> str:
    return json.dumps(request_data(request), indent=2, ensure_ascii=False, default=str)


def translate(
    source_text: str, *, source: str | None, target: str, stream: bool = False
) -> Translation:
    """`source_text` (a JSON request; `source` None: detected) rendered as `target`."""
    if target not in DIALECTS:
        raise InvalidRequest(f"--to: unknown dialect {target!r}; one of {', '.join(DIALECTS)}")
    if source is not None and source not in DIALECTS:
        raise InvalidRequest(f"--from: unknown dialect {source!r}; one of {', '.join(DIALECTS)}")
    if not source_text.strip().startswith("{"):
        raise InvalidRequest("translate needs a JSON request in the cell", param="cell")
    canonical, read_as = parse_conversation(source_text, dialect=source)
    rendered = render_in(target, canonical, stream=stream)
    return Translation(
        source=read_as or "openai",
        target=target,
        canonical=canonical,
        path=rendered.path,
        body=rendered.body,
        dropped=list(rendered.dropped),
    )
