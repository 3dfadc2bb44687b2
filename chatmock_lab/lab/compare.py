"""One conversation sent through the OpenAI, Anthropic and Gemini endpoints side by side.

The conversation is parsed once into the canonical request (from a prompt, or from a
JSON request in any of the three dialects), rendered into each dialect's own request
(both by `dialect_table`),
and sent to the proxy over HTTP, so each column shows exactly what that dialect's
client sends and receives. Fields that should agree and do not are listed and
highlighted.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import ipywidgets as widgets

from chatmock_lab.core import ChatRequest, InvalidRequest
from chatmock_lab.lab.answers import Answer, read_answer
from chatmock_lab.lab.dialect_table import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    DIALECTS,
    detect_dialect,
    parse_conversation,
    render_in,
)
from chatmock_lab.lab.display import rich_bundle

_HIGHLIGHT = "background:#fff3cd"


@dataclass
class DialectRun:
    dialect: str
    path: str
    request: dict[str, Any]
    dropped: list[str]
    status: int | None = None
    answer: Answer = field(default_factory=Answer)
    first_token_seconds: float | None = None
    total_seconds: float | None = None


@dataclass
class Comparison:
    runs: dict[str, DialectRun]
    streamed: bool
    # Names of the fields (see `Answer.comparable`) on which the dialects disagree.
    differences: list[str]

    def __repr__(self) -> str:
        return _plain_table(self)

    def _repr_html_(self) -> str:
        return _html_table(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return rich_bundle(self.widget, self)

    def widget(self) -> widgets.VBox:
        """The comparison as ipywidgets: a title, and a column per dialect."""
        title = widgets.HTML(value=_title_html(self))
        columns = [
            widgets.VBox(
                [
                    widgets.HTML(value=f"<b>{name}</b>"),
                    widgets.HTML(value=_column_html(self, name)),
                ],
                layout=widgets.Layout(width="33%", border="1px solid #ddd", padding="4px"),
            )
            for name in self.runs
        ]
        return widgets.VBox([title, widgets.HBox(columns)])


def compare(
    base_url: str,
    chat: ChatRequest,
    *,
    stream: bool = False,
    provider: str | None = None,
    timeout: float = 120.0,
    dialects: Sequence[str] | None = None,
) -> Comparison:
    """Send `chat` through each dialect's endpoint of the proxy at `base_url` (or those
    of `dialects`, in that order)."""
    runs: dict[str, DialectRun] = {}
    for dialect in dialects or ():
        if dialect not in DIALECTS:
            raise InvalidRequest(f"unknown dialect {dialect!r}; one of {', '.join(DIALECTS)}")
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        for dialect in dialects or DIALECTS:
            rendered = render_in(dialect, chat, stream=stream)
            run = DialectRun(dialect, rendered.path, rendered.body, list(rendered.dropped))
            params = {"provider": provider} if provider else None
            _send(client, run, stream=stream, params=params)
            runs[dialect] = run
    return Comparison(runs, stream, _differences(runs))


def _send(
    client: httpx.Client, run: DialectRun, *, stream: bool, params: dict[str, str] | None
) -> None:
    started = time.monotonic()
    body = b""
    try:
        with client.stream("POST", run.path, json=run.request, params=params) as response:
            run.status = response.status_code
            for chunk in response.iter_bytes():
                body += chunk
                if run.first_token_seconds is None and _has_output(run, body, stream):
                    run.first_token_seconds = time.monotonic() - started
    except httpx.HTTPError as error:
        run.answer = Answer(error=f"{type(error).__name__}: {error}")
        run.total_seconds = time.monotonic() - started
        return
    run.total_seconds = time.monotonic() - started
    run.answer = read_answer(run.dialect, run.status, body, streamed=stream)


def _has_output(run: DialectRun, body: bytes, stream: bool) -> bool:
    answer = read_answer(run.dialect, run.status or 200, body, streamed=stream)
    return bool(answer.text or answer.thinking or answer.tool_calls or answer.error)


def _differences(runs: dict[str, DialectRun]) -> list[str]:
    values = [run.answer.comparable() for run in runs.values()]
    return [name for name in values[0] if len({json.dumps(v[name]) for v in values}) > 1]


# Presentation


def _rows(comparison: Comparison) -> list[tuple[str, str, dict[str, str]]]:
    """(label, comparable field or "", text per dialect) for each row of the table."""

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.0f} ms"

    def per(get: Any) -> dict[str, str]:
        return {name: get(run) for name, run in comparison.runs.items()}

    def calls(answer: Answer) -> str:
        return "; ".join(
            f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})" for c in answer.tool_calls
        )

    def usage(answer: Answer) -> str:
        return f"in {answer.input_tokens}, out {answer.output_tokens}"

    return [
        ("text", "text", per(lambda r: r.answer.text)),
        ("thinking", "thinking", per(lambda r: r.answer.thinking)),
        ("tool calls", "tool calls", per(lambda r: calls(r.answer))),
        (
            "finish reason",
            "finish reason",
            per(lambda r: f"{r.answer.finish_reason} ({r.answer.native_finish_reason})"),
        ),
        ("usage", "output tokens", per(lambda r: usage(r.answer))),
        ("error", "error", per(lambda r: r.answer.error or "")),
        ("time to first token", "", per(lambda r: seconds(r.first_token_seconds))),
        ("total time", "", per(lambda r: seconds(r.total_seconds))),
        ("not carried over", "", per(lambda r: "; ".join(r.dropped))),
    ]


def _differs(comparison: Comparison, field_name: str) -> bool:
    if field_name == "output tokens":
        return bool({"input tokens", "output tokens"} & set(comparison.differences))
    return field_name in comparison.differences


def _plain_table(comparison: Comparison) -> str:
    mode = "streamed" if comparison.streamed else "not streamed"
    lines = [
        f"chatmock compare ({mode}); differences: {', '.join(comparison.differences) or 'none'}"
    ]
    for label, field_name, values in _rows(comparison):
        mark = "*" if field_name and _differs(comparison, field_name) else " "
        lines.append(f"{mark} {label}:")
        for name, value in values.items():
            lines.append(f"    {name:<9} {value}")
    for name, run in comparison.runs.items():
        lines.append(f"  request ({name}) POST {run.path}: {json.dumps(run.request)}")
    return "\n".join(lines)


def _title_html(comparison: Comparison) -> str:
    differences = ", ".join(comparison.differences) or "none"
    mode = "streamed" if comparison.streamed else "not streamed"
    return f"<b>chatmock compare</b> ({mode}) &mdash; differences: {html.escape(differences)}"


def _column_html(comparison: Comparison, name: str) -> str:
    run = comparison.runs[name]
    cells = []
    for label, field_name, values in _rows(comparison):
        style = f' style="{_HIGHLIGHT}"' if field_name and _differs(comparison, field_name) else ""
        cells.append(f"<div{style}><b>{label}</b>: {html.escape(values[name])}</div>")
    request = html.escape(json.dumps(run.request, indent=1, ensure_ascii=False))
    cells.append(f"<div><b>request</b> POST {html.escape(run.path)}<pre>{request}</pre></div>")
    return "".join(cells)


def _html_table(comparison: Comparison) -> str:
    header = "".join(f"<th>{html.escape(name)}</th>" for name in comparison.runs)
    body = []
    for label, field_name, values in _rows(comparison):
        style = f' style="{_HIGHLIGHT}"' if field_name and _differs(comparison, field_name) else ""
        cells = "".join(f"<td>{html.escape(v)}</td>" for v in values.values())
        body.append(f"<tr{style}><th>{html.escape(label)}</th>{cells}</tr>")
    requests = "".join(
        f"<td><code>POST {html.escape(r.path)}</code><pre>"
        f"{html.escape(json.dumps(r.request, indent=1, ensure_ascii=False))}</pre></td>"
        for r in comparison.runs.values()
    )
    body.append(f"<tr><th>request</th>{requests}</tr>")
    return (
        f"<div>{_title_html(comparison)}</div>"
        f"<table><tr><th></th>{header}</tr>{''.join(body)}</table>"
    )


# The dialect table's names are re-exported: they were this module's before it had its
# own, and `compare`'s callers use them together.
__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "DIALECTS",
    "Comparison",
    "DialectRun",
    "compare",
    "detect_dialect",
    "parse_conversation",
    "render_in",
]
