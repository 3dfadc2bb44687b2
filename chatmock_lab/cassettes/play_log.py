"""Which recorded interactions were played, across runs, so `cassettes check` can list
the ones no test uses any more.

A replay appends one JSON line per interaction it plays: the cassette's absolute path,
the interaction's index, and a fingerprint of its request. The fingerprint keeps a
cassette that was recorded again from inheriting plays of the interactions it replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from chatmock_lab.cassettes.format import RecordedRequest
from chatmock_lab.cassettes.matching import canonical_request


def request_fingerprint(request: RecordedRequest) -> str:
    canonical = json.dumps(canonical_request(request), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class PlayLog:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        # What plays repeat, worked out once: a request's fingerprint (its canonical
        # form), a cassette's absolute path (system calls per path component), the log's
        # directory.
        self._fingerprints: dict[tuple[Path, int, str, str, str | None], str] = {}
        self._resolved: dict[Path, str] = {}
        self._made = False

    def __repr__(self) -> str:
        return f"PlayLog({str(self.path)!r})"

    def record(self, cassette: Path, index: int, request: RecordedRequest) -> None:
        key = (cassette, index, request.method, request.uri, request.body)
        fingerprint = self._fingerprints.get(key)
        if fingerprint is None:
            fingerprint = self._fingerprints[key] = request_fingerprint(request)
        where = self._resolved.get(cassette)
        if where is None:
            where = self._resolved[cassette] = str(cassette.resolve())
        line = json.dumps({"cassette": where, "interaction": index, "request": fingerprint})
        with self._lock:
            if not self._made:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._made = True
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def played(self, cassette: Path) -> set[tuple[int, str]]:
        """(index, request fingerprint) of every play of `cassette` in the log."""
        wanted = str(cassette.resolve())
        plays: set[tuple[int, str]] = set()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return plays
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                if entry["cassette"] == wanted:
                    plays.add((int(entry["interaction"]), str(entry["request"])))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash is not worth failing a check over
        return plays
