"""The responses a server keeps for `previous_response_id` and `GET /v1/responses/{id}`.

In memory, per app, bounded: the least recently used response goes first when the
store is full. Each entry is the response object as the client got it and the whole
conversation it ends (every earlier turn, its input, its output) as canonical messages.
Kept in the app's extensions, beside the server state, so a new app starts empty.
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


@dataclass(frozen=True, slots=True)
class StoredResponse:
    body: dict[str, Any]
    conversation: list[Message]


class ResponseStore:
    """Response id -> stored response, least recently used first out."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()
        # Routes run on one loop, but the lab reads stores from other threads.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, response_id: str, entry: StoredResponse) -> None:
        with self._lock:
            self._entries[response_id] = entry
            self._entries.move_to_end(response_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def get(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            entry = self._entries.get(response_id)
            if entry is not None:
                self._entries.move_to_end(response_id)
            return entry

    def delete(self, response_id: str) -> bool:
        with self._lock:
            return self._entries.pop(response_id, None) is not None


def response_store(app: Quart | None = None) -> ResponseStore:
    """The store of `app` (default: the app serving the current request), made on first use."""
    extensions = (app if app is not None else current_app).extensions
    store = extensions.get(_KEY)
    if store is None:
        store = extensions[_KEY] = ResponseStore()
    return store
