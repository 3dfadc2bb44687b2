"""The responses a server keeps for `previous_response_id` and `GET /v1/responses/{id}`.

In memory, per app, bounded in entries and in size: the least recently used response
goes first when the store is full (a thousand responses of megabyte prompts, each
holding its whole conversation, would otherwise fill the machine's memory). Each entry
is the response object as the client got it and the whole conversation it ends (every
earlier turn, its input, its output) as canonical messages. Kept in the app's
extensions, beside the server state, so a new app starts empty.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from quart import Quart, current_app

from chatmock_lab.core import Message

_KEY = "chatmock_lab.responses"
DEFAULT_CAPACITY = 1000
DEFAULT_MAX_CHARS = 256 * 1024 * 1024
# What a message costs beyond its text (objects, ids, the response's own JSON).
_MESSAGE_OVERHEAD = 512


@dataclass(frozen=True, slots=True)
class StoredResponse:
    body: dict[str, Any]
    conversation: list[Message]


class ResponseStore:
    """Response id -> stored response, least recently used first out."""

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, max_chars: int = DEFAULT_MAX_CHARS
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._max_chars = max_chars
        self._chars = 0
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()
        self._sizes: dict[str, int] = {}
        # Routes run on one loop, but the lab reads stores from other threads.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, response_id: str, entry: StoredResponse) -> None:
        size = _size(entry)
        with self._lock:
            self._forget(response_id)
            self._entries[response_id] = entry
            self._sizes[response_id] = size
            self._chars += size
            # The newest entry stays, whatever its size: it is the one the client asked for.
            while len(self._entries) > 1 and (
                len(self._entries) > self._capacity or self._chars > self._max_chars
            ):
                self._forget(next(iter(self._entries)))

    def _forget(self, response_id: str) -> bool:
        if self._entries.pop(response_id, None) is None:
            return False
        self._chars -= self._sizes.pop(response_id)
        return True

    def get(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            entry = self._entries.get(response_id)
            if entry is not None:
                self._entries.move_to_end(response_id)
            return entry

    def delete(self, response_id: str) -> bool:
        with self._lock:
            return self._forget(response_id)


def _size(entry: StoredResponse) -> int:
    """About how many characters the entry holds (its conversation's text and data; the
    response body repeats the last output, counted once more)."""
    size = 0
    for message in entry.conversation:
        size += _MESSAGE_OVERHEAD
        for part in message.parts:
            for name in ("text", "data", "url", "arguments", "content"):
                value = getattr(part, name, None)
                size += len(value) if isinstance(value, str) else 0
    return size + size // max(1, len(entry.conversation))


def response_store(app: Quart | None = None) -> ResponseStore:
    """The store of `app` (default: the app serving the current request), made on first use."""
    extensions = (app if app is not None else current_app).extensions
    store = extensions.get(_KEY)
    if store is None:
        store = extensions[_KEY] = ResponseStore()
    return store
