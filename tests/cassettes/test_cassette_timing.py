"""Recording does not buffer a stream, and replays keep its chunk boundaries and pace.

One real proxy records a stream whose chunks a fake upstream sends 200 ms apart; two
more replay the cassette, at the recorded pace and at once; plain vcrpy loads the file.
Every time below is `time.monotonic()` in this process: the fake, the proxies and the
client all run here, so their clocks compare directly.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import vcr

from chatmock_lab.cassettes import load_cassette
from chatmock_lab.testing import FakeOpenAIUpstream, FakeReply
from tests.conftest import ServerFactory

# Timing-sensitive or heavy (browsers, kernels, subprocess clients): one worker runs
# them one after another, so none is measured while another loads both cores.
pytestmark = pytest.mark.xdist_group("heavy")

KEY = "sk-openai-timing-test-key-0123456789"
# Words of one length, so chunk_chars cuts the answer into exactly one word per chunk.
WORDS = ["alpha ", "bravo ", "delta ", "gamma ", "omega."]
GAP_MS = 200.0


def chat_body(prompt: str) -> dict[str, Any]:
    return {
        "model": "fake-model-1",
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
    }


def stream_chat(
    http: httpx.Client, url: str, body: dict[str, Any]
) -> tuple[float, list[tuple[float, Any]]]:
    """Send one streamed chat request; return when it was sent and, for each SSE `data:`
    payload, when its frame arrived (read raw, so no client-side buffering delays it)."""
    received: list[tuple[float, Any]] = []
    buffer = b""
    started = time.monotonic()
    with http.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        for raw in response.iter_raw():
            arrived = time.monotonic()
            buffer += raw
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                for line in frame.decode().splitlines():
                    if line.startswith("data: "):
                        data = line[len("data: ") :]
                        received.append((arrived, data if data == "[DONE]" else json.loads(data)))
    assert buffer.strip() == b""
    return started, received


def upstream_words(frames: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """(time, text) of each upstream SSE frame that carries text, from (time, frame)."""
    found = []
    for at, frame in frames:
        data = frame.strip().removeprefix("data: ")
        choices = [] if data == "[DONE]" else json.loads(data)["choices"]
        content = choices[0]["delta"].get("content") if choices else None
        if content:
            found.append((at, content))
    return found


def content_times(received: list[tuple[float, Any]]) -> list[tuple[float, str]]:
    """(arrival, text) of each client chunk that carries text."""
    found = []
    for arrived, payload in received:
        if payload == "[DONE]" or not payload["choices"]:
            continue
        content = payload["choices"][0]["delta"].get("content")
        if content:
            found.append((arrived, content))
    return found


def test_recording_streams_through_and_replays_keep_the_pace(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    path = tmp_path / "timing.yaml"
    with FakeOpenAIUpstream(api_key=KEY) as fake, httpx.Client(timeout=10) as http:
        env = {"OPENAI_API_KEY": KEY, "CHATMOCK_OPENAI_BASE_URL": fake.base_url}
        recorder = start_server(provider_name="openai", env=env, record=str(path))
        # A quick first exchange, recorded too, so the replays below can warm their servers
        # with it without using up the recording they time (each plays once).
        fake.reply(FakeReply(text="warm", chunk_chars=4))
        stream_chat(http, recorder.url, chat_body("warm up"))

        fake.reply(FakeReply(text="".join(WORDS), chunk_chars=6, chunk_delay=GAP_MS / 1000))
        _, received = stream_chat(http, recorder.url, chat_body("count to five"))
        upstream = fake.last_request()
        recorder.stop()  # the cassette is complete on disk once its recorder stops

    sent = [(at, frame.decode()) for at, frame in upstream.sent]
    sent_words = upstream_words(sent)
    assert [text for _, text in sent_words] == WORDS
    client_words = content_times(received)
    assert [text for _, text in client_words] == WORDS

    # Recording passes each chunk on as it comes: the first word reaches the client
    # within 100 ms of the fake sending it, long before the fake sends the last one, and
    # so does every later word.
    latencies = [
        (got - put) * 1000 for (got, _), (put, _) in zip(client_words, sent_words, strict=True)
    ]
    print("latencies while recording: " + ", ".join(f"{ms:.1f} ms" for ms in latencies))
    assert 0 <= latencies[0] < 100
    assert client_words[0][0] < sent_words[-1][0] - 3 * GAP_MS / 1000
    assert all(0 <= ms < 100 for ms in latencies)

    # The cassette keeps each chunk as the fake sent it, and when.
    (interaction,) = [
        recorded
        for recorded in load_cassette(path).interactions
        if "count to five" in (recorded.request.body or "")
    ]
    chunks = interaction.response.chunks
    assert chunks is not None and interaction.response.complete
    assert [text for _, text in chunks] == [frame for _, frame in sent]
    recorded_words = upstream_words(chunks)
    assert [text for _, text in recorded_words] == WORDS
    # The recorded gaps are the gaps the fake really left (its sleeps may run late on a
    # busy machine; the recording must show what happened, not what was meant).
    sent_gaps = [(b - a) * 1000 for (a, _), (b, _) in itertools.pairwise(sent_words)]
    recorded_gaps = [b - a for (a, _), (b, _) in itertools.pairwise(recorded_words)]
    for sent_gap, recorded_gap in zip(sent_gaps, recorded_gaps, strict=True):
        assert abs(recorded_gap - sent_gap) < 50, (sent_gaps, recorded_gaps)

    # Speed 1: the same chunks at the recorded pace. Each arrives within 50 ms of its
    # recorded offset, both counted from the first word; the first word itself is not
    # early (it waits its recorded 200 ms). Counting from the first word leaves out how
    # long the server takes to start answering, which is the machine's, not the
    # replay's, timing. The words and the end of the stream map one to one onto
    # upstream frames; the finish frame does not (the proxy sends its finish chunk at the
    # end of the stream, with `[DONE]`), nor does the role-only first frame (the proxy
    # starts its answer with the first event, the first word, so that a failure before
    # then can still be a real HTTP error).
    env = {"CHATMOCK_OPENAI_BASE_URL": env["CHATMOCK_OPENAI_BASE_URL"]}
    paced = start_server(provider_name="openai", env=env, replay=str(path), replay_speed=1.0)
    with httpx.Client(timeout=10) as http:
        # One-off costs of a new server (the connection, the provider's HTTP client) are
        # not the replay's; the warm-up exchange pays them.
        stream_chat(http, paced.url, chat_body("warm up"))
        started, received = stream_chat(http, paced.url, chat_body("count to five"))
    assert received[-1][1] == "[DONE]" and chunks[-1][1] == "data: [DONE]\n\n"
    replayed = [*content_times(received), received[-1]]
    recorded = [*recorded_words, chunks[-1]]
    assert [text for _, text in replayed] == [*WORDS, "[DONE]"]
    first_got, first_offset = replayed[0][0], recorded[0][0]
    assert (first_got - started) * 1000 >= first_offset - 5
    deviations = [
        abs((got - first_got) * 1000 - (offset - first_offset))
        for (got, _), (offset, _) in zip(replayed, recorded, strict=True)
    ]
    print("deviations at speed 1: " + ", ".join(f"{d:.1f} ms" for d in deviations))
    assert max(deviations) <= 50

    # Speed 0: the whole stream at once.
    instant = start_server(provider_name="openai", env=env, replay=str(path), replay_speed=0.0)
    with httpx.Client(timeout=10) as http:
        # As above, the warm-up exchange pays the new server's one-off costs.
        stream_chat(http, instant.url, chat_body("warm up"))
        started, received = stream_chat(http, instant.url, chat_body("count to five"))
        finished = time.monotonic()
    assert [text for _, text in content_times(received)] == WORDS
    assert received[-1][1] == "[DONE]"
    elapsed_ms = (finished - started) * 1000
    print(f"replay at speed 0: {elapsed_ms:.1f} ms")
    assert elapsed_ms < 50

    # Plain vcrpy loads the file and answers with the recorded body.
    with vcr.use_cassette(str(path), record_mode="none", match_on=["method", "path", "body"]):
        body = httpx.post(
            f"{env['CHATMOCK_OPENAI_BASE_URL']}/chat/completions",
            content=interaction.request.body,
            headers={"content-type": "application/json"},
        ).text
    assert body == interaction.response.body == "".join(frame for _, frame in sent)
