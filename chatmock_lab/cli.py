"""The `chatmock-lab` command."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Sequence

from chatmock_lab._version import __version__
from chatmock_lab.auth.store import TokenStoreError
from chatmock_lab.config import (
    RECORD_MODES,
    UPSTREAM_TRANSPORTS,
    ConfigError,
    Settings,
    environment_variables,
    parse_names,
)
from chatmock_lab.providers import available_providers
from chatmock_lab.redact import RedactingFilter


def _serve_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the proxy",
        description="Run the proxy. Flags override CHATMOCK_* environment variables.",
    )
    add_server_flags(parser)
    # Not among the shared flags: the notebook's server is one thread in the kernel.
    parser.add_argument(
        "--workers",
        dest="workers",
        type=int,
        default=None,
        help="processes serving the one port, to use more than one core; per-process"
        " state (limits, stored responses) is not shared; default 1"
        f" (env {environment_variables()['workers']})",
    )


def add_server_flags(parser: argparse.ArgumentParser) -> None:
    """The server's flags, one per setting, each defaulting to None (not given); shared
    by `chatmock-lab serve` and the notebook's `%chatmock serve`."""
    env = environment_variables()

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
        "--max-json-depth",
        "max_json_depth",
        type=int,
        help="deepest JSON nesting accepted in a request body; default 100",
    )
    for option, name, what, default in (
        ("--max-messages", "max_messages", "messages (or inputs) in one request", "10000"),
        ("--max-parts", "max_parts", "content parts in one message", "10000"),
        ("--max-tools", "max_tools", "tools in one request", "1000"),
        ("--max-list-items", "max_list_items", "entries in any other list", "100000"),
        ("--max-string-chars", "max_string_chars", "characters in one string", "10485760"),
    ):
        flag(option, name, type=int, help=f"most {what} accepted; default {default}")
    flag(
        "--body-timeout",
        "body_timeout",
        type=float,
        help="seconds a client may take to send its request body (then a 408); default 30",
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
        "--upstream-transport",
        "upstream_transport",
        choices=UPSTREAM_TRANSPORTS,
        help="what carries upstream calls: aiohttp's pool (default) or httpx's own",
    )
    flag("--record", "record", help="record upstream traffic into this cassette (vcrpy YAML)")
    flag(
        "--record-mode",
        "record_mode",
        choices=RECORD_MODES,
        help="how --record treats an existing cassette; default once",
    )
    flag("--replay", "replay", help="answer from this cassette only, offline")
    flag(
        "--replay-speed",
        "replay_speed",
        type=float,
        help="0 replays at once (default), 1 at the recorded pace, any factor",
    )
    flag(
        "--allowed-host",
        "allowed_hosts",
        type=parse_names,
        help="host names to serve beyond addresses and localhost, comma-separated",
    )
    flag(
        "--cors-origin",
        "cors_origins",
        type=parse_names,
        help="web origins that may call the proxy from a browser, comma-separated; * for any",
    )
    flag(
        "--match-ignore",
        "match_ignore",
        type=parse_names,
        help="body fields a replay leaves out of matching, comma-separated (temperature,seed)",
    )
    flag(
        "--allow-playback-repeats",
        "allow_playback_repeats",
        action="store_const",
        const=True,
        help="a recording used up answers again",
    )
    flag(
        "--play-log",
        "play_log",
        help="append each replayed interaction to this file (for cassettes check --plays)",
    )
    flag(
        "--cassette-cache",
        "cassette_cache",
        help="a directory where cassettes' parsed YAML is kept, so a large cassette is"
        " parsed once per content",
    )
    flag(
        "--api-key",
        "api_key",
        help="a key clients must send (Bearer, x-api-key, x-goog-api-key or ?key=)",
    )
    flag(
        "--mock-chunk-chars",
        "mock_chunk_chars",
        type=int,
        help="mock: characters per streamed chunk",
    )
    flag("--mock-delay-ms", "mock_delay_ms", type=float, help="mock: delay between streamed chunks")
    flag("--scenario", "scenario", help="mock: JSON or YAML file of scripted replies")
    flag(
        "--chaos",
        "chaos",
        help="faults at the upstream edge for every request, e.g."
        " 'error status=503 p=0.1; drop after=5 p=0.05' (see the README's Chaos section)",
    )
    flag("--chaos-seed", "chaos_seed", type=int, help="seed of the chaos draws (p=); default 0")
    flag(
        "--no-ui",
        "ui",
        action="store_const",
        const=False,
        help="no live traffic page at /_chatmock/ (and no record of recent requests)",
    )
    flag(
        "--ui-requests",
        "ui_requests",
        type=int,
        help="how many recent chat requests the traffic page keeps; default 500",
    )
    flag(
        "--history",
        "history",
        help="keep every finished chat request in this SQLite file"
        " (chatmock_lab.traffic.read_history reads it)",
    )


def _account_parsers(subparsers: argparse._SubParsersAction) -> None:
    login = subparsers.add_parser("login", help="sign in to an account provider")
    login.add_argument("provider", choices=("chatgpt", "copilot", "qwen"))
    login.add_argument(
        "--no-browser", action="store_true", help="chatgpt: print the sign-in URL, do not open it"
    )
    login.add_argument(
        "--headless",
        action="store_true",
        help="chatgpt: sign in with a device code (for remote machines and notebooks)",
    )
    logout = subparsers.add_parser("logout", help="forget a stored login")
    logout.add_argument("provider", choices=("chatgpt", "copilot", "qwen"))
    info = subparsers.add_parser("info", help="who is signed in where (never shows secrets)")
    info.add_argument("--json", action="store_true", help="print JSON")


def _cassette_parsers(subparsers: argparse._SubParsersAction) -> None:
    cassettes = subparsers.add_parser("cassettes", help="look after recorded cassettes")
    actions = cassettes.add_subparsers(dest="action", required=True)
    check = actions.add_parser(
        "check", help="fail on credential-looking strings or cassettes past an age"
    )
    check.add_argument("paths", nargs="+", help="cassette files or directories")
    check.add_argument("--max-age-days", type=float, default=None, help="oldest allowed")
    check.add_argument(
        "--plays",
        default=None,
        help="a play log (serve --play-log, or the pytest plugin's): list interactions"
        " it never saw replayed",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatmock-lab",
        description="A local proxy speaking the OpenAI, Anthropic and Gemini API dialects.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _serve_parser(subparsers)
    _account_parsers(subparsers)
    _cassette_parsers(subparsers)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from chatmock_lab.cassettes.format import replay_provider
    from chatmock_lab.server import create_app, run_foreground
    from chatmock_lab.server.runner import configure_logging
    from chatmock_lab.server.state import app_state
    from chatmock_lab.server.workers import check_workers, serve_workers

    overrides = {k: v for k, v in vars(args).items() if k != "command"}
    settings = Settings.from_env(os.environ).replace(**overrides)
    if (
        settings.replay is not None
        and args.provider is None
        and "CHATMOCK_PROVIDER" not in os.environ
    ):
        # None (a cassette that does not say) leaves the provider as it was.
        settings = settings.replace(
            provider=replay_provider(settings.replay, cache_dir=settings.cassette_cache)
        )
    # Before anything is built or bound: a refusal costs nothing and leaves no trace.
    check_workers(settings, settings.workers)
    try:
        app = create_app(settings)
    except ValueError as exc:  # an unknown provider, a bad scenario file or cassette
        raise ConfigError(str(exc)) from None
    configure_logging(settings, RedactingFilter(app_state(app).redactor))
    if not _is_loopback(settings.host) and settings.api_key is None:
        print(
            f"chatmock-lab: WARNING: listening on {settings.host}, beyond this machine, with"
            " no --api-key: anyone who can reach the port can use the provider's account."
            " Set --api-key (or CHATMOCK_API_KEY), or bind to 127.0.0.1.",
            file=sys.stderr,
            flush=True,
        )
    try:
        if settings.workers > 1:
            # Each worker builds its own app; this one has checked the settings.
            return serve_workers(settings, settings.workers)
        run_foreground(app, settings)
    except OSError as exc:
        print(
            f"chatmock-lab: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve beyond this machine


def _login(args: argparse.Namespace) -> int:
    import asyncio
    import getpass

    from chatmock_lab import accounts
    from chatmock_lab.auth.chatgpt import LoginError as ChatGPTLoginError
    from chatmock_lab.auth.github import LoginError as GitHubLoginError

    def show(text: str) -> None:
        print(text, flush=True)

    def show_code(code: object) -> None:
        url = getattr(code, "verification_url", None) or getattr(code, "verification_uri", "")
        show(f"Open {url} and enter the code {code.user_code}")  # type: ignore[attr-defined]

    try:
        if args.provider == "chatgpt":
            summary = asyncio.run(
                accounts.login_chatgpt(
                    headless=args.headless,
                    open_browser=not args.no_browser,
                    on_url=lambda url: show(f"Sign in at: {url}"),
                    on_code=show_code,
                )
            )
        elif args.provider == "copilot":
            summary = asyncio.run(
                accounts.login_copilot(
                    on_code=show_code, on_status=lambda status: show(f"... {status}")
                )
            )
        else:
            show("Paste the values from a signed-in chat.qwen.ai browser session.")
            summary = accounts.login_qwen(
                getpass.getpass("Auth token (hidden): "), getpass.getpass("Cookies (hidden): ")
            )
    except (ChatGPTLoginError, GitHubLoginError, ValueError) as exc:
        print(f"chatmock-lab: login failed: {exc}", file=sys.stderr)
        return 1
    show(summary)
    return 0


def _info(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from chatmock_lab import accounts

    info = asyncio.run(accounts.account_info())
    print(json.dumps(info, indent=2) if args.json else accounts.format_info(info))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "login":
            return _login(args)
        if args.command == "logout":
            from chatmock_lab import accounts

            removed = accounts.logout(args.provider)
            print(f"{args.provider}: " + ("signed out" if removed else "was not signed in"))
            return 0
        if args.command == "info":
            return _info(args)
        if args.command == "cassettes":
            from chatmock_lab.cassettes.check import check_cassettes, format_reports
            from chatmock_lab.cassettes.play_log import PlayLog

            plays = PlayLog(args.plays) if args.plays else None
            reports = check_cassettes(args.paths, max_age_days=args.max_age_days, plays=plays)
            print(format_reports(reports))
            return 0 if reports and all(r.ok for r in reports) else 1
    except ConfigError as exc:
        print(f"chatmock-lab: error: {exc}", file=sys.stderr)
        return 2
    except TokenStoreError as exc:
        print(f"chatmock-lab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
