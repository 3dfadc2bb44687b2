"""Cassettes: vcrpy's format, our stream shape, atomic deterministic files."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import vcr
import yaml

from chatmock_lab.cassettes import (
    Cassette,
    CassetteError,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
    save_cassette,
    to_vcr_dict,
)

URI = "https://api.example.test/v1/chat/completions"
SSE = (
    'data: {"choices":[{"delta":{"content":"Hé"}}]}\n\n'
    'data: {"choices":[{"delta":{"content":"llo  \\t"}}]}\r\n\r\n'
    "data: [DONE]\n\n"
)


def _cassette() -> Cassette:
    request = RecordedRequest(
        method="POST",
        uri=URI,
        headers={"content-type": ["application/json"], "accept": ["text/event-stream"]},
        body=json.dumps({"model": "m", "stream": True, "messages": [{"role": "user"}]}),
    )
    streamed = RecordedResponse(
        status=200,
        reason="OK",
        headers={"content-type": ["text/event-stream"], "x-multi": ["a", "b"]},
        body=SSE,
        chunks=[(0.0, SSE[:20]), (12.5, SSE[20:70]), (40.25, SSE[70:])],
    )
    cut_off = RecordedResponse(
        status=200,
        reason="OK",
        headers={},
        body="data: {}\n\n",
        chunks=[(0.0, "data: {}\n\n"), (3.0, 'data: {"partial')],
        complete=False,
        error="RemoteProtocolError: peer closed connection",
    )
    plain = RecordedResponse(status=404, reason="Not Found", headers={}, body="  leading\n")
    return Cassette(
        interactions=[
            Interaction(request, streamed),
            Interaction(RecordedRequest("GET", URI + "?x=1", {}, None), cut_off),
            Interaction(RecordedRequest("GET", URI, {}, ""), plain),
        ],
        metadata={"recorded_by": "chatmock-lab 0.1.0", "upstream": "openai", "at": "2025-01-01"},
    )


def test_round_trip_is_equal_and_byte_deterministic(tmp_path: Path) -> None:
    cassette = _cassette()
    first, second = tmp_path / "a.yaml", tmp_path / "sub" / "b.yaml"
    save_cassette(first, cassette)
    save_cassette(second, load_cassette(first))
    assert load_cassette(first) == cassette
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes().isascii()  # vcrpy reads with the locale's encoding
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_layout_is_vcrpy_version_1_with_our_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    save_cassette(path, _cassette())
    data = yaml.safe_load(path.read_text())
    assert data["version"] == 1
    assert data["chatmock_lab"]["upstream"] == "openai"
    first = data["interactions"][0]
    assert set(first["request"]) == {"body", "headers", "method", "uri"}
    assert first["response"]["status"] == {"code": 200, "message": "OK"}
    assert first["response"]["headers"]["x-multi"] == ["a", "b"]
    assert first["response"]["chunks"][1] == [12.5, SSE[20:70]]
    assert data["interactions"][1]["response"]["complete"] is False
    assert "complete" not in first["response"]
    assert to_vcr_dict(_cassette())["interactions"][0]["request"]["uri"] == URI


def test_plain_vcrpy_loads_and_replays_with_httpx(tmp_path: Path) -> None:
    path = tmp_path / "replay.yaml"
    save_cassette(path, _cassette())
    with (
        vcr.use_cassette(str(path), record_mode="none", match_on=["method", "uri"]) as cassette,
        httpx.Client() as client,
    ):
        response = client.post(URI, json={"anything": "goes"})
        assert len(cassette) == 3
    assert response.status_code == 200
    assert response.text == SSE
    assert response.headers.get_list("x-multi") == ["a", "b"]


def test_chunks_that_do_not_join_to_the_body_name_file_and_interaction(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    save_cassette(path, _cassette())
    data = yaml.safe_load(path.read_text())
    data["interactions"][2]["response"]["chunks"] = [[0.0, "something else"]]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CassetteError, match=r"bad\.yaml: interaction 2: chunks do not join"):
        load_cassette(path)


def test_malformed_chunks_and_saving_invalid_cassettes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    save_cassette(path, _cassette())
    data = yaml.safe_load(path.read_text())
    data["interactions"][0]["response"]["chunks"][0] = ["soon", "x"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CassetteError, match="interaction 0: chunk 0 is not"):
        load_cassette(path)
    cassette = _cassette()
    cassette.interactions[0].response.chunks = [(5.0, SSE[:10]), (1.0, SSE[10:])]
    with pytest.raises(CassetteError, match="interaction 0: chunk 1 offset"):
        save_cassette(tmp_path / "never.yaml", cassette)
    assert not (tmp_path / "never.yaml").exists()


def test_bodies_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    save_cassette(path, _cassette())
    data = yaml.safe_load(path.read_text())
    data["interactions"][2]["response"]["body"]["string"] = b"\xff\xfe"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CassetteError, match="interaction 2: body is not UTF-8"):
        load_cassette(path)
