"""The `chatmock-lab` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from chatmock_lab import __version__
from chatmock_lab.config import ConfigError, Settings, environment_variables
from chatmock_lab.providers import available_providers
from chatmock_lab.redact import RedactingFilter, redactor


def _serve_parser(subparsers: argparse._SubParsersAction) -> None:
    env = environment_variables()
    parser = subparsers.add_parser(
        "serve",
        help="run the proxy",
        description="Run the proxy. Flags override CHATMOCK_* environment variables.",
    )

    def flag(name: str, setting: str, **kwargs: object) -> None:
        help_text = f"{kwargs.pop('help')} (env {env[setting]})"
        parser.add_argument(name, dest=setting, default=None, help=help_text, **kwargs)  # type: ignore[arg-type]

    flag("--host", "host", help="address to bind; default 127.0.0.1")
    flag("--port", "port", type=int, help="port to bind, 0 picks a free one; default 8000")
    flag(
        "--provider",
        "provider",
        help=f"default provider, one of: {', '.join(available_providers())}; default mock",
    )
    flag("--verbose", "verbose", action="store_const", const=True, help="log every request")
    flag(
        "--max-body-bytes",
        "max_body_bytes",
        type=int,
        help="largest request body accepted; default 20 MiB",
    )
    flag(
        "--keepalive-seconds",
        "keepalive_seconds",
        type=float,
        help="keep-alive on silent streams after this many seconds, 0 for never; default 15",
    )
    flag(
        "--max-concurrency",
        "max_concurrency",
        type=int,
        help="upstream requests at once; others wait in line; default 16",
    )
    flag(
        "--queue-timeout",
        "queue_timeout",
        type=float,
        help="seconds a request waits in line before a 429; default 30",
    )
    flag(
        "--rate-limit",
        "rate_limit",
        type=float,
        help="minimum seconds between upstream requests; an early one gets a 429",
    )
    flag(
        "--wait", "wait", action="store_const", const=True, help="with --rate-limit: queue instead"
    )
    flag("--manual", "manual", action="store_const", const=True, help="approve each request")
    flag("--retries", "retries", type=int, help="retries on 429, 5xx, lost connections; default 2")
    flag("--connect-timeout", "connect_timeout", type=float, help="seconds; default 10")
    flag(
        "--first-byte-timeout",
        "first_byte_timeout",
        type=float,
        help="seconds until the upstream starts answering; default 300",
    )
    flag(
        "--mock-chunk-chars",
        "mock_chunk_chars",
        type=int,
        help="mock: characters per streamed chunk",
    )
    flag("--mock-delay-ms", "mock_delay_ms", type=float, help="mock: delay between streamed chunks")
    flag("--scenario", "scenario", help="mock: JSON or YAML file of scripted replies")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatmock-lab",
        description="A local proxy speaking the OpenAI, Anthropic and Gemini API dialects.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _serve_parser(subparsers)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from chatmock_lab.server import create_app, run_foreground

    overrides = {k: v for k, v in vars(args).items() if k != "command"}
    settings = Settings.from_env(os.environ).replace(**overrides)
    logging.basicConfig(
        level=logging.DEBUG if settings.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not settings.verbose:
        # httpx notes every upstream request at INFO; that is verbose-mode material.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    # Whatever any library logs, secrets are masked on the way out.
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(redactor))
    try:
        app = create_app(settings)
    except ValueError as exc:  # an unknown provider, a bad scenario file
        raise ConfigError(str(exc)) from None
    try:
        run_foreground(app, settings)
    except OSError as exc:
        print(
            f"chatmock-lab: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
    except ConfigError as exc:
        print(f"chatmock-lab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
