"""The token store: private atomic writes, several writers on one file, damaged files,
and Codex CLI's auth file read without ever being written."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from chatmock_lab.auth import store as store_module
from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens
from chatmock_lab.auth.store import (
    TokenStore,
    TokenStoreError,
    chatmock_home,
    codex_auth_path,
    import_codex_auth,
)
from chatmock_lab.redact import redactor

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")

SECRET = "sk-store-secret-value-0123456789"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _jwt(claims: dict[str, Any]) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(b'{}')}.{b64(json.dumps(claims).encode())}.{b64(b'sig')}"


# Locations


def test_home_prefers_chatmock_home_then_xdg_then_dot_config(tmp_path: Path) -> None:
    assert chatmock_home({"CHATMOCK_HOME": str(tmp_path / "x")}) == tmp_path / "x"
    both = {"CHATMOCK_HOME": str(tmp_path / "x"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert chatmock_home(both) == tmp_path / "x"
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path)}
    assert chatmock_home(xdg) == tmp_path / "cfg" / "chatmock-lab"
    # A relative XDG_CONFIG_HOME is invalid by the spec and ignored.
    relative = {"XDG_CONFIG_HOME": "relative/cfg", "HOME": str(tmp_path)}
    assert chatmock_home(relative) == tmp_path / ".config" / "chatmock-lab"
    assert chatmock_home({"HOME": str(tmp_path)}) == tmp_path / ".config" / "chatmock-lab"


def test_codex_auth_path_follows_codex_home(tmp_path: Path) -> None:
    assert codex_auth_path({"CODEX_HOME": str(tmp_path)}) == tmp_path / "auth.json"
    assert codex_auth_path({"HOME": str(tmp_path)}) == tmp_path / ".codex" / "auth.json"


# Writes


def test_save_creates_a_private_directory_and_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "home" / "tokens.json"
    store = TokenStore(path)
    store.save("chatgpt", {"access_token": SECRET, "nested": {"n": 1}})
    assert _mode(path.parent) == 0o700
    assert _mode(path) == 0o600
    document = json.loads(path.read_text())
    assert document == {
        "version": 1,
        "providers": {"chatgpt": {"access_token": SECRET, "nested": {"n": 1}}},
    }
    assert store.load("chatgpt") == {"access_token": SECRET, "nested": {"n": 1}}
    assert store.load("copilot") is None


def test_save_tightens_a_loose_existing_file_and_leaves_no_temporary_files(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"version": 1, "providers": {"old": {"a": 1}}}))
    path.chmod(0o644)
    store = TokenStore(path)
    for index in range(5):
        store.save(f"p{index}", {"index": index})
    assert _mode(path) == 0o600
    assert store.providers() == ["old", "p0", "p1", "p2", "p3", "p4"]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_failed_write_keeps_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path)
    store.save("chatgpt", {"v": 1})
    before = path.read_bytes()

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", broken_replace)
    with pytest.raises(TokenStoreError, match="cannot write the token file"):
        store.save("chatgpt", {"v": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_delete_and_providers(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    assert store.providers() == []
    assert store.delete("chatgpt") is False
    store.save("copilot", {"token": "x"})
    store.save("chatgpt", {"token": "y"})
    assert store.providers() == ["chatgpt", "copilot"]
    assert store.delete("chatgpt") is True
    assert store.providers() == ["copilot"]
    assert _mode(tmp_path / "tokens.json") == 0o600


def test_data_that_is_not_json_is_refused(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        store.save("chatgpt", {"when": object()})
    with pytest.raises(ValueError, match="provider name"):
        store.save("", {})


# Several writers


def test_two_stores_on_one_file_keep_each_others_providers(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    first, second = TokenStore(path), TokenStore(path)
    first.save("chatgpt", {"token": "a"})
    second.save("copilot", {"token": "b"})
    first.save("chatgpt", {"token": "c"})
    assert first.load("copilot") == {"token": "b"}
    assert second.load("chatgpt") == {"token": "c"}


def test_concurrent_writers_on_threads_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    stores = [TokenStore(path), TokenStore(path)]
    barrier = threading.Barrier(8)

    def write(worker: int) -> None:
        barrier.wait(timeout=5)
        for item in range(10):
            stores[worker % 2].save(f"w{worker}-{item}", {"item": item})

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(TokenStore(path).providers()) == 80


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from chatmock_lab.auth.store import TokenStore
        store = TokenStore(Path(sys.argv[1]))
        for item in range(15):
            store.save(f"{sys.argv[2]}-{item}", {"item": item})
        """
    )
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    children = [
        subprocess.Popen([sys.executable, "-c", script, str(path), name], env=env)
        for name in ("left", "right")
    ]
    store = TokenStore(path)
    for item in range(15):
        store.save(f"parent-{item}", {"item": item})
    assert [child.wait(timeout=20) for child in children] == [0, 0]
    assert len(store.providers()) == 45


# Damaged files


@pytest.mark.parametrize(
    "content",
    [
        b'{"version": 1, "providers": {"chatgpt": {"access_token": "' + SECRET.encode() + b'"',
        b"[" + SECRET.encode() + b"]",
        json.dumps({"version": 1, "providers": [SECRET]}).encode(),
        json.dumps({"version": 7, "providers": {"x": SECRET}}).encode(),
        b"",
    ],
    ids=["truncated", "not-json", "wrong-shape", "newer-version", "empty"],
)
def test_a_damaged_file_names_its_path_and_never_its_content(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "tokens.json"
    path.write_bytes(content)
    store = TokenStore(path)
    for action in (lambda: store.load("chatgpt"), lambda: store.save("copilot", {"a": 1})):
        with pytest.raises(TokenStoreError) as caught:
            action()
        message = str(caught.value)
        assert str(path) in message
        assert SECRET not in message
        assert SECRET not in repr(caught.value)
        # Nothing to show the content through a chained exception either.
        error = caught.value
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
    assert path.read_bytes() == content


# Codex CLI's file


def _codex_file(tmp_path: Path, tokens: dict[str, Any] | None) -> Path:
    path = tmp_path / "codex" / "auth.json"
    path.parent.mkdir()
    document: dict[str, Any] = {"OPENAI_API_KEY": None, "last_refresh": "2025-01-01T00:00:00Z"}
    if tokens is not None:
        document["tokens"] = tokens
    path.write_text(json.dumps(document, indent=2))
    path.chmod(0o600)
    return path


def test_codex_import_reads_tokens_and_leaves_the_file_alone(tmp_path: Path) -> None:
    access = _jwt({"exp": 2_000_000_000, "https://api.openai.com/auth": {}})
    id_token = _jwt({"https://api.openai.com/auth": {"chatgpt_account_id": "acct-from-id"}})
    path = _codex_file(
        tmp_path,
        {"id_token": id_token, "access_token": access, "refresh_token": "rt-codex-0123456789"},
    )
    before = (
        path.read_bytes(),
        path.stat().st_mtime_ns,
        _mode(path),
        sorted(os.listdir(path.parent)),
    )
    tokens = import_codex_auth(path)
    assert tokens is not None
    assert tokens.access_token == access
    assert tokens.refresh_token == "rt-codex-0123456789"
    assert tokens.account_id == "acct-from-id"
    assert tokens.expires_at == 2_000_000_000
    after = (
        path.read_bytes(),
        path.stat().st_mtime_ns,
        _mode(path),
        sorted(os.listdir(path.parent)),
    )
    assert after == before
    # Loaded tokens are masked in logs from then on.
    assert "rt-codex-0123456789" not in redactor.text("refresh with rt-codex-0123456789")


def test_codex_import_prefers_the_stored_account_id(tmp_path: Path) -> None:
    path = _codex_file(
        tmp_path,
        {
            "id_token": _jwt({}),
            "access_token": "opaque-access-token",
            "refresh_token": "opaque-refresh-token",
            "account_id": "acct-stored",
        },
    )
    tokens = import_codex_auth(path)
    assert tokens is not None and tokens.account_id == "acct-stored"


def test_codex_import_without_a_chatgpt_login(tmp_path: Path) -> None:
    assert import_codex_auth(tmp_path / "missing.json") is None
    assert import_codex_auth(_codex_file(tmp_path, None)) is None


def test_codex_import_of_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text('{"tokens": {"access_token": "' + SECRET)
    with pytest.raises(TokenStoreError) as caught:
        import_codex_auth(path)
    assert str(path) in str(caught.value) and SECRET not in str(caught.value)
    path.write_text(json.dumps({"tokens": {"access_token": SECRET}}))
    with pytest.raises(TokenStoreError, match="incomplete") as caught:
        import_codex_auth(path)
    assert SECRET not in str(caught.value)


# Reprs


def test_reprs_show_no_secret(tmp_path: Path) -> None:
    tokens = ChatGPTTokens(
        access_token="access-secret-0123456789",
        refresh_token="refresh-secret-0123456789",
        id_token="id-secret-0123456789",
        account_id="acct-0123456789abcdef",
        expires_at=2_000_000_000,
    )
    for text in (repr(tokens), str(tokens), f"{tokens}", repr([tokens])):
        assert "secret" not in text
        assert "acct-0123456789abcdef" not in text
        assert "2033-05-18T03:33:20Z" in text
    store = TokenStore(tmp_path / "tokens.json")
    store.save("chatgpt", tokens.to_json())
    assert "access-secret" not in repr(store) and "refresh-secret" not in repr(store)
    assert ChatGPTTokens.from_json(store.load("chatgpt") or {}) == tokens
