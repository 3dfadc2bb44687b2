"""Cassettes' parsed YAML kept on disk by content, so a large cassette is parsed once.

YAML is slow to read even with libyaml (a 5.5 MB cassette of 1,000 interactions: 0.6-1.3
s, most of it building Python objects), JSON fast (the same document: ~15 ms with
orjson). A replay that starts a proxy per test, or a notebook that loads the same
cassette each session, would pay the YAML every time; with a cache directory it pays
once per content.

What is kept is the YAML document itself, before any of our reading of it, so a newer
chatmock-lab reads an older entry the same way it reads the file. An entry is named by
the cassette's path and the SHA-256 of its bytes: an edited or re-recorded cassette
misses and replaces its entry (one per path). A document that JSON cannot carry
exactly (a `!!binary` body, an unquoted timestamp) is not kept, so a hit always gives
what the YAML would. The cache is a speed-up only: any failure to read or write it is a
miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

logger = logging.getLogger(__name__)

# Part of every entry's name: a change in what an entry holds starts afresh.
_FORMAT = b"chatmock-lab cassette cache 1\n"


def lookup(cache_dir: Path, path: Path, data: bytes) -> Any | None:
    """The YAML document of the cassette at `path` whose bytes are `data`, if cached."""
    try:
        return orjson.loads(_entry(cache_dir, path, data).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def store(cache_dir: Path, path: Path, data: bytes, document: Any) -> None:
    """Keep `document` (parsed from `data`, the bytes of the cassette at `path`), unless
    JSON would not give it back exactly; older entries of the same path go."""
    try:
        encoded = orjson.dumps(document)
    except TypeError:
        return
    if orjson.loads(encoded) != document:
        return
    entry = _entry(cache_dir, path, data)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=cache_dir, prefix=".", suffix=".tmp")
    except OSError as error:
        logger.debug("cassette cache %s not written: %s", cache_dir, error)
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded)
        os.replace(temp, entry)
    except OSError as error:
        logger.debug("cassette cache %s not written: %s", cache_dir, error)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        return
    where = entry.name.split("-", 1)[0]
    for old in cache_dir.glob(f"{where}-*.json"):
        if old != entry:
            with contextlib.suppress(OSError):
                old.unlink()


def _entry(cache_dir: Path, path: Path, data: bytes) -> Path:
    where = hashlib.sha256(os.fsencode(path.resolve())).hexdigest()[:16]
    content = hashlib.sha256(_FORMAT + data).hexdigest()[:32]
    return cache_dir / f"{where}-{content}.json"
