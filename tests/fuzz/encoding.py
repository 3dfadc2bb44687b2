"""Writing fuzzed JSON as bytes, including what `json.dumps` refuses to write: literals
that are not JSON (`NaN`, `1e400`), lone-surrogate escapes, duplicate keys and nesting
deeper than Python's own recursion limit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Raw:
    """Text written into the body verbatim, where a JSON value would go."""

    text: str

    def __repr__(self) -> str:
        shown = self.text if len(self.text) <= 60 else f"{self.text[:40]}...<{len(self.text)}>"
        return f"Raw({shown!r})"


@dataclass(frozen=True, slots=True)
class DupKeys:
    """An object written with its pairs in order, so a key may occur twice."""

    # A `Raw` key is written as it is (a lone-surrogate escape in a field name).
    pairs: tuple[tuple[str | Raw, Any], ...]


def dumps(value: Any) -> str:
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def encode(value: Any) -> bytes:
    # `surrogatepass`: a surrogate only ever comes from a `Raw` escape, never raw text,
    # but a bug in a strategy must show up as a bad body, not as a crash of the test.
    return dumps(value).encode("utf-8", "surrogatepass")


def _write(value: Any, parts: list[str]) -> None:
    if isinstance(value, Raw):
        parts.append(value.text)
    elif isinstance(value, DupKeys):
        _write_pairs(value.pairs, parts)
    elif isinstance(value, dict):
        _write_pairs(tuple(value.items()), parts)
    elif isinstance(value, list | tuple):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    else:
        parts.append(json.dumps(value, ensure_ascii=False))


def _write_pairs(pairs: tuple[tuple[str | Raw, Any], ...], parts: list[str]) -> None:
    parts.append("{")
    for index, (key, item) in enumerate(pairs):
        if index:
            parts.append(",")
        parts.append(key.text if isinstance(key, Raw) else json.dumps(key, ensure_ascii=False))
        parts.append(":")
        _write(item, parts)
    parts.append("}")
