"""How payload text appears in a `ChunkInfo` summary: cut to a glance, quoted when it is
content, so a table of chunks stays one line per chunk."""

from __future__ import annotations

import json

SUMMARY_CHARS = 60


def clip(text: str, limit: int = SUMMARY_CHARS) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def quote(text: str) -> str:
    """Text for a summary: quoted, newlines visible, cut to a glance."""
    shown = json.dumps(text[:SUMMARY_CHARS], ensure_ascii=False)
    return shown + ("…" if len(text) > SUMMARY_CHARS else "")
