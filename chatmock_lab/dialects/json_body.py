"""Decoding a request body into JSON the rest of the package can trust.

One path for every route of every dialect, so that no parser, renderer or token counter
downstream meets what would make it fail with a 500: text that is not valid Unicode
(a lone surrogate such as `"\\udfff"`, which JSON's escapes allow but UTF-8 cannot
encode), nesting deeper than any real request (a recursion error further on),
`NaN`/`Infinity` (not JSON, though Python's decoder takes them), and numbers no
upstream takes (integers beyond 64 bits, floats that overflow). Each is a 400 naming
the field, in the caller's dialect.

The same pass bounds the work one request can cause (`BodyLimits`): how many messages,
content parts, tools and other list entries it holds, and how long one string is, each
configurable, so that no small-enough body makes the server parse, count or generate
for seconds while every other client waits. Lists are told apart by their field's name,
which is the same in every dialect: `messages` (`contents` in Gemini, `input` in the
Responses API and embeddings, `requests` in Gemini's batch embeddings) at the top, and
`content`/`parts` and `tools`/`functionDeclarations` at any depth.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from chatmock_lab.core.errors import InvalidRequest
from chatmock_lab.dialects.fields import join

# Deeper than any real request (JSON Schemas of tools included); `--max-json-depth`.
DEFAULT_MAX_DEPTH = 100


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """What one request body may hold; each limit has its flag, named in the 400."""

    max_depth: int = DEFAULT_MAX_DEPTH
    # Anthropic accepts up to 100,000 messages; far beyond what a context window holds.
    max_messages: int = 10_000
    max_parts: int = 10_000
    # OpenAI accepts 128 tools, Gemini 512 function declarations.
    max_tools: int = 1_000
    max_list_items: int = 100_000
    # OpenAI's own limit on one string ("string too long ... maximum length 10485760").
    max_string_chars: int = 10_485_760


_TOP_LEVEL_TURNS = frozenset({"messages", "contents", "input", "requests"})
_PARTS = frozenset({"content", "parts"})
_TOOLS = frozenset({"tools", "functionDeclarations", "function_declarations"})
_MAX_INT = 2**63 - 1
# After decoding, a lone surrogate can only come from a `\uD800`-`\uDFFF` escape: the
# strict decoding below lets no encoded one through (UTF-8's ED A0 80, UTF-16's units).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Nineteen digits in a row: maybe an integer beyond 64 bits, which orjson would read
# as a float (from -9223372036854775809 down, and from 18446744073709551616 up).
_LONG_DIGITS = re.compile(rb"\d{19}")


def decode_json_body(data: bytes | str, *, limits: BodyLimits | None = None) -> Any:
    """The body as JSON, checked (see the module's docstring); `InvalidRequest` else."""
    limits = limits or BodyLimits()
    if isinstance(data, bytes) and not _LONG_DIGITS.search(data):
        # The common case, several times faster: strict UTF-8 JSON that orjson reads
        # holds no lone surrogate, NaN or overflowing float (orjson refuses them all).
        # It would read an integer beyond 64 bits as a float, hence the digit scan;
        # whatever it refuses is decoded below, which says precisely what is wrong.
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        else:
            check_json(value, limits=limits, strings=False)
            return value
    max_depth = limits.max_depth
    text = _text_of(data) if isinstance(data, bytes) else data
    if not text.strip():
        raise InvalidRequest("the request body is empty; expected a JSON object")
    try:
        value = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise InvalidRequest(
            f"the request body nests deeper than {max_depth} levels", code="too_deep"
        ) from None
    except ValueError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    check_json(value, limits=limits, strings=bool(_SURROGATE_ESCAPE.search(text)))
    return value


def _text_of(data: bytes) -> str:
    # JSON may come as UTF-8, -16 or -32 (RFC 8259 section 8.1 allows only UTF-8, but
    # Python's decoder takes all three); decoded strictly, unlike `json.loads(bytes)`,
    # which lets encoded surrogates through.
    encoding = json.detect_encoding(data)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise InvalidRequest(
            f"the request body is not valid {encoding.upper()}: {error.reason} at byte"
            f" {error.start}"
        ) from None


def check_json(value: Any, *, limits: BodyLimits | None = None, strings: bool = True) -> None:
    """Refuse what the module's docstring lists, naming the first field at fault.
    `strings=False` skips the Unicode check (the body had no surrogate escape)."""
    limits = limits or BodyLimits()
    max_depth, max_chars = limits.max_depth, limits.max_string_chars
    # Iterative, so that checking depth cannot itself overflow the stack.
    stack: list[tuple[Any, str, int, str | int]] = [(value, "", 1, "")]
    while stack:
        node, path, depth, key = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise InvalidRequest(
                    f"{path or 'the request body'}: nests deeper than {max_depth} levels",
                    param=path or None,
                    code="too_deep",
                )
            if isinstance(node, list):
                _check_length(node, path, key, depth, limits)
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if strings and isinstance(key, str):
                    _check_text(key, path, what="a field name")
                stack.append((child, join(path, key) if path else str(key), depth + 1, key))
        elif isinstance(node, str):
            if len(node) > max_chars:
                raise InvalidRequest(
                    f"{path or 'the request body'}: a string of {len(node)} characters;"
                    f" at most {max_chars} are accepted (--max-string-chars)",
                    param=path or None,
                    code="string_too_long",
                )
            if strings:
                _check_text(node, path, what="the text")
        elif isinstance(node, bool):
            continue
        elif isinstance(node, int):
            if abs(node) > _MAX_INT:
                raise InvalidRequest(
                    f"{path}: {_short_number(node)} is out of range (at most 64-bit integers)",
                    param=path or None,
                )
        elif isinstance(node, float) and not math.isfinite(node):
            raise InvalidRequest(f"{path}: the number is out of range", param=path or None)


def _check_length(
    items: list[Any], path: str, key: str | int, depth: int, limits: BodyLimits
) -> None:
    if depth == 2 and key in _TOP_LEVEL_TURNS:
        most, flag = limits.max_messages, "--max-messages"
    elif key in _PARTS:
        most, flag = limits.max_parts, "--max-parts"
    elif key in _TOOLS:
        most, flag = limits.max_tools, "--max-tools"
    else:
        most, flag = limits.max_list_items, "--max-list-items"
    if len(items) > most:
        raise InvalidRequest(
            f"{path or 'the request body'}: {len(items)} entries; at most {most} are"
            f" accepted ({flag})",
            param=path or None,
            code="too_many_items",
        )


def _check_text(text: str, path: str, *, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise InvalidRequest(
            f"{path or 'the request body'}: {what} holds a lone surrogate (\\u{code:04x}),"
            " which is not valid Unicode",
            param=path or None,
        ) from None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _short_number(number: int) -> str:
    digits = len(str(abs(number)))
    return f"a {digits}-digit integer" if digits > 24 else str(number)
