"""Run the fake OpenAI-compatible upstream in the foreground.

Usage::

    python -m chatmock_lab.testing [--host 127.0.0.1] [--port 0] [--api-key KEY]

The first line on stdout is `fake OpenAI upstream serving http://127.0.0.1:PORT/v1`, so a
script can start it with `--port 0` and read the base URL to give a client or the proxy
(for instance `CHATMOCK_GROK_BASE_URL`). SIGINT or SIGTERM stops it with exit status 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from chatmock_lab.testing import FakeOpenAIUpstream

# FakeOpenAIUpstream always binds loopback; the flag exists so the command line reads like
# the proxy's, and refuses other addresses instead of silently ignoring them.
_HOSTS = ("127.0.0.1",)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chatmock_lab.testing",
        description="Run the fake OpenAI-compatible upstream until SIGINT or SIGTERM.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", choices=_HOSTS, help="address to bind; default 127.0.0.1"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind, 0 picks a free one; default 0"
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="bearer token that /v1 requests must carry; default none (any request passes)",
    )
    parser.add_argument(
        "--keep-requests",
        type=int,
        default=1000,
        help="how many recorded requests to keep in memory (the newest); default 1000",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    # Without a handler, Hypercorn's warnings would reach stderr without time or source.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    # Installed before the server starts, so a signal that arrives during start-up still
    # ends in a clean stop rather than a KeyboardInterrupt traceback.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    fake = FakeOpenAIUpstream(
        api_key=args.api_key, port=args.port, keep_requests=args.keep_requests
    )
    try:
        fake.start()
    except (OSError, RuntimeError) as exc:  # a taken port, a server that failed
        print(f"fake OpenAI upstream: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"fake OpenAI upstream serving {fake.base_url}", flush=True)
        stop.wait()
    finally:
        fake.stop()
    print("fake OpenAI upstream stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
