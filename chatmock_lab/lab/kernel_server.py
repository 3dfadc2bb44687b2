"""The one proxy a Jupyter kernel runs, on its own thread and event loop.

Never the kernel's loop: a cell that calls an SDK synchronously blocks the kernel's
thread, and the proxy answering it must keep running. One per kernel: serving again
with other settings replaces the running server (on the same port unless another is
asked for), so two can never run side by side; the process's exit stops it.
"""

from __future__ import annotations

import atexit
import html
import os
import threading
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from chatmock_lab.config import Settings
from chatmock_lab.core.errors import ChatmockError
from chatmock_lab.endpoints import Endpoints
from chatmock_lab.limits import Approver
from chatmock_lab.server.app import create_app
from chatmock_lab.server.runner import BackgroundServer
from chatmock_lab.server.state import ServerState, app_state
from chatmock_lab.server.status import ServerStatus, server_status

# Set by JupyterHub in each user's server; jupyter-server-proxy serves local ports
# below it, which is the only way a browser behind the hub reaches the proxy.
HUB_PREFIX_VARIABLE = "JUPYTERHUB_SERVICE_PREFIX"


class LabServerError(ChatmockError, RuntimeError):
    """Something a person asked of the kernel's server that cannot be done; the message
    is one line that says why."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Where the kernel's proxy listens, as code in the kernel and a browser reach it."""

    endpoints: Endpoints
    provider: str
    browser_url: str | None
    note: str = ""
    # The live traffic page, when it is on.
    traffic_page: str | None = None

    def __repr__(self) -> str:
        lines = [
            f"chatmock-lab serving {self.endpoints.url} (provider: {self.provider})",
            f"  OpenAI    base_url={self.endpoints.openai}",
            f"  Anthropic base_url={self.endpoints.anthropic}",
            f"  Gemini    base_url={self.endpoints.gemini}",
        ]
        if self.browser_url:
            lines.append(f"  browser   {self.browser_url}")
        if self.traffic_page:
            lines.append(f"  traffic   {self.traffic_page}")
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = [
            ("OpenAI", self.endpoints.openai),
            ("Anthropic", self.endpoints.anthropic),
            ("Gemini", self.endpoints.gemini),
        ]
        cells = "".join(
            f"<tr><th>{name}</th><td><code>base_url={html.escape(url)}</code></td></tr>"
            for name, url in rows
        )
        for name, url in (("browser", self.browser_url), ("traffic", self.traffic_page)):
            if url:
                link = html.escape(url)
                cells += (
                    f"<tr><th>{name}</th><td><a href='{link}' target='_blank'>{link}</a></td></tr>"
                )
        note = f"<div><i>{html.escape(self.note)}</i></div>" if self.note else ""
        return (
            f"<div><b>chatmock-lab</b> serving <code>{html.escape(self.endpoints.url)}</code>"
            f" (provider: {html.escape(self.provider)})</div><table>{cells}</table>{note}"
        )


def browser_url(url: str, environ: Mapping[str, str]) -> str | None:
    """The URL a browser uses for the proxy behind JupyterHub, else None (use `url`)."""
    prefix = environ.get(HUB_PREFIX_VARIABLE)
    if not prefix:
        return None
    port = url.rsplit(":", 1)[1]
    return f"{prefix.rstrip('/')}/proxy/{port}/"


class KernelServer:
    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self._server: BackgroundServer | None = None
        self._settings: Settings | None = None
        # What the variables we set held before, to put back on stop.
        self._saved: dict[str, str | None] = {}
        self._lock = threading.Lock()
        atexit.register(self.stop)

    def __repr__(self) -> str:
        where = self._server.url if self._server is not None else "stopped"
        return f"KernelServer({where})"

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    @property
    def server(self) -> BackgroundServer:
        if self._server is None or not self._server.running:
            raise LabServerError("no server is running; start one with %chatmock serve")
        return self._server

    @property
    def state(self) -> ServerState:
        return app_state(self.server.app)

    @property
    def settings(self) -> Settings:
        self.server  # noqa: B018 - raises the one-line error when none runs
        assert self._settings is not None
        return self._settings

    def info(self, note: str = "") -> ServerInfo:
        server = self.server
        return ServerInfo(
            Endpoints(server.url),
            self.settings.provider,
            browser_url(server.url, self._environ),
            note,
            traffic_page=f"{server.url}/_chatmock/" if self.settings.ui else None,
        )

    def serve(
        self,
        settings: Settings,
        *,
        set_environment: bool = True,
        approver: Approver | None = None,
    ) -> ServerInfo:
        """Start the proxy, or replace the running one when `settings` differ. Port 0
        means any: a running server's port is then kept, so URLs already handed out
        (and the SDK variables) stay right."""
        with self._lock:
            note = ""
            running = self._server if self._server is not None and self._server.running else None
            if running is not None:
                if settings.port == 0:
                    settings = settings.replace(port=running.port)
                if settings == self._settings:
                    return self.info("already serving with these settings")
                self._stop_locked()
                note = "reconfigured: the previous server was stopped"
            app = create_app(settings, env=self._original_environment(), approver=approver)
            try:
                server = BackgroundServer(settings, app).start()
            except OSError as error:
                raise LabServerError(
                    f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}"
                ) from None
            self._server = server
            self._settings = settings.replace(port=server.port)
            if set_environment:
                self._point_sdks_here(Endpoints(server.url), settings.api_key)
            return self.info(note)

    def stop(self) -> bool:
        """Stop the server (freeing its port) and restore the SDK variables."""
        with self._lock:
            return self._stop_locked()

    def _stop_locked(self) -> bool:
        server, self._server = self._server, None
        self._restore_environment()
        if server is None:
            return False
        server.stop()
        return True

    def status(self) -> ServerStatus:
        return server_status(self.state, self.server.url)

    def _original_environment(self) -> dict[str, str]:
        # The provider must see the user's own credentials, not our placeholders.
        environment = dict(self._environ)
        for variable, value in self._saved.items():
            if value is None:
                environment.pop(variable, None)
            else:
                environment[variable] = value
        return environment

    def _point_sdks_here(self, endpoints: Endpoints, api_key: str | None) -> None:
        for variable, value in endpoints.environment(api_key).items():
            is_key = variable.endswith("_API_KEY")
            if value is None or (is_key and api_key is None and self._environ.get(variable)):
                # A key the user already has keeps working with the proxy: leave it.
                continue
            self._saved.setdefault(variable, self._environ.get(variable))
            self._environ[variable] = value

    def _restore_environment(self) -> None:
        for variable, value in self._saved.items():
            if value is None:
                self._environ.pop(variable, None)
            else:
                self._environ[variable] = value
        self._saved.clear()
