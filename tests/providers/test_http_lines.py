"""The upstream line splitter against httpx's own: the same lines for any chunking."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from httpx._decoders import LineDecoder, TextDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from chatmock_lab.providers.http import _lines_of

# Line ends of every kind, multi-byte UTF-8 and invalid bytes, in chunks cut anywhere.
_PIECES = st.sampled_from(
    [b"\n", b"\r", b"\r\n", b"data: ", b"event: x", b"\xc3\xa9", b"\xe2\x82", b"\xac", b"a", b""]
)


def _httpx_lines(chunks: list[bytes]) -> list[str]:
    text, lines = TextDecoder(), LineDecoder()
    found: list[str] = []
    for chunk in chunks:
        found += lines.decode(text.decode(chunk))
    found += lines.decode(text.flush())
    return found + lines.flush()


def _ours(chunks: list[bytes]) -> list[str]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def collect() -> list[str]:
        return [line async for line in _lines_of(body())]

    return asyncio.run(collect())


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(st.lists(st.lists(_PIECES, max_size=8).map(b"".join), max_size=8))
def test_the_same_lines_as_httpx_whatever_the_chunks(chunks: list[bytes]) -> None:
    assert _ours(chunks) == _httpx_lines(chunks)


def test_a_crlf_split_across_chunks_is_one_line_end() -> None:
    assert _ours([b"data: a\r", b"\n\r", b"\ndata: b"]) == ["data: a", "", "data: b"]
