"""Assembling tool calls from their events, once for the collector and every renderer.

Calls are keyed by the event's `index`, so argument deltas of parallel calls may
interleave; a call is complete at its `ToolCallEnd` (or when the stream ends).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from chatmock_lab.core.events import ToolCallDelta, ToolCallStart
from chatmock_lab.core.request import ToolCallPart
from chatmock_lab.core.tools import parse_arguments


def stable_call_id(seed: str) -> str:
    """A call id made from `seed`, for calls that come without one (Gemini and Ollama
    histories, upstreams that send none): the same seed always gives the same id, so the
    same conversation or replayed stream gives the same request and answer. 29
    characters: within the 40 that OpenAI-compatible upstreams accept."""
    return "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]


@dataclass(slots=True)
class PendingCall:
    """A call whose arguments are still arriving."""

    id: str
    name: str
    fragments: list[str] = field(default_factory=list)
    # A renderer that must keep blocks contiguous may see the end before it can emit.
    ended: bool = False

    @property
    def arguments_text(self) -> str:
        return "".join(self.fragments)

    def part(self) -> ToolCallPart:
        return ToolCallPart(
            id=self.id, name=self.name, arguments=parse_arguments(self.arguments_text)
        )


class ToolCallAssembler:
    """The calls open in a stream, by index, in the order they started."""

    def __init__(self) -> None:
        self._calls: dict[int, PendingCall] = {}

    def __contains__(self, index: object) -> bool:
        return index in self._calls

    def __len__(self) -> int:
        return len(self._calls)

    def get(self, index: int) -> PendingCall | None:
        return self._calls.get(index)

    def indexes(self) -> list[int]:
        return list(self._calls)

    def start(self, event: ToolCallStart) -> PendingCall:
        call = PendingCall(id=event.id, name=event.name)
        self._calls[event.index] = call
        return call

    def add(self, event: ToolCallDelta) -> PendingCall | None:
        """The call the fragment belongs to, or None for an index that never started."""
        call = self._calls.get(event.index)
        if call is not None:
            call.fragments.append(event.arguments)
        return call

    def pop(self, index: int) -> PendingCall | None:
        """Take a call out (it is complete)."""
        return self._calls.pop(index, None)
