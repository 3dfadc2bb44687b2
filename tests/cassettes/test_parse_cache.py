"""Parsed cassettes kept by content (`load_cassette(cache_dir=...)`): a hit gives what
the YAML would, an edit misses, and a cache that cannot be used is only a miss."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml

from chatmock_lab.cassettes import (
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
    save_cassette,
)

URI = "https://api.example.test/v1/chat/completions"


def _cassette(answer: str = "Hello.") -> Cassette:
    body = json.dumps({"choices": [{"message": {"content": answer}}]})
    return Cassette(
        interactions=[
            Interaction(
                RecordedRequest("POST", URI, {"content-type": ["application/json"]}, '{"a":1}'),
                RecordedResponse(200, "OK", {}, body, chunks=[(0.0, body[:5]), (2.5, body[5:])]),
            )
        ],
        metadata={"providers": ["openai"]},
    )


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.json"))


def test_a_hit_is_read_from_the_cache_and_equals_the_yaml(tmp_path: Path) -> None:
    path, cache = tmp_path / "c.yaml", tmp_path / "cache"
    save_cassette(path, _cassette())

    first = load_cassette(path, cache_dir=cache)
    (entry,) = _entries(cache)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600  # as private as the cassette
    assert load_cassette(path, cache_dir=cache) == first == load_cassette(path)

    # The entry, not the YAML, answers while the file is unchanged: an entry altered
    # behind its back shows through (which no user does; it proves the read).
    document = json.loads(entry.read_text())
    document["chatmock_lab"]["providers"] = ["from-the-cache"]
    entry.write_text(json.dumps(document))
    assert load_cassette(path, cache_dir=cache).providers == ["from-the-cache"]


def test_an_edited_cassette_misses_and_replaces_its_entry(tmp_path: Path) -> None:
    path, cache = tmp_path / "c.yaml", tmp_path / "cache"
    other = tmp_path / "other.yaml"
    save_cassette(path, _cassette("first"))
    save_cassette(other, _cassette("other"))
    load_cassette(path, cache_dir=cache)
    (before,) = _entries(cache)
    load_cassette(other, cache_dir=cache)
    (other_entry,) = set(_entries(cache)) - {before}

    save_cassette(path, _cassette("second"))
    reloaded = load_cassette(path, cache_dir=cache)
    assert "second" in reloaded.interactions[0].response.body
    assert not before.exists()  # one entry per path: the stale one went
    assert other_entry.exists()  # another cassette's entry stays
    assert len(_entries(cache)) == 2


def test_documents_json_cannot_carry_are_not_kept(tmp_path: Path) -> None:
    path, cache = tmp_path / "c.yaml", tmp_path / "cache"
    save_cassette(path, _cassette())
    data = yaml.safe_load(path.read_text())
    # A `!!binary` body (bytes in YAML) that is UTF-8, and an unquoted timestamp.
    response = data["interactions"][0]["response"]
    response["body"]["string"] = b'{"ok": true}'
    del response["chunks"]
    path.write_text(yaml.safe_dump(data) + "recorded: 2026-12-03 10:00:00\n")

    loaded = load_cassette(path, cache_dir=cache)
    assert loaded.interactions[0].response.body == '{"ok": true}'
    assert _entries(cache) == []
    assert load_cassette(path, cache_dir=cache) == loaded


def test_a_broken_or_unwritable_cache_is_only_a_miss(tmp_path: Path) -> None:
    path, cache = tmp_path / "c.yaml", tmp_path / "cache"
    save_cassette(path, _cassette())
    expected = load_cassette(path)

    load_cassette(path, cache_dir=cache)
    (entry,) = _entries(cache)
    entry.write_text('{"interactions": [')  # cut short by a crash
    assert load_cassette(path, cache_dir=cache) == expected
    assert json.loads(entry.read_text())["interactions"]  # written again, whole

    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    assert load_cassette(path, cache_dir=blocked) == expected
    assert load_cassette(path, cache_dir=blocked / "below") == expected
    assert list(tmp_path.glob(".*.tmp")) == [] and list(cache.glob(".*.tmp")) == []
