"""The framework's floor: a Quart app that reads a chat request and answers a canned
completion, served the way `chatmock-lab serve` serves its app.

Usage::

    python benchmarks/noop_app.py [--port N]

What the proxy costs beyond this is the proxy's own work. The app is served by
`chatmock_lab.server.runner.run_foreground`, so it runs on the same ASGI server with the
same configuration as the proxy. Prints `chatmock-lab serving http://...` like the proxy.
"""

from __future__ import annotations

import argparse
import json

from quart import Quart, Response, request

from chatmock_lab.config import Settings
from chatmock_lab.server.runner import run_foreground

_ANSWER = json.dumps(
    {
        "id": "chatcmpl-noop",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "noop",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the no-op app."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
    }
)


def create_noop_app() -> Quart:
    app = Quart("noop")

    @app.post("/v1/chat/completions")
    async def chat() -> Response:
        # Read and decode the body as any handler would; answer without looking at it.
        json.loads(await request.get_data())
        return Response(_ANSWER, content_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        return Response('{"status":"ok"}', content_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="noop_app", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    run_foreground(create_noop_app(), Settings(port=args.port))


if __name__ == "__main__":
    main()
