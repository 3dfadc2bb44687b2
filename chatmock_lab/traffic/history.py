"""`--history FILE`: every finished chat request kept in a SQLite file, so that a run can
be examined after the server has stopped, from Python as `TrafficRecord`s.

    from chatmock_lab.traffic import read_history
    slow = [r for r in read_history("run.sqlite") if (r.ttft_ms or 0) > 500]

Records are written by a thread of the file's own (the server's loop never waits on the
disk), one run after another into the same file; the file is created with mode 0600 (it
holds the prompts and answers).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path

from chatmock_lab.traffic.log import TrafficRecord

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL,
    id INTEGER NOT NULL,
    started_at REAL NOT NULL,
    record TEXT NOT NULL
)
"""
_FIELDS = {f.name for f in fields(TrafficRecord)}


class HistoryFile:
    """Appends finished records to the SQLite file at `path` (`keep`), on its own thread."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.run = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Created private before SQLite opens it: it holds prompts and answers.
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        with sqlite3.connect(self.path) as connection:
            connection.execute(_SCHEMA)
        # Records, a `_Marker` to say when those before it are written, or `_STOP`.
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(
            target=self._write, name="chatmock-lab history", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"HistoryFile({str(self.path)!r})"

    def keep(self, record: TrafficRecord) -> None:
        self._queue.put(record)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every record kept so far is in the file."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        done.wait(timeout)

    def close(self) -> None:
        self.flush()
        self._queue.put(_STOP)
        self._thread.join(5.0)

    def _write(self) -> None:
        connection = sqlite3.connect(self.path)
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                if isinstance(item, _Marker):
                    item.done.set()
                    continue
                assert isinstance(item, TrafficRecord)
                try:
                    with connection:
                        connection.execute(
                            "INSERT INTO requests (run, id, started_at, record)"
                            " VALUES (?, ?, ?, ?)",
                            (self.run, item.id, item.started_at, json.dumps(asdict(item))),
                        )
                except sqlite3.Error as error:
                    logger.warning("history %s: record %d not kept: %s", self.path, item.id, error)
        finally:
            connection.close()


class _Marker:
    def __init__(self, done: threading.Event) -> None:
        self.done = done


_STOP = object()


def read_history(path: str | os.PathLike[str]) -> list[TrafficRecord]:
    """Every record in the history file at `path`, oldest first."""
    with sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT record FROM requests ORDER BY row").fetchall()
    records = []
    for (text,) in rows:
        data = json.loads(text)
        data["timeline"] = [tuple(point) for point in data.get("timeline", [])]
        records.append(TrafficRecord(**{k: v for k, v in data.items() if k in _FIELDS}))
    return records
