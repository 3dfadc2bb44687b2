"""The traffic log behind the page, over real HTTP: what each request's record holds,
the bound on what is kept, the history file read back from Python, the event stream,
the key, and `--no-ui`."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import httpx
import openai
import pytest

from chatmock_lab.redact import Redactor
from chatmock_lab.taps import Tap
from chatmock_lab.traffic import TrafficLog, read_history
from chatmock_lab.traffic.log import ENTRY_BYTES, ENTRY_RECORDS
from tests.conftest import ServerFactory

BODY = {"model": "mock", "messages": [{"role": "user", "content": "Hello, log"}], "stream": True}


def _chat(url: str, body: dict | None = None, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body or BODY, headers=headers, timeout=10)


def test_a_streamed_request_is_recorded_with_its_rows_and_timings(
    start_server: ServerFactory,
) -> None:
    server = start_server(mock_chunk_chars=4)
    assert _chat(server.url).status_code == 200
    with httpx.Client(base_url=server.url, timeout=10) as client:
        (summary,) = client.get("/_chatmock/api/requests").json()["requests"]
        record = client.get(f"/_chatmock/api/requests/{summary['id']}").json()
    assert summary["dialect"] == "openai" and summary["provider"] == "mock"
    assert summary["status"] == 200 and summary["done"] is True
    assert summary["chunks"] == len(record["rows"]) >= 2
    assert 0 < summary["ttft_ms"] <= summary["total_ms"]
    assert summary["input_tokens"] > 0 and summary["output_tokens"] > 0
    assert summary["violations"] == 0
    assert json.loads(record["request_body"]) == BODY
    assert '"text": "Hello, log"' in record["canonical_request"]
    assert record["upstream_request"] == ""  # the mock answers inside the proxy
    client_text = "".join(row["client"] for row in record["rows"])
    assert '"content":"You "' in client_text and '"content":"said"' in client_text
    assert [side for _, side in record["timeline"]] == ["client"] * len(record["rows"])


def test_errors_and_whole_answers_are_recorded_without_stream_checks(
    start_server: ServerFactory,
) -> None:
    server = start_server()
    bad = httpx.post(
        f"{server.url}/v1/messages",
        json={"model": "m", "messages": []},
        headers={"anthropic-version": "2023-06-01"},
        timeout=10,
    )
    assert bad.status_code == 400
    whole = _chat(server.url, {**BODY, "stream": False})
    assert whole.status_code == 200
    with httpx.Client(base_url=server.url, timeout=10) as client:
        first, second = client.get("/_chatmock/api/requests").json()["requests"]
        failed = client.get(f"/_chatmock/api/requests/{first['id']}").json()
    assert (first["dialect"], first["status"], first["provider"]) == ("anthropic", 400, None)
    assert "max_tokens" in failed["rows"][0]["client"]
    assert failed["violations"] == 0 and failed["end_violations"] == []
    assert second["status"] == 200 and second["chunks"] == 1 and second["violations"] == 0
    assert second["output_tokens"] > 0


def test_the_log_keeps_the_newest_and_bounds_each_entrys_bytes() -> None:
    log = TrafficLog(limit=3, redactor=Redactor())
    entries = [log.begin("POST", "/v1/chat/completions", "openai", b"{}", Tap()) for _ in range(5)]
    assert [e.id for e in log.entries()] == [3, 4, 5]
    assert log.get(1) is None and log.get(5) is entries[4]
    tap = Tap(max_bytes=ENTRY_BYTES)
    for _ in range(3):
        tap.add("client", b"x" * ENTRY_BYTES)
    assert sum(len(r.data) for r in tap.records) == ENTRY_BYTES  # type: ignore[arg-type]
    assert len(tap.records) == 3  # the times of every chunk are kept
    counted = Tap(max_records=2)
    for _ in range(5):
        counted.add("event", "x")
    assert len(counted.records) == 2 and counted.dropped == 3
    with pytest.raises(ValueError):
        TrafficLog(limit=0, redactor=Redactor())


def test_a_long_stream_keeps_its_first_records_and_counts_the_rest(
    start_server: ServerFactory,
) -> None:
    server = start_server(mock_chunk_chars=1)
    long = {**BODY, "messages": [{"role": "user", "content": "x" * ENTRY_RECORDS}]}
    assert _chat(server.url, long).status_code == 200
    with httpx.Client(base_url=server.url, timeout=10) as client:
        (summary,) = client.get("/_chatmock/api/requests").json()["requests"]
    assert summary["not_kept"] > 0 and summary["done"] is True


def test_secrets_in_bodies_are_masked_on_the_page(start_server: ServerFactory) -> None:
    secret = "sk-live-0123456789abcdefghijklmnop"
    server = start_server(api_key=secret)
    body = {**BODY, "messages": [{"role": "user", "content": f"my key is {secret}"}]}
    assert _chat(server.url, body, authorization=f"Bearer {secret}").status_code == 200
    with httpx.Client(base_url=server.url, timeout=10, params={"key": secret}) as client:
        (summary,) = client.get("/_chatmock/api/requests").json()["requests"]
        text = client.get(f"/_chatmock/api/requests/{summary['id']}").text
    assert secret not in text and "my key is" in text


def test_the_page_wants_the_key_and_goes_with_no_ui(start_server: ServerFactory) -> None:
    keyed = start_server(api_key="page-key-0123456789")
    with httpx.Client(base_url=keyed.url, timeout=10) as client:
        assert client.get("/_chatmock/").status_code == 401
        page = client.get("/_chatmock/", params={"key": "page-key-0123456789"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert client.get(
            "/_chatmock/static/app.js", params={"key": "page-key-0123456789"}
        ).is_success
    off = start_server(ui=False)
    with httpx.Client(base_url=off.url, timeout=10) as client:
        for path in ("/_chatmock/", "/_chatmock/api/requests", "/_chatmock/static/app.js"):
            answer = client.get(path)
            assert answer.status_code == 404, path
            assert "--no-ui" in answer.json()["error"]["message"]
        assert client.get("/_chatmock/static/nope.js").status_code == 404
    assert off.app.extensions["chatmock_lab"].traffic is None


def _listening(url: str) -> tuple[threading.Thread, list[tuple[str, dict]]]:
    """A thread reading the page's event stream into the list it returns, started and
    listening, until the end of a request answered 200."""
    told: list[tuple[str, dict]] = []
    listening = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{url}/_chatmock/api/events", timeout=30) as stream:
            kind = None
            for line in stream.iter_lines():
                if line.startswith("retry:"):
                    listening.set()
                elif line.startswith("event: "):
                    kind = line[len("event: ") :]
                elif line.startswith("data: ") and kind is not None:
                    summary = json.loads(line[len("data: ") :])
                    told.append((kind, summary))
                    if kind == "end" and summary["status"] == 200:
                        return

    thread = threading.Thread(target=listen)
    thread.start()
    assert listening.wait(10)
    return thread, told


def test_the_event_stream_tells_of_each_request_as_it_happens(
    start_server: ServerFactory,
) -> None:
    server = start_server(mock_chunk_chars=2, mock_delay_ms=40)
    thread, seen = _listening(server.url)
    assert _chat(server.url).status_code == 200
    thread.join(10)
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    # A stream that takes a while is heard of while it runs, not only at its end.
    assert "update" in kinds
    assert seen[-1][1]["done"] is True and seen[0][1]["done"] is False


def test_a_long_stream_is_updated_while_other_requests_keep_arriving(
    start_server: ServerFactory,
) -> None:
    # Requests that begin and end more often than the update interval must not hold
    # back the updates of one still in flight.
    server = start_server(mock_chunk_chars=2, mock_delay_ms=30)
    long_body = {**BODY, "messages": [{"role": "user", "content": "word " * 20}]}
    long_done = threading.Event()

    def long_stream() -> None:
        try:
            assert _chat(server.url, long_body).status_code == 200
        finally:
            long_done.set()

    listener, events = _listening(server.url)
    streamer = threading.Thread(target=long_stream)
    streamer.start()
    refused = 0
    with httpx.Client(base_url=server.url, timeout=10) as client:
        while not long_done.is_set():
            # Answered at once (400: no messages), each a begin and an end on the page.
            answer = client.post("/v1/chat/completions", json={"model": "mock"})
            assert answer.status_code == 400
            refused += 1
    streamer.join(10)
    listener.join(10)
    assert refused >= 20
    (long_id,) = {s["id"] for kind, s in events if kind == "end" and s["status"] == 200}
    updates = [s for kind, s in events if kind == "update" and s["id"] == long_id]
    assert len(updates) >= 2
    assert all(not s["done"] for s in updates)


def test_the_history_file_keeps_every_request_for_python(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    history = tmp_path / "runs" / "history.sqlite"
    server = start_server(history=history, ui=False)
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
        for text in ("first", "second"):
            client.chat.completions.create(
                model="mock", messages=[{"role": "user", "content": text}]
            )
    server.stop()
    assert stat.S_IMODE(os.stat(history).st_mode) == 0o600
    records = read_history(history)
    assert [r.status for r in records] == [200, 200]
    assert ['"first"' in r.request_body for r in records] == [True, False]
    assert records[0].provider == "mock" and records[0].output_tokens
    # Another run appends to the same file.
    again = start_server(history=history, ui=False)
    with openai.OpenAI(base_url=f"{again.url}/v1", api_key="k", max_retries=0) as client:
        client.chat.completions.create(model="mock", messages=[{"role": "user", "content": "x"}])
    again.stop()
    assert len(read_history(history)) == 3
