"""Reading the rest of a body the answer did not need, so the client hears the answer.

A request answered before its body has arrived (over `--max-body-bytes`: a 413; an
unknown path; a GET that came with a body) would otherwise be answered while the client
is still sending, or with bytes left unread; Hypercorn then closes the
connection, and a client that reads only after sending everything (httpx, the SDKs)
sees a broken connection instead of the 413. So the refusal waits, within bounds, for
the body to end: the bytes are read and thrown away (Quart keeps none of a body over
the limit), and a client that would send more than `DRAIN_BYTES`, or take longer
than `DRAIN_SECONDS`, is cut off as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from quart import request

DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 10.0
_SCOPE_KEY = "chatmock_lab.body_ended"


class BodyWatch:
    """ASGI middleware noting in the scope when the request's body has ended (or gone
    beyond what is worth draining), for `drain_body`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ended = asyncio.Event()
        received = 0

        async def watched() -> dict[str, Any]:
            nonlocal received
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if not message.get("more_body", False) or received > DRAIN_BYTES:
                    ended.set()
            else:
                ended.set()
            return message

        scope[_SCOPE_KEY] = ended
        await self.app(scope, watched, send)


async def drain_body() -> None:
    """Wait until the current request's body has been read to its end (or the bounds
    above are reached)."""
    ended = request.scope.get(_SCOPE_KEY)
    if not isinstance(ended, asyncio.Event):
        return
    declared = request.content_length
    if ended.is_set() or (declared is not None and declared > DRAIN_BYTES):
        return
    # Not `asyncio.wait_for`: before Python 3.12 it can swallow a cancellation that
    # arrives as the wait ends, and a handler whose client hung up would run on
    # (holding its Gate permit) to the end of its answer.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            await ended.wait()
