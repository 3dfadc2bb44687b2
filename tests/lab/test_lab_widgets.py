"""The lab's widgets and result objects, tested as objects against real servers: a
comparison, an inspected stream (live, from another thread), a device-code login against
the fake GitHub, an approval, and the URLs shown behind JupyterHub."""

from __future__ import annotations

import itertools
import re
import threading
import time
from pathlib import Path

import httpx
import ipywidgets as widgets
import pytest

from chatmock_lab.auth.store import TokenStore
from chatmock_lab.lab.compare import compare, parse_conversation
from chatmock_lab.lab.kernel_server import KernelServer, browser_url
from chatmock_lab.lab.stream_inspector import in_background, inspect_stream
from chatmock_lab.lab.translate import translate
from chatmock_lab.lab.widgets import ApprovalWidget, InspectorView, LoginWidget
from chatmock_lab.server import BackgroundServer
from chatmock_lab.server.state import app_state
from chatmock_lab.testing import FakeGitHub

DEADLINE = 10.0

TOOL_REQUEST = """{
  "model": "claude-sonnet-4-6", "max_tokens": 200,
  "tools": [{"name": "get_weather", "description": "Weather in a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                              "required": ["city"]}}],
  "tool_choice": {"type": "tool", "name": "get_weather"},
  "messages": [{"role": "user", "content": "Weather in Paris?"}]
}"""


def texts(widget: widgets.Widget) -> str:
    """Every HTML/Label value in a widget tree, joined: what a person sees."""
    found = [str(getattr(widget, "value", ""))] if hasattr(widget, "value") else []
    for child in getattr(widget, "children", ()):
        found.append(texts(child))
    return "\n".join(found)


def test_compare_state_columns_and_differences(server: BackgroundServer) -> None:
    chat, read_as = parse_conversation(TOOL_REQUEST)
    assert read_as == "anthropic"
    # Ollama has no tool choice, so its column cannot force the call: compared apart below.
    forcing = ["openai", "anthropic", "gemini", "responses"]
    result = compare(server.url, chat, stream=True, dialects=forcing)
    assert list(result.runs) == forcing
    for run in result.runs.values():
        assert run.status == 200
        assert [(c.name, c.arguments) for c in run.answer.tool_calls] == [
            ("get_weather", {"city": "example city"})
        ]
        assert run.answer.finish_reason == "tool_calls"
        assert run.first_token_seconds is not None and run.total_seconds is not None
    natives = {name: run.answer.native_finish_reason for name, run in result.runs.items()}
    assert natives == {
        "openai": "tool_calls",
        "anthropic": "tool_use",
        "gemini": "STOP",
        "responses": "completed",
    }
    # Each column shows the request exactly as that dialect sent it.
    assert result.runs["anthropic"].request["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
    }
    assert (
        result.runs["gemini"].path
        == "/v1beta/models/claude-sonnet-4-6:streamGenerateContent?alt=sse"
    )
    assert result.differences == []

    view = result.widget()
    header, columns = view.children
    assert "differences: none" in header.value
    assert [c.children[0].value for c in columns.children] == [
        "<b>openai</b>",
        "<b>anthropic</b>",
        "<b>gemini</b>",
        "<b>responses</b>",
    ]
    assert all("get_weather" in c.children[1].value for c in columns.children)
    assert "chatmock compare (streamed); differences: none" in repr(result)
    assert "<table>" in result._repr_html_()
    # All five by default; Ollama's column says why it did not call the tool.
    every = compare(server.url, chat, stream=True)
    assert list(every.runs) == ["openai", "anthropic", "gemini", "ollama", "responses"]
    assert every.runs["ollama"].answer.tool_calls == []
    assert any(note.startswith("tool_choice:") for note in every.runs["ollama"].dropped)
    assert "tool calls" in every.differences


def test_compare_highlights_what_differs(server: BackgroundServer) -> None:
    # Five stop sequences, from a Gemini request: Chat Completions takes four and the
    # Responses API none, so those columns never stop at the fifth and their answers differ.
    gemini_request = """{
      "contents": [{"role": "user", "parts": [{"text": "alpha beta gamma delta"}]}],
      "generationConfig": {"stopSequences": ["zz1", "zz2", "zz3", "zz4", "gamma"],
                           "maxOutputTokens": 100}
    }"""
    chat, read_as = parse_conversation(gemini_request, model="gpt-4.1")
    assert read_as == "gemini"
    result = compare(server.url, chat)
    texts_by_dialect = {name: run.answer.text for name, run in result.runs.items()}
    assert texts_by_dialect == {
        "openai": "You said: alpha beta gamma delta",
        "anthropic": "You said: alpha beta ",
        "gemini": "You said: alpha beta ",
        "ollama": "You said: alpha beta ",
        "responses": "You said: alpha beta gamma delta",
    }
    assert "text" in result.differences
    assert any(note.startswith("stop") for note in result.runs["openai"].dropped)
    assert any(note.startswith("stop") for note in result.runs["responses"].dropped)
    # The differing rows are marked in every rendering.
    assert "* text:" in repr(result)
    assert '<tr style="background:#fff3cd"><th>text</th>' in result._repr_html_()
    openai_column = result.widget().children[1].children[0].children[1].value
    assert '<div style="background:#fff3cd"><b>text</b>' in openai_column


def test_inspector_shows_what_the_provider_could_not_carry_over(start_server) -> None:
    from chatmock_lab.testing import FakeOpenAIUpstream

    with FakeOpenAIUpstream() as fake:
        proxy = start_server(
            provider_name="openai", env={"CHATMOCK_OPENAI_BASE_URL": fake.base_url}
        )
        chat, _ = parse_conversation(
            '{"model": "m", "max_tokens": 20, "top_k": 5,'
            ' "messages": [{"role": "user", "content": "hi"}]}',
            dialect="anthropic",
        )
        result = inspect_stream(app_state(proxy.app), proxy.url, chat, dialect="anthropic")
    assert result.status == 200
    assert any(note.startswith("openai: top_k:") for note in result.notes), result.notes
    assert "not carried over: openai: top_k:" in repr(result)


def test_inspected_stream_updates_live_from_another_thread(tmp_path: Path) -> None:
    from chatmock_lab.config import Settings

    # A slow mock (chunks 30 ms apart) so the table is seen filling in.
    settings = Settings(port=0, mock_chunk_chars=2, mock_delay_ms=30)
    with BackgroundServer(settings) as slow:
        state = app_state(slow.app)
        view = InspectorView()
        seen: list[int] = []
        times: list[float] = []

        def update(stream: object) -> None:
            seen.append(threading.get_ident())
            times.append(time.monotonic())
            view.update(stream)  # type: ignore[arg-type]

        chat, _ = parse_conversation("Watch these chunks arrive", max_tokens=None)
        done = threading.Event()
        results = []

        def work() -> None:
            results.append(
                inspect_stream(state, slow.url, chat, dialect="anthropic", on_update=update)
            )
            done.set()

        thread = in_background(work)
        assert done.wait(DEADLINE)
        thread.join(DEADLINE)
    (result,) = results
    assert result.done and result.status == 200 and result.violations == []
    # Updated from the worker thread, more than once, at most every 100 ms, and at the end.
    assert set(seen) == {thread.ident} and 2 <= view.updates == len(seen)
    # Live updates come at most every 100 ms; only the final one may follow sooner.
    live = times[:-1]
    assert all(later - earlier >= 0.1 for earlier, later in itertools.pairwise(live))
    assert view.latest is result and "done" in view.table.value
    kinds = [kind for row in result.rows for kind in row.event_types]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta/text_delta" in kinds
    deltas = [row for row in result.rows if "content_block_delta/text_delta" in row.event_types]
    assert all(row.events.startswith("TextDelta") for row in deltas[1:])
    assert max(row.gap for row in result.rows) >= 0.02  # the mock's pace shows


def test_inspected_stream_from_a_recorded_upstream_shows_its_bytes(tmp_path: Path) -> None:
    # A shipped cassette: the upstream column holds the recorded Copilot bytes.
    import chatmock_lab

    cassette = Path(__file__).parents[2] / "cassettes" / "copilot.yaml"
    with chatmock_lab.cassette(cassette, "none", speed=1.0) as session:
        chat, _ = parse_conversation("Count to three.", max_tokens=50)
        result = inspect_stream(app_state(session.server.app), session.server.url, chat)
    assert result.violations == []
    upstream = "".join(row.upstream for row in result.rows)
    assert "chat.completion.chunk" in upstream and "[DONE]" in upstream
    assert (
        "".join(s.strip('"') for row in result.rows for s in row.summaries if s.startswith('"'))
        == "One, two, three."
    )


def test_device_code_login_shows_code_and_live_status(tmp_path: Path) -> None:
    with FakeGitHub(interval=0) as github:
        github.script(["pending", "success"])
        environ = {
            "CHATMOCK_HOME": str(tmp_path),
            "CHATMOCK_GITHUB_URL": github.github_url,
            "CHATMOCK_GITHUB_API_URL": github.api_url,
        }
        reloaded = threading.Event()
        login = LoginWidget("copilot", environ=environ, on_credentials=reloaded.set).start()
        assert login.finished.wait(DEADLINE)
        github_url = github.github_url
        codes_asked = github.requests_to("/login/device/code")
        issued = github.issued_github_tokens
    assert login.history[0] == "pending"
    assert login.history[-1].startswith("done: Signed in to GitHub Copilot")
    assert "done" in login.status.value and reloaded.is_set()
    assert github_url in login.link.value
    assert len(codes_asked) == 1 and "<code" in login.code.value
    stored = TokenStore.default(environ).load("copilot")
    assert stored and stored["github_token"] in issued
    # Nothing secret in what the widget shows.
    assert stored["github_token"] not in texts(login)


def test_expired_device_code_is_shown_as_such(tmp_path: Path) -> None:
    with FakeGitHub(interval=0) as github:
        github.script(["pending", "expired"])
        environ = {
            "CHATMOCK_HOME": str(tmp_path),
            "CHATMOCK_GITHUB_URL": github.github_url,
            "CHATMOCK_GITHUB_API_URL": github.api_url,
        }
        login = LoginWidget("copilot", environ=environ).start()
        assert login.finished.wait(DEADLINE)
    assert login.history[-1].startswith("expired")
    assert TokenStore.default(environ).load("copilot") is None


def test_api_key_and_cookie_fields_are_emptied_and_never_shown(tmp_path: Path) -> None:
    environ: dict[str, str] = {"CHATMOCK_HOME": str(tmp_path)}
    grok = LoginWidget("grok", environ=environ)
    (field,) = grok.fields
    field.value = "xai-a-real-looking-key-0123456789abcdef"
    grok.save.click()
    assert environ["XAI_API_KEY"] == "xai-a-real-looking-key-0123456789abcdef"
    assert field.value == "" and "0123456789abcdef" not in texts(grok)
    assert grok.history[-1].startswith("done: XAI_API_KEY set for this kernel")

    qwen = LoginWidget("qwen", environ=environ)
    qwen.fields[0].value = "eyJ-qwen-token-value"
    qwen.fields[1].value = "token=abc; cna=xyz"
    qwen.save.click()
    assert [f.value for f in qwen.fields] == ["", ""]
    assert TokenStore.default(environ).load("qwen") == {
        "auth_token": "eyJ-qwen-token-value",
        "cookies": "token=abc; cna=xyz",
    }
    empty = LoginWidget("openrouter", environ=environ)
    empty.save.click()
    assert empty.history[-1] == "failed: the API key is empty"


def test_approval_widget_lets_one_request_through_and_refuses_another(start_server) -> None:
    approvals = ApprovalWidget(timeout=DEADLINE)
    server = start_server(approver=approvals, manual=True)
    answers: dict[str, httpx.Response] = {}

    def ask(text: str) -> None:
        answers[text] = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"model": "gpt-4.1", "messages": [{"role": "user", "content": text}]},
            timeout=DEADLINE,
        )

    for text, button in (("please", 1), ("no thanks", 2)):
        thread = threading.Thread(target=ask, args=(text,))
        thread.start()
        deadline = threading.Event()
        for _ in range(int(DEADLINE / 0.01)):
            if approvals.pending():
                break
            deadline.wait(0.01)
        (row,) = approvals.pending()
        assert text in row.children[0].value
        row.children[button].click()
        thread.join(DEADLINE)
        assert approvals.pending() == []
    assert answers["please"].status_code == 200
    assert answers["no thanks"].status_code == 403
    assert "refused by the operator" in answers["no thanks"].json()["error"]["message"]
    assert [approved for _, approved in approvals.decisions] == [True, False]
    assert "approved" in texts(approvals) and "denied" in texts(approvals)


def test_translate_lists_what_could_not_be_carried_over() -> None:
    result = translate(
        '{"model": "gpt-4.1", "seed": 7, "messages": [{"role": "user", "content": "Hi"}]}',
        source=None,
        target="anthropic",
    )
    assert result.source == "openai" and result.path == "/v1/messages"
    assert result.body["messages"] == [{"role": "user", "content": "Hi"}]
    assert any(note.startswith("seed:") for note in result.dropped)
    assert "seed:" in repr(result) and "<li>seed:" in result._repr_html_()


def test_translate_reads_and_writes_ollama_and_responses() -> None:
    ollama_request = (
        '{"model": "llama3.2", "options": {"num_predict": 50, "top_k": 4},'
        ' "messages": [{"role": "user", "content": "Hi"}]}'
    )
    to_responses = translate(ollama_request, source=None, target="responses")
    assert to_responses.source == "ollama" and to_responses.path.endswith("/responses")
    assert to_responses.body["max_output_tokens"] == 50
    assert any(note.startswith("top_k") for note in to_responses.dropped)
    responses_request = '{"model": "gpt-5", "input": "Hi", "max_output_tokens": 9}'
    back = translate(responses_request, source="responses", target="ollama")
    assert back.source == "responses" and back.path == "/api/chat"
    assert back.body["messages"][-1]["content"] == "Hi"
    assert back.body["options"]["num_predict"] == 9
    # Detected without --from, too.
    assert translate(responses_request, source=None, target="openai").source == "responses"


def test_urls_behind_jupyterhub_go_through_the_server_proxy() -> None:
    environ = {"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}
    assert browser_url("http://127.0.0.1:8123", environ) == "/user/ada/proxy/8123/"
    assert browser_url("http://127.0.0.1:8123", {}) is None
    kernel_server = KernelServer(environ=environ)
    try:
        from chatmock_lab.config import Settings

        info = kernel_server.serve(Settings(port=0))
        assert info.browser_url == f"/user/ada/proxy/{kernel_server.server.port}/"
        assert f"browser   /user/ada/proxy/{kernel_server.server.port}/" in repr(info)
        # The kernel's own SDKs still talk to the loopback address.
        assert environ["OPENAI_BASE_URL"] == f"{kernel_server.server.url}/v1"
    finally:
        kernel_server.stop()
    assert "OPENAI_BASE_URL" not in environ


@pytest.mark.parametrize("provider", ["nope"])
def test_unknown_login_provider_is_refused(provider: str) -> None:
    with pytest.raises(ValueError, match="unknown provider 'nope'"):
        LoginWidget(provider)


def test_chatgpt_device_login_shows_the_code_then_done(tmp_path: Path) -> None:
    from chatmock_lab.testing.fake_chatgpt_auth import FakeChatGPTAuth

    with FakeChatGPTAuth() as auth:
        auth.device_interval = 0
        auth.script_device("approved", pending=1)
        environ = {"CHATMOCK_HOME": str(tmp_path), "CHATMOCK_CHATGPT_AUTH_URL": auth.url}
        login = LoginWidget("chatgpt", device=True, environ=environ).start()
        assert login.finished.wait(DEADLINE)
        auth_url = auth.url
    assert login.history[0] == "pending" and login.history[-1].startswith(
        "done: Signed in to ChatGPT"
    )
    assert f"{auth_url}/codex/device" in login.link.value
    assert re.search(r"<code[^>]*>[A-Z]{4}-\d{4}</code>", login.code.value)
    stored = TokenStore.default(environ).load("chatgpt")
    assert stored and stored["access_token"] not in texts(login)


def test_chatgpt_browser_login_shows_the_authorize_link(tmp_path: Path) -> None:
    from chatmock_lab.testing.fake_chatgpt_auth import FakeChatGPTAuth

    with FakeChatGPTAuth() as auth:
        environ = {"CHATMOCK_HOME": str(tmp_path), "CHATMOCK_CHATGPT_AUTH_URL": auth.url}
        # Port 0: the real OAuth client allows only 1455, the fake any port.
        login = LoginWidget("chatgpt", environ=environ, callback_port=0).start()
        for _ in range(int(DEADLINE / 0.01)):
            if login.authorize_url:
                break
            login.finished.wait(0.01)
        url = login.authorize_url
        assert url and url.startswith(f"{auth.url}/oauth/authorize?")
        assert "Sign in to ChatGPT" in login.link.value
        # The test is the browser: the fake signs in and sends it back to the widget.
        page = httpx.get(url, follow_redirects=True, timeout=DEADLINE)
        assert page.status_code == 200
        assert login.finished.wait(DEADLINE)
    assert login.history[-1].startswith("done: Signed in to ChatGPT")
    assert TokenStore.default(environ).load("chatgpt")
