"""The token store: every provider's login in one JSON file readable by its owner only.

The file holds `{"version": 1, "providers": {name: {...}}}`. Writers re-read it under a
lock before changing their own entry, so a `chatmock-lab login` in one terminal and a
proxy refreshing tokens in another keep each other's providers. Each write goes to a
0600 temporary file in the same directory, is flushed to disk, and replaces the old file
in one `os.replace`, so a reader sees the old file or the new one, never half of either.

The store also reads Codex CLI's `auth.json`, strictly read-only: that file belongs to
Codex, and rewriting it could log Codex out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from chatmock_lab.auth.chatgpt_tokens import ChatGPTTokens, account_id_from_id_token, expiry_of
from chatmock_lab.core.errors import ChatmockError
from chatmock_lab.redact import redactor

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows: the thread lock and atomic replace still hold.
    fcntl = None

__all__ = [
    "FORMAT_VERSION",
    "TokenStore",
    "TokenStoreError",
    "chatmock_home",
    "codex_auth_path",
    "default_token_path",
    "import_codex_auth",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
TOKEN_FILE_NAME = "tokens.json"
# Values under these keys are credentials wherever they sit in a provider's entry.
_SECRET_KEYS = frozenset(
    {"access_token", "refresh_token", "id_token", "token", "api_key", "client_secret"}
)


class TokenStoreError(ChatmockError):
    """A token file that cannot be read, parsed or written. The message names the file
    and what is wrong with it, never its content."""


def chatmock_home(env: Mapping[str, str] = os.environ) -> Path:
    """chatmock-lab's own directory: `CHATMOCK_HOME`, else `$XDG_CONFIG_HOME/chatmock-lab`,
    else `~/.config/chatmock-lab` (on macOS and Windows too: one place to look everywhere)."""
    explicit = env.get("CHATMOCK_HOME")
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_CONFIG_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "chatmock-lab"
    return _home(env) / ".config" / "chatmock-lab"


def default_token_path(env: Mapping[str, str] = os.environ) -> Path:
    return chatmock_home(env) / TOKEN_FILE_NAME


def codex_auth_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where Codex CLI keeps its login: `$CODEX_HOME/auth.json`, else `~/.codex/auth.json`."""
    codex_home = env.get("CODEX_HOME")
    base = Path(codex_home).expanduser() if codex_home else _home(env) / ".codex"
    return base / "auth.json"


class TokenStore:
    """One token file shared by all providers. Safe to use from several threads, and from
    several processes on POSIX (an advisory lock beside the file serializes writers)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def default(cls, env: Mapping[str, str] = os.environ) -> TokenStore:
        return cls(default_token_path(env))

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    def load(self, provider: str) -> dict[str, Any] | None:
        entry = self._read().get(provider)
        if entry is None:
            return None
        if not isinstance(entry, dict):
            raise TokenStoreError(
                f"the entry {provider!r} in the token file {self.path} is damaged"
            )
        _register_secrets(entry)
        return entry

    def save(self, provider: str, data: Mapping[str, Any]) -> None:
        _check_provider(provider)
        try:
            # A round trip both validates and copies: later changes to `data` stay out.
            entry = json.loads(json.dumps(dict(data)))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the data for {provider!r} cannot be stored as JSON: {exc}") from None
        _register_secrets(entry)
        with self._exclusive():
            providers = self._read()
            providers[provider] = entry
            self._write(providers)

    def delete(self, provider: str) -> bool:
        with self._exclusive():
            providers = self._read()
            if provider not in providers:
                return False
            del providers[provider]
            self._write(providers)
            return True

    def providers(self) -> list[str]:
        return sorted(self._read())

    # Internals

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock:
            _ensure_private_dir(self.path.parent)
            if fcntl is None:
                yield
                return
            # A separate, never-replaced lock file: locking the token file itself would
            # lock an inode that the next os.replace throws away.
            lock_path = self.path.with_name(f"{self.path.name}.lock")
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise TokenStoreError(
                    f"cannot lock the token file {self.path}: {exc.strerror}"
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the lock

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise TokenStoreError(
                f"cannot read the token file {self.path}: {exc.strerror}"
            ) from None
        try:
            document = json.loads(raw)
        except ValueError:
            # `from None`: a JSONDecodeError keeps the whole document in its `doc` attribute.
            raise TokenStoreError(
                f"the token file {self.path} is not valid JSON; delete it and log in again"
            ) from None
        if not isinstance(document, dict) or not isinstance(document.get("providers"), dict):
            raise TokenStoreError(
                f"the token file {self.path} does not hold chatmock-lab tokens; "
                "delete it and log in again"
            )
        version = document.get("version")
        if version != FORMAT_VERSION:
            newer = isinstance(version, int) and version > FORMAT_VERSION
            raise TokenStoreError(
                f"the token file {self.path} was written by a newer chatmock-lab "
                f"(format version {version})"
                if newer
                else f"the token file {self.path} has an unknown format version"
            )
        return document["providers"]

    def _write(self, providers: dict[str, Any]) -> None:
        document = {"version": FORMAT_VERSION, "providers": providers}
        data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
        directory = self.path.parent
        temporary = directory / f".{self.path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                # The mode given to os.open passes through the umask; say it outright.
                os.chmod(temporary, 0o600)
                os.replace(temporary, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise TokenStoreError(
                f"cannot write the token file {self.path}: {exc.strerror}"
            ) from exc
        _fsync_directory(directory)


def import_codex_auth(path: Path | None = None) -> ChatGPTTokens | None:
    """The ChatGPT login in Codex CLI's `auth.json` (default: `codex_auth_path()`), or None
    when there is no such file or it holds no ChatGPT login (an API-key login, say).

    The file is opened for reading only and never written, whatever it contains."""
    path = codex_auth_path() if path is None else Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise TokenStoreError(f"cannot read Codex CLI's auth file {path}: {exc.strerror}") from None
    try:
        document = json.loads(raw)
    except ValueError:
        raise TokenStoreError(f"Codex CLI's auth file {path} is not valid JSON") from None
    if not isinstance(document, dict):
        raise TokenStoreError(f"Codex CLI's auth file {path} does not hold a Codex login")
    tokens = document.get("tokens")
    if tokens is None:
        return None
    if not isinstance(tokens, dict):
        raise TokenStoreError(f"Codex CLI's auth file {path} has damaged ChatGPT tokens")
    access_token = tokens.get("access_token")
    refresh_token = tokens.get("refresh_token")
    id_token = tokens.get("id_token") or ""
    if not (
        isinstance(access_token, str)
        and access_token
        and isinstance(refresh_token, str)
        and refresh_token
        and isinstance(id_token, str)
    ):
        raise TokenStoreError(f"Codex CLI's auth file {path} has incomplete ChatGPT tokens")
    account_id = tokens.get("account_id")
    if not isinstance(account_id, str) or not account_id:
        account_id = account_id_from_id_token(id_token) or account_id_from_id_token(access_token)
    logger.debug("read Codex CLI's ChatGPT login from %s", path)
    return ChatGPTTokens(
        access_token=access_token,
        refresh_token=refresh_token,
        id_token=id_token,
        account_id=account_id,
        expires_at=expiry_of(access_token),
    )


_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows would translate newlines otherwise


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def _check_provider(provider: str) -> None:
    if not isinstance(provider, str) or not provider:
        raise ValueError("a provider name must be a non-empty string")


def _register_secrets(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _SECRET_KEYS and isinstance(item, str):
                redactor.add(item)
            else:
                _register_secrets(item)
    elif isinstance(value, list):
        for item in value:
            _register_secrets(item)


def _ensure_private_dir(directory: Path) -> None:
    if directory.is_dir():
        # An existing directory is left as its owner set it: it may be shared on purpose.
        return
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkdir's mode passes through the umask; only the leaf is ours to restrict.
        os.chmod(directory, 0o700)
    except OSError as exc:
        raise TokenStoreError(f"cannot create the directory {directory}: {exc.strerror}") from exc


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; POSIX only (directories cannot be opened on Windows).
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
