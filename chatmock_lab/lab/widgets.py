"""ipywidgets for the notebook lab: logging in, approving upstream requests, and the
stream inspector's live table.

Widgets are changed from other threads (a login polling on its own event loop, the
proxy's thread asking for an approval): ipykernel sends widget updates from any thread,
and nothing here prints, so no output is lost to a thread without a parent message.
Secrets typed into password fields are read once and the fields emptied at once, so
they are neither echoed nor kept in the widget state a notebook may save.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import os
import threading
from collections.abc import Callable, MutableMapping

import ipywidgets as widgets

from chatmock_lab import accounts
from chatmock_lab.auth.chatgpt import DEFAULT_PORT as DEFAULT_CALLBACK_PORT
from chatmock_lab.auth.chatgpt import DeviceCode as ChatGPTDeviceCode
from chatmock_lab.auth.chatgpt import LoginError as ChatGPTLoginError
from chatmock_lab.auth.github import DeviceCode as GitHubDeviceCode
from chatmock_lab.auth.github import LoginError as GitHubLoginError
from chatmock_lab.core import ProxyError
from chatmock_lab.lab.stream_inspector import InspectedStream, table_html
from chatmock_lab.limits import ApprovalRequest
from chatmock_lab.providers.openai_compatible import SPECS
from chatmock_lab.redact import redactor

# Accounts signed in to, and the hosted upstreams that need a key (the `openai`
# provider's key is optional: local servers take none).
_KEY_PROVIDERS = tuple(name for name, spec in SPECS.items() if spec.key_required)
LOGIN_PROVIDERS = (*accounts.ACCOUNT_PROVIDERS, *_KEY_PROVIDERS)
# Logins that are pasted secrets rather than a flow.
_PASTED = ("qwen", *_KEY_PROVIDERS)
_LOGIN_ERRORS = (ChatGPTLoginError, GitHubLoginError, ProxyError, ValueError, OSError)


class LoginWidget(widgets.VBox):
    """What a provider's login needs, live: a device code and its link with the poll's
    status (Copilot; ChatGPT with `device`), the authorize link (ChatGPT's browser flow),
    or password fields (Qwen's token and cookies, an API key). Drives the same login
    functions as `chatmock-lab login`."""

    def __init__(
        self,
        provider: str,
        *,
        device: bool = False,
        environ: MutableMapping[str, str] | None = None,
        on_credentials: Callable[[], None] | None = None,
        callback_port: int = DEFAULT_CALLBACK_PORT,
    ) -> None:
        """`callback_port` is where ChatGPT's browser login returns; its OAuth client
        allows only 1455, so other values are for tests against a fake server."""
        if provider not in LOGIN_PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; one of {', '.join(LOGIN_PROVIDERS)}")
        self.provider = provider
        self.device = device
        self.callback_port = callback_port
        self.environ = os.environ if environ is None else environ
        # Called after new credentials are in place (the kernel's server reloads them).
        self.on_credentials = on_credentials
        self.title = widgets.HTML(value=f"<b>chatmock-lab login: {provider}</b>")
        self.link = widgets.HTML(value="")
        self.code = widgets.HTML(value="")
        self.status = widgets.HTML(value="")
        # Every status shown, in order: what a test (or a curious user) can check.
        self.history: list[str] = []
        self.authorize_url: str | None = None
        self.finished = threading.Event()
        self.fields: list[widgets.Password] = []
        self.save = widgets.Button(description="Save", button_style="primary")
        children: list[widgets.Widget] = [self.title, self.link, self.code, self.status]
        if provider in _PASTED:
            self.fields = self._password_fields()
            self.save.on_click(lambda _button: self.submit())
            children = [self.title, *self.fields, self.save, self.status]
        super().__init__(children=children)

    def _password_fields(self) -> list[widgets.Password]:
        if self.provider == "qwen":
            return [
                widgets.Password(description="Auth token", placeholder="from chat.qwen.ai"),
                widgets.Password(description="Cookies", placeholder="the whole Cookie header"),
            ]
        variable = SPECS[self.provider].key_variable
        return [widgets.Password(description="API key", placeholder=variable)]

    def set_status(self, status: str) -> None:
        self.history.append(status)
        colour = {"done": "#080", "expired": "#a00", "denied": "#a00", "failed": "#a00"}
        word = status.split(":", 1)[0]
        self.status.value = (
            f"<span style='color:{colour.get(word, '#555')}'>{html.escape(status)}</span>"
        )

    def start(self) -> LoginWidget:
        """Begin a device-code or browser login on a thread of its own; the widget
        follows it. Password logins wait for `submit` (the Save button)."""
        if self.provider in ("chatgpt", "copilot"):
            thread = threading.Thread(target=self._run_flow, name="chatmock-lab login", daemon=True)
            thread.start()
        return self

    def submit(self) -> None:
        values = [field.value for field in self.fields]
        for field in self.fields:
            field.value = ""  # never kept in the widget's state
        redactor.add(*values)
        try:
            if self.provider == "qwen":
                summary = accounts.login_qwen(values[0], values[1], self.environ)
            else:
                if not values[0].strip():
                    raise ValueError("the API key is empty")
                variable = SPECS[self.provider].key_variable
                self.environ[variable] = values[0].strip()
                summary = f"{variable} set for this kernel (not written to disk)"
        except _LOGIN_ERRORS as error:
            self.set_status(f"failed: {error}")
            return
        self._done(summary)

    def _run_flow(self) -> None:
        try:
            summary = asyncio.run(self._flow())
        except _LOGIN_ERRORS as error:
            message = str(error)
            word = "expired" if "expire" in message else "denied" if "denied" in message else None
            self.set_status(f"{word or 'failed'}: {message}")
            self.finished.set()
            return
        self._done(summary)

    async def _flow(self) -> str:
        if self.provider == "copilot":
            return await accounts.login_copilot(
                self.environ, on_code=self._show_code, on_status=self.set_status
            )
        self.set_status("pending")
        return await accounts.login_chatgpt(
            self.environ,
            headless=self.device,
            open_browser=False,
            on_url=self._show_link,
            on_code=self._show_code,
            port=self.callback_port,
        )

    def _show_code(self, code: ChatGPTDeviceCode | GitHubDeviceCode) -> None:
        # The two device codes name the page differently: GitHub's as RFC 8628 does
        # (`verification_uri`), ChatGPT's `verification_url`.
        url = code.verification_uri if isinstance(code, GitHubDeviceCode) else code.verification_url
        self.link.value = (
            f"Open <a href='{html.escape(url)}' target='_blank'>{html.escape(url)}</a>"
            " and enter the code:"
        )
        self.code.value = f"<code style='font-size:150%'>{html.escape(code.user_code)}</code>"
        self.set_status("pending")

    def _show_link(self, url: str) -> None:
        self.authorize_url = url
        self.link.value = (
            f"<a href='{html.escape(url)}' target='_blank'>Sign in to ChatGPT</a>"
            f" (the page returns to this machine on port {self.callback_port})"
        )

    def _done(self, summary: str) -> None:
        self.set_status(f"done: {summary}")
        if self.on_credentials is not None:
            self.on_credentials()
        self.finished.set()


class ApprovalWidget(widgets.VBox):
    """With `--manual`, the proxy's approver: each upstream request appears here with
    Approve and Deny, and waits for a click (denied after `timeout` seconds).

    A click is handled by the kernel's own thread, between cells: approve requests made
    from outside the running cell (another process, a terminal client, a cell that sent
    its request in the background); a cell that waits for its own answer holds the
    kernel until the timeout denies it."""

    # ipywidgets' `Box.children` trait, declared here because ipywidgets has no types.
    children: tuple[widgets.Widget, ...]

    def __init__(self, timeout: float = 300.0) -> None:
        self.timeout = timeout
        self.decisions: list[tuple[ApprovalRequest, bool]] = []
        self._waiting: list[tuple[widgets.HBox, concurrent.futures.Future[bool]]] = []
        self._lock = threading.Lock()
        super().__init__(children=[widgets.HTML(value="<b>chatmock-lab approvals</b>")])

    async def __call__(self, request: ApprovalRequest) -> bool:
        decided: concurrent.futures.Future[bool] = concurrent.futures.Future()
        row = self._row(request, decided)
        with self._lock:
            self._waiting.append((row, decided))
            self.children = (*self.children, row)
        try:
            approved = await asyncio.wait_for(asyncio.wrap_future(decided), self.timeout)
        except TimeoutError:
            approved = False
            self._settle(row, decided, False, "timed out: denied")
        self.decisions.append((request, approved))
        return approved

    def pending(self) -> list[widgets.HBox]:
        """Rows still waiting for a decision; each holds its text, Approve and Deny."""
        with self._lock:
            return [row for row, decided in self._waiting if not decided.done()]

    def _row(
        self, request: ApprovalRequest, decided: concurrent.futures.Future[bool]
    ) -> widgets.HBox:
        text = widgets.HTML(
            value=f"{html.escape(request.provider)} / {html.escape(request.model)}:"
            f" {html.escape(request.summary)}"
        )
        approve = widgets.Button(description="Approve", button_style="success")
        deny = widgets.Button(description="Deny", button_style="danger")
        row = widgets.HBox([text, approve, deny])
        approve.on_click(lambda _b: self._settle(row, decided, True, "approved"))
        deny.on_click(lambda _b: self._settle(row, decided, False, "denied"))
        return row

    def _settle(
        self,
        row: widgets.HBox,
        decided: concurrent.futures.Future[bool],
        approved: bool,
        label: str,
    ) -> None:
        try:
            decided.set_result(approved)
        except concurrent.futures.InvalidStateError:
            return  # the other side (a click, the timeout) settled it first
        text = row.children[0]
        row.children = [text, widgets.HTML(value=f"<i>{label}</i>")]


class InspectorView(widgets.VBox):
    """The stream inspector's live table."""

    def __init__(self) -> None:
        self.table = widgets.HTML(value="<i>waiting for the first chunk...</i>")
        self.latest: InspectedStream | None = None
        self.updates = 0
        super().__init__(children=[self.table])

    def update(self, stream: InspectedStream) -> None:
        self.latest = stream
        self.updates += 1
        self.table.value = table_html(stream)
