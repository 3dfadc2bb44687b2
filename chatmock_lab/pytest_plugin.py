"""pytest plugin: each test that asks for the `chatmock` fixture gets a proxy of its own,
on a free loopback port, answering from the test's cassette, with the official SDKs'
environment variables pointing at it for the test.

A thin layer over `chatmock_lab.cassette` (itself over vcrpy's cassette format), in the
manner of pytest-recording, and built to sit beside it: its own fixture (`chatmock`),
marker (`chatmock`), options (`--chatmock-*`) and file names (`*.chatmock.yaml`), so a
test can use both plugins at once.

    @pytest.mark.chatmock(cassette="cassettes/hello.yaml")   # optional
    def test_hello(chatmock):
        client = openai.OpenAI()          # OPENAI_BASE_URL points at the proxy
        ...

Replays only (record mode `none`) unless `--chatmock-record-mode` (or the marker's
`mode`) says otherwise; a cassette missing in replay is an error that says how to
record it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from chatmock_lab.config import RECORD_MODES

if TYPE_CHECKING:
    from chatmock_lab.cassettes.transport import RecordMode
    from chatmock_lab.server.cassette_session import CassetteSession

_MARKER = "chatmock"
_MARKER_HELP = (
    "chatmock(cassette=None, *, mode=None, provider=None, speed=0.0,"
    " allow_playback_repeats=False, ignore=(), chaos=None, chaos_seed=0): the cassette the"
    " `chatmock` fixture replays (a path relative to the test file; default"
    " cassettes/<module>/<test>.chatmock.yaml), its record mode, the provider that records"
    " it, the replay pace, request body fields left out of matching, and chaos rules for"
    " every request of the test (recorded into the cassette as what happened)"
)
_MARKER_KEYS = frozenset(
    {
        "cassette",
        "mode",
        "provider",
        "speed",
        "allow_playback_repeats",
        "ignore",
        "chaos",
        "chaos_seed",
    }
)
# Per cassette used in the session: how many interactions it holds, and which were played.
_PLAYS = pytest.StashKey[dict[Path, tuple[int, set[int]]]]()
_PLAY_LOG = pytest.StashKey[Path]()
# Where cassettes' parsed YAML is kept between runs (in pytest's cache, when it has one).
_PARSE_CACHE = pytest.StashKey[Path]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chatmock", "chatmock-lab cassettes")
    group.addoption(
        "--chatmock-record-mode",
        choices=RECORD_MODES,
        default=None,
        help="record mode for the chatmock fixture's cassettes: none (replay only, the"
        " default), once, new_episodes, all, rewrite",
    )
    group.addoption(
        "--chatmock-provider",
        default=None,
        help="provider that records new interactions (over the marker's; default: the"
        " cassette's, else mock)",
    )
    group.addoption(
        "--chatmock-play-log",
        default=None,
        help="file that notes each replayed interaction, for `chatmock-lab cassettes check"
        " --plays` (default: in pytest's cache, .pytest_cache/d/chatmock/plays.jsonl)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)
    config.stash[_PLAYS] = {}
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    if cache is not None:
        config.stash[_PARSE_CACHE] = cache.mkdir("chatmock") / "cassettes"
    option = config.getoption("--chatmock-play-log")
    if option:
        config.stash[_PLAY_LOG] = Path(option)
    elif cache is not None:
        log = cache.mkdir("chatmock") / "plays.jsonl"
        # One run's plays: what a check after this run should compare against. Under
        # pytest-xdist the controller starts the log afresh, and its workers append.
        if not hasattr(config, "workerinput"):
            log.unlink(missing_ok=True)
        config.stash[_PLAY_LOG] = log


def _default_cassette(node: pytest.Item) -> Path:
    path = Path(str(node.fspath))
    cls = getattr(node, "cls", None)  # pytest.Function has it; other items may not
    name = node.name if cls is None else f"{cls.__name__}.{node.name}"
    # Parametrized ids may hold characters file systems refuse.
    name = re.sub(r"[^\w.\-\[\]]", "_", name)
    return path.parent / "cassettes" / path.stem / f"{name}.chatmock.yaml"


def _marker_options(node: pytest.Item) -> dict[str, Any]:
    options: dict[str, Any] = {}
    # The closest marker wins: a test's over its class's over its module's.
    for marker in reversed(list(node.iter_markers(_MARKER))):
        unknown = set(marker.kwargs) - _MARKER_KEYS
        if unknown:
            raise pytest.UsageError(
                f"{node.nodeid}: unknown chatmock marker option(s) {', '.join(sorted(unknown))};"
                f" known: {', '.join(sorted(_MARKER_KEYS))}"
            )
        if marker.args:
            options["cassette"] = marker.args[0]
        options.update(marker.kwargs)
    return options


@pytest.fixture
def chatmock(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CassetteSession]:
    """A proxy replaying (or recording) this test's cassette; `chatmock.endpoints` has the
    base URLs per dialect, and the SDK variables (OPENAI_BASE_URL, ANTHROPIC_BASE_URL,
    GOOGLE_GEMINI_BASE_URL and their keys) point at it for the test."""
    from chatmock_lab.config import ConfigError, Settings
    from chatmock_lab.server.cassette_session import cassette

    node = request.node
    config = request.config
    options = _marker_options(node)
    test_dir = Path(str(node.fspath)).parent
    path = test_dir / options["cassette"] if "cassette" in options else _default_cassette(node)
    mode = config.getoption("--chatmock-record-mode") or options.get("mode") or "none"
    provider = config.getoption("--chatmock-provider") or options.get("provider")
    try:
        settings = Settings(
            port=0,
            play_log=config.stash.get(_PLAY_LOG, None),
            cassette_cache=config.stash.get(_PARSE_CACHE, None),
            preload_tokenizer=False,
            # Nobody watches a test's proxy: no page, no record of its requests.
            ui=False,
            chaos=options.get("chaos"),
            chaos_seed=int(options.get("chaos_seed", 0)),
        ).validated()
    except ConfigError as error:
        pytest.fail(f"chatmock: marker option {error}", pytrace=False)
    if mode == "none" and not path.exists():
        pytest.fail(
            f"chatmock: no cassette {path} to replay; record it with"
            " --chatmock-record-mode=once (and --chatmock-provider, or the marker's provider)",
            pytrace=False,
        )
    with ExitStack() as stack:
        try:
            session = stack.enter_context(
                cassette(
                    path,
                    # Checked against RECORD_MODES by the cassette, with a clear message.
                    cast("RecordMode", mode),
                    speed=float(options.get("speed", 0.0)),
                    provider=provider,
                    allow_playback_repeats=bool(options.get("allow_playback_repeats", False)),
                    ignore=options.get("ignore", ()),
                    settings=settings,
                )
            )
        except (ConfigError, ValueError) as error:
            pytest.fail(f"chatmock: {error}", pytrace=False)
        for variable, value in session.endpoints.environment().items():
            if value is None:
                monkeypatch.delenv(variable, raising=False)
            else:
                monkeypatch.setenv(variable, value)
        yield session
        loaded = len(session.transport.matcher.cassette.interactions) - session.recorded
        unplayed = set(session.unplayed())
        total, played = config.stash[_PLAYS].setdefault(session.path.resolve(), (loaded, set()))
        played |= set(range(total)) - unplayed


def pytest_sessionfinish(session: pytest.Session) -> None:
    # A pytest-xdist worker hands its plays to the controller, which prints the summary.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["chatmock_plays"] = {
            str(path): [total, sorted(played)]
            for path, (total, played) in session.config.stash.get(_PLAYS, {}).items()
        }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a worker finished; merge what it played into the session's tally."""
    plays = node.config.stash.setdefault(_PLAYS, {})
    # A worker that died (killed, crashed) has no output to merge.
    output = getattr(node, "workeroutput", None) or {}
    for raw_path, (total, played) in output.get("chatmock_plays", {}).items():
        _, seen = plays.setdefault(Path(raw_path), (total, set()))
        seen.update(played)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    unplayed = [
        (path, index)
        for path, (total, played) in sorted(config.stash.get(_PLAYS, {}).items())
        for index in range(total)
        if index not in played
    ]
    if not unplayed:
        return
    terminalreporter.section("chatmock")
    terminalreporter.write_line(
        f"{len(unplayed)} recorded interaction(s) were not replayed by any test this session:"
    )
    for path, index in unplayed:
        terminalreporter.write_line(f"  {path} interaction {index}")
