"""`%chatmock`: the notebook lab's magics.

One line/cell magic with subcommands, each parsed by its own `magic_arguments` parser,
in the manner of IPython's own magics. Every failure a person can cause (an unknown
subcommand, a bad option, no server running, a port in use) is raised as IPython's
`UsageError`, which IPython prints as one line without a traceback.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import Any, Protocol

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import (
    MagicArgumentParser,
    argument,
    magic_arguments,
    parse_argstring,
)
from IPython.display import display

from chatmock_lab.cassettes.format import CassetteError, replay_provider
from chatmock_lab.cassettes.matching import MatchOptions
from chatmock_lab.chaos import format_rules, parse_rules
from chatmock_lab.cli import add_server_flags
from chatmock_lab.config import RECORD_MODES, ConfigError, Settings, parse_names
from chatmock_lab.core import InvalidRequest, ProxyError
from chatmock_lab.lab.compare import compare
from chatmock_lab.lab.dialect_table import DEFAULT_MAX_TOKENS, DIALECTS, parse_conversation
from chatmock_lab.lab.display import Displayable, rich_bundle
from chatmock_lab.lab.kernel_server import KernelServer, LabServerError
from chatmock_lab.lab.stream_inspector import InspectedStream, in_background, inspect_stream
from chatmock_lab.lab.translate import translate
from chatmock_lab.lab.widgets import LOGIN_PROVIDERS, ApprovalWidget, InspectorView, LoginWidget
from chatmock_lab.server.status import describe_chaos

_SUBCOMMANDS = {
    "serve": "start the proxy in this kernel (server flags as in `chatmock-lab serve`)",
    "stop": "stop the proxy and free its port",
    "status": "URL, provider, cassette, requests served, permits, chaos injected",
    "login": "sign in to chatgpt, copilot, qwen, grok or openrouter with a widget",
    "compare": "(cell) send one conversation through the OpenAI, Anthropic and Gemini endpoints",
    "inspect": "send a streamed request and watch its chunks, upstream beside client",
    "record": "record upstream traffic into a cassette",
    "replay": "answer from a cassette only",
    "eject": "stop recording or replaying",
    "chaos": "faults at the upstream edge for every request (rules; --off; --seed N)",
    "translate": "(cell) translate a JSON request from one dialect to another",
}
# Errors whose message is already the one line a person needs.
_EXPLAINED = (
    LabServerError,
    ProxyError,
    InvalidRequest,
    ConfigError,
    CassetteError,
    ValueError,
    OSError,
)


def _overview() -> str:
    lines = ["usage: %chatmock SUBCOMMAND [options]   (%chatmock SUBCOMMAND --help for more)", ""]
    lines += [f"  {name:<10} {text}" for name, text in _SUBCOMMANDS.items()]
    return "\n".join(lines)


def _one_line(error: BaseException) -> str:
    text = str(error.message if isinstance(error, ProxyError) else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# Parsers: one per subcommand. The functions are never called; they carry the parsers.


class _ParserHolder(Protocol):
    """A function `magic_arguments` decorated: it carries its subcommand's parser."""

    parser: MagicArgumentParser


@magic_arguments()
@argument("--no-env", action="store_true", help="do not set OPENAI_BASE_URL and the others")
def _serve() -> None:
    """Start the proxy on its own thread; returns at once with the base URLs."""


@magic_arguments()
@argument("provider", choices=LOGIN_PROVIDERS, help="the account or key to sign in with")
@argument("--device", action="store_true", help="chatgpt: a device code instead of a browser")
def _login() -> None:
    """Sign in with a widget that shows what the login needs."""


@magic_arguments()
@argument("--provider", default=None, help="send to this provider (default: the server's)")
@argument("--model", default=None, help="the model to ask (default: the request's, or gpt-4.1)")
@argument("--stream", action="store_true", help="stream the three responses")
@argument("--from", dest="source", choices=DIALECTS, default=None, help="the cell's dialect")
def _compare() -> None:
    """Compare one conversation (the cell: a prompt or a JSON request) across dialects."""


@magic_arguments()
@argument("--dialect", choices=DIALECTS, default="openai", help="the client's dialect")
@argument("--provider", default=None, help="send to this provider (default: the server's)")
@argument("--model", default=None, help="the model to ask")
@argument("--from", dest="source", choices=DIALECTS, default=None, help="the cell's dialect")
@argument("--background", action="store_true", help="return at once; the table fills in")
@argument("--out", default=None, help="also keep the result in this variable")
@argument("prompt", nargs="*", help="the prompt (or write it, or a JSON request, in the cell)")
def _inspect() -> None:
    """Send a streamed request and watch each chunk it produces."""


@magic_arguments()
@argument("path", help="the cassette file (vcrpy YAML)")
@argument("--mode", choices=RECORD_MODES, default="once", help="record mode; default once")
def _record() -> None:
    """Record the running server's upstream traffic into a cassette."""


@magic_arguments()
@argument("path", help="the cassette file (vcrpy YAML)")
@argument("--speed", type=float, default=0.0, help="0 at once (default), 1 as recorded")
@argument("--ignore", type=parse_names, default=(), help="body fields left out of matching")
@argument("--repeats", action="store_true", help="a recording used up answers again")
def _replay() -> None:
    """Answer from a cassette only, offline."""


@magic_arguments()
@argument("rules", nargs="*", help="chaos rules, ';'-separated (none: show the current ones)")
@argument("--off", action="store_true", help="no chaos for requests from now on")
@argument("--seed", type=int, default=None, help="start the p= draws again from this seed")
@argument("--reset", action="store_true", help="count injections from zero again")
def _chaos() -> None:
    """Faults at the upstream edge for every request that brings none of its own."""


@magic_arguments()
@argument("--from", dest="source", choices=DIALECTS, default=None, help="the cell's dialect")
@argument("--to", dest="target", choices=DIALECTS, required=True, help="the dialect to show")
@argument("--stream", action="store_true", help="as a streamed request")
def _translate() -> None:
    """Show the canonical request and the request translated into another dialect."""


@magic_arguments()
def _no_options() -> None:
    """This subcommand takes no options."""


add_server_flags(_serve.parser)


@magics_class
class ChatmockMagics(Magics):
    def __init__(self, shell: InteractiveShell, server: KernelServer | None = None) -> None:
        super().__init__(shell)
        # The same shell as `self.shell`, typed: `Magics` declares `shell = None` at class
        # level, so a type checker takes `self.shell` to be always None.
        self.ipython = shell
        self.server = server or KernelServer()
        self.approvals: ApprovalWidget | None = None
        self.last_login: LoginWidget | None = None
        self.last_inspection: InspectedStream | None = None
        self._handlers: dict[str, tuple[_ParserHolder, Callable[[str, str | None], Any]]] = {
            "serve": (_serve, self._do_serve),
            "stop": (_no_options, self._do_stop),
            "status": (_no_options, self._do_status),
            "login": (_login, self._do_login),
            "compare": (_compare, self._do_compare),
            "inspect": (_inspect, self._do_inspect),
            "record": (_record, self._do_record),
            "replay": (_replay, self._do_replay),
            "eject": (_no_options, self._do_eject),
            "chaos": (_chaos, self._do_chaos),
            "translate": (_translate, self._do_translate),
        }

    @line_cell_magic
    def chatmock(self, line: str, cell: str | None = None) -> Any:
        """chatmock-lab in the notebook: `%chatmock --help` lists the subcommands."""
        name, _, rest = line.strip().partition(" ")
        if name in ("", "-h", "--help", "help"):
            print(_overview())
            return None
        if name not in self._handlers:
            raise UsageError(
                f"%chatmock: unknown subcommand {name!r}; one of {', '.join(self._handlers)}"
            )
        holder, handler = self._handlers[name]
        parser = holder.parser
        parser.prog = f"%chatmock {name}"
        if {"-h", "--help"} & set(_split(rest)):
            print(parser.format_help())
            return None
        try:
            return handler(rest, cell)
        except UsageError as error:
            raise UsageError(f"%chatmock {name}: {error}") from None
        except _EXPLAINED as error:
            raise UsageError(f"%chatmock {name}: {_one_line(error)}") from None

    # Subcommands

    def _do_serve(self, line: str, cell: str | None) -> Any:
        args = parse_argstring(_serve, line)
        flags = {k: v for k, v in vars(args).items() if k != "no_env"}
        if flags.get("port") is None:
            flags["port"] = 0  # any free port
        settings = Settings.from_env(os.environ).replace(**flags)
        if settings.replay is not None and args.provider is None:
            # The provider that recorded the cassette answers it, as in the CLI.
            settings = settings.replace(provider=replay_provider(settings.replay))
        approver = None
        if settings.manual:
            self.approvals = ApprovalWidget()
            approver = self.approvals
        info = self.server.serve(settings, set_environment=not args.no_env, approver=approver)
        if self.approvals is not None and approver is not None:
            display(self.approvals)
        return info

    def _do_stop(self, line: str, cell: str | None) -> None:
        parse_argstring(_no_options, line)
        print("chatmock-lab stopped" if self.server.stop() else "no server was running")

    def _do_status(self, line: str, cell: str | None) -> Any:
        parse_argstring(_no_options, line)
        return self.server.status()

    def _do_login(self, line: str, cell: str | None) -> None:
        args = parse_argstring(_login, line)

        def reload() -> None:
            if self.server.running:
                self.server.state.reload_environment(dict(os.environ))

        widget = LoginWidget(args.provider, device=args.device, on_credentials=reload)
        self.last_login = widget
        display(widget)
        widget.start()

    def _do_compare(self, line: str, cell: str | None) -> Any:
        args = parse_argstring(_compare, line)
        if cell is None:
            raise UsageError("compare is a cell magic: %%chatmock compare, then the prompt")
        chat, _ = parse_conversation(cell, dialect=args.source, model=args.model)
        return compare(self.server.server.url, chat, stream=args.stream, provider=args.provider)

    def _do_inspect(self, line: str, cell: str | None) -> None:
        args = parse_argstring(_inspect, line)
        source = cell if cell is not None and cell.strip() else " ".join(args.prompt)
        if not source.strip():
            raise UsageError("give a prompt: %chatmock inspect PROMPT, or a cell")
        # Only Anthropic's API requires a token limit; the others go without, as sent.
        limit = DEFAULT_MAX_TOKENS if args.dialect == "anthropic" else None
        chat, _ = parse_conversation(
            source, dialect=args.source, model=args.model, max_tokens=limit
        )
        state, url = self.server.state, self.server.server.url
        view = InspectorView()
        handle = display(view, display_id=True)

        def work() -> None:
            result = inspect_stream(
                state,
                url,
                chat,
                dialect=args.dialect,
                provider=args.provider,
                on_update=view.update,
            )
            self.last_inspection = result
            if args.out:
                self.ipython.user_ns[args.out] = result
            if handle is not None and not args.background:
                # The final table, as HTML and text too, for frontends without widgets.
                handle.update(_Bundle(view, result))

        if args.background:
            in_background(work)
        else:
            work()

    def _do_record(self, line: str, cell: str | None) -> None:
        args = parse_argstring(_record, line)
        cassette = self.server.state.insert_cassette(args.path, mode=args.mode)
        action = "recording into" if cassette.records else "replaying (it exists; mode once)"
        print(f"chatmock-lab {action} {cassette.path} (mode {cassette.mode})")

    def _do_replay(self, line: str, cell: str | None) -> None:
        args = parse_argstring(_replay, line)
        if args.speed < 0:
            raise UsageError("--speed must not be negative")
        matching = MatchOptions(allow_playback_repeats=args.repeats).ignoring(args.ignore)
        cassette = self.server.state.insert_cassette(
            args.path, mode="none", speed=args.speed, matching=matching
        )
        count = len(cassette.cassette.interactions)
        print(f"chatmock-lab replaying {cassette.path} ({count} interactions)")

    def _do_eject(self, line: str, cell: str | None) -> None:
        parse_argstring(_no_options, line)
        cassette = self.server.state.eject_cassette()
        if cassette is None:
            print("no cassette was in use")
        else:
            print(
                f"chatmock-lab ejected {cassette.path}: played {cassette.played},"
                f" recorded {cassette.recorded}"
            )

    def _do_chaos(self, line: str, cell: str | None) -> None:
        args = parse_argstring(_chaos, line)
        chaos = self.server.state.chaos
        if args.off and args.rules:
            raise UsageError("give rules or --off, not both")
        if args.off:
            chaos.set_rules((), seed=args.seed)
        elif args.rules:
            chaos.set_rules(parse_rules(" ".join(args.rules)), seed=args.seed)
        elif args.seed is not None:
            chaos.set_rules(chaos.rules.rules, seed=args.seed)
        if args.reset:
            chaos.reset_counts()
        described = describe_chaos(format_rules(chaos.rules.rules), chaos.seed, chaos.counts())
        print(f"chatmock-lab chaos: {described}")

    def _do_translate(self, line: str, cell: str | None) -> Any:
        args = parse_argstring(_translate, line)
        if cell is None:
            raise UsageError("translate is a cell magic: %%chatmock translate --to D, then JSON")
        return translate(cell, source=args.source, target=args.target, stream=args.stream)


class _Bundle:
    """A live widget with the final result's HTML and text beside it."""

    def __init__(self, widget: InspectorView, result: Displayable) -> None:
        self._widget = widget
        self._result = result

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return rich_bundle(self._widget, self._result)


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()
