"""JupyterLab in headless Chromium, for the tests that look at rendered widgets.

Support code, not a test module. `.ci/run` installs Debian's `chromium` and sets
`CHATMOCK_CHROMIUM`; Playwright (from PyPI, driver bundled) drives that binary through
`executable_path`, so `playwright install` (a CDN download) is never needed. Tests call
`browser_unavailable_reason()` and skip with its text when it is not None.

Everything talks to 127.0.0.1 only: JupyterLab listens on a free loopback port, and
Chromium starts with its background networking switched off.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from playwright.sync_api import Page

DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Known to work as root on these machines; without the background-networking switches the
# closed network refuses Chromium's own connections many at a time.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 10.0
# Playwright timeouts, in milliseconds.
PAGE_TIMEOUT_MS = 20_000

NOTEBOOK_NAME = "widget_check.ipynb"


def chromium_path() -> str:
    """The Chromium binary the browser tests use: `CHATMOCK_CHROMIUM`, else Debian's."""
    return os.environ.get("CHATMOCK_CHROMIUM") or DEFAULT_CHROMIUM


# --------------------------------------------------------------------------- JupyterLab


@dataclass(frozen=True)
class LabServer:
    """A running `jupyter lab` subprocess on loopback."""

    process: subprocess.Popen[bytes]
    base_url: str  # e.g. http://127.0.0.1:PORT/ (always ends with "/")
    token: str
    root_dir: Path
    log_path: Path

    def url_for(self, path: str) -> str:
        """An address under the server, with the token, e.g. `url_for("lab/tree/x.ipynb")`."""
        return f"{self.base_url}{quote(path.lstrip('/'))}?token={self.token}"

    def start_kernel_for(self, notebook: str, kernel_name: str = "python3") -> str:
        """Start the kernel session `notebook` will use (JupyterLab attaches to it on open).

        Lets the kernel boot while the browser is still loading the lab. Returns its id.
        """
        body: dict[str, object] = {
            "path": notebook,
            "name": notebook,
            "type": "notebook",
            "kernel": {"name": kernel_name},
        }
        request = urllib.request.Request(
            f"{self.base_url}api/sessions",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=SERVER_START_TIMEOUT) as response:
            session = json.loads(response.read())
        return str(session["kernel"]["id"])

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)


def _isolated_env(home: Path) -> dict[str, str]:
    """The process environment with every Jupyter/IPython writable dir moved under `home`."""
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "IPYTHONDIR": home / "ipython",
        "JUPYTERLAB_SETTINGS_DIR": home / "config" / "lab" / "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "config" / "lab" / "workspaces",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_"))}
    env.update({k: str(v) for k, v in dirs.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _server_info(runtime_dir: Path, pid: int) -> dict[str, object] | None:
    """The `jpserver-PID.json` the server writes once it listens, or None before then."""
    path = runtime_dir / f"jpserver-{pid}.json"
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None  # not written yet, or caught half-written


def _status_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _child_pids(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc); kernels run in their own sessions."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            found.extend(int(child) for child in task.read_text().split())
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets the server shut its kernels down; anything left is killed."""
    if process.poll() is not None:
        return
    children = _child_pids(process.pid)
    process.terminate()
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SERVER_STOP_TIMEOUT)
    for child in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGKILL)


# jsonschema, imported by jupyter_events, builds rfc3987_syntax's Lark grammar at import:
# about 3 s of every server start here. The server does without it (jsonschema then skips
# the "iri" format check of Jupyter's event schemas), so the server process hides it.
_LAB_MAIN = (
    "import sys; sys.modules['rfc3987_syntax'] = None; "
    "from jupyterlab.labapp import main; sys.exit(main())"
)

# Without this the lab asks "Would you like to get notified about official Jupyter news?"
# in a toast that lands in every screenshot.
_PAGE_CONFIG = {
    "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True},
    # The build check (is the installed lab up to date?) costs seconds of server CPU.
    "buildCheck": False,
    "buildAvailable": False,
}


@dataclass
class _StartingLab:
    process: subprocess.Popen[bytes]
    runtime_dir: Path
    token: str
    root_dir: Path
    log_path: Path

    def wait_ready(self, timeout: float = SERVER_START_TIMEOUT) -> LabServer:
        """Poll (with a deadline) until the server has written its info file and answers."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {self.process.returncode}:\n{_tail(self.log_path)}"
                )
            info = _server_info(self.runtime_dir, self.process.pid)
            if info is not None:
                base_url = f"http://127.0.0.1:{info['port']}/"
                if _status_ok(f"{base_url}api/status?token={self.token}"):
                    return LabServer(
                        self.process, base_url, self.token, self.root_dir, self.log_path
                    )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"jupyter lab not ready after {timeout:.0f}s:\n{_tail(self.log_path)}"
                )
            time.sleep(delay)  # a polling interval, bounded by the deadline above
            delay = min(delay * 2, 0.25)


@contextlib.contextmanager
def _launched_lab(root_dir: Path) -> Iterator[_StartingLab]:
    """Start the server process without waiting for it; stopped (kernels too) on exit."""
    root_dir = Path(root_dir).resolve()
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="chatmock-jupyter-") as scratch:
        home = Path(scratch)
        env = _isolated_env(home)
        labconfig = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(json.dumps(_PAGE_CONFIG))
        log_path = home / "jupyterlab.log"
        command = [
            sys.executable,
            "-c",
            _LAB_MAIN,
            "--no-browser",
            "--ip=127.0.0.1",
            "--port=0",  # the OS picks a free port; read back from jpserver-PID.json
            "--port-retries=0",
            f"--ServerApp.root_dir={root_dir}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.password=",
            "--allow-root",  # CI runs as root; this only lifts the refusal to start
            "--ServerApp.terminals_enabled=False",
            "--LabApp.extension_manager=readonly",  # no PyPI queries from the lab
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, for commands
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=root_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            yield _StartingLab(process, Path(env["JUPYTER_RUNTIME_DIR"]), token, root_dir, log_path)
        finally:
            _stop(process)


@contextlib.contextmanager
def jupyterlab_server(root_dir: Path) -> Iterator[LabServer]:
    """Run `jupyter lab` (this Python's) serving `root_dir`, and stop it and its kernels after.

    No browser, a random token passed in the URL, a port the OS picks on 127.0.0.1, and
    throwaway config/data/runtime/IPython dirs: the user's Jupyter setup is neither read
    for settings nor written. Kernels are this Python's ipykernel (the native `python3`
    kernelspec). `window.jupyterapp` is exposed so tests can run JupyterLab commands.
    """
    with _launched_lab(root_dir) as starting:
        yield starting.wait_ready()


def _tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# --------------------------------------------------------------------------- Chromium


@contextlib.contextmanager
def chromium_page(
    *, executable: str | None = None, width: int = 1280, height: int = 900
) -> Iterator[Page]:
    """A Playwright page in headless Chromium (`CHATMOCK_CHROMIUM` or /usr/bin/chromium).

    A fresh profile in a temporary --user-data-dir every time, removed afterwards.
    """
    from playwright.sync_api import sync_playwright

    binary = executable or chromium_path()
    with (
        tempfile.TemporaryDirectory(prefix="chatmock-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=binary,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": width, "height": height},
            timeout=PAGE_TIMEOUT_MS,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            yield page
        finally:
            context.close()


@functools.cache
def browser_unavailable_reason() -> str | None:
    """Why the browser tests must skip here, or None when Chromium runs under Playwright."""
    binary = chromium_path()
    if not Path(binary).is_file():
        return (
            f"no Chromium binary at {binary}: run .ci/run, or `apt-get install chromium`"
            " (set CHATMOCK_CHROMIUM to use another binary)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        return f"playwright is not importable ({error}): pip install -e '.[test]'"
    # find_spec, not import: importing jupyterlab costs seconds (jsonschema's grammars).
    for module in ("jupyterlab", "jupyterlab_widgets", "ipykernel", "ipywidgets"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: pip install -e '.[test]'"
    try:
        with chromium_page(executable=binary) as page:
            page.set_content("<p>ok</p>")
            if page.inner_text("p") != "ok":
                return f"Chromium at {binary} launched but did not render a page"
    except Exception as error:
        return f"Chromium at {binary} fails to launch under Playwright: {_launch_error(error)}"
    return None


def _launch_error(error: Exception) -> str:
    """The launch error's first line, plus the browser's exit code and last stderr line.

    Playwright's first line alone is often just "Target page, context or browser has been
    closed"; the why is in the browser log it appends.
    """
    lines = str(error).strip().splitlines() or [type(error).__name__]
    summary = lines[0]
    exits = re.findall(r"<process did exit: exitCode=(\w+), signal=(\w+)>", str(error))
    if exits:
        code, sig = exits[-1]
        summary += f" (exit code {code}" + (f", signal {sig})" if sig != "null" else ")")
    stderr = [line.split("[err] ", 1)[1] for line in lines if "][err] " in line]
    if stderr:
        summary += f"; last stderr line: {stderr[-1].strip()}"
    return summary


# --------------------------------------------------------------------------- notebooks

_WAIT_FOR_KERNEL = """
async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel) { throw new Error('the notebook has no kernel'); }
  await kernel.info;
  return kernel.name;
}
"""

_CURRENT_IS_NOTEBOOK = """
(name) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) { return false; }
  const panel = app.shell.currentWidget;
  return !!(panel && panel.context && panel.context.path === name && panel.sessionContext);
}
"""


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook (nbformat 4.5) of code cells for this Python's kernel, without outputs.

    Written as plain JSON: importing `nbformat` imports jsonschema, which spends about 3 s
    here building rfc3987_syntax's grammar, for a file this small.
    """
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            },
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{index}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": source,
            }
            for index, source in enumerate(cells)
        ],
    }
    path.write_text(json.dumps(notebook, indent=1) + "\n")
    return path


def render_in_jupyterlab(
    tmp_path: Path,
    cells: list[str],
    wait_for_text: str | re.Pattern[str] | Sequence[str | re.Pattern[str]],
    screenshot: Path,
) -> str:
    """Open a notebook of `cells` in JupyterLab in Chromium, run all cells, and look.

    Waits until rendered widgets (`.jupyter-widgets` views from the jupyterlab_widgets
    extension, not the text/plain fallback) inside cell outputs show each of
    `wait_for_text` (a text or pattern, or several), takes a full-page screenshot to
    `screenshot`, and returns the text of all outputs.
    """
    if isinstance(wait_for_text, str | re.Pattern):
        wait_for_text = [wait_for_text]
    root = Path(tmp_path) / "lab-root"
    root.mkdir(parents=True, exist_ok=True)
    write_notebook(root / NOTEBOOK_NAME, cells)
    screenshot.parent.mkdir(parents=True, exist_ok=True)

    # The server (seconds of imports) and Chromium start side by side.
    with _launched_lab(root) as starting, chromium_page() as page:
        lab = starting.wait_ready()
        try:
            lab.start_kernel_for(NOTEBOOK_NAME)  # boots while the page loads
            page.goto(lab.url_for(f"lab/tree/{NOTEBOOK_NAME}"), wait_until="domcontentloaded")
            page.wait_for_function(_CURRENT_IS_NOTEBOOK, arg=NOTEBOOK_NAME)
            page.evaluate(_WAIT_FOR_KERNEL)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            for text in wait_for_text:
                widget = (
                    page.locator(".jp-OutputArea-output .jupyter-widgets")
                    .filter(has_text=text)
                    .first
                )
                widget.wait_for(state="visible")
            # Every cell has run once no prompt says "[*]" any more.
            page.wait_for_function(
                """() => [...document.querySelectorAll('.jp-InputArea-prompt')]
                          .every((p) => !p.textContent.includes('*'))"""
            )
            page.screenshot(path=str(screenshot), full_page=True)
            outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        except Exception as error:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(screenshot), full_page=True)
            raise AssertionError(
                f"JupyterLab did not render {wait_for_text!r} ({error}); screenshot at"
                f" {screenshot}; server log tail:\n{lab.log_tail()}"
            ) from error
    return "\n".join(outputs)
